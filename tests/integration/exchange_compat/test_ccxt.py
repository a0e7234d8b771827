"""ccxt (REST) and ccxt.pro (streams, WebSocket API) against ``hftpipe exchange run``, configured by ``urls`` only.

Options set: none but ``fetchMarkets.types = ["spot"]`` (this exchange lists spot only; without it ccxt also
asks the futures hosts, which are not URLs of a spot venue). Every URL ccxt's binance class uses for spot is
overridden; nothing is patched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.exchange_compat.venue import (
    Book,
    Venue,
    book_at_rest_update_id,
    book_of,
)

pro = pytest.importorskip("ccxt.pro", reason="ccxt is not installed (pip install -e '.[compat]')")

CLIENT = "ccxt"
MARKET = "BTC/USDT"


def configured(venue: Venue, *, keys: bool = True) -> Any:
    """A ccxt.pro binance whose spot URLs are this exchange's."""
    exchange = pro.binance(
        {
            **({"apiKey": venue.api_key, "secret": venue.secret} if keys else {}),
            "options": {"fetchMarkets": {"types": ["spot"]}},
        }
    )
    api = exchange.urls["api"]
    for name in ("public", "private", "v3", "v1"):
        api[name] = f"{venue.rest_http}/api/{'v1' if name == 'v1' else 'v3'}"
    for name, version in (("sapi", "v1"), ("sapiV2", "v2"), ("sapiV3", "v3"), ("sapiV4", "v4")):
        api[name] = f"{venue.rest_http}/sapi/{version}"
    api["ws"] = {"spot": f"{venue.market_ws}/ws", "margin": f"{venue.market_ws}/ws", "ws-api": {"spot": venue.api_ws}}
    return exchange


def run(venue: Venue, scenario: Callable[[Any], Any], *, keys: bool = True) -> Any:
    async def main() -> Any:
        exchange = configured(venue, keys=keys)
        try:
            return await asyncio.wait_for(scenario(exchange), 50)
        finally:
            await exchange.close()

    return asyncio.run(main())


@pytest.mark.compat(CLIENT, "markets")
def test_should_load_markets_with_the_exchanges_filters(venue: Venue) -> None:
    async def scenario(exchange: Any) -> Any:
        return await exchange.load_markets()

    markets = run(venue, scenario, keys=False)
    assert set(markets) == {"BTC/USDT", "ETH/USDT"}
    btc = markets[MARKET]
    assert (btc["id"], btc["spot"], btc["active"]) == ("BTCUSDT", True, True)
    assert Decimal(str(btc["precision"]["price"])) == Decimal("0.01")
    assert Decimal(str(btc["precision"]["amount"])) == Decimal("0.00001")
    assert Decimal(str(btc["limits"]["cost"]["min"])) == Decimal(5)


@pytest.mark.compat(CLIENT, "markets")
def test_should_load_markets_with_keys_which_also_reads_the_margin_pairs(venue: Venue) -> None:
    async def scenario(exchange: Any) -> Any:
        return await exchange.load_markets()

    assert set(run(venue, scenario)) == {"BTC/USDT", "ETH/USDT"}


@pytest.mark.skip(
    reason="ccxt's own bug (4.5.90): pro/binance.py handle_account_status_ws calls parse_balance_custom(result) "
    "without type='spot', so the spot account.status answer (result.balances) is read as a futures one (assets) and "
    "fetch_balance_ws returns an empty balance, against Binance too. No upstream issue yet (github.com/ccxt/ccxt)."
)
@pytest.mark.compat(CLIENT, "balances")
def test_should_fetch_the_funded_balances_over_the_websocket_api(venue: Venue) -> None:
    async def scenario(exchange: Any) -> Any:
        return await exchange.fetch_balance_ws()

    balance = run(venue, scenario)
    assert balance["USDT"]["total"] > 0 and balance["BTC"]["total"] > 0
    assert balance["USDT"]["total"] == pytest.approx(balance["USDT"]["free"] + balance["USDT"]["used"])


@pytest.mark.compat(CLIENT, "balances")
def test_should_fetch_the_funded_balances_over_rest(venue: Venue) -> None:
    async def scenario(exchange: Any) -> Any:
        return await exchange.fetch_balance()

    balance = run(venue, scenario)
    assert balance["USDT"]["total"] > 0 and balance["BTC"]["total"] > 0


async def _place_query_replace_cancel(exchange: Any, venue: Venue, suffix: str) -> list[dict[str, Any]]:
    """A resting buy 5 % under the best bid: placed, queried, replaced (cancel-replace), the new one cancelled."""
    place, fetch, edit, cancel = (
        getattr(exchange, f"{verb}{suffix}") for verb in ("create_order", "fetch_order", "edit_order", "cancel_order")
    )
    price = float((await asyncio.to_thread(venue.best_bid)) * Decimal("0.95"))
    placed = await place(MARKET, "limit", "buy", 0.001, round(price, 2))
    fetched = await fetch(placed["id"], MARKET)
    edited = await edit(placed["id"], MARKET, "limit", "buy", 0.001, round(price - 1, 2))
    cancelled = await cancel(edited["id"], MARKET)
    return [placed, fetched, edited, cancelled]


def _assert_lifecycle(
    placed: dict[str, Any], fetched: dict[str, Any], edited: dict[str, Any], cancelled: dict[str, Any]
) -> None:
    assert placed["status"] == "open" and fetched["id"] == placed["id"] and fetched["status"] == "open"
    assert edited["id"] != placed["id"] and edited["status"] == "open"
    assert edited["price"] == pytest.approx(placed["price"] - 1)
    assert cancelled["id"] == edited["id"] and cancelled["status"] == "canceled"


@pytest.mark.compat(CLIENT, "order WS API")
def test_should_place_query_cancel_replace_and_cancel_over_the_websocket_api(venue: Venue) -> None:
    async def scenario(exchange: Any) -> Any:
        return await _place_query_replace_cancel(exchange, venue, "_ws")

    _assert_lifecycle(*run(venue, scenario))


@pytest.mark.compat(CLIENT, "order REST")
def test_should_place_query_cancel_replace_and_cancel_over_rest(venue: Venue) -> None:
    async def scenario(exchange: Any) -> Any:
        return await _place_query_replace_cancel(exchange, venue, "")

    _assert_lifecycle(*run(venue, scenario))


@pytest.mark.compat(CLIENT, "user data")
def test_should_stream_the_fill_of_a_market_order_as_order_and_balance_events(venue: Venue) -> None:
    async def scenario(exchange: Any) -> tuple[Any, Any, Any]:
        await exchange.load_markets()  # with keys: also the sapi margin pairs and asset config
        orders = asyncio.ensure_future(exchange.watch_orders(MARKET))
        balances = asyncio.ensure_future(exchange.watch_balance())
        # What watch_orders awaits before it listens: the confirmed userDataStream.subscribe.signature.
        await exchange.ensure_user_data_stream_ws_subscribe_signature("spot")
        placed = await exchange.create_order_ws(MARKET, "market", "buy", 0.001)
        seen: list[dict[str, Any]] = list(await orders)
        while not any(o["id"] == placed["id"] and o["status"] == "closed" for o in seen):
            seen = list(await exchange.watch_orders(MARKET))
        return placed, seen, await balances

    placed, seen, balance = run(venue, scenario)
    mine = [o for o in seen if o["id"] == placed["id"]]
    assert mine[-1]["status"] == "closed" and mine[-1]["filled"] == pytest.approx(0.001)
    assert "BTC" in balance or "USDT" in balance


@pytest.mark.compat(CLIENT, "my trades")
def test_should_list_the_trades_of_a_filled_market_order(venue: Venue) -> None:
    async def scenario(exchange: Any) -> tuple[Any, Any]:
        placed = await exchange.create_order_ws(MARKET, "market", "buy", 0.001)
        return placed, await exchange.fetch_my_trades(MARKET)

    placed, trades = run(venue, scenario)
    mine = [t for t in trades if t["order"] == placed["id"]]
    assert mine and sum(t["amount"] for t in mine) == pytest.approx(0.001)
    assert all(t["side"] == "buy" and t["takerOrMaker"] == "taker" for t in mine)


@pytest.mark.compat(CLIENT, "my trades")
def test_should_list_the_trades_of_a_filled_market_order_over_the_websocket_api(venue: Venue) -> None:
    async def scenario(exchange: Any) -> tuple[Any, Any]:
        placed = await exchange.create_order_ws(MARKET, "market", "sell", 0.001)
        return placed, await exchange.fetch_my_trades_ws(MARKET)

    placed, trades = run(venue, scenario)
    mine = [t for t in trades if t["order"] == placed["id"]]
    assert mine and sum(t["amount"] for t in mine) == pytest.approx(0.001)
    assert all(t["side"] == "sell" for t in mine)


@pytest.mark.compat(CLIENT, "klines")
def test_should_fetch_ohlcv_over_the_websocket_api(venue: Venue) -> None:
    async def scenario(exchange: Any) -> Any:
        return await exchange.fetch_ohlcv_ws(MARKET, "1m", limit=5)

    candles = run(venue, scenario)
    assert candles and all(low <= min(o, c) and high >= max(o, c) for _, o, high, low, c, _ in candles)


@pytest.mark.compat(CLIENT, "klines")
def test_should_fetch_ohlcv_over_rest(venue: Venue) -> None:
    async def scenario(exchange: Any) -> Any:
        return await exchange.fetch_ohlcv(MARKET, "1m", limit=5)

    candles = run(venue, scenario)
    assert candles and all(low <= min(o, c) and high >= max(o, c) for _, o, high, low, c, _ in candles)


@pytest.mark.compat(CLIENT, "klines")
def test_should_watch_ohlcv(venue: Venue) -> None:
    async def scenario(exchange: Any) -> Any:
        return await exchange.watch_ohlcv(MARKET, "1s")

    assert run(venue, scenario)


@pytest.mark.compat(CLIENT, "agg trades")
def test_should_fetch_public_trades_which_ccxt_reads_from_agg_trades(venue: Venue) -> None:
    async def scenario(exchange: Any) -> Any:
        return await exchange.fetch_trades(MARKET, limit=10)

    trades = run(venue, scenario)
    assert trades and all(t["symbol"] == MARKET and t["amount"] > 0 for t in trades)


@pytest.mark.compat(CLIENT, "agg trades")
def test_should_watch_trades(venue: Venue) -> None:
    async def scenario(exchange: Any) -> Any:
        return await exchange.watch_trades(MARKET)

    assert run(venue, scenario)


@pytest.mark.compat(CLIENT, "book sync")
def test_should_build_with_watch_order_book_the_book_rest_depth_shows_at_the_same_update_id(venue: Venue) -> None:
    """ccxt.pro's own sync: diffs buffered, REST snapshot, ``nonce`` = the last applied ``u``."""

    async def scenario(exchange: Any) -> tuple[int, Book, Book]:
        books: dict[int, Book] = {}

        async def watch() -> None:
            while True:
                book = await exchange.watch_order_book(MARKET)
                books[int(book["nonce"])] = book_of(book["bids"], book["asks"])

        watcher = asyncio.ensure_future(watch())
        try:
            return await book_at_rest_update_id(venue, books)
        finally:
            watcher.cancel()

    update_id, client_book, rest_book = run(venue, scenario)
    assert client_book == rest_book, update_id
    assert client_book["bids"] and client_book["asks"]
