"""One read of a pipeline as Prometheus metric families: a pure function of what was read.

Names follow Prometheus practice: base units (seconds), ``_total`` on counts
that only grow, one family per meaning with labels for the instances
(``pipeline``, ``stage``, ``ring``, ...), and a state as a 0/1 gauge per
possible value (a *StateSet*) so an alert can say ``{state="halted"} == 1``.
Every family is declared on every scrape, with or without samples, so the
names the alert rules use are there from the first scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from hftpipe.ops.metrics.buckets import prometheus_buckets
from hftpipe.runtime.report import LatencySnapshot
from hftpipe.substrate.control_layout import PipelineState, StageState
from hftpipe.substrate.counters import STANDARD_KINDS, CounterKind
from hftpipe.substrate.histogram import HistogramSnapshot

logger = logging.getLogger("hftpipe.metrics")

PREFIX: Final = "hftpipe"
PIPELINE_STATES: Final = tuple(state.name.lower() for state in PipelineState)
STAGE_STATES: Final = tuple(state.name.lower() for state in StageState)
TRADING_STATES: Final = ("active", "reducing", "halted")
"""The states the shared contract names; a state outside them is exported as well."""
TRADING_COUNTS: Final = ("orders_sent", "acks", "fills", "rejects")

_STANDARD_COUNTS: Final = {
    CounterKind.MESSAGES_IN: "records taken from the stage's input rings (or its socket)",
    CounterKind.MESSAGES_OUT: "records the stage published",
    CounterKind.BACKPRESSURE: "times an output ring was full",
    CounterKind.DROPS: "records the stage dropped",
    CounterKind.ERRORS: "errors the stage counted",
    CounterKind.DUTY_CYCLES: "duty cycles the stage ran",
}
_LEVELS: Final = frozenset({CounterKind.MAX_DUTY_CYCLE_NS, CounterKind.HEARTBEAT_NS})
assert set(_STANDARD_COUNTS) | _LEVELS == set(STANDARD_KINDS)


@dataclass(frozen=True, slots=True)
class PipelineRead:
    """What one scrape read of a live pipeline (see :func:`hftpipe.ops.metrics.collector.read_pipeline`)."""

    report: Mapping[str, Any]
    """:func:`hftpipe.runtime.report.pipeline_report` (a ``trading`` summary in it is exported)."""
    latency: LatencySnapshot
    counter_kinds: Mapping[str, Mapping[str, CounterKind]]
    """By stage, by counter label."""
    now_mono_ns: int
    started_wall_ns: int


class PipelineFamilies:
    """The exporter's families; :meth:`add` puts one pipeline's samples in them."""

    def __init__(self) -> None:
        p, s, r = ["pipeline"], ["pipeline", "stage"], ["pipeline", "ring", "from", "to", "kind"]
        self.up = _gauge("pipeline_up", "1 while the pipeline's owner is alive and its control file readable", p)
        self.pipeline_state = _gauge("pipeline_state", "1 for the pipeline's current state", [*p, "state"])
        self.start_time = _gauge("pipeline_start_time_seconds", "when the pipeline started (Unix time)", p)
        self.stage_state = _gauge("stage_state", "1 for the stage's current state", [*s, "state"])
        self.stage_info = _gauge(
            "stage_info", "the stage's process: pid, core and idle strategy", [*s, "pid", "cpu", "idle"]
        )
        self.restarts = _counter("stage_restarts_total", "times the supervisor restarted the stage", s)
        self.last_exit = _gauge("stage_last_exit_code", "the exit status of the stage's last process", s)
        self.heartbeat_age = _gauge("stage_heartbeat_age_seconds", "time since the stage's last heartbeat", s)
        self.max_duty_cycle = _gauge("stage_max_duty_cycle_seconds", "the longest duty cycle the stage ran", s)
        self.standard = {
            kind: _counter(f"stage_{kind.label}_total", help_text, s) for kind, help_text in _STANDARD_COUNTS.items()
        }
        self.custom_counts = _counter("stage_counter_total", "a stage's own count, by its label", [*s, "name"])
        self.custom_levels = _gauge("stage_gauge", "a stage's own level, by its label", [*s, "name"])
        self.ring_produced = _counter("ring_produced_total", "records committed into the ring", r)
        self.ring_consumed = _counter("ring_consumed_total", "records the consumer (receiver) released", r)
        self.ring_backlog = _gauge("ring_backlog", "records in the ring not yet consumed", r)
        self.ring_capacity = _gauge("ring_capacity", "slots in the ring", r)
        self.ring_full = _counter("ring_full_total", "times the producer found the ring full", r)
        self.ring_lost = _counter("ring_lost_total", "records a broadcast receiver lost to being lapped", r)
        self.hop_latency = _histogram("hop_latency_seconds", "commit to consume, per ring", ["pipeline", "ring"])
        self.stage_latency = _histogram("end_to_end_latency_seconds", "each recording stage's end-to-end latency", s)
        self.named_latency = _histogram("latency_seconds", "named latency histograms, merged over stages", [*p, "name"])
        self.trading_state = _gauge("trading_state", "1 for the trading state risk reports", [*p, "state"])
        self.positions = _gauge("trading_position", "net position by symbol (base units)", [*p, "symbol"])
        self.realized = _gauge("trading_realized_pnl", "realized PnL (quote currency)", p)
        self.unrealized = _gauge("trading_unrealized_pnl", "unrealized PnL (quote currency)", p)
        self.fees = _gauge("trading_fees", "fees paid (quote currency; rebates lower it)", p)
        self.trading_counts = {
            key: _counter(f"trading_{key}_total", f"execution's {key.replace('_', ' ')}", p) for key in TRADING_COUNTS
        }

    def __iter__(self) -> Iterator[Metric]:
        for value in vars(self).values():
            if isinstance(value, dict):
                yield from value.values()
            else:
                yield value

    def add_absent(self, pipeline: str) -> None:
        """A pipeline asked for by name that is not running: ``up`` 0, nothing else (no stale figures)."""
        self.up.add_metric([pipeline], 0)

    def add(self, read: PipelineRead) -> None:
        report = read.report
        pipeline = str(report["pipeline"])
        self.up.add_metric([pipeline], 1)
        _state_set(self.pipeline_state, [pipeline], PIPELINE_STATES, report["state"])
        self.start_time.add_metric([pipeline], read.started_wall_ns / 1e9)
        for stage, info in report["stages"].items():
            self._add_stage(read, pipeline, stage, info)
        for ring, info in report["rings"].items():
            labels = [pipeline, ring, info["from"], info["to"], info["kind"]]
            self.ring_produced.add_metric(labels, info["produced"])
            self.ring_consumed.add_metric(labels, info["consumed"])
            self.ring_backlog.add_metric(labels, info["backlog"])
            self.ring_capacity.add_metric(labels, info["capacity"])
            self.ring_full.add_metric(labels, info["full"])
            self.ring_lost.add_metric(labels, info["lost"])
        for ring, histogram in read.latency.hops.items():
            _observe(self.hop_latency, [pipeline, ring], histogram)
        for stage, histogram in read.latency.by_stage.items():
            _observe(self.stage_latency, [pipeline, stage], histogram)
        named: Mapping[str, HistogramSnapshot] = getattr(read.latency, "named", {})
        for name, histogram in named.items():
            _observe(self.named_latency, [pipeline, name], histogram)
        trading = report.get("trading")
        if isinstance(trading, Mapping):
            self._add_trading(pipeline, trading)

    def _add_stage(self, read: PipelineRead, pipeline: str, stage: str, info: Mapping[str, Any]) -> None:
        labels = [pipeline, stage]
        _state_set(self.stage_state, labels, STAGE_STATES, info["state"])
        cpu = "" if info["cpu"] is None else str(info["cpu"])
        self.stage_info.add_metric([*labels, str(info["pid"]), cpu, info["idle"]], 1)
        self.restarts.add_metric(labels, info["restarts"])
        if info["last_exit"] is not None:
            self.last_exit.add_metric(labels, info["last_exit"])
        kinds = read.counter_kinds.get(stage, {})
        for label, value in read.report["counters"][stage].items():
            kind = kinds.get(label, CounterKind.CUSTOM)
            if kind is CounterKind.HEARTBEAT_NS:
                if value:
                    self.heartbeat_age.add_metric(labels, max(read.now_mono_ns - value, 0) / 1e9)
            elif kind is CounterKind.MAX_DUTY_CYCLE_NS:
                self.max_duty_cycle.add_metric(labels, value / 1e9)
            elif kind in self.standard:
                self.standard[kind].add_metric(labels, value)
            elif kind is CounterKind.GAUGE:
                self.custom_levels.add_metric([*labels, label], value)
            else:
                self.custom_counts.add_metric([*labels, label], value)

    def _add_trading(self, pipeline: str, trading: Mapping[str, Any]) -> None:
        """Every key is optional (the shared contract); a value that is not a number is logged and skipped."""
        state = trading.get("state")
        if isinstance(state, str):
            _state_set(self.trading_state, [pipeline], TRADING_STATES, state)
        positions = trading.get("positions")
        if isinstance(positions, Mapping):
            for symbol, quantity in positions.items():
                _add_number(self.positions, [pipeline, str(symbol)], quantity, f"positions.{symbol}")
        for key, family in (("realized_pnl", self.realized), ("unrealized_pnl", self.unrealized), ("fees", self.fees)):
            if key in trading:
                _add_number(family, [pipeline], trading[key], key)
        for key, counter in self.trading_counts.items():
            if key in trading:
                _add_number(counter, [pipeline], trading[key], key)


def _gauge(name: str, help_text: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", help_text, labels=labels)


def _counter(name: str, help_text: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=labels)


def _histogram(name: str, help_text: str, labels: list[str]) -> HistogramMetricFamily:
    return HistogramMetricFamily(f"{PREFIX}_{name}", help_text, labels=labels)


def _state_set(family: GaugeMetricFamily, labels: list[str], states: tuple[str, ...], current: str) -> None:
    for state in states if current in states else (*states, current):
        family.add_metric([*labels, state], 1 if state == current else 0)


def _observe(family: HistogramMetricFamily, labels: list[str], histogram: HistogramSnapshot) -> None:
    buckets, sum_s = prometheus_buckets(histogram)
    family.add_metric(labels, buckets, sum_s)


def _add_number(family: GaugeMetricFamily | CounterMetricFamily, labels: list[str], value: object, key: str) -> None:
    try:
        number = float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        logger.warning("trading.%s is not a number (%r): not exported", key, value)
        return
    family.add_metric(labels, number)
