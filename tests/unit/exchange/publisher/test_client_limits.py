"""What one market-data client can make the publisher hold or do: bounded, whatever it sends.

The publisher stage in-process with real WebSocket clients on loopback. A burst
is many times the limit, so it is over the limit however slowly the loop runs;
every wait is for a condition.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from stages.exchange.publisher.message_rate import TOO_MANY_MESSAGES_CODE, too_many_messages_reason
from stages.exchange.publisher.streams import STREAMS_PER_SYMBOL
from tests.unit.exchange.publisher.support import Harness, exchange_table, publisher, refused, running, until

LIST = '{"method": "LIST_SUBSCRIPTIONS", "id": 1}'


def run(h: Harness, scenario: Any) -> None:
    async def main() -> None:
        async with running(h):
            await scenario(h)

    asyncio.run(main())


@pytest.mark.parametrize("per_second", [1, 5])
def test_a_client_sending_more_than_its_rate_is_closed_and_counted(
    pipeline_name: str, tmp_path: Path, per_second: int
) -> None:
    table = exchange_table(tmp_path, stream_messages_per_second=per_second)

    async def scenario(h: Harness) -> None:
        async with (
            connect(f"ws://{h.base}/ws/btcusdt@trade") as calm,
            connect(f"ws://{h.base}/ws/btcusdt@trade") as noisy,
        ):
            for _ in range(10 * per_second):  # a burst: 10 seconds' worth
                await noisy.send(LIST)
            replies = 0
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    assert orjson.loads(await noisy.recv()) == {"result": ["btcusdt@trade"], "id": 1}
                    replies += 1
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                TOO_MANY_MESSAGES_CODE,
                too_many_messages_reason(per_second),
            )
            assert replies <= per_second
            assert len(h.stage.hub.subscribers("btcusdt@trade")) == 1  # nothing more is queued for it
            rate_closes = h.ctx.counters.add("rate_closes")
            await until(lambda: rate_closes.value == 1, "the rate_closes counter")  # set every tick
            await calm.send(LIST)  # the others are served as before
            assert orjson.loads(await calm.recv()) == {"result": ["btcusdt@trade"], "id": 1}
            await until(lambda: len(h.stage.server.sessions) == 1, "the noisy session gone")
            assert h.stage.server.dropped_clients == 0  # not a slow consumer

    with publisher(pipeline_name, table) as h:
        run(h, scenario)


def test_stream_names_from_handshakes_and_subscribes_are_bounded_and_never_remembered(
    pipeline_name: str, tmp_path: Path
) -> None:
    async def scenario(h: Harness) -> None:
        body = await refused(h.base, "/stream?streams=" + "/".join(f"s{i}" for i in range(1025)))
        assert body == {"code": 2, "msg": "Invalid request: too many streams (at most 1024)"}
        paths = ("/ws/" + "a" * 5000, "/ws/" + "/".join(f"u{i}" for i in range(1000)), "/stream?streams=v1@x")
        for path in paths:  # accepted and silent, as on Binance: counted, never remembered
            async with connect(f"ws://{h.base}{path}") as ws:
                await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}).decode())
                assert orjson.loads(await ws.recv()) == {"result": [], "id": 1}
        assert h.stage.server.unserved_names == 1 + 1000 + 1
        for connection in range(10):  # 5 messages each (the limit): 50 x 1000 unique names
            async with connect(f"ws://{h.base}/ws") as ws:
                for message in range(5):
                    names = [f"{connection}-{message}-{i}@trade" for i in range(1000)]
                    await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": names, "id": message}).decode())
                    assert orjson.loads(await ws.recv())["error"]["msg"] == "Invalid request: invalid stream"
        assert len(h.stage.server.catalog) == 2 * STREAMS_PER_SYMBOL
        counter = h.ctx.counters.add("stream_names")
        await until(lambda: counter.value == 2 * STREAMS_PER_SYMBOL, "the stream_names counter")
        assert h.stage.server.rate_closes == 0

    with publisher(pipeline_name, exchange_table(tmp_path)) as h:
        run(h, scenario)
