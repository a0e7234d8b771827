"""What ``hftpipe top`` shows, as lines of text: a pure function of two reads one second apart.

Rates (messages/s in and out) and hop percentiles are over the interval
between the two reads (the histograms' difference), so a burst shows in the
second it happened instead of being averaged into the whole run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hftpipe.runtime.report import LatencySnapshot, format_ns
from hftpipe.substrate.histogram import HistogramSnapshot


@dataclass(frozen=True, slots=True)
class TopSample:
    """One read: :func:`~hftpipe.runtime.report.pipeline_report`, the histograms, and when (monotonic s)."""

    report: Mapping[str, Any]
    latency: LatencySnapshot
    at_s: float


STAGE_HEADER = (
    f"{'STAGE':<16} {'STATE':<9} {'PID':>7} {'CORE':>4} {'IDLE':<10} {'IN/s':>10} {'OUT/s':>10}"
    f" {'ERRORS':>7} {'RESTARTS':>8}"
)
RING_HEADER = (
    f"{'RING':<24} {'FROM -> TO':<24} {'BACKLOG':>9} {'CAPACITY':>9} {'FULL':>7} {'LOST':>7}"
    f" {'p50 1s':>9} {'p99 1s':>9}"
)


def top_lines(previous: TopSample | None, current: TopSample) -> list[str]:
    """The screen, top to bottom; rates and percentiles need ``previous`` (blank on the first read)."""
    report = current.report
    interval_s = current.at_s - previous.at_s if previous else 0.0
    delta = current.latency.since(previous.latency) if previous else None
    lines = [
        f"hftpipe top - pipeline {report['pipeline']} [{report['state']}]  owner pid {report['owner_pid']}"
        f"  up {report['uptime_s']:.0f} s   (q quits)",
        "",
        STAGE_HEADER,
    ]
    for stage, info in report["stages"].items():
        counters = report["counters"][stage]
        before = previous.report["counters"].get(stage, {}) if previous else {}
        rate_in = _rate(counters, before, "messages_in", interval_s)
        rate_out = _rate(counters, before, "messages_out", interval_s)
        core = "-" if info["cpu"] is None else str(info["cpu"])
        lines.append(
            f"{stage:<16} {info['state']:<9} {info['pid']:>7} {core:>4} {info['idle']:<10} {rate_in:>10} {rate_out:>10}"
            f" {counters.get('errors', 0):>7} {info['restarts']:>8}"
        )
    lines += ["", RING_HEADER]
    for ring, info in report["rings"].items():
        hop = delta.hops.get(ring) if delta else None
        p50, p99 = _percentiles(hop)
        lines.append(
            f"{ring:<24} {info['from'] + ' -> ' + info['to']:<24} {info['backlog']:>9} {info['capacity']:>9}"
            f" {info['full']:>7} {info['lost']:>7} {p50:>9} {p99:>9}"
        )
    lines += _latency_lines(delta)
    trading = report.get("trading")
    if isinstance(trading, Mapping) and trading:
        lines += ["", *_trading_lines(trading)]
    if report["errors"]:
        lines += ["", "ERRORS"]
        lines += [f"  [{e['stage']}] x{e['count']}: {e['message']}" for e in report["errors"]]
    return lines


def _rate(now: Mapping[str, int], before: Mapping[str, int], key: str, interval_s: float) -> str:
    if interval_s <= 0 or key not in before:
        return "-"
    return f"{(now.get(key, 0) - before[key]) / interval_s:,.0f}"


def _percentiles(histogram: HistogramSnapshot | None) -> tuple[str, str]:
    if histogram is None or not histogram.count:
        return "-", "-"
    return format_ns(histogram.value_at_percentile(50)), format_ns(histogram.value_at_percentile(99))


def _latency_lines(delta: LatencySnapshot | None) -> list[str]:
    """End to end per recording stage, and the named histograms where the snapshot has them (last second)."""
    if delta is None:
        return []
    named: Mapping[str, HistogramSnapshot] = getattr(delta, "named", {})
    rows = [(f"end to end at {stage}", h) for stage, h in delta.by_stage.items()] + list(named.items())
    lines = []
    for title, histogram in rows:
        if histogram.count:
            p50, p99 = _percentiles(histogram)
            lines.append(f"{title:<40} n={histogram.count:<8} p50 {p50:>9}  p99 {p99:>9}")
    return ["", "LATENCY (last 1 s)", *lines] if lines else []


def _trading_lines(trading: Mapping[str, Any]) -> list[str]:
    """Every key optional (the shared contract): what is there is shown."""
    head = [f"TRADING {trading.get('state', '-')}"]
    for key, title in (("realized_pnl", "realized"), ("unrealized_pnl", "unrealized"), ("fees", "fees")):
        if key in trading:
            head.append(f"{title} {trading[key]}")
    counts = [f"{key} {trading[key]}" for key in ("orders_sent", "acks", "fills", "rejects") if key in trading]
    lines = ["   ".join(head)]
    if counts:
        lines.append("  " + "   ".join(counts))
    positions = trading.get("positions")
    if isinstance(positions, Mapping) and positions:
        lines.append("  positions " + "  ".join(f"{symbol} {qty}" for symbol, qty in positions.items()))
    return lines
