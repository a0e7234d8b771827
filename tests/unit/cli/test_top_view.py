"""``hftpipe top``'s lines from two reads: rates and percentiles over the interval, the optional trading part."""

from __future__ import annotations

from typing import Any

from hftpipe.cli.top_view import TopSample, top_lines
from hftpipe.runtime.report import LatencySnapshot
from hftpipe.substrate.histogram import HistogramSnapshot


def _report(messages: int, **extra: Any) -> dict[str, Any]:
    stage = {"state": "running", "pid": 42, "cpu": 1, "idle": "blocking", "restarts": 2, "last_exit": None}
    ring = {"from": "a", "to": "b", "backlog": 7, "capacity": 1024, "full": 3, "lost": 0}
    return {
        "pipeline": "p",
        "state": "running",
        "owner_pid": 1,
        "uptime_s": 12.0,
        "stages": {"b": stage},
        "counters": {"b": {"messages_in": messages, "messages_out": messages // 2, "errors": 5}},
        "rings": {"a-b": ring},
        "errors": [],
        **extra,
    }


def _latency(values: list[int]) -> LatencySnapshot:
    return LatencySnapshot({"a-b": HistogramSnapshot.from_values(values)}, HistogramSnapshot.empty())


def test_should_show_rates_and_hop_percentiles_over_the_last_interval_only() -> None:
    earlier = TopSample(_report(1_000), _latency([1_000_000] * 100), at_s=10.0)
    later = TopSample(_report(3_000), _latency([1_000_000] * 100 + [2_000] * 50), at_s=12.0)
    lines = top_lines(earlier, later)
    stage = next(line for line in lines if line.startswith("b "))
    assert stage.split() == ["b", "running", "42", "1", "blocking", "1,000", "500", "5", "2"]
    ring = next(line for line in lines if line.startswith("a-b "))
    assert ring.split()[-6:] == ["7", "1024", "3", "0", "2.0µs", "2.0µs"]  # the old 1 ms values are not in it


def test_should_leave_rates_and_percentiles_blank_on_the_first_read() -> None:
    lines = top_lines(None, TopSample(_report(1_000), _latency([5_000]), at_s=1.0))
    assert next(line for line in lines if line.startswith("b ")).split()[5:7] == ["-", "-"]
    assert next(line for line in lines if line.startswith("a-b ")).split()[-2:] == ["-", "-"]


def test_should_show_the_trading_summary_keys_that_are_there() -> None:
    trading = {"state": "halted", "realized_pnl": "1.5", "fills": 4, "positions": {"BTCUSDT": "0.01"}}
    lines = top_lines(None, TopSample(_report(0, trading=trading), _latency([]), at_s=1.0))
    assert "TRADING halted   realized 1.5" in lines
    assert "  fills 4" in lines
    assert "  positions BTCUSDT 0.01" in lines
    assert not [line for line in top_lines(None, TopSample(_report(0), _latency([]), 1.0)) if "TRADING" in line]
