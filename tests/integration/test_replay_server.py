"""The loopback replay server: real WebSocket and HTTP clients against recorded exchange captures."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect as sync_connect

from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.marketdata import BookState
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import EventKind, read_capture
from stages.marketdata.capture.replay import replay
from stages.marketdata.capture.replay_server import (
    END_OF_CAPTURE_REASON,
    EXHAUSTED_REASON,
    ReplayServer,
    find_http_capture,
)
from stages.marketdata.venues.binance.adapter import BinanceAdapter, BinanceFuturesAdapter
from tests.captures import capture_path

BINANCE_STREAMS = "/stream?streams=nknusdt@depth@100ms/blzeth@depth@100ms/lrcbtc@depth@100ms/runeeur@depth@100ms"

T = TypeVar("T")


def received(path: Path) -> list[str]:
    return [e.payload for e in read_capture(path) if e.kind is EventKind.RECEIVED]


def sent(path: Path) -> list[str]:
    return [e.payload for e in read_capture(path) if e.kind is EventKind.SENT]


def run(coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async test body; fail if it left any task behind."""

    async def checked() -> T:
        async with asyncio.timeout(30):
            result = await coroutine()
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not leftover, f"tasks left running: {leftover}"
        return result

    return asyncio.run(checked())


def http_get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read()


async def receive_n(ws: ClientConnection, count: int) -> list[str]:
    messages = []
    for _ in range(count):
        message = await ws.recv()
        assert isinstance(message, str), "every payload goes out as a text frame"
        messages.append(message)
    return messages


async def receive_until_closed(ws: ClientConnection) -> list[str]:
    messages = []
    with pytest.raises(ConnectionClosedOK):
        while True:
            messages.append(str(await ws.recv()))
    return messages


def write_capture(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def two_segments(tmp_path: Path) -> Path:
    """Two recorded connections; the second one subscribes first."""
    return write_capture(
        tmp_path / "VENUE.ws.1.0",
        [
            "wss://venue.example/ws <-> 100.0",
            '100.1: {"segment":1,"n":1}',
            '100.2: {"segment":1,"n":2}',
            "",
            "wss://venue.example/ws <-> 200.0",
            'wss://venue.example/ws <- 200.05: {"op":"subscribe"}',
            '200.1: {"segment":2,"n":1}',
        ],
    )


# -- WebSocket -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "path"), [("BINANCE.ws.1.0", BINANCE_STREAMS), ("KRAKEN.ws.50.0", "/")])
def test_should_serve_every_recorded_message_in_order_over_loopback(name: str, path: str) -> None:
    capture = capture_path(name)
    expected = received(capture)

    async def body() -> list[str]:
        async with ReplayServer(capture, pace="fast") as server:
            async with connect(f"{server.ws_url}{path}") as ws:
                for subscription in sent(capture):
                    await ws.send(subscription)
                messages = await receive_n(ws, len(expected))
            assert server.counters.connections_accepted == 1
            assert server.counters.messages_sent == len(expected)
            assert server.counters.client_messages_received == len(sent(capture))
        assert server.counters.segments_completed == 1
        assert server.counters.clients_disconnected_early == 0
        return messages

    assert run(body) == expected


def test_should_send_nothing_before_the_client_subscribes() -> None:
    capture = capture_path("KRAKEN.ws.50.0")
    expected = received(capture)

    async def body() -> None:
        # max_queue=None: the client buffers what it does not read, so it can close without draining it
        async with ReplayServer(capture) as server, connect(f"{server.ws_url}/", max_queue=None) as ws:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)
            assert server.counters.messages_sent == 0
            await ws.send(sent(capture)[0])
            assert await receive_n(ws, 3) == expected[:3]

    run(body)


def test_should_keep_the_recorded_order_at_original_pace() -> None:
    capture = capture_path("BINANCE.ws.1.0")
    expected = received(capture)

    async def body() -> list[str]:
        async with (
            ReplayServer(capture, pace="original", speed=200.0) as server,
            connect(f"{server.ws_url}{BINANCE_STREAMS}") as ws,
        ):
            return await receive_n(ws, len(expected))

    assert run(body) == expected


def test_should_serve_successive_recorded_connections_to_successive_clients(two_segments: Path) -> None:
    async def body() -> None:
        async with ReplayServer(two_segments) as server:
            async with connect(f"{server.ws_url}/ws") as first:
                assert await receive_n(first, 2) == ['{"segment":1,"n":1}', '{"segment":1,"n":2}']
            async with connect(f"{server.ws_url}/ws") as second:
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(second.recv(), 0.2)  # waits for the recorded subscription
                await second.send('{"op":"subscribe"}')
                assert await receive_n(second, 1) == ['{"segment":2,"n":1}']
            async with connect(f"{server.ws_url}/ws") as third:
                assert await receive_until_closed(third) == []
                assert (third.close_code, third.close_reason) == (1000, EXHAUSTED_REASON)
            assert server.counters.connections_refused_exhausted == 1

    run(body)


def test_should_replay_the_whole_capture_on_every_connection_when_looping() -> None:
    capture = capture_path("BINANCE.ws.1.0")
    expected = received(capture)

    async def body() -> None:
        async with ReplayServer(capture, capture_path("BINANCE.http.0.0"), loop=True) as server:
            for _ in range(2):
                async with connect(f"{server.ws_url}{BINANCE_STREAMS}") as ws:
                    assert await receive_until_closed(ws) == expected
                    assert (ws.close_code, ws.close_reason) == (1000, END_OF_CAPTURE_REASON)
            assert server.counters.passes_started == 2
            assert server.counters.segments_completed == 2
            assert server.counters.messages_sent == 2 * len(expected)

    run(body)


def test_should_count_a_client_that_leaves_before_the_end() -> None:
    capture = capture_path("KRAKEN.ws.50.0")

    async def body() -> ReplayServer:
        # ~31 s of capture at original pace: the server cannot have sent it all when the client leaves
        async with ReplayServer(capture, pace="original") as server, connect(f"{server.ws_url}/") as ws:
            await ws.send(sent(capture)[0])
            await receive_n(ws, 1)
        return server

    server = run(body)
    assert server.counters.clients_disconnected_early == 1
    assert server.counters.segments_completed == 0


# -- HTTP ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ws_name", "http_name", "path", "symbol"),
    [
        ("BINANCE.ws.1.0", "BINANCE.http.0.0", "/api/v3/depth", "NKNUSDT"),
        ("BINANCE_FUTURES.ws.1.0", "BINANCE_FUTURES.http.0.0", "/fapi/v1/depth", "SUSHIUSDT"),
    ],
)
def test_should_answer_a_snapshot_request_with_the_recorded_json(
    ws_name: str, http_name: str, path: str, symbol: str
) -> None:
    http_capture = capture_path(http_name)
    recorded = next(e.payload for e in read_capture(http_capture) if f"symbol={symbol}&" in e.url)
    with ReplayServer(capture_path(ws_name), http_capture).start_in_thread() as running:
        status, content_type, body = http_get(f"{running.http_url}{path}?symbol={symbol}&limit=1000")
        assert (status, content_type) == (200, "application/json")
        assert body.decode() == recorded
        # limit and other parameters are ignored; a repeat gets the (only) recording again
        assert http_get(f"{running.http_url}{path}?limit=5000&symbol={symbol}")[2].decode() == recorded
        assert running.counters.snapshots_served == 2


def test_should_answer_404_with_a_json_error_for_anything_unrecorded() -> None:
    server = ReplayServer(capture_path("BINANCE.ws.1.0"), capture_path("BINANCE.http.0.0"))
    with server.start_in_thread() as running:
        for path in ("/api/v3/depth?symbol=BTCUSDT&limit=1000", "/fapi/v1/depth?symbol=NKNUSDT", "/", "/api/v3/depth"):
            status, content_type, body = http_get(f"{running.http_url}{path}")
            assert (status, content_type) == (404, "application/json"), path
            assert "msg" in json.loads(body)
        assert running.counters.http_not_found == 4
        assert running.counters.snapshots_served == 0


def test_should_serve_recorded_snapshots_in_order_then_the_last_again_and_restart_each_pass(
    two_segments: Path, tmp_path: Path
) -> None:
    http_capture = write_capture(
        tmp_path / "VENUE.http.0.0",
        [
            'https://api.venue.example/depth?symbol=X&limit=10 -> 100.0: {"id":1}',
            'https://api.venue.example/depth?symbol=Y&limit=10 -> 100.1: {"id":"y"}',
            'https://api.venue.example/depth?symbol=X&limit=10 -> 100.5: {"id":2}',
        ],
    )

    async def body() -> None:
        async with ReplayServer(two_segments, http_capture, loop=True) as server:

            async def get(symbol: str) -> str:
                status, _, data = await asyncio.to_thread(http_get, f"{server.http_url}/depth?symbol={symbol}")
                assert status == 200
                return data.decode()

            assert [await get("X"), await get("X"), await get("X"), await get("Y")] == [
                '{"id":1}',
                '{"id":2}',
                '{"id":2}',
                '{"id":"y"}',
            ]
            async with connect(server.ws_url) as ws:  # a new pass over the capture: the order restarts
                await receive_n(ws, 1)
                assert await get("X") == '{"id":1}'

    run(body)


# -- a real client path: connect, buffer, fetch the snapshot, sync ---------------


def _local(url: str, base: str) -> str:
    parts = urlsplit(url)
    return f"{base}{parts.path}?{parts.query}" if parts.query else f"{base}{parts.path}"


@pytest.mark.parametrize(
    ("cls", "files"),
    [
        (BinanceAdapter, ("BINANCE.ws.1.0", "BINANCE.http.0.0")),
        (BinanceFuturesAdapter, ("BINANCE_FUTURES.ws.1.0", "BINANCE_FUTURES.http.0.0")),
    ],
)
def test_should_sync_a_binance_adapter_end_to_end_like_the_offline_replay(
    cls: type[BinanceAdapter], files: tuple[str, str]
) -> None:
    ws_capture, http_capture = capture_path(files[0]), capture_path(files[1])
    offline_registry, offline_sink = InstrumentRegistry(), BooksSink()
    offline = cls(offline_sink, offline_registry)
    replay(offline, read_capture(ws_capture), read_capture(http_capture))
    symbols = sorted(offline.update_ids)
    count = len(received(ws_capture))

    async def body() -> tuple[BinanceAdapter, BooksSink, InstrumentRegistry]:
        registry, sink = InstrumentRegistry(), BooksSink()
        adapter = cls(sink, registry, symbols=symbols)
        async with ReplayServer(ws_capture, http_capture, pace="fast") as server:
            (url,) = adapter.websocket_urls()
            async with connect(_local(url, server.ws_url)) as ws:
                for number in range(count):
                    adapter.on_message(await ws.recv(), number)
                    for request in adapter.take_snapshot_requests():
                        status, _, snapshot = await asyncio.to_thread(http_get, _local(request.url, server.http_url))
                        assert status == 200
                        adapter.on_snapshot(request.symbol, snapshot, number)
            assert server.counters.snapshots_served == len(symbols)
        return adapter, sink, registry

    adapter, sink, registry = run(body)
    assert len(symbols) == 4
    for symbol in symbols:
        live, recorded = registry.by_symbol(cls.venue, symbol), offline_registry.by_symbol(cls.venue, symbol)
        assert sink.states[live.id] is BookState.SYNCED, symbol
        assert adapter.update_ids[symbol] == offline.update_ids[symbol], symbol
        assert sink.books[live.id].bids() == offline_sink.books[recorded.id].bids(), symbol
        assert sink.books[live.id].asks() == offline_sink.books[recorded.id].asks(), symbol
        assert (adapter.stats[symbol].gaps, adapter.stats[symbol].resyncs) == (0, 0), symbol


# -- lifecycle ---------------------------------------------------------------------


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as any server would; TIME_WAIT is not a holder
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
        return True


def test_should_release_the_port_and_its_thread_on_shutdown() -> None:
    capture = capture_path("BINANCE.ws.1.0")
    expected = received(capture)
    running = ReplayServer(capture, capture_path("BINANCE.http.0.0")).start_in_thread()
    port = running.port
    assert not _port_is_free(port)
    with sync_connect(f"ws://127.0.0.1:{port}{BINANCE_STREAMS}") as ws:
        assert [ws.recv() for _ in expected] == expected
        assert http_get(f"http://127.0.0.1:{port}/api/v3/depth?symbol=BLZETH")[0] == 200
        running.stop()  # with the client still connected
    assert not running.thread.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("replay-server")]
    assert _port_is_free(port)
    # and a new server can take the same port at once
    with ReplayServer(capture, port=port).start_in_thread() as again:
        assert again.port == port


def test_should_release_the_port_when_the_async_context_exits() -> None:
    capture = capture_path("KRAKEN.ws.50.0")

    async def body() -> int:
        async with ReplayServer(capture, pace="original") as server:
            ws = await connect(f"{server.ws_url}/")
            await ws.send(sent(capture)[0])
            await receive_n(ws, 1)
            port = server.port
        # the server closed the idle-but-open connection with 1001 going away
        await ws.wait_closed()
        assert ws.close_code == 1001
        assert server.counters.clients_disconnected_early == 0
        return port

    assert _port_is_free(run(body))


def test_should_find_the_rest_capture_beside_a_websocket_capture() -> None:
    capture = capture_path("BINANCE.ws.1.0")
    assert find_http_capture(capture) == capture.parent / "BINANCE.http.0.0"
    assert find_http_capture(capture_path("KRAKEN.ws.50.0")) is None
