"""Binance's REST API on the rest port: every REST path a client needs, from one base URL.

python-binance, ccxt and the official SDK take one REST base URL for public and
signed calls (Binance serves both from ``api.binance.com``), so the gateway
serves all of it on ``rest_port``:

* signed paths (:data:`SIGNED_ROUTES`) and the USER_STREAM listenKey paths
  (:data:`KEY_ROUTES`, the API key alone) run the WebSocket API's own methods
  (:meth:`GatewayApi.dispatch <stages.exchange.gateway.api.GatewayApi.dispatch>`):
  the same parameter checks, key permissions, weights, order counts, accounting
  commands and answer JSON. REST differs only in transport: the key comes in
  ``X-MBX-APIKEY``, parameters from the query string and the form body, and the
  signature covers ``query string + body`` exactly as sent (Binance's
  ``totalParams``, ``signature`` left out);
* public market-data paths are forwarded over loopback to the publisher's
  read-only REST at ``host:market_port`` (one implementation of each; the
  publisher never sees a key or an account), after their weight is counted
  here; with ``market_port = 0`` the gateway cannot know where that is, and
  public paths answer 503;
* ``/sapi/v1/system/status``, ``/sapi/v1/capital/config/getall``,
  ``/sapi/v1/margin/allPairs`` and ``/sapi/v1/margin/isolated/allPairs``: what
  ccxt's ``load_markets`` asks once a key is set, answered for a spot-only venue
  (no deposits, withdrawals or margin: both pair lists are empty).

Answers: the result with 200, or Binance's ``{"code", "msg"}`` with the error's
HTTP status (400 bad request, 401 key refused, 404 no such path, 405 wrong
method, 429 over a limit with ``Retry-After``, 503 unknown outcome, 500 unknown
error). Every answer to a counted request carries ``X-MBX-USED-WEIGHT-1M``;
one that counted an order also ``X-MBX-ORDER-COUNT-10S`` and ``-1D``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final
from urllib.parse import parse_qsl

import h11
import orjson

from hftpipe.schema.exchange_errors import DUPLICATE_PARAMETER, UNKNOWN_ERROR
from stages.exchange.gateway.api import GatewayApi, now_ms
from stages.exchange.gateway.market_forward import FORWARD_TIMEOUT_S, forward_get
from stages.exchange.gateway.requests import depth_limit, depth_weight, present
from stages.exchange.gateway.session import Session
from stages.exchange.protocol.api_error import ApiError
from stages.exchange.protocol.http_server import HttpRequest, HttpResponse

SIGNED_ROUTES: Final[dict[str, dict[str, str]]] = {
    "/api/v3/order": {"POST": "order.place", "GET": "order.status", "DELETE": "order.cancel"},
    "/api/v3/order/test": {"POST": "order.test"},
    "/api/v3/order/cancelReplace": {"POST": "order.cancelReplace"},
    "/api/v3/openOrders": {"GET": "openOrders.status", "DELETE": "openOrders.cancelAll"},
    "/api/v3/allOrders": {"GET": "allOrders"},
    "/api/v3/myTrades": {"GET": "myTrades"},
    "/api/v3/account": {"GET": "account.status"},
    "/api/v3/rateLimit/order": {"GET": "account.rateLimits.orders"},
    "/sapi/v1/capital/config/getall": {"GET": "account.status"},
    "/sapi/v1/margin/allPairs": {"GET": "account.status"},
    "/sapi/v1/margin/isolated/allPairs": {"GET": "account.status"},
}
"""Path -> HTTP method -> the WebSocket API method that answers it. The ``sapi`` paths
authenticate and read the account like ``GET /api/v3/account`` and reshape its answer."""
KEY_ROUTES: Final[dict[str, dict[str, str]]] = {
    "/api/v3/userDataStream": {
        "POST": "userDataStream.start",
        "PUT": "userDataStream.ping",
        "DELETE": "userDataStream.stop",
    },
}
"""USER_STREAM paths: ``X-MBX-APIKEY`` alone, no signature (Binance); the same dispatch as the signed ones."""
NO_MARGIN_PAIRS: Final = frozenset({"/sapi/v1/margin/allPairs", "/sapi/v1/margin/isolated/allPairs"})
"""Spot only: no cross or isolated margin pairs (an empty list, as Binance answers without any)."""
PUBLIC_WEIGHTS: Final[dict[str, int]] = {
    "/api/v3/ping": 1,
    "/api/v3/time": 1,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/depth": 5,
    "/api/v3/trades": 25,
    "/api/v3/historicalTrades": 25,
    "/api/v3/aggTrades": 4,
    "/api/v3/klines": 2,
    "/api/v3/uiKlines": 2,
    "/api/v3/avgPrice": 2,
    "/api/v3/ticker/24hr": 80,
    "/api/v3/ticker/price": 4,
    "/api/v3/ticker/bookTicker": 4,
}
"""The public paths (served by the publisher) and Binance's weight of each (for every symbol where
that differs: one symbol weighs :data:`ONE_SYMBOL_WEIGHTS`; depth goes by its limit)."""
ONE_SYMBOL_WEIGHTS: Final[dict[str, int]] = {
    "/api/v3/ticker/24hr": 2,
    "/api/v3/ticker/price": 2,
    "/api/v3/ticker/bookTicker": 2,
}
SYSTEM_STATUS: Final = "/sapi/v1/system/status"
NO_KEY: Final = "-"
"""What a request without ``X-MBX-APIKEY`` is checked with: no key has that format (-2014, 401)."""
READ_METHODS: Final = ("GET", "HEAD")
_HEADER_UNITS: Final = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}


def request_params(request: HttpRequest) -> dict[str, str]:
    """Query string and form body together, each name once (Binance: -1101 for a repeat)."""
    params: dict[str, str] = {}
    for text in (request.query, request.body.decode("utf-8", "replace")):
        for name, value in parse_qsl(text, keep_blank_values=True):
            if name in params:
                raise ApiError.of(DUPLICATE_PARAMETER)
            params[name] = value
    return params


def signed_text(text: str) -> str:
    """A query string or body as its signature covers it: as sent, less its ``signature=`` part."""
    return "&".join(part for part in text.split("&") if not part.startswith("signature="))


def rate_limit_headers(limits: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    """``rateLimits`` entries as Binance's REST headers (``X-MBX-USED-WEIGHT-1M``, ``X-MBX-ORDER-COUNT-10S``;
    the minute's weight also as the unsuffixed ``X-MBX-USED-WEIGHT`` Binance still sends and older clients read)."""
    headers = []
    for limit in limits:
        window = f"{limit['intervalNum']}{_HEADER_UNITS.get(limit['interval'], '')}"
        kind = "USED-WEIGHT" if limit["rateLimitType"] == "REQUEST_WEIGHT" else "ORDER-COUNT"
        headers.append((f"X-MBX-{kind}-{window}", str(limit["count"])))
        if kind == "USED-WEIGHT" and window == "1M":
            headers.append(("X-MBX-USED-WEIGHT", str(limit["count"])))
    return tuple(headers)


def _error_headers(error: dict[str, Any], status: int) -> tuple[tuple[str, str], ...]:
    data = error.get("data")
    if status == 429 and isinstance(data, dict) and "retryAfter" in data:
        return (("Retry-After", str(max(1, -(-(int(data["retryAfter"]) - now_ms()) // 1000)))),)
    return ()


def capital_config(account: dict[str, Any]) -> list[dict[str, Any]]:
    """``/sapi/v1/capital/config/getall`` for a spot-only venue: each asset with its balance, no networks."""
    return [
        {
            "coin": balance["asset"],
            "name": balance["asset"],
            "free": balance["free"],
            "locked": balance["locked"],
            "depositAllEnable": False,
            "withdrawAllEnable": False,
            "trading": True,
            "isLegalMoney": False,
            "freeze": "0",
            "withdrawing": "0",
            "ipoing": "0",
            "ipoable": "0",
            "storage": "0",
            "networkList": [],
        }
        for balance in account["balances"]
    ]


class RestApi:
    """The gateway's HTTP handler (:data:`~stages.exchange.protocol.http_server.HttpHandler`)."""

    def __init__(self, api: GatewayApi, market_host: str, market_port: int) -> None:
        self.api = api
        self.market_host = market_host
        self.market_port = market_port
        self.requests = 0

    async def serve(self, request: HttpRequest) -> HttpResponse:
        self.requests += 1
        path, method = request.path, request.method
        routes = SIGNED_ROUTES.get(path) or KEY_ROUTES.get(path)
        if routes is not None:
            name = routes.get(method)
            if name is None:
                return self._refused(ApiError.wrong_method(method, path, tuple(routes)), ", ".join(routes))
            return await self._dispatched(request, name)
        if path in PUBLIC_WEIGHTS or path == SYSTEM_STATUS:
            if method not in READ_METHODS:
                return self._refused(ApiError.wrong_method(method, path, READ_METHODS), ", ".join(READ_METHODS))
            if path == SYSTEM_STATUS:
                return HttpResponse.json(200, {"status": 0, "msg": "normal"})
            return await self._public(request)
        return self._refused(ApiError.no_endpoint(method, path))

    def _refused(self, error: ApiError, allow: str = "") -> HttpResponse:
        self.api.counters.errors.add()
        return HttpResponse.error(error, (("Allow", allow),) if allow else ())

    # -- signed and key-only -----------------------------------------------------------------------
    async def _dispatched(self, request: HttpRequest, method: str) -> HttpResponse:
        api = self.api
        api.counters.requests.add()
        try:
            params: dict[str, Any] = request_params(request)
        except ApiError as error:
            api.counters.errors.add()
            return HttpResponse.error(error)
        # REST takes the key from its header only; none at all is Binance's -2014 (401), as a malformed one
        params["apiKey"] = request.headers.get("x-mbx-apikey") or NO_KEY
        payload = signed_text(request.query) + signed_text(request.body.decode("utf-8", "replace"))
        session = Session(ip=request.peer, connected_since_ms=now_ms(), max_queue=4)
        api.dispatch(session, 1, method, params, time.monotonic_ns(), payload)
        try:
            text = await asyncio.wait_for(session.next_text(), api.request_timeout_s + 5.0)
        finally:
            session.close()
        if text is None:  # cannot happen: dispatch always answers
            return HttpResponse.error(ApiError.of(UNKNOWN_ERROR, status=500))
        answer = orjson.loads(text)
        headers = rate_limit_headers(answer.get("rateLimits", []))
        if "error" in answer:
            status = int(answer["status"])
            return HttpResponse.json(status, answer["error"], headers + _error_headers(answer["error"], status))
        result = answer["result"]
        if request.path == "/sapi/v1/capital/config/getall":
            result = capital_config(result)
        elif request.path in NO_MARGIN_PAIRS:
            result = []
        return HttpResponse.json(200, result, headers)

    # -- public ------------------------------------------------------------------------------------
    def _public_weight(self, path: str, query: str) -> int:
        params = dict(parse_qsl(query, keep_blank_values=True))
        if path == "/api/v3/depth":
            try:
                return depth_weight(depth_limit(params))
            except ApiError:
                return PUBLIC_WEIGHTS[path]
        if path in ONE_SYMBOL_WEIGHTS and present(params, "symbol"):
            return ONE_SYMBOL_WEIGHTS[path]
        return PUBLIC_WEIGHTS[path]

    async def _public(self, request: HttpRequest) -> HttpResponse:
        api, now = self.api, now_ms()
        try:
            api.limiter.add_weight(request.peer, self._public_weight(request.path, request.query), now)
        except ApiError as error:
            api.counters.errors.add()
            api.counters.rate_limited.add()
            headers = rate_limit_headers(api.limiter.status(request.peer, now))
            error_object = error.error_object()
            return HttpResponse.json(error.status, error_object, headers + _error_headers(error_object, error.status))
        headers = rate_limit_headers(api.limiter.status(request.peer, now))
        try:
            status, body = await asyncio.wait_for(
                forward_get(self.market_host, self.market_port, request.target), FORWARD_TIMEOUT_S
            )
        except (OSError, TimeoutError, h11.ProtocolError):
            api.counters.errors.add()
            return HttpResponse.error(ApiError.of(UNKNOWN_ERROR, status=503), headers)
        return HttpResponse(status, body, headers)
