"""A bare synchronous client of the gateway's WebSocket API, and the helpers its tests sign and order with."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from websockets.sync.client import ClientConnection

from tests.unit.exchange.gateway.harness import DEMO_KEY, DEMO_SECRET


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def signed(params: dict[str, Any], key: str, secret: str) -> dict[str, Any]:
    full = {"apiKey": key, "timestamp": now_ms(), **params}
    payload = "&".join(f"{k}={v}" for k, v in sorted(full.items()))
    full["signature"] = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return full


class Client:
    """A bare client: requests by id, user data events kept aside."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def send_raw(self, text: str) -> dict[str, Any]:
        self.ws.send(text)
        return self._next_response()

    def _next_response(self) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(self.ws.recv(timeout=10))
            if "event" in message:
                self.events.append(message)
            else:
                return message

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        request_id = next(self._ids)
        message: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        response = self.send_raw(json.dumps(message))
        assert response["id"] == request_id, response
        return response

    def session(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call(method, {"timestamp": now_ms(), **(params or {})})

    def logon(self, key: str = DEMO_KEY, secret: str = DEMO_SECRET) -> dict[str, Any]:
        return self.call("session.logon", signed({}, key, secret))

    def wait_events(self, count: int, predicate: Callable[[dict[str, Any]], bool] = lambda e: True) -> list[Any]:
        while len([e for e in self.events if predicate(e["event"])]) < count:
            message = json.loads(self.ws.recv(timeout=10))
            assert "event" in message, message
            self.events.append(message)
        return [e["event"] for e in self.events if predicate(e["event"])]


def limit(side: str, price: str, qty: str, **extra: Any) -> dict[str, Any]:
    order = {"symbol": "BTCUSDT", "side": side, "type": "LIMIT", "timeInForce": "GTC", "price": price}
    return {**order, "quantity": qty, **extra}
