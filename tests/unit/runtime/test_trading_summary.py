"""report.py: the top-level ``trading`` object is every stage's ``status["trading"]`` merged."""

from __future__ import annotations

from hftpipe.runtime.report import merged_trading


def test_should_merge_each_stages_trading_mapping_in_stage_order() -> None:
    stages = {
        "feed": {"state": "running"},  # no status at all
        "strategy": {"status": "not json"},  # a status that is not a mapping
        "risk": {"status": {"trading": {"state": "active", "positions": {"BTCUSDT": "0.5"}}, "other": 1}},
        "execution": {"status": {"mode": "paper", "trading": {"fills": 3, "slippage": {"fills": 2}}}},
        "odd": {"status": {"trading": ["not", "a", "mapping"]}},
    }
    assert merged_trading(info.get("status") for info in stages.values()) == {
        "state": "active",
        "positions": {"BTCUSDT": "0.5"},
        "fills": 3,
        "slippage": {"fills": 2},
    }


def test_should_be_empty_when_no_stage_trades() -> None:
    assert merged_trading([{"msgs": 1}, None]) == {}


def test_should_show_the_merged_trading_object_in_the_text_summary() -> None:
    from hftpipe.cli.main import _text_summary

    hist = {"count": 0, "p50_ns": 0, "p99_ns": 0, "p999_ns": 0, "max_ns": 0}
    report = {
        "pipeline": "p", "state": "stopped", "duration_s": 1.0, "counters": {}, "errors": [],
        "latency": {"hops": [], "end_to_end": hist},
        "trading": {"slippage": {"fills": 2, "realized_bps_p50": 24.8756}},
    }  # fmt: skip
    report["trading"]["slippage"]["estimated_bps_p50"] = 20.0
    assert "trading: slippage p50 24.8756 bps (est 20.0)" in _text_summary(report).splitlines()
    assert "trading" not in _text_summary({**report, "trading": {}})
