"""Hostile input against a real ``hftpipe exchange run``: the WebSocket API answers or closes, and survives.

Every frame of a bounded corpus (invalid UTF-8, non-JSON, wrong types, missing
fields, huge ints, deep nesting, an oversized frame, unknown methods, bad
signatures, non-ASCII) gets either Binance's error answer on a connection that
stays open, or a close with the code RFC 6455 gives it. Then a rate-limit flood
(no key, and a flow key without a signature) and a slow reader. After each:
the exchange answers a fresh connection, no stage restarted, and at the end
balances are exactly as they were (nothing hostile executed).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import pytest
from websockets.exceptions import ConnectionClosed

from stages.exchange.protocol.settings import ApiKeySettings, ExchangeSettings
from tests.integration.exchange.harness import RunningExchange
from tests.integration.exchange.trading import settings_of
from tests.integration.hostile.watch import RECV_TIMEOUT_S, ExchangeWatch, open_client, request
from tests.unit.exchange.gateway.client import signed

INVALID_UTF8: Final = 1007
"""RFC 6455: a text frame that is not UTF-8."""
TOO_BIG: Final = 1009
"""RFC 6455: a frame over the gateway's 1 MiB limit."""
DROPPED: Final = 1006
"""No close frame: a reader ``max_client_queue`` answers behind is cut off (its buffers are full)."""
LONG_WINDOW: Final = 60_000
"""recvWindow of the signed corpus frames: built once, they stay valid while the corpus runs."""


@dataclass(frozen=True)
class Case:
    name: str
    frame: str | bytes
    code: int | None = None
    """The Binance error code of the answer (None: a close is expected)."""
    request_id: Any = None
    status: int = 400
    close: int | None = None
    as_text: bool | None = None
    """Send bytes as a text frame (invalid UTF-8 on the wire)."""


def key_of(settings: ExchangeSettings, account: str) -> ApiKeySettings:
    return next(k for k in settings.api_keys if k.account == account and k.secret)


def frame(request_id: Any, method: str, params: dict[str, Any] | None = None) -> str:
    return json.dumps({"id": request_id, "method": method, "params": params or {}})


def corpus(settings: ExchangeSettings) -> list[Case]:
    demo = key_of(settings, "demo")

    def sign(**params: Any) -> dict[str, Any]:
        return signed({"recvWindow": LONG_WINDOW, **params}, demo.api_key, demo.secret)

    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "price": "50000"}
    placed = sign(**order, quantity="0.01")
    query = sign(symbol="BTCUSDT", orderId=1)
    huge = "123456789012345678901234567890"
    nested = "[" * 5000 + "]" * 5000
    return [
        Case("invalid UTF-8 in a text frame", b'{"id": 1, "method": "ping\xff"}', as_text=True, close=INVALID_UTF8),
        Case("invalid UTF-8 in a binary frame", b'{"id": 1, "method": "ping\xff"}', -1000),
        Case("not JSON", "{not json", -1000),
        Case("an empty frame", "", -1000),
        Case("a JSON array", "[1, 2]", -1000),
        Case("a bare integer beyond 64 bits", huge, -1000),
        Case("NaN where an integer goes", '{"id": 2, "method": "depth", "params": {"symbol": "BTCUSDT", "limit": NaN}}',
             -1100, 2),
        Case("method not a string", '{"id": 3, "method": 7}', -1000, 3),
        Case("params not an object", '{"id": 4, "method": "ping", "params": [1]}', -1000, 4),
        Case("no method", '{"id": 5}', -1000, 5),
        Case("an order whose id is beyond 64 bits", frame(0, "order.place", placed).replace('"id": 0', f'"id": {huge}'),
             -1000),
        Case("an id that is a fraction", '{"id": 1.5, "method": "ping"}', -1000),
        Case("an id of 37 characters", frame("x" * 37, "ping"), -1000),
        Case("a missing symbol", frame(6, "depth"), -1102, 6),
        Case("a symbol of the wrong type", frame(7, "depth", {"symbol": [1]}), -1102, 7),
        Case("an orderId of 2^63", frame(8, "order.status", sign(symbol="BTCUSDT", orderId=2**63)), -1100, 8),
        Case("a quantity beyond int64", frame(9, "order.place", sign(**order, quantity="9" * 20)), -1108, 9),
        Case("a timestamp of 5000 digits", frame(10, "order.status", sign(symbol="BTCUSDT", orderId=1,
                                                                              timestamp="9" * 5000)), -1102, 10),
        Case("a depth limit of 10^30", frame(11, "depth", {"symbol": "BTCUSDT", "limit": 10**30}), -1100, 11),
        Case("5,000 levels of nesting", '{"id": 12, "method": "ping", "params": {"a": ' + nested + "}}", -1000),
        Case("a symbols list nested 5,000 deep", frame(13, "exchangeInfo", {"symbols": nested}), -1100, 13),
        Case("a frame over 1 MiB", frame(14, "ping", {"pad": "x" * (1 << 20)}), close=TOO_BIG),
        Case("an unknown method", frame(15, "margin.borrow"), -1020, 15),
        Case("a non-ASCII method", frame(16, "pïng"), -1020, 16),
        Case("a method no answer can quote", '{"id": 17, "method": "order.\\ud800"}', -1000, 17, status=500),
        Case("a tampered signature", frame(18, "order.status", {**query, "orderId": 2}), -1022, 18),
        Case("a non-ASCII signature", frame(19, "order.status", {**query, "signature": "é" * 64}), -1022, 19),
        Case("a signature that is a number", frame(20, "order.status", {**query, "signature": 12345}), -1022, 20),
        Case("a parameter no client can sign", frame(21, "order.status", {**query, "symbol": "BTC\ud800"}), -1022, 21),
        Case("an unknown API key", frame(22, "order.status", {**query, "apiKey": "A" * 64}), -2015, 22, status=401),
        Case("a malformed API key", frame(23, "order.status", {**query, "apiKey": "not-a-key!"}), -2014, 23,
             status=401),
        Case("a non-ASCII symbol", frame(24, "depth", {"symbol": "ＢＴＣＵＳＤＴ"}), -1121, 24),
        Case("a non-ASCII client order id", frame(25, "order.place", sign(**order, quantity="0.01",
                                                                          newClientOrderId="ordér")), -1100, 25),
    ]


@pytest.fixture
def running(start_exchange: Callable[..., RunningExchange], pipeline_name: str) -> ExchangeWatch:
    exchange = start_exchange()
    return ExchangeWatch(settings_of(exchange.config), pipeline_name)


def test_should_answer_or_close_every_hostile_frame_and_stay_up(running: ExchangeWatch) -> None:
    settings = running.settings
    for case in corpus(settings):
        with open_client(settings) as ws:
            ws.send(case.frame, text=case.as_text)
            if case.close is not None:
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=RECV_TIMEOUT_S)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == case.close, case.name
            else:
                answer = json.loads(ws.recv(timeout=RECV_TIMEOUT_S))
                got = (answer["id"], answer["status"], answer["error"]["code"])
                assert got == (case.request_id, case.status, case.code), f"{case.name}: {answer}"
                assert request(ws, {"id": "open", "method": "ping"})["status"] == 200, case.name
        running.check_alive(case.name)
    demo = key_of(settings, "demo")
    with open_client(settings) as ws:
        resting = request(ws, {"id": 1, "method": "openOrders.status", "params": signed({}, demo.api_key, demo.secret)})
    assert resting["result"] == [], "a hostile order was executed"
    assert running.gateway_counters()["unanswerable"] == 1
    running.check_conserved()


def pipelined(ws: Any, frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send all, then read as many answers (the gateway answers a connection in order)."""
    for message in frames:
        ws.send(json.dumps(message))
    return [json.loads(ws.recv(timeout=RECV_TIMEOUT_S)) for _ in frames]


def test_should_not_exempt_an_unsigned_flow_key_from_a_locked_out_ip(running: ExchangeWatch) -> None:
    """Binance counts weight per IP per minute; whatever minutes the flood spans, the IP's answered
    weight stays within the limit for each (a minute boundary may reset the count, never exempt it)."""
    settings = running.settings
    flow = key_of(settings, "mm-1")
    limit = settings.rate_limits.request_weight_per_minute
    deep = {"symbol": "BTCUSDT", "limit": 5000}  # weight 250
    first_minute = time.time_ns() // 60_000_000_000
    with open_client(settings, "127.0.0.2") as ws:
        answered = 2  # the handshake
        floods = (
            [{"id": i, "method": "depth", "params": deep} for i in range(40)],
            [{"id": i, "method": "depth", "params": {**deep, "apiKey": flow.api_key}} for i in range(100)],
            [{"id": i, "method": "exchangeInfo", "params": {"apiKey": flow.api_key}} for i in range(200)],
        )
        refused = 0
        for flood in floods:
            for message, answer in zip(flood, pipelined(ws, flood), strict=True):
                if answer["status"] == 200:
                    answered += 250 if message["method"] == "depth" else 20
                else:
                    assert (answer["status"], answer["error"]["code"]) == (429, -1003), answer
                    refused += 1
        exempt = request(ws, {"id": "signed", "method": "depth", "params": signed(deep, flow.api_key, flow.secret)})
    minutes = time.time_ns() // 60_000_000_000 - first_minute + 1
    assert answered <= limit * minutes, f"{answered} weight answered in {minutes} minute(s): the limit was bypassed"
    assert refused, "the IP was never locked out"
    assert exempt["status"] == 200, "a signed flow key must stay exempt"
    running.check_alive("the flood")
    running.check_conserved()


def test_should_cut_off_a_slow_reader_and_keep_serving_the_others(running: ExchangeWatch) -> None:
    """8,000 answers of ~2.5 KB cannot all wait: ``max_client_queue`` (1,000) plus at most 4 MiB
    of kernel send buffer hold ~2,700, so the gateway drops the reader instead of buffering."""
    settings = running.settings
    flow = key_of(settings, "mm-1")  # logged on with an exempt key: the weight limit stays out of the way
    count = 8000
    with open_client(settings, "127.0.0.3", rcvbuf=4096) as ws:
        assert request(ws, {"id": "logon", "method": "session.logon",
                            "params": signed({}, flow.api_key, flow.secret)})["status"] == 200
        sent = 0
        try:
            for i in range(count):
                ws.send(frame(i, "exchangeInfo"))
                sent += 1
        except ConnectionClosed:
            pass
        received = 0
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(count):
                ws.recv(timeout=RECV_TIMEOUT_S)
                received += 1
    assert received < sent, "every answer arrived: the reader was never behind"
    assert closed.value.rcvd is None and ws.close_code == DROPPED
    running.check_alive("the slow reader")
    running.check_conserved()
