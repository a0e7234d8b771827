"""``hftpipe metrics``: a Prometheus endpoint for running pipelines (:mod:`hftpipe.ops.metrics`)."""

from __future__ import annotations

import logging

import click

from hftpipe.cli.common import config_error, stop_on_signals
from hftpipe.runtime.listening import listen_refusal
from hftpipe.runtime.stage_process import configure_logging


@click.command()
@click.option("--name", help="Export this pipeline only (default: every live pipeline of ours, by label).")
@click.option("--port", type=click.IntRange(0, 65535), default=9464, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
def metrics(name: str | None, port: int, host: str) -> None:
    """Serve counters, rings, stage states and latency histograms in the Prometheus text format.

    Each scrape reads the control file read-only: the stages do nothing for it.
    """
    from hftpipe.ops.metrics import PipelineCollector, serve  # noqa: PLC0415 - prometheus_client only when asked

    configure_logging(logging.INFO)
    stop_requested = stop_on_signals()
    collector = PipelineCollector(name)
    try:
        serve(collector, host, port, stop_requested, on_listening=_announce)
    except OSError as exc:
        refusal = listen_refusal(exc, host, port, "--port")
        if refusal is None:
            raise
        config_error(refusal)


def _announce(url: str) -> None:
    click.echo(f"hftpipe metrics: serving {url}", err=True)
