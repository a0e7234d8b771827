"""Hostile market-data clients against a real ``hftpipe exchange run``: floods of names, streams and messages.

Each gets the answer the README documents (HTTP 400, an error reply, close 1008
or 1009), and afterwards the publisher is the same process, never restarted,
still serving a calm client, and its stream catalog holds exactly the names it
started with. Bursts are many times a limit, so they are over it however slowly
two shared cores run them; every wait is for a condition.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hftpipe.substrate.control import ControlFile
from stages.exchange.publisher.message_rate import TOO_MANY_MESSAGES_CODE, too_many_messages_reason
from stages.exchange.publisher.session import SLOW_CONSUMER_CODE, SLOW_CONSUMER_REASON
from stages.exchange.publisher.streams import STREAMS_PER_SYMBOL, StreamCatalog
from tests.integration.exchange.harness import RunningExchange
from tests.integration.exchange.trading import settings_of
from tests.unit.exchange.publisher.support import aget, refused, until

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
"""The shipped config's."""
INVALID = "Invalid request: invalid stream"
LIST = '{"method": "LIST_SUBSCRIPTIONS", "id": 1}'
MESSAGE_LIMIT = 64 * 1024
"""The largest control message the publisher reads (a larger one is closed with 1009)."""


def subscribe(names: list[str], request_id: int = 1) -> str:
    return orjson.dumps({"method": "SUBSCRIBE", "params": names, "id": request_id}).decode()


class Publisher:
    """The running exchange's publisher stage, as its control file shows it."""

    def __init__(self, exchange: RunningExchange, pipeline: str) -> None:
        self.settings = settings_of(exchange.config)
        self.base = f"{self.settings.host}:{self.settings.market_port}"
        self.control = ControlFile.attach(pipeline)
        self.index = self.control.stage_index("publisher")

    def counter(self, name: str) -> int:
        return self.control.read_counters(self.index)[name]

    def process(self) -> tuple[int, int]:
        """(pid, restarts)."""
        return self.control.stage_pid(self.index), self.control.stage_restarts(self.index)


@pytest.fixture
def publisher(start_exchange: Callable[..., RunningExchange], pipeline_name: str) -> Iterator[Publisher]:
    seen = Publisher(start_exchange(flow=True), pipeline_name)  # market data flows: a slow reader falls behind
    yield seen
    seen.control.close()


async def closed_with(ws: ClientConnection) -> tuple[int, str, list[Any]]:
    """Read until the server closes: (code, reason, what came before)."""
    got: list[Any] = []
    with pytest.raises(ConnectionClosed) as caught:
        while True:
            got.append(orjson.loads(await ws.recv()))
    assert caught.value.rcvd is not None, "closed without a close frame"
    return caught.value.rcvd.code, caught.value.rcvd.reason, got


async def oversized_names(base: str) -> None:
    async with connect(f"ws://{base}/ws/" + "a" * 5000) as ws:  # accepted and silent, as on Binance: never kept
        await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 6}).decode())
        assert orjson.loads(await ws.recv()) == {"result": [], "id": 6}
    for connection in range(10):  # 50 unique names of 60 KB: 3 MB that must not stay
        async with connect(f"ws://{base}/ws") as ws:
            for message in range(5):
                await ws.send(subscribe([f"{connection}-{message}-".ljust(60_000, "z")], message))
                assert orjson.loads(await ws.recv()) == {"error": {"code": 2, "msg": INVALID}, "id": message}
    async with connect(f"ws://{base}/ws", max_size=None) as ws:
        await ws.send(subscribe(["y" * MESSAGE_LIMIT]))
        code, _, got = await closed_with(ws)
        assert (code, got) == (1009, [])  # message too big


async def unique_names(base: str) -> None:
    for connection in range(10):  # 50,000 unique invalid names, 5 messages per connection
        async with connect(f"ws://{base}/ws") as ws:
            for message in range(5):
                await ws.send(subscribe([f"{connection}-{message}-{i}@trade" for i in range(1000)], message))
                assert orjson.loads(await ws.recv())["error"]["msg"] == INVALID
    # 500 unknown names in the handshake: accepted as Binance does, counted, never served or kept
    async with connect(f"ws://{base}/ws/" + "/".join(f"u{i}@trade" for i in range(500))) as ws:
        await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 7}).decode())
        assert orjson.loads(await ws.recv()) == {"result": [], "id": 7}


async def too_many_streams(base: str) -> None:
    too_many = "Invalid request: too many streams (at most 1024)"
    assert await refused(base, "/stream?streams=" + "/".join(f"s{i}" for i in range(1025))) == {
        "code": 2,
        "msg": too_many,
    }
    async with connect(f"ws://{base}/ws") as ws:
        await ws.send(subscribe(["btcusdt@trade"] * 1025, 7))
        assert orjson.loads(await ws.recv()) == {"error": {"code": 2, "msg": too_many}, "id": 7}
        await ws.send(LIST)
        assert orjson.loads(await ws.recv()) == {"result": [], "id": 1}


async def message_burst(base: str, per_second: int) -> None:
    async with connect(f"ws://{base}/ws") as ws:
        for _ in range(10 * per_second):  # ten seconds' worth at once
            await ws.send(LIST)
        code, reason, got = await closed_with(ws)
    assert (code, reason) == (TOO_MANY_MESSAGES_CODE, too_many_messages_reason(per_second))
    assert len(got) <= per_second and all(reply == {"result": [], "id": 1} for reply in got)


async def slow_reader(publisher: Publisher) -> None:
    everything = "/".join(StreamCatalog(SYMBOLS).names())  # all 52 streams
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel buffers little for it
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)  # and little for the server: loopback's
    sock.connect((publisher.settings.host, publisher.settings.market_port))  # 64 KB segments buffer MBs
    url = f"ws://{publisher.base}/stream?streams={everything}"
    async with connect(url, sock=sock, max_queue=1, ping_interval=None) as ws:  # it reads nothing, pongs too
        await until(lambda: publisher.counter("drops") == 1, "the slow reader dropped", limit_s=120)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # now it reads, and quickly
        code, reason, _ = await closed_with(ws)
    assert (code, reason) == (SLOW_CONSUMER_CODE, SLOW_CONSUMER_REASON)


def test_hostile_stream_clients_get_their_answers_and_leave_the_publisher_bounded(publisher: Publisher) -> None:
    started = publisher.process()
    served = len(SYMBOLS) * STREAMS_PER_SYMBOL

    async def scenario() -> None:
        trades: list[bytes] = []
        async with connect(f"ws://{publisher.base}/ws/btcusdt@trade") as calm:

            async def read() -> None:
                async for message in calm:
                    trades.append(message if isinstance(message, bytes) else message.encode())
                raise AssertionError("the calm client was closed")

            reader = asyncio.create_task(read())
            await oversized_names(publisher.base)
            await unique_names(publisher.base)
            await too_many_streams(publisher.base)
            await message_burst(publisher.base, publisher.settings.stream_messages_per_second)
            await slow_reader(publisher)
            seen = len(trades)
            await until(lambda: len(trades) > seen or reader.done(), "a trade for the calm client after it all")
            assert not reader.done(), reader.exception()
            reader.cancel()
        assert (await aget(publisher.base, "/api/v3/ping")) == (200, {})
        await until(lambda: publisher.counter("rate_closes") == 1, "the rate_closes counter")  # set every tick

    asyncio.run(scenario())
    assert (publisher.counter("stream_names"), publisher.counter("drops")) == (served, 1)
    assert publisher.process() == started  # the same process, never restarted
