"""The official ``binance-sdk-spot`` against ``hftpipe exchange run``: its three configurations' base URLs only.

``ConfigurationRestAPI(base_path=)``, ``ConfigurationWebSocketAPI(stream_url=)``,
``ConfigurationWebSocketStreams(stream_url=)``; nothing patched. The SDK keeps no local order book, so its book
is built by Binance's documented procedure from the SDK's own diff stream and depth call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.exchange_compat.venue import (
    SYMBOL,
    Book,
    Venue,
    book_at_rest_update_id,
    book_of,
    wait_for,
)

spot_sdk = pytest.importorskip("binance_sdk_spot.spot", reason="binance-sdk-spot is not installed (.[compat])")

CLIENT = "binance-sdk-spot"
QTY = 0.001


def configured(venue: Venue) -> Any:
    return spot_sdk.Spot(
        spot_sdk.ConfigurationRestAPI(api_key=venue.api_key, api_secret=venue.secret, base_path=venue.rest_http),
        spot_sdk.ConfigurationWebSocketAPI(api_key=venue.api_key, api_secret=venue.secret, stream_url=venue.api_ws),
        spot_sdk.ConfigurationWebSocketStreams(stream_url=venue.market_ws),
    )


def data(response: Any) -> dict[str, Any]:
    """A REST or WebSocket API answer as Binance's JSON (the SDK's model, by alias); an error dict raises."""
    payload = response.data()
    if isinstance(payload, dict):
        assert "error" not in payload, payload
        return payload
    result = getattr(payload, "result", payload)
    as_dict: dict[str, Any] = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    return as_dict


def on_ws_api(venue: Venue, scenario: Callable[[Any], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        connection = await configured(venue).websocket_api.create_connection()
        try:
            return await asyncio.wait_for(scenario(connection), 50)
        finally:
            await connection.close_connection(close_session=True)

    return asyncio.run(main())


def on_streams(venue: Venue, scenario: Callable[[Any], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        connection = await configured(venue).websocket_streams.create_connection()
        try:
            return await asyncio.wait_for(scenario(connection), 50)
        finally:
            await connection.close_connection(close_session=True)

    return asyncio.run(main())


def resting_price(venue: Venue) -> float:
    """5 % under the best bid: rests, never trades."""
    return float(round(venue.best_bid() * Decimal("0.95"), 2))


@pytest.mark.compat(CLIENT, "markets")
def test_should_read_exchange_info_with_the_symbols_filters(venue: Venue) -> None:
    info = data(configured(venue).rest_api.exchange_info())
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert set(symbols) == {"BTCUSDT", "ETHUSDT"}
    filters = {f["filterType"]: f for f in symbols[SYMBOL]["filters"]}
    assert Decimal(filters["PRICE_FILTER"]["tickSize"]) == Decimal("0.01")
    assert Decimal(filters["LOT_SIZE"]["stepSize"]) == Decimal("0.00001")


@pytest.mark.compat(CLIENT, "balances")
def test_should_read_the_funded_balances_over_rest(venue: Venue) -> None:
    account = data(configured(venue).rest_api.get_account())
    free = {b["asset"]: Decimal(b["free"]) for b in account["balances"]}
    assert free["USDT"] > 0 and free["BTC"] > 0


@pytest.mark.compat(CLIENT, "balances")
def test_should_read_the_funded_balances_over_the_websocket_api(venue: Venue) -> None:
    async def scenario(connection: Any) -> dict[str, Any]:
        return data(await connection.account_status())

    free = {b["asset"]: Decimal(b["free"]) for b in on_ws_api(venue, scenario)["balances"]}
    assert free["USDT"] > 0 and free["BTC"] > 0


def _assert_lifecycle(
    placed: dict[str, Any], status: dict[str, Any], replaced: dict[str, Any], cancelled: dict[str, Any]
) -> None:
    assert placed["status"] == "NEW" and status["orderId"] == placed["orderId"] and status["status"] == "NEW"
    assert (replaced["cancelResult"], replaced["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    new_id = replaced["newOrderResponse"]["orderId"]
    assert new_id != placed["orderId"]
    assert cancelled["orderId"] == new_id and cancelled["status"] == "CANCELED"


@pytest.mark.compat(CLIENT, "order REST")
def test_should_place_query_cancel_replace_and_cancel_over_rest(venue: Venue) -> None:
    rest = configured(venue).rest_api
    price = resting_price(venue)
    placed = data(
        rest.new_order(symbol=SYMBOL, side="BUY", type="LIMIT", time_in_force="GTC", price=price, quantity=QTY)
    )
    status = data(rest.get_order(symbol=SYMBOL, order_id=placed["orderId"]))
    replaced = data(
        rest.order_cancel_replace(
            symbol=SYMBOL,
            side="BUY",
            type="LIMIT",
            cancel_replace_mode="STOP_ON_FAILURE",
            time_in_force="GTC",
            price=price - 1,
            quantity=QTY,
            cancel_order_id=placed["orderId"],
        )
    )
    cancelled = data(rest.delete_order(symbol=SYMBOL, order_id=replaced["newOrderResponse"]["orderId"]))
    _assert_lifecycle(placed, status, replaced, cancelled)


@pytest.mark.compat(CLIENT, "order WS API")
def test_should_place_query_cancel_replace_and_cancel_over_the_websocket_api(venue: Venue) -> None:
    price = resting_price(venue)

    async def scenario(connection: Any) -> list[dict[str, Any]]:
        placed = data(
            await connection.order_place(
                symbol=SYMBOL, side="BUY", type="LIMIT", time_in_force="GTC", price=price, quantity=QTY
            )
        )
        status = data(await connection.order_status(symbol=SYMBOL, order_id=placed["orderId"]))
        replaced = data(
            await connection.order_cancel_replace(
                symbol=SYMBOL,
                side="BUY",
                type="LIMIT",
                cancel_replace_mode="STOP_ON_FAILURE",
                time_in_force="GTC",
                price=price - 1,
                quantity=QTY,
                cancel_order_id=placed["orderId"],
            )
        )
        cancelled = data(await connection.order_cancel(symbol=SYMBOL, order_id=replaced["newOrderResponse"]["orderId"]))
        return [placed, status, replaced, cancelled]

    _assert_lifecycle(*on_ws_api(venue, scenario))


@pytest.mark.compat(CLIENT, "user data")
def test_should_deliver_the_execution_report_of_a_filled_market_order(venue: Venue) -> None:
    async def scenario(connection: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        events: list[dict[str, Any]] = []
        subscribed = await connection.user_data_stream_subscribe_signature()
        subscribed.stream.on("message", lambda message: events.append(_event(message)))
        placed = data(await connection.order_place(symbol=SYMBOL, side="BUY", type="MARKET", quantity=QTY))
        await wait_for(
            lambda: any(
                e["model"] == "ExecutionReport" and e.get("i") == placed["orderId"] and e.get("X") == "FILLED"
                for e in events
            ),
            "the fill's executionReport",
        )
        await wait_for(lambda: any(e["model"] == "OutboundAccountPosition" for e in events), "the balance event")
        return placed, events

    placed, events = on_ws_api(venue, scenario)
    assert placed["status"] == "FILLED"
    fills = [e for e in events if e["model"] == "ExecutionReport" and e.get("x") == "TRADE"]
    assert sum(Decimal(e["l"]) for e in fills if e["i"] == placed["orderId"]) == Decimal(str(QTY))


def _event(message: Any) -> dict[str, Any]:
    """The SDK's typed event as its fields plus ``model`` (its class: the SDK's models drop Binance's ``e``)."""
    event = getattr(message, "actual_instance", message)
    return {**event.to_dict(), "model": type(event).__name__}


@pytest.mark.compat(CLIENT, "my trades")
def test_should_list_the_trades_of_a_filled_market_order_over_rest(venue: Venue) -> None:
    client = configured(venue)
    placed = data(client.rest_api.new_order(symbol=SYMBOL, side="SELL", type="MARKET", quantity=QTY))
    trades = client.rest_api.my_trades(symbol=SYMBOL).data()
    mine = [t.to_dict() for t in trades if t.order_id == placed["orderId"]]
    assert mine and sum(Decimal(t["qty"]) for t in mine) == Decimal(str(QTY))


@pytest.mark.compat(CLIENT, "my trades")
def test_should_list_the_trades_of_a_filled_market_order_over_the_websocket_api(venue: Venue) -> None:
    async def scenario(connection: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        placed = data(await connection.order_place(symbol=SYMBOL, side="SELL", type="MARKET", quantity=QTY))
        trades = (await connection.my_trades(symbol=SYMBOL)).data()
        assert not isinstance(trades, dict), trades
        return placed, [t.to_dict() for t in trades.result]

    placed, trades = on_ws_api(venue, scenario)
    assert any(t["orderId"] == placed["orderId"] for t in trades)


@pytest.mark.compat(CLIENT, "klines")
def test_should_read_klines_over_rest(venue: Venue) -> None:
    klines = configured(venue).rest_api.klines(symbol=SYMBOL, interval="1m", limit=5).data()
    assert klines and all(Decimal(k[3]) <= Decimal(k[1]) <= Decimal(k[2]) for k in klines)


@pytest.mark.compat(CLIENT, "klines")
def test_should_read_klines_over_the_websocket_api(venue: Venue) -> None:
    async def scenario(connection: Any) -> Any:
        answer = (await connection.klines(symbol=SYMBOL, interval="1m", limit=5)).data()
        assert not isinstance(answer, dict), answer
        return answer.result

    klines = on_ws_api(venue, scenario)
    assert klines and all(Decimal(k[3]) <= Decimal(k[1]) <= Decimal(k[2]) for k in klines)


@pytest.mark.compat(CLIENT, "klines")
def test_should_stream_one_second_klines(venue: Venue) -> None:
    async def scenario(connection: Any) -> list[Any]:
        got: list[Any] = []
        stream = await connection.kline(symbol=SYMBOL.lower(), interval="1s")
        stream.on("message", got.append)
        await wait_for(lambda: len(got) >= 2, "two 1 s klines")
        return got

    klines = on_streams(venue, scenario)
    assert all(k.s == SYMBOL and k.k.i == "1s" for k in klines)
    assert klines[1].k.t >= klines[0].k.t


@pytest.mark.compat(CLIENT, "agg trades")
def test_should_read_agg_trades_over_rest(venue: Venue) -> None:
    trades = configured(venue).rest_api.agg_trades(symbol=SYMBOL, limit=10).data()
    assert trades and all(Decimal(t.q) > 0 for t in trades)


@pytest.mark.compat(CLIENT, "agg trades")
def test_should_stream_agg_trades_of_the_flow(venue: Venue) -> None:
    async def scenario(connection: Any) -> list[Any]:
        got: list[Any] = []
        stream = await connection.agg_trade(symbol=SYMBOL.lower())
        stream.on("message", got.append)
        await wait_for(lambda: len(got) >= 2, "two aggregate trades of the flow")
        return got

    trades = on_streams(venue, scenario)
    assert all(t.s == SYMBOL and Decimal(t.q) > 0 and t.l >= t.f for t in trades)
    assert trades[1].a > trades[0].a


@pytest.mark.compat(CLIENT, "book sync")
def test_should_build_from_the_sdks_diff_stream_and_depth_call_the_book_rest_depth_shows(venue: Venue) -> None:
    """Binance's procedure on the SDK's own calls: buffer diffs, depth snapshot, drop u <= lastUpdateId, apply."""
    client = configured(venue)

    async def scenario(connection: Any) -> tuple[int, Book, Book]:
        buffered: list[Any] = []
        stream = await connection.diff_book_depth(symbol=SYMBOL.lower(), update_speed="100ms")
        stream.on("message", buffered.append)
        await wait_for(lambda: bool(buffered), "a first diff")
        snapshot = data(await asyncio.to_thread(client.rest_api.depth, symbol=SYMBOL, limit=5000))
        book, last = book_of(snapshot["bids"], snapshot["asks"]), int(snapshot["lastUpdateId"])
        books: dict[int, Book] = {last: _copy(book)}

        async def apply() -> None:
            nonlocal last
            while True:
                while not buffered:
                    await asyncio.sleep(0.01)
                event = buffered.pop(0)
                if event.u <= last:
                    continue
                assert event.U <= last + 1 <= event.u if len(books) == 1 else last + 1 == event.U, (event.U, last)
                for side, levels in (("bids", event.b), ("asks", event.a)):
                    for price, qty in levels:
                        if Decimal(qty) == 0:
                            book[side].pop(Decimal(price), None)
                        else:
                            book[side][Decimal(price)] = Decimal(qty)
                last = event.u
                books[last] = _copy(book)

        applier = asyncio.ensure_future(apply())
        try:
            return await book_at_rest_update_id(venue, books)
        finally:
            applier.cancel()

    update_id, client_book, rest_book = on_streams(venue, scenario)
    assert client_book == rest_book, update_id
    assert client_book["bids"] and client_book["asks"]


def _copy(book: Book) -> Book:
    return {side: dict(levels) for side, levels in book.items()}
