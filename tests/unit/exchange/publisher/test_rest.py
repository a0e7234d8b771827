"""GET /api/v3/... answers and Binance's error bodies (RestApi, no sockets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from stages.exchange.protocol.settings import ExchangeSettings
from stages.exchange.publisher.hub import StreamHub
from stages.exchange.publisher.market import SymbolMarket
from stages.exchange.publisher.rest import RestApi
from tests.unit.exchange.publisher.support import BUY, SELL, EngineFeed, exchange_table

NOW_MS = 1_700_000_000_500
P, Q = 6_000_000, 100_000


@pytest.fixture
def api(tmp_path: Path) -> tuple[RestApi, dict[str, SymbolMarket], dict[str, EngineFeed]]:
    settings = ExchangeSettings.from_raw(exchange_table(tmp_path))
    hub = StreamHub()
    markets = {s.symbol: SymbolMarket(s, hub, lambda: NOW_MS) for s in settings.symbols}
    feeds = {s.symbol: EngineFeed(s) for s in settings.symbols}
    return RestApi(settings, markets, lambda: NOW_MS), markets, feeds


def get(api: RestApi, target: str) -> tuple[int, Any]:
    reply = api.handle("GET", target)
    return reply.status, orjson.loads(reply.body)


def load(markets: dict[str, SymbolMarket], feeds: dict[str, EngineFeed]) -> None:
    feed, market = feeds["BTCUSDT"], markets["BTCUSDT"]
    orders = [(BUY, P - i, Q * (i + 1)) for i in range(150)] + [(SELL, P + 1 + i, Q) for i in range(3)]
    orders += [(BUY, P + 1, Q // 2)]  # one trade
    for side, price, qty in orders:
        for record in feed.order(side, price, qty):
            market.on_record(memoryview(record), 0)


def test_depth_defaults_to_100_levels_and_caps_at_5000(api: Any) -> None:
    rest, markets, feeds = api
    load(markets, feeds)
    status, body = get(rest, "/api/v3/depth?symbol=BTCUSDT")
    assert status == 200
    assert body["lastUpdateId"] == markets["BTCUSDT"].replica.update_id
    assert len(body["bids"]) == 100 and body["bids"][0] == ["60000.00000000", "1.00000000"]
    assert body["asks"][0] == ["60000.01000000", "0.50000000"]
    assert len(get(rest, "/api/v3/depth?symbol=BTCUSDT&limit=5")[1]["bids"]) == 5
    assert len(get(rest, "/api/v3/depth?symbol=BTCUSDT&limit=99999")[1]["bids"]) == 150


def test_trades_tickers_time_and_ping(api: Any) -> None:
    rest, markets, feeds = api
    load(markets, feeds)
    status, trades = get(rest, "/api/v3/trades?symbol=BTCUSDT&limit=10")
    assert status == 200
    assert trades == [
        {"id": 1, "price": "60000.01000000", "qty": "0.50000000", "quoteQty": "30000.00500000",
         "time": feeds["BTCUSDT"].now_ns // 1_000_000, "isBuyerMaker": False, "isBestMatch": True},
    ]
    assert get(rest, "/api/v3/ticker/bookTicker?symbol=BTCUSDT")[1] == {
        "symbol": "BTCUSDT", "bidPrice": "60000.00000000", "bidQty": "1.00000000",
        "askPrice": "60000.01000000", "askQty": "0.50000000",
    }
    both = get(rest, "/api/v3/ticker/bookTicker")[1]
    assert [t["symbol"] for t in both] == ["BTCUSDT", "ETHUSDT"]
    assert both[1]["bidPrice"] == "0.00000000"
    eth_only = get(rest, '/api/v3/ticker/bookTicker?symbols=["ETHUSDT"]')[1]
    assert [t["symbol"] for t in eth_only] == ["ETHUSDT"]
    ticker = get(rest, "/api/v3/ticker/24hr?symbol=BTCUSDT")[1]
    assert (ticker["lastPrice"], ticker["count"], ticker["firstId"], ticker["volume"]) == (
        "60000.01000000", 1, 1, "0.50000000",
    )
    mini = get(rest, "/api/v3/ticker/24hr?symbol=BTCUSDT&type=MINI")[1]
    assert "priceChange" not in mini and mini["lastPrice"] == "60000.01000000" and mini["count"] == 1
    assert get(rest, "/api/v3/ticker/price?symbol=BTCUSDT")[1] == {"symbol": "BTCUSDT", "price": "60000.01000000"}
    assert get(rest, "/api/v3/time") == (200, {"serverTime": NOW_MS})
    assert get(rest, "/api/v3/ping") == (200, {})


def test_exchange_info_for_all_one_or_some_symbols(api: Any) -> None:
    rest, _, _ = api
    status, info = get(rest, "/api/v3/exchangeInfo")
    assert status == 200 and [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    assert [s["symbol"] for s in get(rest, "/api/v3/exchangeInfo?symbol=ETHUSDT")[1]["symbols"]] == ["ETHUSDT"]
    some = get(rest, "/api/v3/exchangeInfo?symbols=%5B%22ETHUSDT%22,%22BTCUSDT%22%5D")[1]
    assert [s["symbol"] for s in some["symbols"]] == ["ETHUSDT", "BTCUSDT"]
    assert len(get(rest, "/api/v3/exchangeInfo?symbolStatus=TRADING&showPermissionSets=false")[1]["symbols"]) == 2
    assert get(rest, "/api/v3/exchangeInfo?symbolStatus=HALT")[1]["symbols"] == []


@pytest.mark.parametrize(
    ("target", "code", "msg"),
    [
        ("/api/v3/depth?symbol=XRPUSDT", -1121, "Invalid symbol."),
        ("/api/v3/depth", -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."),
        ("/api/v3/depth?symbol=", -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."),
        (
            "/api/v3/depth?symbol=btcusdt",
            -1100,
            "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'.",
        ),
        (
            "/api/v3/depth?symbol=BTCUSDT&limit=ten",
            -1100,
            "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
        ),
        (
            "/api/v3/depth?symbol=BTCUSDT&limit=-5",
            -1100,
            "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
        ),
        ("/api/v3/depth?symbol=BTCUSDT&limit=0", -1102, "Mandatory parameter 'limit' was not sent"),
        ("/api/v3/depth?symbol=BTCUSDT&limit=", -1105, "Parameter 'limit' was empty."),
        ("/api/v3/depth?symbol=BTCUSDT&symbol=ETHUSDT", -1101, "Duplicate values for a parameter detected."),
        (
            "/api/v3/depth?symbol=BTCUSDT&foo=1",
            -1104,
            "Not all sent parameters were read; read '1' parameter(s) but was sent '2'.",
        ),
        ("/api/v3/trades?symbol=ETHBTC", -1121, "Invalid symbol."),
        ("/api/v3/exchangeInfo?symbol=XRPUSDT", -1121, "Invalid symbol."),
        ('/api/v3/exchangeInfo?symbols=["BTCUSDT","NOPE"]', -1121, "Invalid symbol."),
        ('/api/v3/exchangeInfo?symbols=["BTCUSDT","BTCUSDT"]', -1151, "Symbol is present multiple times in the list."),
        ("/api/v3/exchangeInfo?symbols=BTCUSDT", -1100, "Illegal characters found in parameter 'symbols'"),
        ('/api/v3/ticker/bookTicker?symbol=BTCUSDT&symbols=["BTCUSDT"]', -1128, "Combination of optional"),
        ("/api/v3/ticker/24hr?symbol=NOPE", -1121, "Invalid symbol."),
        ("/api/v3/ticker/24hr?type=FAT", -1139, "Invalid ticker type."),
        ("/api/v3/exchangeInfo?symbolStatus=OPEN", -1122, "Invalid symbolStatus."),
        ("/api/v3/exchangeInfo?symbolStatus=TRADING&symbol=BTCUSDT", -1128, "Combination of optional"),
        ("/api/v3/ping?x=1", -1104, "Not all sent parameters were read"),
    ],
)
def test_bad_requests_get_binance_error_bodies(api: Any, target: str, code: int, msg: str) -> None:
    status, body = get(api[0], target)
    assert status == 400
    assert body["code"] == code and body["msg"].startswith(msg), body
    assert set(body) == {"code", "msg"}


def test_an_unknown_path_is_404(api: Any) -> None:
    status, body = get(api[0], "/api/v3/order")
    assert status == 404 and body["code"] == -1
