"""The flow's WebSocket API client: Binance's HMAC signing, reply correlation, reconnects."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable

import pytest
from websockets.asyncio.server import ServerConnection, serve

from hftpipe.protocols.binance_signing import hmac_signature, signature_payload
from stages.exchange.flow.client import ApiResponse, ConnectionLostError, WsApiClient, sign_params
from tests.unit.protocols.signing_example import (
    API_KEY,
    PARAMS,
    PAYLOAD,
    RECV_WINDOW_MS,
    SECRET,
    SIGNATURE,
    TIMESTAMP_MS,
)


def test_should_sign_binances_documented_hmac_example() -> None:
    signed = sign_params(PARAMS, API_KEY, SECRET, timestamp_ms=TIMESTAMP_MS, recv_window_ms=RECV_WINDOW_MS)
    assert signature_payload(signed) == PAYLOAD
    assert signed["signature"] == SIGNATURE
    assert {k: v for k, v in signed.items() if k in PARAMS} == PARAMS


def test_should_write_booleans_as_json_does_in_the_payload() -> None:
    assert signature_payload({"b": True, "a": False, "c": 5}) == "a=false&b=true&c=5"


def test_should_read_success_and_error_replies() -> None:
    assert ApiResponse.from_message({"id": 1, "status": 200, "result": {"x": 1}}) == ApiResponse(200, {"x": 1})
    error = ApiResponse.from_message(
        {"id": 1, "status": 400, "error": {"code": -2011, "msg": "Unknown order sent.", "data": {"a": 1}}}
    )
    assert (error.ok, error.code, error.msg, error.data) == (False, -2011, "Unknown order sent.", {"a": 1})
    with pytest.raises(ValueError, match="status"):
        ApiResponse.from_message({"id": 1})


Handler = Callable[[ServerConnection], Awaitable[None]]


async def _with_server(handler: Handler, body: Callable[[int], Awaitable[None]], port: int = 0) -> None:
    async with serve(handler, "127.0.0.1", port) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        await body(bound)


async def _run_client(client: WsApiClient) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stopping = asyncio.Event()
    task = asyncio.create_task(client.run(stopping))
    await asyncio.wait_for(client.wait_connected(), 10)
    return stopping, task


async def _stop(stopping: asyncio.Event, task: asyncio.Task[None]) -> None:
    stopping.set()
    await asyncio.wait_for(task, 10)


def test_should_sign_requests_and_match_replies_by_id_out_of_order() -> None:
    seen: list[dict[str, object]] = []

    async def handler(ws: ServerConnection) -> None:
        first = json.loads(await ws.recv())
        second = json.loads(await ws.recv())
        seen.extend([first, second])
        for message in (second, first):  # answer in reverse order
            await ws.send(json.dumps({"id": message["id"], "status": 200, "result": {"echo": message["method"]}}))
        await ws.wait_closed()

    async def body(port: int) -> None:
        client = WsApiClient(f"ws://127.0.0.1:{port}/ws-api/v3", "key12345", "secret", clock_ms=lambda: 1000)
        stopping, task = await _run_client(client)
        a, b = await asyncio.gather(client.request("a.method", {"x": "1"}), client.request("b.method", signed=False))
        assert (a.result, b.result) == ({"echo": "a.method"}, {"echo": "b.method"})
        await _stop(stopping, task)

    asyncio.run(_with_server(handler, body))
    signed = next(m for m in seen if m["method"] == "a.method")["params"]
    assert isinstance(signed, dict)
    assert signed["apiKey"] == "key12345" and signed["timestamp"] == 1000 and signed["recvWindow"] == 5000
    assert signed["signature"] == hmac_signature("secret", signature_payload(signed))
    assert next(m for m in seen if m["method"] == "b.method")["params"] == {}


def test_should_fail_pending_requests_and_reconnect_when_the_connection_drops() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        message = json.loads(await ws.recv())
        if connections == 1:
            await ws.close()  # drop the first connection with a request pending
            return
        await ws.send(json.dumps({"id": message["id"], "status": 200, "result": {}}))
        await ws.wait_closed()

    async def body(port: int) -> None:
        client = WsApiClient(f"ws://127.0.0.1:{port}/ws-api/v3", "k", "s", backoff_min_s=0.01, backoff_max_s=0.05)
        stopping, task = await _run_client(client)
        with pytest.raises(ConnectionLostError):
            await client.request("ping")
        while client.session < 2 or not client.connected:
            await asyncio.sleep(0.01)
        assert (await client.request("ping")).ok
        assert client.stats.disconnects == 1 and client.stats.connects == 2
        await _stop(stopping, task)

    asyncio.run(_with_server(handler, body))


def test_should_raise_connection_lost_when_not_connected() -> None:
    async def body() -> None:
        with pytest.raises(ConnectionLostError, match="not connected"):
            await WsApiClient("ws://127.0.0.1:1/ws-api/v3").request("ping")

    asyncio.run(body())


def test_should_keep_trying_until_the_server_comes_up() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            await ws.send(json.dumps({"id": json.loads(raw)["id"], "status": 200, "result": {}}))

    async def body() -> None:
        client = WsApiClient(f"ws://127.0.0.1:{port}/ws-api/v3", "k", "s", backoff_min_s=0.01, backoff_max_s=0.05)
        stopping = asyncio.Event()
        task = asyncio.create_task(client.run(stopping))
        while client.stats.connect_failures < 2:
            await asyncio.sleep(0.01)
        async with serve(handler, "127.0.0.1", port):
            await asyncio.wait_for(client.wait_connected(), 10)
            assert (await client.request("ping")).ok
            await _stop(stopping, task)

    asyncio.run(body())


def test_should_time_out_a_request_without_reply_and_stay_connected() -> None:
    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message["method"] != "silent":
                await ws.send(json.dumps({"id": message["id"], "status": 200, "result": {}}))

    async def body(port: int) -> None:
        client = WsApiClient(f"ws://127.0.0.1:{port}/ws-api/v3", "k", "s", request_timeout_s=0.05)
        stopping, task = await _run_client(client)
        with pytest.raises(TimeoutError):
            await client.request("silent")
        client.request_timeout_s = 10.0
        assert (await client.request("ping")).ok and client.session == 1
        await _stop(stopping, task)

    asyncio.run(_with_server(handler, body))
