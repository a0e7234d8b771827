"""report.py: the top-level ``trading`` object is every stage's ``status["trading"]`` merged."""

from __future__ import annotations

from hftpipe.runtime.report import trading_summary


def test_should_merge_each_stages_trading_mapping_in_stage_order() -> None:
    stages = {
        "feed": {"state": "running"},  # no status at all
        "strategy": {"status": "not json"},  # a status that is not a mapping
        "risk": {"status": {"trading": {"state": "active", "positions": {"BTCUSDT": "0.5"}}, "other": 1}},
        "execution": {"status": {"mode": "paper", "trading": {"fills": 3, "slippage": {"fills": 2}}}},
        "odd": {"status": {"trading": ["not", "a", "mapping"]}},
    }
    assert trading_summary(stages) == {
        "state": "active",
        "positions": {"BTCUSDT": "0.5"},
        "fills": 3,
        "slippage": {"fills": 2},
    }


def test_should_be_empty_when_no_stage_trades() -> None:
    assert trading_summary({"feed": {"status": {"msgs": 1}}, "book": {}}) == {}
