"""``python-binance`` against ``hftpipe exchange run``, configured by its URL attributes only.

``AsyncClient.API_URL`` (REST, public and signed), ``AsyncClient.WS_API_URL`` (WebSocket API) and
``BinanceSocketManager.STREAM_URL`` (market and user streams) are the library's documented endpoints; a subclass
that sets them to this exchange's URLs is all the configuration. Nothing is patched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
import websockets

from tests.integration.exchange_compat.venue import (
    SYMBOL,
    Book,
    Venue,
    book_at_rest_update_id,
    book_of,
)

binance = pytest.importorskip("binance", reason="python-binance is not installed (.[compat])")

CLIENT = "python-binance"
QTY = "0.00100"


def run(venue: Venue, scenario: Callable[[Any, Any], Awaitable[Any]]) -> Any:
    """``scenario(client, socket_manager)`` on a client and socket manager pointed at this exchange."""
    client_class = type(
        "LocalClient", (binance.AsyncClient,), {"API_URL": f"{venue.rest_http}/api", "WS_API_URL": venue.api_ws}
    )
    manager_class = type("LocalSocketManager", (binance.BinanceSocketManager,), {"STREAM_URL": f"{venue.market_ws}/"})

    async def main() -> Any:
        client = await client_class.create(venue.api_key, venue.secret)
        try:
            return await asyncio.wait_for(scenario(client, manager_class(client)), 50)
        finally:
            await client.close_connection()

    return asyncio.run(main())


def resting_price(venue: Venue) -> str:
    return str(round(venue.best_bid() * Decimal("0.95"), 2))


@pytest.mark.compat(CLIENT, "markets")
def test_should_read_exchange_info_and_symbol_info(venue: Venue) -> None:
    async def scenario(client: Any, _: Any) -> tuple[Any, Any]:
        return await client.get_exchange_info(), await client.get_symbol_info(SYMBOL)

    info, symbol = run(venue, scenario)
    assert {s["symbol"] for s in info["symbols"]} == {"BTCUSDT", "ETHUSDT"}
    assert symbol["baseAsset"] == "BTC" and symbol["quoteAsset"] == "USDT"


@pytest.mark.compat(CLIENT, "balances")
def test_should_read_the_funded_balances_over_rest(venue: Venue) -> None:
    async def scenario(client: Any, _: Any) -> tuple[Any, Any]:
        return await client.get_asset_balance("USDT"), await client.get_asset_balance("BTC")

    usdt, btc = run(venue, scenario)
    assert Decimal(usdt["free"]) > 0 and Decimal(btc["free"]) > 0


@pytest.mark.compat(CLIENT, "balances")
def test_should_read_the_funded_balances_over_the_websocket_api(venue: Venue) -> None:
    async def scenario(client: Any, _: Any) -> Any:
        return await client.ws_get_account()

    free = {b["asset"]: Decimal(b["free"]) for b in run(venue, scenario)["balances"]}
    assert free["USDT"] > 0 and free["BTC"] > 0


def _assert_lifecycle(
    placed: dict[str, Any], status: dict[str, Any], replaced: dict[str, Any], cancelled: dict[str, Any]
) -> None:
    assert placed["status"] == "NEW" and status["orderId"] == placed["orderId"] and status["status"] == "NEW"
    assert (replaced["cancelResult"], replaced["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert replaced["newOrderResponse"]["orderId"] != placed["orderId"]
    assert cancelled["orderId"] == replaced["newOrderResponse"]["orderId"] and cancelled["status"] == "CANCELED"


@pytest.mark.compat(CLIENT, "order REST")
def test_should_place_query_cancel_replace_and_cancel_over_rest(venue: Venue) -> None:
    price = resting_price(venue)

    async def scenario(client: Any, _: Any) -> list[Any]:
        placed = await client.order_limit_buy(symbol=SYMBOL, quantity=QTY, price=price)
        status = await client.get_order(symbol=SYMBOL, orderId=placed["orderId"])
        replaced = await client.cancel_replace_order(
            symbol=SYMBOL,
            cancelReplaceMode="STOP_ON_FAILURE",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity=QTY,
            price=str(Decimal(price) - 1),
            cancelOrderId=placed["orderId"],
        )
        cancelled = await client.cancel_order(symbol=SYMBOL, orderId=replaced["newOrderResponse"]["orderId"])
        return [placed, status, replaced, cancelled]

    _assert_lifecycle(*run(venue, scenario))


@pytest.mark.compat(CLIENT, "order WS API")
def test_should_place_query_cancel_replace_and_cancel_over_the_websocket_api(venue: Venue) -> None:
    price = resting_price(venue)

    async def scenario(client: Any, _: Any) -> list[Any]:
        placed = await client.ws_create_order(
            symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity=QTY, price=price
        )
        status = await client.ws_get_order(symbol=SYMBOL, orderId=placed["orderId"])
        replaced = await client.ws_cancel_and_replace_order(
            symbol=SYMBOL,
            cancelReplaceMode="STOP_ON_FAILURE",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity=QTY,
            price=str(Decimal(price) - 1),
            cancelOrderId=placed["orderId"],
        )
        cancelled = await client.ws_cancel_order(symbol=SYMBOL, orderId=replaced["newOrderResponse"]["orderId"])
        return [placed, status, replaced, cancelled]

    _assert_lifecycle(*run(venue, scenario))


@pytest.mark.compat(CLIENT, "user data")
def test_should_deliver_the_execution_report_of_a_filled_market_order_on_the_user_socket(venue: Venue) -> None:
    async def scenario(client: Any, manager: Any) -> tuple[Any, list[Any]]:
        events: list[Any] = []
        async with manager.user_socket() as socket:  # subscribes (userDataStream.subscribe.signature) on entry
            placed = await client.ws_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity=QTY)
            while not any(
                e.get("e") == "executionReport" and e.get("i") == placed["orderId"] and e.get("X") == "FILLED"
                for e in events
            ):
                events.append(_unwrapped(await socket.recv()))
        return placed, events

    placed, events = run(venue, scenario)
    fills = [e for e in events if e.get("e") == "executionReport" and e["i"] == placed["orderId"] and e["x"] == "TRADE"]
    assert sum(Decimal(e["l"]) for e in fills) == Decimal(QTY)


@pytest.mark.compat(CLIENT, "user data")
def test_should_start_keep_alive_and_close_the_listen_key_whose_stream_carries_the_fill(venue: Venue) -> None:
    """python-binance's listenKey calls (``stream_get_listen_key`` / ``stream_keepalive`` / ``stream_close``: REST
    ``/api/v3/userDataStream``). Its socket manager opens spot user data over the WebSocket API only
    (binance/ws/keepalive_websocket.py ``KeepAliveWebsocket._before_connect``), so the key's stream is read with
    a plain WebSocket at the gateway's ``/ws/<listenKey>`` on the REST port."""

    async def scenario(client: Any, _: Any) -> tuple[Any, list[dict[str, Any]], Any, int | None]:
        key = await client.stream_get_listen_key()
        kept = await client.stream_keepalive(key)
        events: list[dict[str, Any]] = []
        async with websockets.connect(f"{venue.user_data_ws}/ws/{key}") as stream:
            placed = await client.order_market_buy(symbol=SYMBOL, quantity=QTY)
            while not any(e.get("i") == placed["orderId"] and e.get("X") == "FILLED" for e in events):
                events.append(json.loads(await stream.recv()))
            await client.stream_close(key)
            with contextlib.suppress(websockets.ConnectionClosedOK):
                while True:
                    events.append(json.loads(await stream.recv()))
            return kept, events, placed, stream.close_code

    kept, events, placed, close_code = run(venue, scenario)
    assert kept == {} and close_code == 1000
    fills = [e for e in events if e.get("e") == "executionReport" and e["i"] == placed["orderId"] and e["x"] == "TRADE"]
    assert sum(Decimal(e["l"]) for e in fills) == Decimal(QTY)
    assert any(e.get("e") == "outboundAccountPosition" for e in events)


def _unwrapped(message: dict[str, Any]) -> dict[str, Any]:
    """A user-data event: bare, or inside the WebSocket API's ``{"subscriptionId", "event"}``."""
    event: dict[str, Any] = message.get("event", message)
    return event


@pytest.mark.compat(CLIENT, "my trades")
def test_should_list_the_trades_of_a_filled_market_order(venue: Venue) -> None:
    async def scenario(client: Any, _: Any) -> tuple[Any, Any]:
        placed = await client.order_market_sell(symbol=SYMBOL, quantity=QTY)
        return placed, await client.get_my_trades(symbol=SYMBOL)

    placed, trades = run(venue, scenario)
    mine = [t for t in trades if t["orderId"] == placed["orderId"]]
    assert mine and sum(Decimal(t["qty"]) for t in mine) == Decimal(QTY)


@pytest.mark.compat(CLIENT, "klines")
def test_should_read_klines_over_rest(venue: Venue) -> None:
    async def scenario(client: Any, _: Any) -> Any:
        return await client.get_klines(symbol=SYMBOL, interval="1m", limit=5)

    klines = run(venue, scenario)
    assert klines and all(Decimal(k[3]) <= Decimal(k[1]) <= Decimal(k[2]) for k in klines)


@pytest.mark.compat(CLIENT, "klines")
def test_should_stream_one_second_klines(venue: Venue) -> None:
    async def scenario(_: Any, manager: Any) -> list[Any]:
        async with manager.kline_socket(SYMBOL, interval="1s") as socket:
            return [await socket.recv(), await socket.recv()]

    klines = run(venue, scenario)
    assert all(k["e"] == "kline" and k["s"] == SYMBOL and k["k"]["i"] == "1s" for k in klines)


@pytest.mark.compat(CLIENT, "agg trades")
def test_should_read_agg_trades_over_rest(venue: Venue) -> None:
    async def scenario(client: Any, _: Any) -> Any:
        return await client.get_aggregate_trades(symbol=SYMBOL, limit=10)

    trades = run(venue, scenario)
    assert trades and all(Decimal(t["q"]) > 0 for t in trades)


@pytest.mark.compat(CLIENT, "agg trades")
def test_should_stream_agg_trades_of_the_flow(venue: Venue) -> None:
    async def scenario(_: Any, manager: Any) -> list[Any]:
        async with manager.aggtrade_socket(SYMBOL) as socket:
            return [await socket.recv(), await socket.recv()]

    trades = run(venue, scenario)
    assert all(t["e"] == "aggTrade" and Decimal(t["q"]) > 0 for t in trades)
    assert trades[1]["a"] > trades[0]["a"]


@pytest.mark.compat(CLIENT, "book sync")
def test_should_build_with_its_depth_cache_manager_the_book_rest_depth_shows_at_the_same_update_id(
    venue: Venue,
) -> None:
    """python-binance's own sync (DepthCacheManager). Its DepthCache carries no update id, so the manager's
    ``_last_update_id`` is read (never written) to know which REST depth to compare with."""

    async def scenario(client: Any, manager: Any) -> tuple[int, Book, Book]:
        books: dict[int, Book] = {}
        async with binance.DepthCacheManager(client, SYMBOL, bm=manager, limit=5000, ws_interval=100) as cache:

            async def follow() -> None:
                while True:
                    depth = await cache.recv()
                    books[int(cache._last_update_id)] = book_of(depth.get_bids(), depth.get_asks())

            follower = asyncio.ensure_future(follow())
            try:
                return await book_at_rest_update_id(venue, books)
            finally:
                follower.cancel()

    update_id, client_book, rest_book = run(venue, scenario)
    assert client_book == rest_book, update_id
    assert client_book["bids"] and client_book["asks"]
