"""What the exporter makes of the report's optional parts: the trading summary and named histograms."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client.samples import Sample

from hftpipe.ops.metrics.families import PipelineFamilies, PipelineRead
from hftpipe.runtime.report import LatencySnapshot
from hftpipe.substrate.histogram import HistogramSnapshot


def _report(**extra: Any) -> dict[str, Any]:
    return {"pipeline": "p", "state": "running", "stages": {}, "rings": {}, "counters": {}, **extra}


def _samples(report: dict[str, Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    families = PipelineFamilies()
    latency = LatencySnapshot({}, HistogramSnapshot.empty())
    families.add(PipelineRead(report, latency, {}, now_mono_ns=0, started_wall_ns=0))
    found: list[Sample] = [sample for family in families for sample in family.samples]
    return {(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "pipeline"))): s.value for s in found}


def test_should_export_every_key_of_the_trading_summary_as_gauges_and_counts() -> None:
    trading = {
        "state": "reducing",
        "positions": {"BTCUSDT": "0.015", "ETHUSDT": "-2"},
        "realized_pnl": "12.5",
        "unrealized_pnl": "-3.25",
        "fees": "0.75",
        "orders_sent": 10,
        "acks": 9,
        "fills": 7,
        "rejects": 1,
    }
    found = _samples(_report(trading=trading))
    assert found[("hftpipe_trading_state", (("state", "reducing"),))] == 1
    assert found[("hftpipe_trading_state", (("state", "halted"),))] == 0
    assert found[("hftpipe_trading_position", (("symbol", "BTCUSDT"),))] == 0.015
    assert found[("hftpipe_trading_position", (("symbol", "ETHUSDT"),))] == -2
    assert found[("hftpipe_trading_realized_pnl", ())] == 12.5
    assert found[("hftpipe_trading_unrealized_pnl", ())] == -3.25
    assert found[("hftpipe_trading_fees", ())] == 0.75
    assert found[("hftpipe_trading_orders_sent_total", ())] == 10
    assert found[("hftpipe_trading_fills_total", ())] == 7


def test_should_export_no_trading_series_without_a_summary_and_only_the_keys_present() -> None:
    assert not [name for name, _ in _samples(_report()) if name.startswith("hftpipe_trading")]
    found = _samples(_report(trading={"fills": 3}))
    assert [name for name, _ in found if name.startswith("hftpipe_trading")] == ["hftpipe_trading_fills_total"]


def test_should_export_a_state_outside_the_contract_beside_the_known_ones() -> None:
    found = _samples(_report(trading={"state": "paused"}))
    assert found[("hftpipe_trading_state", (("state", "paused"),))] == 1
    assert found[("hftpipe_trading_state", (("state", "active"),))] == 0


def test_should_log_and_skip_a_value_that_is_not_a_number(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hftpipe.metrics"):
        found = _samples(_report(trading={"realized_pnl": "lots", "fills": 2}))
    assert ("hftpipe_trading_realized_pnl", ()) not in found
    assert found[("hftpipe_trading_fills_total", ())] == 2
    assert "trading.realized_pnl is not a number ('lots')" in caplog.text


@dataclass(frozen=True, slots=True)
class _WithNamed(LatencySnapshot):
    """The snapshot as the named-histograms contract extends it (``named``: merged over stages)."""

    named: dict[str, HistogramSnapshot] = field(default_factory=dict)


def test_should_export_named_histograms_when_the_latency_snapshot_has_them() -> None:
    tick_to_order = HistogramSnapshot.from_values([2_000_000, 3_000_000])
    latency = _WithNamed({}, HistogramSnapshot.empty(), named={"tick_to_order": tick_to_order})
    families = PipelineFamilies()
    families.add(PipelineRead(_report(), latency, {}, now_mono_ns=0, started_wall_ns=0))
    found = {(s.name, s.labels.get("name"), s.labels.get("le")): s.value for f in families for s in f.samples}
    assert found[("hftpipe_latency_seconds_count", "tick_to_order", None)] == 2
    assert found[("hftpipe_latency_seconds_bucket", "tick_to_order", "0.002")] == 1
    assert found[("hftpipe_latency_seconds_bucket", "tick_to_order", "0.005")] == 2
