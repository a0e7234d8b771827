"""The publisher stage in-process: engine records through real md rings, real WebSocket and HTTP clients.

No timing assertions: every wait is for a condition (with a generous limit that
only turns a hang into a failure).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hftpipe.schema.records import TS_HOP_OFFSET, TS_ORIGIN_OFFSET
from hftpipe.substrate.counters import CounterKind
from stages.exchange.publisher.decimals import fixed_text
from stages.exchange.publisher.session import SLOW_CONSUMER_CODE, SLOW_CONSUMER_REASON
from stages.exchange.publisher.streams import KLINE_INTERVALS_MS
from tests.unit.exchange.publisher.support import (
    BUY,
    SELL,
    EngineFeed,
    Harness,
    aget,
    exchange_table,
    publisher,
    running,
    until,
)

ZERO = "0.00000000"
Book = dict[str, dict[str, str]]


async def collect(ws: ClientConnection, into: list[Any]) -> None:
    try:
        async for message in ws:
            into.append(orjson.loads(message))
    except ConnectionClosed:
        pass


def grown(items: list[Any], size: int) -> Callable[[], bool]:
    return lambda: len(items) > size


def engine_book(feed: EngineFeed) -> Book:
    s = feed.symbol
    bids, asks = feed.depth()
    return {
        "bids": {fixed_text(p, s.price_scale): fixed_text(q, s.qty_scale) for p, q in bids},
        "asks": {fixed_text(p, s.price_scale): fixed_text(q, s.qty_scale) for p, q in asks},
    }


def replica_book(h: Harness, symbol: str) -> Book:
    market = h.stage.markets[symbol]
    _, bids, asks = market.replica.depth(1_000_000)
    return {"bids": dict(market.fmt.levels(bids)), "asks": dict(market.fmt.levels(asks))}


def local_book(snapshot: dict[str, Any], events: list[dict[str, Any]]) -> Book:
    """Binance's "How to manage a local order book correctly", steps 4-8, asserting each rule."""
    last_update_id = snapshot["lastUpdateId"]
    book: Book = {"bids": dict(map(tuple, snapshot["bids"])), "asks": dict(map(tuple, snapshot["asks"]))}
    applied = [event for event in events if event["u"] > last_update_id]  # 4. drop u <= lastUpdateId
    assert applied, "no event after the snapshot"
    assert applied[0]["U"] <= last_update_id + 1 <= applied[0]["u"]  # 5.
    previous = None
    for event in applied:
        if previous is not None:
            assert event["U"] == previous + 1  # 6.
        previous = event["u"]
        for side, key in (("bids", "b"), ("asks", "a")):
            for price, qty in event[key]:  # 7. absolute quantities; 8. zero removes
                if qty == ZERO:
                    book[side].pop(price, None)
                else:
                    book[side][price] = qty
    return book


def run(h: Harness, scenario: Any) -> None:
    async def main() -> None:
        async with running(h):
            await scenario(h)

    asyncio.run(main())


@pytest.fixture
def table(tmp_path: Path) -> dict[str, Any]:
    return exchange_table(tmp_path)


def test_should_measure_every_records_hop_and_each_updates_end_to_end(
    pipeline_name: str, table: dict[str, Any]
) -> None:
    with publisher(pipeline_name, table) as h:
        feed = h.feeds["BTCUSDT"]
        updates = [feed.order(SELL, feed.symbol.initial_price + 100 * i, 1000) for i in range(1, 4)]
        updates.append(feed.order(BUY, feed.symbol.initial_price + 300, 3000))  # three trades, three levels gone
        origin = time.monotonic_ns()
        records = []
        for update in updates:  # as the engine publishes them: a gateway receipt and the engine's stamp
            for raw in update:
                record = bytearray(raw)
                record[TS_ORIGIN_OFFSET : TS_ORIGIN_OFFSET + 8] = origin.to_bytes(8, "little")
                record[TS_HOP_OFFSET : TS_HOP_OFFSET + 8] = (origin + 1000).to_bytes(8, "little")
                records.append(bytes(record))
        h.publish("BTCUSDT", records)
        assert h.stage.drain() == len(records)
        taken = time.monotonic_ns()
        control = h.ctx.control
        hop, end_to_end = control.read_hop_histogram(0), control.read_end_to_end_histogram(h.ctx.index)
        assert hop.count == len(records) > len(updates)  # every record, not only the END ones
        assert hop.min_value >= 0 and hop.max_value <= taken - origin - 1000
        assert end_to_end.count == len(updates)
        assert 1000 < end_to_end.min_value <= end_to_end.max_value <= taken - origin
        assert h.ctx.counter(CounterKind.MESSAGES_IN).value == len(records)


def test_a_client_syncs_the_diff_stream_with_the_rest_snapshot(pipeline_name: str, table: dict[str, Any]) -> None:
    async def scenario(h: Harness) -> None:
        feed, rng = h.feeds["BTCUSDT"], random.Random(7)
        for _ in range(300):
            h.publish("BTCUSDT", feed.random_order(rng))
        events: list[Any] = []
        async with connect(f"ws://{h.base}/ws/btcusdt@depth@100ms") as ws:
            reader = asyncio.create_task(collect(ws, events))
            await until(lambda: h.stage.hub.wants("btcusdt@depth@100ms"), "the subscription")
            snapshot: Any = None
            for round_ in range(8):
                for _ in range(40):
                    h.publish("BTCUSDT", feed.random_order(rng))
                await until(grown(events, len(events)), "a diff event")  # so the rounds span several windows
                if round_ == 3:
                    status, snapshot = await aget(h.base, "/api/v3/depth?symbol=BTCUSDT&limit=5000")
                    assert status == 200
            final = feed.update_id
            await until(lambda: bool(events) and events[-1]["u"] == final, "the last update on the stream")
            reader.cancel()
        assert all(e["e"] == "depthUpdate" and e["s"] == "BTCUSDT" for e in events)
        assert all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(events))  # no reset: contiguous
        assert snapshot["lastUpdateId"] < final
        book = local_book(snapshot, events)
        assert book == replica_book(h, "BTCUSDT") == engine_book(feed)
        assert feed.engine.next_trade_id > 1  # the orders did trade

    with publisher(pipeline_name, table) as h:
        run(h, scenario)


def test_a_snapshot_reset_shows_as_a_gap_and_rest_serves_the_new_book(
    pipeline_name: str, table: dict[str, Any]
) -> None:
    async def scenario(h: Harness) -> None:
        feed, rng = h.feeds["BTCUSDT"], random.Random(11)
        events: list[Any] = []
        async with connect(f"ws://{h.base}/stream?streams=btcusdt@depth@100ms") as ws:
            reader = asyncio.create_task(collect(ws, events))
            await until(lambda: h.stage.hub.wants("btcusdt@depth@100ms"), "the subscription")
            for _ in range(100):
                h.publish("BTCUSDT", feed.random_order(rng))
            before = feed.update_id
            await until(lambda: bool(events) and events[-1]["data"]["u"] == before, "the stream to catch up")
            for _ in range(30):
                feed.random_order(rng)  # the engine drops these (md ring full) ...
            h.publish("BTCUSDT", feed.snapshot())  # ... and then resends its whole book
            reset_id = feed.update_id
            await until(lambda: h.stage.markets["BTCUSDT"].replica.update_id == reset_id, "the snapshot")
            status, snapshot = await aget(h.base, "/api/v3/depth?symbol=BTCUSDT&limit=5000")
            assert status == 200 and snapshot["lastUpdateId"] == reset_id
            for _ in range(50):
                h.publish("BTCUSDT", feed.random_order(rng))
            final = feed.update_id
            await until(lambda: events[-1]["data"]["u"] == final, "the last update")
            reader.cancel()
        data = [e["data"] for e in events]
        assert {e["stream"] for e in events} == {"btcusdt@depth@100ms"}
        gaps = [(a["u"], b["U"]) for a, b in itertools.pairwise(data) if b["U"] != a["u"] + 1]
        assert gaps == [(before, reset_id + 1)]
        assert local_book(snapshot, data) == replica_book(h, "BTCUSDT") == engine_book(feed)
        assert h.ctx.counters.add("book_snapshots").value == 1

    with publisher(pipeline_name, table) as h:
        run(h, scenario)


def test_combined_paths_raw_paths_and_live_subscriptions(pipeline_name: str, table: dict[str, Any]) -> None:
    async def scenario(h: Harness) -> None:
        btc, eth = h.feeds["BTCUSDT"], h.feeds["ETHUSDT"]
        combined: list[Any] = []
        raw_multi: list[Any] = []
        async with (
            connect(f"ws://{h.base}/stream?streams=btcusdt@trade/ethusdt@bookTicker") as ws_combined,
            connect(f"ws://{h.base}/ws/btcusdt@trade/ethusdt@bookTicker") as ws_raw,
            connect(f"ws://{h.base}/ws") as ws_live,
        ):
            readers = [
                asyncio.create_task(collect(ws_combined, combined)),
                asyncio.create_task(collect(ws_raw, raw_multi)),
            ]
            await ws_live.send(orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 1}).decode())
            assert orjson.loads(await ws_live.recv()) == {"result": None, "id": 1}
            await ws_live.send('{"method": "LIST_SUBSCRIPTIONS", "id": 2}')
            assert orjson.loads(await ws_live.recv()) == {"result": ["btcusdt@aggTrade"], "id": 2}
            await until(lambda: len(h.stage.hub.subscribers("btcusdt@trade")) == 2, "the path subscriptions")
            h.publish("BTCUSDT", btc.order(SELL, 6_000_000, 100_000) + btc.order(BUY, 6_000_000, 100_000))
            h.publish("ETHUSDT", eth.order(BUY, 300_000, 10_000))
            await until(lambda: len(combined) == 2 and len(raw_multi) == 2, "two events on each")
            agg = orjson.loads(await ws_live.recv())
            assert (agg["e"], agg["s"], agg["a"], agg["p"], agg["q"]) == (
                "aggTrade", "BTCUSDT", 1, "60000.00000000", "1.00000000",
            )
            await ws_live.send('{"method": "UNSUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 3}')
            assert orjson.loads(await ws_live.recv()) == {"result": None, "id": 3}
            updates = h.stage.markets["BTCUSDT"].updates
            h.publish("BTCUSDT", btc.order(SELL, 6_000_000, 100_000) + btc.order(BUY, 6_000_000, 100_000))
            await until(lambda: h.stage.markets["BTCUSDT"].updates == updates + 2, "the second trade")
            await ws_live.send('{"method": "LIST_SUBSCRIPTIONS", "id": 4}')
            assert orjson.loads(await ws_live.recv()) == {"result": [], "id": 4}  # no aggTrade queued before it
            await ws_live.send('{"method": "BOGUS", "id": 5}')
            assert orjson.loads(await ws_live.recv())["error"]["code"] == 2
            for reader in readers:
                reader.cancel()
        by_stream: dict[str, Any] = {}
        for event in combined:
            by_stream.setdefault(event["stream"], event["data"])
        assert set(by_stream) == {"btcusdt@trade", "ethusdt@bookTicker"}
        assert by_stream["btcusdt@trade"]["e"] == "trade" and by_stream["btcusdt@trade"]["t"] == 1
        assert by_stream["ethusdt@bookTicker"] == {
            "u": 1, "s": "ETHUSDT", "b": "3000.00000000", "B": "1.00000000", "a": ZERO, "A": ZERO,
        }
        first_two = sorted(raw_multi[:2], key=lambda e: "e" in e)  # the bookTicker payload has no "e"
        assert first_two == [by_stream["ethusdt@bookTicker"], by_stream["btcusdt@trade"]]

    with publisher(pipeline_name, table) as h:
        run(h, scenario)


def test_bad_paths_are_refused_and_unserved_stream_names_accepted_silently(
    pipeline_name: str, table: dict[str, Any]
) -> None:
    async def scenario(h: Harness) -> None:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://{h.base}/wss"):
                pass
        assert refused.value.response.status_code == 404
        async with connect(f"ws://{h.base}/stream?streams=xrpusdt@trade/btcusdt@nope/btcusdt@trade") as ws:
            await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}).decode())
            assert orjson.loads(await ws.recv()) == {"result": ["btcusdt@trade"], "id": 1}
        unserved = h.ctx.counters.add("unserved_stream_names")
        await until(lambda: unserved.value == 2, "the unserved_stream_names counter")
        status, body = await aget(h.base, "/api/v3/depth?symbol=NOPE")
        assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."})
        status, body = await aget(h.base, "/api/v3/depth?symbol=BTCUSDT&limit=x")
        assert status == 400 and body["code"] == -1100
        status, info = await aget(h.base, "/api/v3/exchangeInfo?symbol=ETHUSDT")
        assert status == 200 and info["symbols"][0]["symbol"] == "ETHUSDT"
        assert (await aget(h.base, "/api/v3/ping")) == (200, {})
        errors, requests = h.ctx.counters.add("rest_errors"), h.ctx.counters.add("rest_requests")
        await until(lambda: (errors.value, requests.value) == (2, 4), "the REST counters")  # set every tick

    with publisher(pipeline_name, table) as h:
        run(h, scenario)


def test_a_slow_consumer_is_dropped_and_counted_while_a_fast_one_keeps_receiving(
    pipeline_name: str, table: dict[str, Any]
) -> None:
    table["max_client_queue"] = 16

    async def scenario(h: Harness) -> None:
        feed = h.feeds["BTCUSDT"]
        url = f"ws://{h.base}/ws/btcusdt@trade"
        heavy = "/".join(["btcusdt@trade", "btcusdt@aggTrade", *(f"btcusdt@kline_{i}" for i in KLINE_INTERVALS_MS)])
        fast_got: list[Any] = []
        slow_sock = socket.create_connection(("127.0.0.1", h.stage.port))
        slow_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel buffers little for it
        slow_url = f"ws://{h.base}/stream?streams={heavy}"
        async with connect(url) as fast, connect(slow_url, sock=slow_sock, max_queue=1) as slow:
            reader = asyncio.create_task(collect(fast, fast_got))
            await until(lambda: len(h.stage.hub.subscribers("btcusdt@trade")) == 2, "both subscriptions")
            price = 6_000_000
            for round_ in range(2000):  # the slow client reads nothing meanwhile
                if h.stage.server.dropped_clients:
                    break
                records: list[bytes] = []
                for _ in range(20):
                    records += feed.order(SELL, price, 100_000) + feed.order(BUY, price, 100_000)
                h.publish("BTCUSDT", records)
                await until(lambda: h.producer_backlog("BTCUSDT") == 0, "the drain")
                assert round_ < 1999, "the slow client was never dropped"
            assert h.stage.server.dropped_clients == 1
            assert h.ctx.counter(CounterKind.DROPS).value == 1
            for _ in range(20):
                h.publish("BTCUSDT", feed.order(SELL, price, 100_000) + feed.order(BUY, price, 100_000))
            last_trade = feed.engine.next_trade_id - 1
            await until(lambda: bool(fast_got) and fast_got[-1]["t"] == last_trade, "the fast client's last trade")
            assert [t["t"] for t in fast_got] == list(range(1, last_trade + 1))  # every trade, in order
            slow_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # now it reads, and quickly
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await slow.recv()
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (SLOW_CONSUMER_CODE, SLOW_CONSUMER_REASON)
            assert len(h.stage.hub.subscribers("btcusdt@trade")) == 1
            reader.cancel()

    with publisher(pipeline_name, table, batch=8) as h:
        run(h, scenario)
