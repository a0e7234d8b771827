"""The market port speaks HTTP/1.1 (h11): every method, bodies, keep-alive, JSON errors; streams beside it."""

from __future__ import annotations

import asyncio
import http.client
from typing import Any

import orjson
from websockets.asyncio.client import connect

from tests.unit.exchange.publisher.support import Harness, exchange_table, publisher, running


def run(h: Harness, scenario: Any) -> None:
    async def main() -> None:
        async with running(h):
            await scenario(h)

    asyncio.run(main())


def _exchange(base: str, requests: list[tuple[str, str, bytes | None]]) -> list[tuple[int, dict[str, str], Any]]:
    """The requests, in order, on ONE keep-alive connection: (status, headers, parsed body or raw bytes)."""
    host, port = base.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    answers = []
    try:
        for method, target, body in requests:
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            parsed = orjson.loads(raw) if raw else raw
            answers.append((response.status, {k.lower(): v for k, v in response.getheaders()}, parsed))
    finally:
        connection.close()
    return answers


def test_methods_bodies_and_keep_alive_get_real_http_answers(pipeline_name: str, tmp_path: Any) -> None:
    async def scenario(h: Harness) -> None:
        answers = await asyncio.to_thread(
            _exchange,
            h.base,
            [
                ("GET", "/api/v3/ping", None),
                ("POST", "/api/v3/depth", b"symbol=BTCUSDT&limit=5"),
                ("DELETE", "/api/v3/order?symbol=BTCUSDT&orderId=1", None),
                ("POST", "/api/v3/order", b"symbol=BTCUSDT&side=BUY"),
                ("PUT", "/nowhere", b"x" * 1000),
                ("HEAD", "/api/v3/time", None),
                ("GET", "/api/v3/depth?symbol=BTCUSDT&limit=5", None),
            ],
        )
        statuses = [status for status, _, _ in answers]
        assert statuses == [200, 405, 404, 404, 404, 200, 200]
        assert answers[0][2] == {}
        assert answers[1][2] == {"code": -1, "msg": "Method POST not allowed for /api/v3/depth: use GET, HEAD"}
        assert answers[1][1]["allow"] == "GET, HEAD"
        assert answers[1][1]["content-type"] == "application/json;charset=UTF-8"
        assert answers[2][2] == {"code": -1, "msg": "No such endpoint: DELETE /api/v3/order"}  # no account data here
        assert answers[5][2] == b"" and int(answers[5][1]["content-length"]) > 0
        assert set(answers[6][2]) == {"lastUpdateId", "bids", "asks"}
        # streams on the same port, beside HTTP
        async with connect(f"ws://{h.base}/ws/btcusdt@trade") as ws:
            await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 9}).decode())
            assert orjson.loads(await ws.recv()) == {"result": ["btcusdt@trade"], "id": 9}

    with publisher(pipeline_name, exchange_table(tmp_path)) as h:
        run(h, scenario)


def test_a_request_h11_refuses_gets_400_and_the_connection_closes(pipeline_name: str, tmp_path: Any) -> None:
    async def scenario(h: Harness) -> None:
        host, port = h.base.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /api/v3/ping HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 30)  # read to EOF: the server closed
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 ")
        assert orjson.loads(body)["code"] == -1
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /api/v3/ping HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"a" * 100_000)
        answer = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 413 ")

    with publisher(pipeline_name, exchange_table(tmp_path)) as h:
        run(h, scenario)
