"""Market-data commands of ``hftpipe``: ``book``, ``replay`` and ``record``.

Registered as ``hftpipe.commands`` entry points (``pyproject.toml``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from hftpipe.cli.common import fail
from hftpipe.runtime.runner import EX_UNAVAILABLE
from hftpipe.runtime.stage_process import configure_logging
from stages.marketdata.capture.format import CaptureFormatError
from stages.marketdata.venues.registry import VENUE_CHOICES

EX_DATAERR = 65


@click.command()
@click.option("--venue", required=True, type=click.Choice(VENUE_CHOICES), help="Which adapter parses the capture.")
@click.option("--capture", "capture_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--snapshots", type=click.Path(exists=True, dir_okay=False), help="The REST snapshots recorded with it (.http)."
)
@click.option("--depth", type=click.IntRange(min=1), help="Levels per side to print (default: all).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object keyed by venue symbol.")
def book(venue: str, capture_path: str, snapshots: str | None, depth: int | None, as_json: bool) -> None:
    """Replay a capture through a venue adapter and the book logic; print the books."""
    from stages.marketdata.capture.book_report import book_report  # noqa: PLC0415 - only this command needs the adapters

    configure_logging(logging.WARNING)
    try:
        report = book_report(venue, capture_path, snapshots, depth)
    except CaptureFormatError as exc:
        fail(f"bad capture {capture_path}: {exc}", EX_DATAERR)
    if as_json:
        click.echo(json.dumps(report))
        return
    for symbol, entry in report.items():
        best_bid = entry["bids"][0] if entry["bids"] else ["-", "-"]
        best_ask = entry["asks"][0] if entry["asks"] else ["-", "-"]
        stats = ", ".join(f"{k}={v}" for k, v in entry["stats"].items() if v)
        click.echo(
            f"{symbol:<14} {entry['state']:<9} id {entry['last_update_id']:<14} "
            f"bid {best_bid[1]}@{best_bid[0]}  ask {best_ask[1]}@{best_ask[0]}  {stats}"
        )


@click.command()
@click.argument("capture_path", metavar="CAPTURE", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--http",
    "http_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Its REST snapshots (default: the *.http.* file beside CAPTURE, if any).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=19443, show_default=True, help="0 picks a free port.")
@click.option("--pace", type=click.Choice(["original", "fast"]), default="original", show_default=True)
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True)
@click.option("--loop", is_flag=True, help="Start again at the end (the client is disconnected and must resync).")
def replay(capture_path: str, http_path: str | None, host: str, port: int, pace: str, speed: float, loop: bool) -> None:
    """Serve a capture over loopback WebSockets, and its REST snapshots over HTTP, on one port."""
    from stages.marketdata.capture.replay_server import ReplayServer, find_http_capture  # noqa: PLC0415

    configure_logging()
    http = Path(http_path) if http_path else find_http_capture(capture_path)
    try:
        server = ReplayServer(
            capture_path,
            http,
            host=host,
            port=port,
            pace="fast" if pace == "fast" else "original",
            speed=speed,
            loop=loop,
        )
    except (ValueError, CaptureFormatError) as exc:
        fail(f"bad capture {capture_path}: {exc}", EX_DATAERR)
    server.run_forever(lambda s: click.echo(f"serving {s.capture.name} on {s.ws_url} and {s.http_url}"))


@click.command()
@click.option("--venue", required=True, type=click.Choice(VENUE_CHOICES))
@click.option("--symbols", required=True, help="Comma-separated venue symbols, e.g. BTCUSDT,ETHUSDT.")
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="WebSocket capture file (REST snapshots go beside it: X.ws.N -> X.http.N).",
)
@click.option("--url", help="WebSocket URL override (default: the venue's public endpoint).")
@click.option("--rest-url", help="REST base override for snapshots.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after this many seconds.")
def record(
    venue: str, symbols: str, out_path: str, url: str | None, rest_url: str | None, duration: float | None
) -> None:
    """Record live venue traffic in the capture format (replayable by `book` and `replay`)."""
    import asyncio  # noqa: PLC0415

    from stages.marketdata.feed.recorder import http_path_for  # noqa: PLC0415
    from stages.marketdata.feed.recorder import record as record_traffic  # noqa: PLC0415

    configure_logging()
    out = Path(out_path)
    try:
        stats = asyncio.run(
            record_traffic(
                venue, [s for s in symbols.split(",") if s], out, url=url, rest_url=rest_url, duration_s=duration
            )
        )
    except (OSError, ValueError) as exc:
        fail(f"recording failed: {exc}", EX_UNAVAILABLE)
    except KeyboardInterrupt:
        return
    click.echo(f"recorded {stats.received} messages to {out} and {stats.snapshots} snapshots to {http_path_for(out)}")
