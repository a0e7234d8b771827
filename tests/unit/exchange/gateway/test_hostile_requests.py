"""What a hostile or broken client sends gets an answer, executes nothing it should not, and keeps the connection."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.unit.exchange.gateway.client import Client, limit, now_ms, signed
from tests.unit.exchange.gateway.harness import DEMO_KEY, DEMO_SECRET, MM_KEY, MM_SECRET, GatewayHarness, exchange_table

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def raw_request(request_id: str, method: str, params: dict[str, object] | None = None) -> str:
    """A request whose ``id`` is written as the JSON text ``request_id`` (ints beyond 64 bits included)."""
    body = json.dumps({"method": method, "params": params or {}})
    return '{"id": ' + request_id + ", " + body[1:]


@pytest.mark.parametrize("request_id", ["123456789012345678901234567890", str(INT64_MAX + 1), str(INT64_MIN - 1),
                                        "1.5", "1e3", "true", json.dumps("x" * 37), "[1]", "{}"])
def test_should_refuse_an_id_binance_does_not_allow_before_executing_anything(
    gateway: GatewayHarness, client: Client, request_id: str
) -> None:
    client.logon()
    order = limit("BUY", "50000", "0.01", timestamp=now_ms())
    refused = client.send_raw(raw_request(request_id, "order.place", order))
    assert (refused["id"], refused["status"], refused["error"]["code"]) == (None, 400, -1000)
    assert "'id'" in refused["error"]["msg"]
    assert not gateway.commands, "a request with an invalid id was executed"
    assert client.send_raw(raw_request(request_id, "ping"))["error"]["code"] == -1000
    assert client.call("ping")["status"] == 200


@pytest.mark.parametrize("request_id", [INT64_MAX, INT64_MIN, 0, "x" * 36, "", None])
def test_should_echo_every_id_binance_allows(client: Client, request_id: object) -> None:
    answer = client.send_raw(json.dumps({"id": request_id, "method": "ping"}))
    assert (answer["id"], answer["status"]) == (request_id, 200)


def test_should_answer_with_a_generic_error_when_an_answer_cannot_be_serialised(
    gateway: GatewayHarness, client: Client
) -> None:
    """The -1020 answer would quote a method name with a lone surrogate, which JSON output cannot carry."""
    answer = client.send_raw('{"id": 7, "method": "order.\\ud800"}')
    assert (answer["id"], answer["status"], answer["error"]["code"]) == (7, 500, -1000)
    assert client.call("ping")["status"] == 200
    assert gateway.gateway_ctx.counters.add("unanswerable").value == 1


@pytest.mark.parametrize("depth", [1_000, 5_000, 100_000])
def test_should_answer_deeply_nested_json_and_keep_the_connection(client: Client, depth: int) -> None:
    nested = client.send_raw('{"id": 1, "method": "ping", "params": {"a": ' + "[" * depth + "]" * depth + "}}")
    assert (nested["id"], nested["status"], nested["error"]["code"]) == (None, 400, -1000)
    assert "nested" in nested["error"]["msg"]
    listed = client.call("exchangeInfo", {"symbols": "[" * depth + "]" * depth})
    assert listed["error"]["code"] == -1100
    assert client.call("ping")["status"] == 200


def test_should_refuse_an_order_id_beyond_64_bits_as_illegal(client: Client) -> None:
    client.logon()
    for order_id in (INT64_MAX + 1, 2**64, 10**19 * 9):
        status = client.session("order.status", {"symbol": "BTCUSDT", "orderId": order_id})
        assert status["error"]["code"] == -1100, status
        cancel = client.session("order.cancel", {"symbol": "BTCUSDT", "orderId": str(order_id)})
        assert cancel["error"]["code"] == -1100, cancel


def test_should_refuse_a_non_ascii_signature_as_invalid(client: Client) -> None:
    request = signed({"symbol": "BTCUSDT"}, DEMO_KEY, DEMO_SECRET)
    for signature in ("é" * 64, "\u0661" * 64, "\ud800"):
        answer = client.call("openOrders.status", {**request, "signature": signature})
        assert answer["error"] == {"code": -1022, "msg": "Signature for this request is not valid."}
    unsignable = client.call("openOrders.status", {**request, "symbol": "BTC\ud800"})  # no UTF-8 payload
    assert unsignable["error"]["code"] == -1022


def test_should_exempt_a_flow_key_from_request_weight_only_once_it_is_authenticated(
    make: Callable[..., GatewayHarness], tmp_path: Path
) -> None:
    gateway = make(exchange=exchange_table(tmp_path / "limits", rate_limits={"request_weight_per_minute": 40}))
    with connect(gateway.url) as ws, connect(gateway.url) as flow_ws:
        client, flow = Client(ws), Client(flow_ws)
        assert client.call("exchangeInfo")["status"] == 200
        assert client.call("exchangeInfo")["error"]["code"] == -1003
        deep = {"symbol": "BTCUSDT", "limit": 5000}
        for method, params in (("exchangeInfo", {}), ("depth", deep)):
            unsigned = client.call(method, {**params, "apiKey": MM_KEY})
            assert (unsigned["status"], unsigned["error"]["code"]) == (429, -1003), unsigned
            forged = client.call(method, {**signed(params, MM_KEY, MM_SECRET), "signature": "0" * 64})
            assert (forged["status"], forged["error"]["code"]) == (429, -1003), forged
            stale = client.call(method, signed({**params, "timestamp": now_ms() - 60_000}, MM_KEY, MM_SECRET))
            assert (stale["status"], stale["error"]["code"]) == (429, -1003), stale
            assert client.call(method, signed(params, MM_KEY, MM_SECRET))["status"] == 200
        flow.logon(MM_KEY, MM_SECRET)
        assert flow.call("depth", deep)["status"] == 200
        client.logon(DEMO_KEY, DEMO_SECRET)
        assert client.call("depth", {**deep, "apiKey": MM_KEY})["error"]["code"] == -1003
