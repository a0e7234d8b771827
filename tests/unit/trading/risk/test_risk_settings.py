"""The risk stage's own keys (routing, cost method, breakers, stops): each mistake names its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.trading import TradingState
from stages.trading.risk.lots import CostMethod
from stages.trading.risk.settings import RiskStageParams

KEY = "stages.risk.params"


def _parse(raw: dict[str, Any]) -> RiskStageParams:
    return RiskStageParams.from_config(raw, KEY, Path("."))


def test_should_parse_breakers_stops_and_the_limits_beside_them() -> None:
    params = _parse({
        "execution": "venue", "cost_method": "lifo", "watch_stages": ["feed"],
        "account": {"max_order_qty": "5"},
        "breakers": {"max_loss": "100.5", "max_report_latency_ms": 20, "on_breach": "reduce",
                     "strategies": {"3": {"max_loss": "2"}}},
        "stops": {"instruments": {"AAA": {"stop_loss_offset": "1"}}, "strategies": {"3": {"trailing_percent": "2"}}},
    })  # fmt: skip
    assert (params.execution, params.cost_method, params.watch_stages) == ("venue", CostMethod.LIFO, ("feed",))
    assert (params.breakers.max_loss, params.breakers.max_report_latency_ns) == (10_050_000_000, 20_000_000)
    assert params.breakers.on_breach is TradingState.REDUCING
    assert params.strategy_breakers[3].max_loss == 200_000_000
    assert params.stops_by_symbol["AAA"].stop_loss_offset == "1" and params.stops_by_strategy[3].trailing_percent == "2"
    assert params.limits.account.max_order_qty == 5


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"cost_method": "hifo"}, f"{KEY}.cost_method"),
        ({"watch_stages": "feed"}, f"{KEY}.watch_stages"),
        ({"breakers": {"max_loss": 100}}, f"{KEY}.breakers.max_loss"),
        ({"breakers": {"max_loss": "-1"}}, f"{KEY}.breakers.max_loss"),
        ({"breakers": {"max_lost": "1"}}, f"{KEY}.breakers.max_lost"),
        ({"breakers": {"on_breach": "panic"}}, f"{KEY}.breakers.on_breach"),
        ({"breakers": {"strategies": {"x": {}}}}, f"{KEY}.breakers.strategies.x"),
        ({"breakers": {"strategies": {"1": {"max_rejects_per_10s": 3}}}},
         f"{KEY}.breakers.strategies.1.max_rejects_per_10s"),
        ({"stops": {"symbols": {}}}, f"{KEY}.stops.symbols"),
        ({"stops": {"instruments": {"AAA": {"stop_loss_offset": "-2"}}}},
         f"{KEY}.stops.instruments.AAA.stop_loss_offset"),
        ({"status_interval_ms": 1}, f"{KEY}.status_interval_ms"),
        ({"acount": {}}, f"{KEY}.acount"),
    ],
)  # fmt: skip
def test_should_name_the_key_of_each_risk_config_error(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _parse(raw)
    assert caught.value.key == key
