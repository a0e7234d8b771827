"""What a pipeline looks like from outside: counters, rings, latency, errors.

Built only from reads of the control file and the ring headers, so ``hftpipe
stat`` can call it on a running pipeline without disturbing a single writer.
A broadcast ring has a row per receiver: the transmitter's position as
``produced``, the receiver's as ``consumed`` (what it handed over or lost)
and what it lost as ``lost``; an SPSC ring never loses a record.

Applications add to it without the framework naming them: a stage's named
histograms (:meth:`~hftpipe.runtime.context.StageContext.histogram`) appear as
``latency.<name>``, and the ``"trading"`` mapping of each stage's status
bulletin is merged into one top-level ``trading`` object.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from hftpipe.runtime.context import RESERVED_LATENCY_KEYS
from hftpipe.runtime.wiring import ring_segment_name
from hftpipe.substrate.broadcast import BroadcastTransmitter
from hftpipe.substrate.control import ControlFile, RingEntry
from hftpipe.substrate.control_layout import RingKind
from hftpipe.substrate.histogram import BUCKET_HIGH, BUCKET_LOW, HistogramSnapshot
from hftpipe.substrate.ring import Ring

AnyRing = Ring | BroadcastTransmitter


@dataclass(frozen=True, slots=True)
class LatencySnapshot:
    hops: dict[str, HistogramSnapshot]
    end_to_end: HistogramSnapshot
    """Every stage's end-to-end histogram merged (a pipeline usually has one stage that records)."""
    by_stage: dict[str, HistogramSnapshot] = field(default_factory=dict)
    """Each stage's own end-to-end histogram, for the stages that recorded any (e.g. a strategy
    stage's tick-to-intent beside a sink's end to end)."""
    named: dict[str, HistogramSnapshot] = field(default_factory=dict)
    """The stages' named histograms that recorded any (``order_ack``, ...), by name, merged over stages."""

    @classmethod
    def read(cls, control: ControlFile) -> LatencySnapshot:
        hops = {entry.name: control.read_hop_histogram(i) for i, entry in enumerate(control.rings)}
        end_to_end = HistogramSnapshot.empty()
        by_stage = {}
        named: dict[str, HistogramSnapshot] = {}
        for stage, name in enumerate(control.stage_names):
            histogram = control.read_end_to_end_histogram(stage)
            end_to_end = end_to_end.merge(histogram)
            if histogram.count:
                by_stage[name] = histogram
            for key, histogram in control.read_named_histograms(stage).items():
                if histogram.count:
                    named[key] = named[key].merge(histogram) if key in named else histogram
        return cls(hops, end_to_end, by_stage, named)

    def since(self, earlier: LatencySnapshot) -> LatencySnapshot:
        """What was recorded between ``earlier`` and this snapshot (for live views)."""
        return LatencySnapshot(
            {name: _minus(h, earlier.hops.get(name)) for name, h in self.hops.items()},
            _minus(self.end_to_end, earlier.end_to_end),
            {name: _minus(h, earlier.by_stage.get(name)) for name, h in self.by_stage.items()},
            {name: _minus(h, earlier.named.get(name)) for name, h in self.named.items()},
        )

    def as_json(self) -> dict[str, Any]:
        """Hops, end to end, and each named histogram at ``latency.<name>`` (names never take these keys)."""
        return {
            "hops": [{"name": name, **h.summary()} for name, h in self.hops.items()],
            "end_to_end": self.end_to_end.summary(),
            "end_to_end_by_stage": {name: h.summary() for name, h in self.by_stage.items()},
            **{name: h.summary() for name, h in self.named.items() if name not in RESERVED_LATENCY_KEYS},
        }


def _minus(later: HistogramSnapshot, earlier: HistogramSnapshot | None) -> HistogramSnapshot:
    """The interval's own histogram: its max and min are those of its own buckets (the whole run's max
    would otherwise be every interval's p99 and p100), kept within the run's exact extremes."""
    if earlier is None:
        return later
    counts = later.counts - earlier.counts
    recorded = np.flatnonzero(counts)
    if not recorded.size:
        return HistogramSnapshot(counts, 0, 0)
    max_value = min(int(BUCKET_HIGH[recorded[-1]]), later.max_value)
    min_value = max(int(BUCKET_LOW[recorded[0]]), later.min_value)
    return HistogramSnapshot(counts, max_value, min_value)


class RingReader:
    """Read-only handles on a pipeline's rings (one per segment), opened once for repeated reports."""

    def __init__(self, control: ControlFile) -> None:
        self.rings: dict[str, AnyRing] = {}
        """By segment (:attr:`RingEntry.segment`): a broadcast ring's rows share one."""
        pipeline = control.pipeline_name
        for entry in control.rings:
            if entry.segment in self.rings:
                continue
            name = ring_segment_name(pipeline, entry.segment)
            try:
                if entry.kind is RingKind.BROADCAST:
                    self.rings[entry.segment] = BroadcastTransmitter.attach(name, readonly=True)
                else:
                    self.rings[entry.segment] = Ring.attach(name, readonly=True)
            except (FileNotFoundError, ValueError):
                continue

    def close(self) -> None:
        for ring in self.rings.values():
            ring.close()
        self.rings.clear()


def ring_report(entry: RingEntry, ring: AnyRing | None, names: list[str]) -> dict[str, Any]:
    """One row of the ring table with the positions its segment holds (zeros when it cannot be read)."""
    info: dict[str, Any] = {
        "kind": "broadcast" if entry.kind is RingKind.BROADCAST else "spsc",
        "from": names[entry.producer],
        "to": names[entry.consumer],
        "capacity": entry.capacity,
        "slot_size": entry.slot_size,
    }
    produced = ring.producer_position if ring else 0
    if isinstance(ring, BroadcastTransmitter) and entry.receiver < ring.receivers:
        consumed, full, lost = ring.receiver_position(entry.receiver), 0, ring.receiver_lost(entry.receiver)
    elif isinstance(ring, Ring):
        consumed, full, lost = ring.consumer_position, ring.full_count, 0
    else:
        consumed, full, lost = 0, 0, 0
    info.update(produced=produced, consumed=consumed, backlog=produced - consumed, full=full, lost=lost)
    if entry.kind is RingKind.BROADCAST:
        info.update(ring=entry.group, receiver=entry.receiver)
    return info


def stage_status(control: ControlFile, stage: int) -> Any:
    """What the stage last published about itself (its status bulletin, JSON), or None."""
    text = control.read_status(stage)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def merged_trading(statuses: Iterable[Any]) -> dict[str, Any]:
    """The ``"trading"`` mappings of the stages' statuses merged into one (in stage order; the framework
    names no stage and no key: e.g. risk's state, positions and PnL beside execution's order counts)."""
    trading: dict[str, Any] = {}
    for status in statuses:
        part = status.get("trading") if isinstance(status, Mapping) else None
        if isinstance(part, Mapping):
            trading.update(part)
    return trading


def trading_summary(control: ControlFile) -> dict[str, Any]:
    """The merged ``trading`` object of a pipeline's stages (empty when none trades)."""
    return merged_trading(stage_status(control, i) for i in range(len(control.stage_names)))


def pipeline_report(control: ControlFile, rings: Mapping[str, AnyRing]) -> dict[str, Any]:
    """``rings`` by segment name (:attr:`RingReader.rings`, or the owner's :attr:`OwnedObjects.rings`).

    ``trading`` is there when a stage published one (:func:`merged_trading`).
    """
    names = control.stage_names
    stages = {}
    for i, name in enumerate(names):
        stages[name] = {
            "state": control.stage_state(i).name.lower(),
            "pid": control.stage_pid(i),
            "cpu": control.stage_cpu(i),
            "idle": control.stage_idle(i),
            "restarts": control.stage_restarts(i),
            "last_exit": control.stage_exit(i),
        }
        status = stage_status(control, i)
        if status is not None:
            stages[name]["status"] = status
    ring_info = {entry.name: ring_report(entry, rings.get(entry.segment), names) for entry in control.rings}
    errors = [
        {
            "stage": names[i] if i is not None else "supervisor",
            "message": e.message,
            "count": e.count,
            "first_wall_ns": e.first_wall_ns,
            "last_wall_ns": e.last_wall_ns,
        }
        for i in [*range(len(names)), None]
        for e in control.read_errors(i)
    ]
    report: dict[str, Any] = {
        "pipeline": control.pipeline_name,
        "state": control.state.name.lower(),
        "owner_pid": control.owner_pid,
        "uptime_s": round((time.monotonic_ns() - control.started_mono_ns) / 1e9, 3),
        "stages": stages,
        "counters": {name: control.read_counters(i) for i, name in enumerate(names)},
        "rings": ring_info,
        "latency": LatencySnapshot.read(control).as_json(),
        "errors": errors,
    }
    trading = merged_trading(info.get("status") for info in stages.values())
    if trading:
        report["trading"] = trading
    return report


def format_ns(ns: int) -> str:
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.1f}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.1f}ms"
    return f"{ns / 1e9:.2f}s"


def _p50_p99(h: HistogramSnapshot) -> str:
    return f"{format_ns(h.value_at_percentile(50))}/{format_ns(h.value_at_percentile(99))}"


def status_parts(delta: LatencySnapshot, messages_per_s: float, trading: Mapping[str, Any] | None = None) -> list[str]:
    """The pieces of the live status: throughput, the named histograms, p50/p99 per hop and end to end,
    then what ``trading`` holds (order counts, positions, PnL, risk state), each only where present."""
    parts = [f"{messages_per_s:,.0f} msg/s"]
    parts += [f"{name} {_p50_p99(h)}" for name, h in delta.named.items() if h.count]
    parts += [f"{name} {_p50_p99(h)}" for name, h in delta.hops.items() if h.count]
    if delta.end_to_end.count:
        parts.append(f"e2e {_p50_p99(delta.end_to_end)}")
    return parts + trading_parts(trading or {})


_COUNTS: Final = ("orders_sent", "acks", "fills", "rejects")
_PNL: Final = (("realized_pnl", "realized"), ("unrealized_pnl", "unrealized"), ("fees", "fees"))


def trading_parts(trading: Mapping[str, Any]) -> list[str]:
    """The trading summary (the shared ``trading`` keys, every one optional) in a few short pieces."""
    parts = []
    counts = [f"{key.removesuffix('_sent')} {trading[key]}" for key in _COUNTS if key in trading]
    if counts:
        parts.append(" ".join(counts))
    positions = trading.get("positions")
    if isinstance(positions, Mapping) and positions:
        parts.append("pos " + " ".join(f"{symbol} {qty}" for symbol, qty in positions.items()))
    pnl = [f"{label} {trading[key]}" for key, label in _PNL if trading.get(key) is not None]
    if pnl:
        parts.append("pnl " + " ".join(pnl))
    slippage = trading.get("slippage")
    if isinstance(slippage, Mapping) and slippage.get("realized_bps_p50") is not None:
        parts.append(f"slippage p50 {slippage['realized_bps_p50']} bps (est {slippage.get('estimated_bps_p50')})")
    if "state" in trading:
        parts.append(f"trading {trading['state']}")
    return parts


def status_line(delta: LatencySnapshot, messages_per_s: float, trading: Mapping[str, Any] | None = None) -> str:
    """One line for a terminal or a log: :func:`status_parts` joined."""
    return " | ".join(status_parts(delta, messages_per_s, trading))


def status_lines(parts: list[str], width: int) -> list[str]:
    """``parts`` packed into lines of at most ``width`` characters (a part longer than that has a line of its own)."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + 3 + len(part) <= width:
            lines[-1] += " | " + part
        else:
            lines.append(part)
    return lines
