"""report.py with context.py: named histograms and the trading summary as ``hftpipe run --json`` and the
live status show them, from a real control file in shared memory."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from hftpipe.runtime.context import StageContext
from hftpipe.runtime.report import (
    LatencySnapshot,
    merged_trading,
    pipeline_report,
    status_line,
    status_lines,
    trading_summary,
)
from hftpipe.substrate.control import ControlFile, RingEntry

STAGES = ["feed", "risk", "execution", "paper"]
RINGS = [RingEntry("feed-risk", 1024, 128, 0, 1, 1)]


@pytest.fixture
def control(pipeline_name: str) -> Iterator[ControlFile]:
    cf = ControlFile.create(pipeline_name, STAGES, RINGS)
    try:
        yield cf
    finally:
        cf.close()
        cf.segment.unlink()


def _context(control: ControlFile, name: str) -> StageContext:
    return StageContext.of(control, name, hop=1)


def test_should_merge_a_named_histogram_over_stages_and_report_it_at_latency_name(control: ControlFile) -> None:
    execution, paper = _context(control, "execution"), _context(control, "paper")
    for value in (100, 200, 300):  # below 256 ns a bucket is one value: percentiles are exact
        execution.histogram("order_ack").record(value)
    paper.histogram("order_ack").record(250)
    execution.histogram("fill").record(5_000_000)
    execution.histogram("unused")  # claimed, nothing recorded: not shown
    latency = LatencySnapshot.read(control)
    assert list(latency.named) == ["order_ack", "fill"]
    assert (latency.named["order_ack"].count, latency.named["order_ack"].max_value) == (4, 300)
    shown = latency.as_json()
    assert shown["order_ack"] == {"count": 4, "p50_ns": 200, "p99_ns": 300, "p999_ns": 300, "max_ns": 300}
    assert shown["fill"]["count"] == 1 and "unused" not in shown
    assert shown["end_to_end"]["count"] == 0  # named histograms are not end to end


def test_should_count_only_what_was_recorded_since_an_earlier_snapshot(control: ControlFile) -> None:
    ack = _context(control, "execution").histogram("order_ack")
    ack.record(1_000)
    earlier = LatencySnapshot.read(control)
    ack.record(2_000)
    ack.record(3_000)
    later = LatencySnapshot.read(control)
    ack.record(4_000)
    assert later.since(earlier).named["order_ack"].count == 2
    assert LatencySnapshot.read(control).since(earlier).named["order_ack"].count == 3


def test_should_hand_a_stage_one_handle_per_name(control: ControlFile) -> None:
    ctx = _context(control, "execution")
    assert ctx.histogram("order_ack") is ctx.histogram("order_ack")
    assert ctx.histogram("order_ack") is not ctx.histogram("fill")


@pytest.mark.parametrize("name", ["hops", "end_to_end", "end_to_end_by_stage", "Order-Ack", "9lives"])
def test_should_refuse_a_name_the_report_cannot_show(control: ControlFile, name: str) -> None:
    with pytest.raises(ValueError, match=f"stage 'execution': histogram name {name!r} must be a lower-case"):
        _context(control, "execution").histogram(name)


def test_should_merge_the_stages_trading_mappings_into_one_top_level_object(control: ControlFile) -> None:
    risk, execution = _context(control, "risk"), _context(control, "execution")
    risk.publish_status({"trading": {"state": "ACTIVE", "positions": {"BTCUSDT": "0.01"}, "realized_pnl": "1.5",
                                     "unrealized_pnl": "-0.25"}, "other": 1})  # fmt: skip
    execution.publish_status({"mode": "live", "trading": {"orders_sent": 7, "acks": 6, "fills": 2, "rejects": 1,
                                                          "fees": "0"}})  # fmt: skip
    _context(control, "feed").publish_status({"connected": True})  # no trading: nothing merged
    expected = {
        "state": "ACTIVE", "positions": {"BTCUSDT": "0.01"}, "realized_pnl": "1.5", "unrealized_pnl": "-0.25",
        "orders_sent": 7, "acks": 6, "fills": 2, "rejects": 1, "fees": "0",
    }  # fmt: skip
    assert trading_summary(control) == expected
    report = pipeline_report(control, {})
    assert report["trading"] == expected
    assert json.loads(json.dumps(report))["trading"] == expected
    assert report["stages"]["risk"]["status"]["other"] == 1  # each stage's own status stays where it was


def test_should_leave_trading_out_of_a_report_no_stage_trades_in(control: ControlFile) -> None:
    _context(control, "feed").publish_status({"connected": True})
    assert "trading" not in pipeline_report(control, {})
    assert merged_trading([None, "text", {"trading": "not a mapping"}]) == {}


def test_should_keep_the_market_data_status_line_and_add_trading_only_where_present(control: ControlFile) -> None:
    feed = _context(control, "feed")
    before = LatencySnapshot.read(control)
    control.hop_histogram(0).record(2_000)
    feed.end_to_end.record(9_000)
    delta = LatencySnapshot.read(control).since(before)
    assert status_line(delta, 1234.4) == "1,234 msg/s | feed-risk 2.0µs/2.0µs | e2e 9.0µs/9.0µs"
    _context(control, "execution").histogram("tick_to_order").record(40_000)
    trading = {"orders_sent": 7, "acks": 6, "fills": 2, "rejects": 1, "positions": {"BTCUSDT": "0.01", "ETHUSDT": "0"},
               "realized_pnl": "1.5", "unrealized_pnl": "-0.25", "fees": "0", "state": "ACTIVE"}  # fmt: skip
    line = status_line(LatencySnapshot.read(control).since(before), 10, trading)
    assert line == (
        "10 msg/s | tick_to_order 40.0µs/40.0µs | feed-risk 2.0µs/2.0µs | e2e 9.0µs/9.0µs"
        " | orders 7 acks 6 fills 2 rejects 1 | pos BTCUSDT 0.01 ETHUSDT 0"
        " | pnl realized 1.5 unrealized -0.25 fees 0 | trading ACTIVE"
    )


def test_should_pack_status_parts_into_lines_of_the_terminal_width() -> None:
    parts = ["a" * 10, "b" * 10, "c" * 30, "d" * 5]
    assert status_lines(parts, 23) == ["a" * 10 + " | " + "b" * 10, "c" * 30, "d" * 5]
    assert status_lines(parts, 200) == [" | ".join(parts)]
