"""``hftpipe``: run pipelines, run one stage, and look at running pipelines from outside."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import click

from hftpipe.cli.common import (
    attach_running,
    config_option,
    fail,
    load_or_exit,
    name_option,
    stop_on_signals,
    supervising,
)
from hftpipe.cli.metrics import metrics
from hftpipe.cli.ops import doctor, units
from hftpipe.cli.registry import PluginGroup
from hftpipe.runtime.config import default_config_path
from hftpipe.runtime.context import RESERVED_LATENCY_KEYS
from hftpipe.runtime.report import (
    LatencySnapshot,
    RingReader,
    format_ns,
    pipeline_report,
    status_lines,
    status_parts,
    trading_parts,
    trading_summary,
)
from hftpipe.runtime.runner import EX_NOPERM, EX_SOFTWARE
from hftpipe.runtime.stage_process import LOG_LEVEL_ENV, configure_logging, run_process, run_stage
from hftpipe.runtime.supervisor import Supervisor
from hftpipe.runtime.validation import EX_CONFIG
from hftpipe.substrate.shm import ShmEntry, clean_stale, list_entries

_config_option = config_option("Pipeline TOML (default: the embedded configs/default.toml).")


@click.group(cls=PluginGroup)
@click.version_option(package_name="hftpipe")
def main() -> None:
    """Low-latency trading pipelines over shared-memory rings."""


# ----------------------------------------------------------------------------- run
@main.command()
@_config_option
@name_option
@click.option("--duration", type=float, help="Stop after this many seconds (default: until SIGTERM/SIGINT).")
@click.option("--json", "as_json", is_flag=True, help="Print the exit summary as one JSON object on stdout.")
def run(config_path: str | None, name: str | None, duration: float | None, as_json: bool) -> None:
    """Run a pipeline in the foreground under its supervisor."""
    config = load_or_exit(config_path or default_config_path(), name)
    configure_logging(logging.WARNING if as_json else logging.INFO)
    stop_requested = stop_on_signals()
    with supervising(config) as supervisor:
        live = _LiveStatus(supervisor) if sys.stderr.isatty() and not as_json else None
        started = time.monotonic()
        supervisor.start()
        supervisor.run(duration, stop_requested, live.tick if live else lambda: None)
        supervisor.stop()
        if live:
            live.finish()
        assert supervisor.objects is not None
        summary = pipeline_report(supervisor.control, supervisor.objects.rings)
    summary["duration_s"] = round(time.monotonic() - started, 3)
    summary["placement"] = supervisor.plan.explanation if supervisor.plan else None
    summary["failure"] = supervisor.failure
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(_text_summary(summary))
    if supervisor.failure:
        sys.exit(EX_SOFTWARE)


class _LiveStatus:
    """A status on the terminal, refreshed each second from interval histograms (and the trading summary,
    where a stage publishes one): one line, or as many as the terminal's width needs, rewritten in place."""

    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor
        self._last: LatencySnapshot | None = None
        self._last_count = 0
        self._last_time = time.monotonic()
        self._lines = 0

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last_time < 1.0:
            return
        control = self._supervisor.control
        snapshot = LatencySnapshot.read(control)
        count = snapshot.end_to_end.count
        if self._last is not None:
            rate = (count - self._last_count) / (now - self._last_time)
            parts = status_parts(snapshot.since(self._last), rate, trading_summary(control))
            lines = status_lines(parts, shutil.get_terminal_size().columns - 1)
            up = f"\x1b[{self._lines - 1}F" if self._lines > 1 else "\r"
            sys.stderr.write(up + "\x1b[J" + "\n".join(lines))
            sys.stderr.flush()
            self._lines = len(lines)
        self._last, self._last_count, self._last_time = snapshot, count, now

    def finish(self) -> None:
        sys.stderr.write("\n")


def _latency_rows(latency: dict[str, Any]) -> list[dict[str, Any]]:
    """The hops, end to end, then each named histogram (``latency.<name>``: every key but the report's own)."""
    named = [{"name": k, **v} for k, v in latency.items() if k not in RESERVED_LATENCY_KEYS]
    return [*latency["hops"], {"name": "end-to-end", **latency["end_to_end"]}, *named]


def _text_summary(report: dict[str, Any]) -> str:
    lines = [f"pipeline {report['pipeline']}: {report['state']} after {report['duration_s']} s"]
    if report.get("placement"):
        lines.append(report["placement"])
    lines.append(f"{'hop':<28}{'count':>12}{'p50':>10}{'p99':>10}{'p99.9':>10}{'max':>10}")
    for hop in _latency_rows(report["latency"]):
        cells = "".join(f"{format_ns(hop[key]):>10}" for key in ("p50_ns", "p99_ns", "p999_ns", "max_ns"))
        lines.append(f"{hop['name']:<28}{hop['count']:>12}{cells}")
    if report.get("trading"):
        lines.append("trading: " + " | ".join(trading_parts(report["trading"])))
    for stage, counters in report["counters"].items():
        shown = {k: v for k, v in counters.items() if v and k != "heartbeat_ns"}
        lines.append(f"{stage}: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    for error in report["errors"]:
        lines.append(f"error [{error['stage']}] x{error['count']}: {error['message']}")
    if report.get("failure"):
        lines.append(f"FAILED: {report['failure']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- stage
@main.command()
@click.argument("stage_name")
@_config_option
@name_option
def stage(stage_name: str, config_path: str | None, name: str | None) -> None:
    """Run one stage of a running pipeline, alone in its process (what the supervisor starts, under systemd too)."""
    config = load_or_exit(config_path or default_config_path(), name)
    try:
        process = config.stage(stage_name).process
    except KeyError as exc:
        fail(f"config error: stages.{stage_name}: {exc.args[0]}", EX_CONFIG)
    siblings = [s.name for s in config.process_stages(process)]
    if len(siblings) > 1:
        fail(
            f"config error: stages.{stage_name}.process: it runs in process {process!r} with"
            f" {', '.join(siblings)}: start that one (hftpipe process {process})",
            EX_CONFIG,
        )
    configure_logging(logging.getLevelName(os.environ.get(LOG_LEVEL_ENV, "INFO")))
    sys.exit(run_stage(config, stage_name))


@main.command("process")
@click.argument("process_name")
@_config_option
@name_option
def process_command(process_name: str, config_path: str | None, name: str | None) -> None:
    """Run one process of a running pipeline: a stage alone, or a composite of several (what the supervisor starts)."""
    config = load_or_exit(config_path or default_config_path(), name)
    processes = config.processes()
    if process_name not in processes:
        fail(f"config error: process {process_name!r}: no such process (processes: {', '.join(processes)})", EX_CONFIG)
    configure_logging(logging.getLevelName(os.environ.get(LOG_LEVEL_ENV, "INFO")))
    sys.exit(run_process(config, process_name))


# ----------------------------------------------------------------------------- observe
@main.command()
@name_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--watch", is_flag=True, help="Refresh every second until interrupted.")
def stat(name: str | None, as_json: bool, watch: bool) -> None:
    """Counters, rings, stages and errors of a running pipeline (read-only)."""
    control = attach_running(name)
    rings = RingReader(control)
    try:
        while True:
            report = pipeline_report(control, rings.rings)
            if as_json:
                click.echo(json.dumps(report))
            else:
                if watch:
                    click.echo("\x1b[2J\x1b[H", nl=False)
                click.echo(_stat_text(report))
            if not watch:
                break
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        rings.close()
        control.close()


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _stat_text(report: dict[str, Any]) -> str:
    lines = [
        f"pipeline {report['pipeline']} [{report['state']}] owner pid {report['owner_pid']} up {report['uptime_s']} s"
    ]
    for stage_name, info in report["stages"].items():
        counters = report["counters"][stage_name]
        lines.append(
            f"  {stage_name:<16} {info['state']:<8} pid {info['pid']:<8} cpu {_or_dash(info['cpu']):<3}"
            f" {info['idle']:<9} in {counters['messages_in']:<10} out {counters['messages_out']:<10}"
            f" err {counters['errors']:<5} restarts {info['restarts']}"
        )
    for ring_name, ring in report["rings"].items():
        # A broadcast receiver can lose records but never fills its ring; an SPSC ring the other way round.
        tail = f"lost {ring['lost']}" if ring["kind"] == "broadcast" else f"full {ring['full']}"
        lines.append(
            f"  ring {ring_name:<22} {ring['from']}->{ring['to']} produced {ring['produced']}"
            f" consumed {ring['consumed']} backlog {ring['backlog']}/{ring['capacity']} {tail}"
        )
    for stage_name, info in report["stages"].items():
        if "status" in info:
            lines.append(f"  status [{stage_name}] {json.dumps(info['status'], separators=(',', ':'))}")
    for error in report["errors"]:
        lines.append(f"  error [{error['stage']}] x{error['count']}: {error['message']}")
    return "\n".join(lines)


@main.command()
@name_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--hgrm", type=click.Path(dir_okay=False, writable=True), help="Write an HdrHistogram .hgrm file.")
@click.option("--hop", help="With --hgrm: this hop's (or named histogram's) instead of end to end.")
def latency(name: str | None, as_json: bool, hgrm: str | None, hop: str | None) -> None:
    """Per-hop, end-to-end and named (e.g. order_ack) latency percentiles of a running pipeline."""
    control = attach_running(name)
    try:
        snapshot = LatencySnapshot.read(control)
    finally:
        control.close()
    if hgrm:
        histograms = {**snapshot.hops, **snapshot.named}
        if hop is not None and hop not in histograms:
            fail(f"no hop {hop!r} (hops: {', '.join(histograms)})", 2)
        histogram = histograms[hop] if hop else snapshot.end_to_end
        Path(hgrm).write_text(histogram.to_hgrm())
    if as_json:
        click.echo(json.dumps(snapshot.as_json()))
    elif not hgrm:
        for row in _latency_rows(snapshot.as_json()):
            click.echo(
                f"{row['name']:<28} n={row['count']:<10} p50={format_ns(row['p50_ns'])} "
                f"p99={format_ns(row['p99_ns'])} p99.9={format_ns(row['p999_ns'])} max={format_ns(row['max_ns'])}"
            )


# ----------------------------------------------------------------------------- shm
@main.group()
def shm() -> None:
    """List or clean hftpipe objects in /dev/shm."""


@shm.command("ls")
@click.option("--json", "as_json", is_flag=True)
def shm_ls(as_json: bool) -> None:
    """Our objects with their owner and state: live, STALE (a dead owner's) or foreign (another uid's)."""
    entries = list_entries()
    if as_json:
        click.echo(json.dumps([_entry_dict(e) for e in entries]))
        return
    for e in entries:
        kind = "sem" if e.is_semaphore else "shm"
        owner = f"uid {e.owner_uid}" if e.foreign else f"pid {e.owner_pid}" if e.owner_pid else "-"
        state = "STALE" if e.state == "stale" else e.state
        click.echo(f"{e.name:<48} {kind} {e.size:>10} {owner:<12} {state}")


def _entry_dict(entry: ShmEntry) -> dict[str, Any]:
    return {**{k: getattr(entry, k) for k in entry.__slots__}, "state": entry.state}


@shm.command("clean")
def shm_clean() -> None:
    """Remove objects whose owner process is gone (live pipelines and other users' objects are left alone)."""
    try:
        removed = clean_stale()
    except PermissionError as exc:
        fail(f"shm clean: {exc}", EX_NOPERM)
    for name in removed:
        click.echo(f"removed {name}")
    click.echo(f"{len(removed)} stale object(s) removed")
    for e in list_entries():
        if e.foreign:
            click.echo(f"left {e.name} alone: owned by uid {e.owner_uid}, not ours")


# ----------------------------------------------------------------------------- operations
main.add_command(units)
main.add_command(doctor)
main.add_command(metrics)


@main.command()
@name_option
@click.pass_context
def top(ctx: click.Context, name: str | None) -> None:
    """A live full-screen view of every stage, ring and hop (q quits); not on a terminal: stat --watch."""
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        ctx.invoke(stat, name=name, as_json=False, watch=True)
        return
    from hftpipe.cli.top import run_top  # noqa: PLC0415 - curses only for this command

    control = attach_running(name)
    try:
        run_top(control)
    finally:
        control.close()
