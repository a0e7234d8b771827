"""A scripted Binance WebSocket API for the venue client's tests: a real websockets server on a free port.

It checks what the client signs (Ed25519 logons against the public key, HMAC
requests against the secret), answers ``time`` with its own clock, records
every request, answers each method as a test scripts it (or not at all), and
pushes user data events to any of its connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from websockets.asyncio.server import ServerConnection, serve

from hftpipe.protocols.binance_signing import hmac_signature, signature_payload, verify_ed25519

Answer = Callable[[dict[str, Any]], dict[str, Any] | None]
"""params -> ``{"status": ..., "result" | "error": ...}``; None: no answer at all."""

RATE_LIMITS = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000, "count": 7}]


def ok(result: Any) -> dict[str, Any]:
    return {"status": 200, "result": result}


def error(code: int, msg: str, status: int = 400, data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if data is not None:
        body["data"] = data
    return {"status": status, "error": body}


@dataclass
class FakeVenue:
    server_time_ms: Callable[[], int]
    public_key: Ed25519PublicKey | None = None
    hmac_secret: str | None = None
    answers: dict[str, Answer] = field(default_factory=dict)
    received: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    """(connection number, request) in arrival order."""
    connections: list[ServerConnection] = field(default_factory=list)
    subscriptions: int = 0
    url: str = ""

    def methods(self, connection: int | None = None) -> list[str]:
        return [m["method"] for n, m in self.received if connection is None or n == connection]

    def params_of(self, method: str) -> list[dict[str, Any]]:
        return [m.get("params", {}) for _, m in self.received if m["method"] == method]

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        if method in self.answers:
            return self.answers[method](params)
        if method == "time":
            return ok({"serverTime": self.server_time_ms()})
        if method == "session.logon":
            return self._logon(params)
        if method in ("userDataStream.subscribe", "userDataStream.subscribe.signature"):
            self.subscriptions += 1
            return ok({"subscriptionId": self.subscriptions - 1})
        return ok({})

    def _logon(self, params: dict[str, Any]) -> dict[str, Any]:
        if abs(self.server_time_ms() - params["timestamp"]) > params.get("recvWindow", 5000):
            return error(-1021, "Timestamp for this request is outside of the recvWindow.")
        signature = params.get("signature", "")
        payload = signature_payload(params)
        if self.public_key is not None and verify_ed25519(self.public_key, payload, signature):
            return ok({"apiKey": params["apiKey"], "authorizedSince": params["timestamp"]})
        if self.hmac_secret is not None and hmac_signature(self.hmac_secret, payload) == signature:
            return ok({"apiKey": params["apiKey"]})
        return error(-1022, "Signature for this request is not valid.", 401)

    async def _serve(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        number = len(self.connections) - 1
        async for raw in ws:
            message = orjson.loads(raw)
            self.received.append((number, message))
            reply = self.answer(message["method"], message.get("params", {}))
            if reply is not None:
                await ws.send(orjson.dumps({"id": message["id"], **reply, "rateLimits": RATE_LIMITS}).decode())

    async def push(self, event: dict[str, Any], connection: int = -1) -> None:
        """A user data event, as the WebSocket API sends one, on one of the connections (the last by default)."""
        await self.connections[connection].send(orjson.dumps({"subscriptionId": 0, "event": event}).decode())

    async def reply_late(self, request_id: int, reply: dict[str, Any], connection: int = -1) -> None:
        await self.connections[connection].send(orjson.dumps({"id": request_id, **reply}).decode())


@asynccontextmanager
async def running(venue: FakeVenue) -> AsyncIterator[FakeVenue]:
    async with serve(venue._serve, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        venue.url = f"ws://127.0.0.1:{port}/ws-api/v3"
        yield venue


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
