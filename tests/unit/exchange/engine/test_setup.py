"""The engine stage's params and wiring: the symbol's filters, config errors early, the rings by name."""

from __future__ import annotations

from typing import Any

import pytest

from hftpipe.runtime.validation import ConfigError
from stages.exchange.core.filters import SymbolFilters
from stages.exchange.engine.stage import EngineStage, build_engine, symbol_settings
from stages.exchange.protocol.settings import ExchangeSettings
from tests.unit.exchange.engine.conftest import MakeHarness
from tests.unit.exchange.engine.harness import EXCHANGE, SYMBOL, pipeline_config


def test_should_build_the_engine_with_the_symbols_filters_at_its_scales() -> None:
    notional = {"min_notional": "5", "max_notional": "9000"}
    raw: dict[str, Any] = {**EXCHANGE, "symbols": [{**EXCHANGE["symbols"][0], **notional}]}
    symbol = symbol_settings(EngineStage.Params(settings=ExchangeSettings.from_raw(raw), symbol=SYMBOL))
    engine = build_engine(symbol)
    assert (engine.symbol, engine.price_scale, engine.qty_scale) == (SYMBOL, 2, 3)
    assert engine.filters == SymbolFilters(
        qty_scale=3, tick_size=1, min_price=1, max_price=10_000_000, step_size=1, min_qty=1, max_qty=1_000_000,
        min_notional=500, max_notional=900_000,
    )  # fmt: skip
    assert ExchangeSettings.from_raw(raw).symbol(SYMBOL) == symbol


def test_should_refuse_an_unknown_symbol_when_the_config_is_parsed() -> None:
    with pytest.raises(ValueError, match="'ETHUSDT' is not in"):
        EngineStage.Params(settings=ExchangeSettings.from_raw(EXCHANGE), symbol="ETHUSDT")
    with pytest.raises(ConfigError, match=r"symbols\[0\]\.base"):
        EngineStage.Params(settings=ExchangeSettings.from_raw({"symbols": [{"symbol": "BTCUSDT"}]}), symbol=SYMBOL)


def test_should_find_its_rings_by_their_topology_names(make_harness: MakeHarness, pipeline_name: str) -> None:
    h = make_harness()
    assert h.stage.events.port.ring.name.endswith(".evt-BTCUSDT")
    config = pipeline_config(f"{pipeline_name}-x", 64, 64, 64)
    assert [r.name for r in config.rings] == ["cmd-BTCUSDT", "evt-BTCUSDT", "md-BTCUSDT"]
