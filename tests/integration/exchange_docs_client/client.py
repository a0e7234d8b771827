"""A Binance Spot WebSocket API client written only from Binance's public documentation.

It deliberately knows nothing of this repository (no ``hftpipe`` or
``stages`` import): plain ``websockets`` + ``hmac`` + ``hashlib``, request
envelopes, signatures, parameters and error codes as ``web-socket-api.md``,
``user-data-stream.md`` and ``errors.md`` describe them. If it works against
the exchange unchanged, so should any other client written from those docs.

One deviation it relies on, documented by the exchange: ``session.logon`` with
an HMAC key (Binance accepts only Ed25519 there; the same signing recipe).

Use: ``run_scenario(url, api_key, secret, symbol)`` runs logon, user data
subscription, place / query / cancel, and the three error checks (bad
signature -1022, stale timestamp -1021, unknown order -2011); it raises
``ScenarioError`` on any mismatch and returns a summary. Or from a shell:
``python client.py ws://127.0.0.1:9444/ws-api/v3 API_KEY SECRET BTCUSDT``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import secrets
import sys
import time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from websockets.sync.client import ClientConnection, connect

RECV_TIMEOUT_S = 10.0


class ScenarioError(AssertionError):
    """The exchange answered something the Binance docs say it should not."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ScenarioError(message)


def now_ms() -> int:
    return int(time.time() * 1000)


def sign(params: dict[str, Any], secret: str) -> dict[str, Any]:
    """Binance HMAC-SHA256: all params but signature, sorted by name, ``k=v`` joined by ``&``, hex digest."""
    payload = "&".join(f"{key}={value}" for key, value in sorted(params.items()) if key != "signature")
    signed = dict(params)
    signed["signature"] = hmac.new(secret.encode("ascii"), payload.encode("ascii"), hashlib.sha256).hexdigest()
    return signed


class DocsClient:
    """One WebSocket API connection: requests by id, user data events collected on the side."""

    def __init__(self, url: str, api_key: str, secret: str) -> None:
        self.url = url
        self.api_key = api_key
        self.secret = secret
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._stack = contextlib.ExitStack()
        self._ws: ClientConnection = self._stack.enter_context(connect(url, open_timeout=RECV_TIMEOUT_S))

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> DocsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self._ws.recv(timeout=RECV_TIMEOUT_S))
        return message

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request, return its response; events that arrive meanwhile are kept."""
        request_id = f"docs-{next(self._ids)}"
        message: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self._ws.send(json.dumps(message))
        while True:
            received = self._receive()
            if "event" in received:
                self.events.append(received["event"])
                continue
            if received.get("id") == request_id:
                return received

    def signed(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A SIGNED request authorised ad hoc: apiKey, timestamp and signature in its params."""
        full = dict(params or {})
        full.setdefault("apiKey", self.api_key)
        full.setdefault("timestamp", now_ms())
        return self.request(method, sign(full, self.secret))

    def in_session(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A SIGNED request on a logged-on session: only the timestamp is needed."""
        full = dict(params or {})
        full.setdefault("timestamp", now_ms())
        return self.request(method, full)

    def wait_event(self, predicate: Any, timeout_s: float = RECV_TIMEOUT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self.events:
                if predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            check(remaining > 0, "expected user data event did not arrive")
            received = json.loads(self._ws.recv(timeout=remaining))
            if "event" in received:
                self.events.append(received["event"])


def result_of(response: dict[str, Any], what: str) -> Any:
    check(response.get("status") == 200, f"{what}: expected status 200, got {response}")
    check("result" in response, f"{what}: no result in {response}")
    return response["result"]


def error_code(response: dict[str, Any]) -> int:
    check(response.get("status", 200) >= 400, f"expected an error, got {response}")
    code: int = response["error"]["code"]
    return code


# -------------------------------------------------------------------------------- the scenario steps


def logon(client: DocsClient) -> dict[str, Any]:
    status = result_of(client.signed("session.logon"), "session.logon")
    check(status["apiKey"] == client.api_key, f"session.logon: apiKey {status['apiKey']!r}")
    return dict(status)


def subscribe(client: DocsClient) -> None:
    result_of(client.request("userDataStream.subscribe"), "userDataStream.subscribe")
    status = result_of(client.request("session.status"), "session.status")
    check(status["userDataStream"] is True, f"session.status after subscribe: {status}")


def symbol_rules(client: DocsClient, symbol: str) -> dict[str, Decimal]:
    info = result_of(client.request("exchangeInfo", {"symbol": symbol}), "exchangeInfo")
    check([s["symbol"] for s in info["symbols"]] == [symbol], f"exchangeInfo symbols: {info['symbols']}")
    filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {"minNotional": "0"}
    return {
        "tick": Decimal(filters["PRICE_FILTER"]["tickSize"]),
        "min_price": Decimal(filters["PRICE_FILTER"]["minPrice"]),
        "step": Decimal(filters["LOT_SIZE"]["stepSize"]),
        "min_qty": Decimal(filters["LOT_SIZE"]["minQty"]),
        "min_notional": Decimal(notional["minNotional"]),
    }


def passive_buy(client: DocsClient, symbol: str, rules: dict[str, Decimal]) -> tuple[str, str]:
    """(price, quantity) of a BUY that rests: half the best bid (or ask), on the grid, above minNotional."""
    book = result_of(client.request("depth", {"symbol": symbol, "limit": 5}), "depth")
    top = book["bids"][:1] or book["asks"][:1]
    reference = Decimal(top[0][0]) / 2 if top else rules["tick"] * 1000
    tick, step = rules["tick"], rules["step"]
    price = max((reference / tick).to_integral_value(ROUND_FLOOR) * tick, rules["min_price"], tick)
    qty = (rules["min_notional"] * Decimal("1.1") / price / step).to_integral_value(ROUND_CEILING) * step
    qty = max(qty, rules["min_qty"], step)
    return format(price.normalize(), "f"), format(qty.normalize(), "f")


def run_scenario(url: str, api_key: str, secret: str, symbol: str) -> dict[str, Any]:
    """The whole documented round trip; returns what it saw."""
    with DocsClient(url, api_key, secret) as client:
        result_of(client.request("ping"), "ping")
        server_time = result_of(client.request("time"), "time")["serverTime"]
        check(abs(server_time - now_ms()) < 60_000, f"serverTime {server_time} is far from now")
        rules = symbol_rules(client, symbol)
        logon(client)
        subscribe(client)

        price, qty = passive_buy(client, symbol, rules)
        client_order_id = f"docs-{secrets.token_hex(8)}"
        placed = result_of(
            client.in_session(
                "order.place",
                {
                    "symbol": symbol,
                    "side": "BUY",
                    "type": "LIMIT",
                    "timeInForce": "GTC",
                    "price": price,
                    "quantity": qty,
                    "newClientOrderId": client_order_id,
                    "newOrderRespType": "RESULT",
                },
            ),
            "order.place",
        )
        check(placed["clientOrderId"] == client_order_id, f"order.place clientOrderId: {placed}")
        check(placed["status"] == "NEW", f"order.place status: {placed}")
        check(Decimal(placed["price"]) == Decimal(price), f"order.place price: {placed}")
        order_id = placed["orderId"]
        client.wait_event(lambda e: e.get("e") == "executionReport" and e.get("c") == client_order_id)

        status = result_of(
            client.in_session("order.status", {"symbol": symbol, "origClientOrderId": client_order_id}), "order.status"
        )
        check(status["orderId"] == order_id and status["status"] == "NEW", f"order.status: {status}")
        open_orders = result_of(client.in_session("openOrders.status", {"symbol": symbol}), "openOrders.status")
        check(order_id in [o["orderId"] for o in open_orders], f"openOrders.status lacks {order_id}: {open_orders}")
        account = result_of(client.in_session("account.status"), "account.status")
        check(isinstance(account["balances"], list) and bool(account["balances"]), f"account.status: {account}")

        canceled = result_of(client.in_session("order.cancel", {"symbol": symbol, "orderId": order_id}), "order.cancel")
        check(canceled["status"] == "CANCELED", f"order.cancel: {canceled}")
        check(canceled["origClientOrderId"] == client_order_id, f"order.cancel origClientOrderId: {canceled}")
        client.wait_event(
            lambda e: e.get("e") == "executionReport" and e.get("i") == order_id and e.get("x") == "CANCELED"
        )

        unknown = client.in_session("order.cancel", {"symbol": symbol, "orderId": order_id})
        check(error_code(unknown) == -2011, f"cancel of a canceled order: {unknown}")

        bad = dict(sign({"apiKey": api_key, "symbol": symbol, "timestamp": now_ms()}, secret))
        bad["signature"] = "0" * 64
        bad_signature = client.request("openOrders.status", bad)
        check(error_code(bad_signature) == -1022, f"bad signature: {bad_signature}")

        stale = client.signed("account.status", {"timestamp": now_ms() - 120_000, "recvWindow": 5000})
        check(error_code(stale) == -1021, f"stale timestamp: {stale}")

        logout = result_of(client.request("session.logout"), "session.logout")
        check(logout["apiKey"] is None, f"session.logout: {logout}")
        return {
            "order_id": order_id,
            "client_order_id": client_order_id,
            "price": price,
            "quantity": qty,
            "events": [e.get("e") for e in client.events],
            "errors": {"unknown_order": -2011, "bad_signature": -1022, "stale_timestamp": -1021},
        }


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(f"usage: {sys.argv[0]} URL API_KEY SECRET SYMBOL")
    print(json.dumps(run_scenario(*sys.argv[1:5]), indent=1))
