"""exchangeInfo from the settings: Binance's shape, the configured rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.exchange.protocol.exchange_info import UnknownSymbolError, binance_decimal, build_exchange_info
from stages.exchange.protocol.settings import ExchangeSettings
from tests.unit.exchange.gateway.harness import exchange_table


@pytest.fixture
def settings(tmp_path: Path) -> ExchangeSettings:
    return ExchangeSettings.from_raw(exchange_table(tmp_path))


def test_should_describe_every_symbol_with_its_filters(settings: ExchangeSettings) -> None:
    info = build_exchange_info(settings)
    assert info["timezone"] == "UTC" and isinstance(info["serverTime"], int)
    assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    btc = info["symbols"][0]
    assert (btc["status"], btc["baseAsset"], btc["quoteAsset"]) == ("TRADING", "BTC", "USDT")
    assert btc["orderTypes"] == ["LIMIT", "LIMIT_MAKER", "MARKET"]
    assert btc["defaultSelfTradePreventionMode"] == "EXPIRE_MAKER"
    assert btc["allowedSelfTradePreventionModes"] == ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"] == {
        "filterType": "PRICE_FILTER",
        "minPrice": "0.01000000",
        "maxPrice": "1000000.00000000",
        "tickSize": "0.01000000",
    }
    assert filters["LOT_SIZE"] == {
        "filterType": "LOT_SIZE",
        "minQty": "0.00001000",
        "maxQty": "9000.00000000",
        "stepSize": "0.00001000",
    }
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    assert filters["NOTIONAL"]["applyMinToMarket"] is True
    limits = {(r["rateLimitType"], r["interval"]): r["limit"] for r in info["rateLimits"]}
    assert limits == {
        ("REQUEST_WEIGHT", "MINUTE"): 6000,
        ("ORDERS", "SECOND"): 50,
        ("ORDERS", "DAY"): 160000,
        ("CONNECTIONS", "MINUTE"): 300,
    }


def test_should_select_symbols_and_refuse_unknown_ones(settings: ExchangeSettings) -> None:
    assert [s["symbol"] for s in build_exchange_info(settings, ["ETHUSDT"])["symbols"]] == ["ETHUSDT"]
    with pytest.raises(UnknownSymbolError):
        build_exchange_info(settings, ["ETHUSDT", "DOGEUSDT"])


def test_should_pad_decimals_like_binance() -> None:
    assert binance_decimal("0.01") == "0.01000000"
    assert binance_decimal("1000000") == "1000000.00000000"
    assert binance_decimal("0.000000001") == "0.000000001"
