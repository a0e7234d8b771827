"""listenKey user data streams on a real GatewayStage (the test plays accounting): the WebSocket API's
``userDataStream.start`` / ``.ping`` / ``.stop`` and the ``/ws/<listenKey>`` stream on the REST port."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.sync.client import ClientConnection, connect, unix_connect

from tests.unit.exchange.gateway.client import Client, limit, signed
from tests.unit.exchange.gateway.harness import DEMO_KEY, DEMO_SECRET, MM_KEY, GatewayHarness


def admin(gateway: GatewayHarness, method: str, **params: Any) -> dict[str, Any]:
    with unix_connect(str(gateway.settings.admin_socket)) as ws:
        ws.send(json.dumps({"id": 1, "method": method, "params": params}))
        reply: dict[str, Any] = json.loads(ws.recv(timeout=10))
        return reply


def stream_url(gateway: GatewayHarness, key: str) -> str:
    return f"ws://127.0.0.1:{gateway.stage.rest_port}/ws/{key}"


def next_event(stream: ClientConnection) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(stream.recv(timeout=30))
    return event


def refused_handshake(url: str) -> tuple[int, Any]:
    with pytest.raises(InvalidStatus) as raised, connect(url):
        pass
    response = raised.value.response
    return response.status_code, json.loads(response.body or b"null")


def test_should_stream_a_listen_keys_events_bare_until_it_is_stopped(gateway: GatewayHarness, client: Client) -> None:
    started = client.call("userDataStream.start", {"apiKey": DEMO_KEY})
    key = started["result"]["listenKey"]
    assert started["status"] == 200 and len(key) == 60
    weight = next(r for r in started["rateLimits"] if r["rateLimitType"] == "REQUEST_WEIGHT")
    assert weight["count"] >= 2
    assert client.call("userDataStream.start", {"apiKey": DEMO_KEY})["result"] == {"listenKey": key}
    with connect(stream_url(gateway, key)) as stream:
        placed = client.call("order.place", signed(limit("BUY", "50000", "0.01"), DEMO_KEY, DEMO_SECRET))
        order_id = placed["result"]["orderId"]
        report = next_event(stream)  # the event itself: no subscriptionId envelope on a listenKey stream
        assert (report["e"], report["x"], report["X"], report["i"]) == ("executionReport", "NEW", "NEW", order_id)
        position = next_event(stream)
        assert position["e"] == "outboundAccountPosition" and {b["a"] for b in position["B"]} == {"USDT"}
        assert admin(gateway, "deposit", account="demo", asset="USDT", amount="5")["status"] == 200
        update = next_event(stream)
        assert (update["e"], update["a"], update["d"]) == ("balanceUpdate", "USDT", "5.00000000")
        assert next_event(stream)["e"] == "outboundAccountPosition"
        kept = client.call("userDataStream.ping", {"apiKey": DEMO_KEY, "listenKey": key})
        assert (kept["status"], kept["result"]) == (200, {})
        assert client.call("userDataStream.stop", {"apiKey": DEMO_KEY, "listenKey": key})["result"] == {}
        with pytest.raises(ConnectionClosedOK) as closed:
            next_event(stream)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    gone = client.call("userDataStream.ping", {"apiKey": DEMO_KEY, "listenKey": key})
    assert (gone["status"], gone["error"]) == (400, {"code": -1125, "msg": "This listenKey does not exist."})
    assert refused_handshake(stream_url(gateway, key)) == (
        400,
        {"code": -1125, "msg": "This listenKey does not exist."},
    )
    assert refused_handshake(f"ws://127.0.0.1:{gateway.stage.rest_port}/ws/")[0] == 404
    assert refused_handshake(f"ws://127.0.0.1:{gateway.stage.rest_port}/stream?streams={key}")[0] == 404
    assert gateway.gateway_ctx.counters.add("connections_refused").value == 3


def test_should_check_the_api_key_alone_and_the_listen_key(client: Client) -> None:
    def error(method: str, params: dict[str, Any]) -> tuple[int, int]:
        answer = client.call(method, params)
        return answer["status"], answer["error"]["code"]

    assert error("userDataStream.start", {}) == (400, -1102)
    assert error("userDataStream.start", {"apiKey": "short"}) == (401, -2014)
    assert error("userDataStream.start", {"apiKey": "A" * 64}) == (401, -2015)
    key = client.call("userDataStream.start", {"apiKey": DEMO_KEY})["result"]["listenKey"]
    assert error("userDataStream.ping", {"apiKey": DEMO_KEY}) == (400, -1102)
    assert error("userDataStream.ping", {"apiKey": DEMO_KEY, "listenKey": "x" * 60}) == (400, -1125)
    assert error("userDataStream.ping", {"apiKey": MM_KEY, "listenKey": key}) == (400, -1125)  # not its account
    assert error("userDataStream.stop", {"apiKey": MM_KEY, "listenKey": key}) == (400, -1125)
    assert client.call("userDataStream.ping", {"apiKey": DEMO_KEY, "listenKey": key})["result"] == {}


def test_should_end_an_expired_key_with_listen_key_expired(make: Callable[..., GatewayHarness]) -> None:
    gateway = make(listen_key_validity_s=0.5)
    with connect(gateway.url) as ws:
        client = Client(ws)
        key = client.call("userDataStream.start", {"apiKey": DEMO_KEY})["result"]["listenKey"]
        with connect(stream_url(gateway, key)) as stream:
            expired = next_event(stream)  # no keepalive: the sweep ends it
            assert (expired["e"], expired["listenKey"]) == ("listenKeyExpired", key) and expired["E"] > 0
            with pytest.raises(ConnectionClosedOK):
                next_event(stream)
        gone = client.call("userDataStream.ping", {"apiKey": DEMO_KEY, "listenKey": key})
        assert (gone["status"], gone["error"]["code"]) == (400, -1125)
        assert client.call("userDataStream.start", {"apiKey": DEMO_KEY})["result"]["listenKey"] != key
    assert gateway.gateway_ctx.counters.add("listen_keys_expired").value >= 1


def test_should_not_let_an_idle_keep_alive_http_client_hold_the_stop(make: Callable[..., GatewayHarness]) -> None:
    """The REST port serves HTTP and ``/ws/<listenKey>`` on one websockets server: an idle HTTP
    keep-alive connection (within its 60 s idle time) is closed at stop instead of waited for."""
    gateway = make()
    idle = http.client.HTTPConnection("127.0.0.1", gateway.stage.rest_port, timeout=60)
    try:
        idle.request("GET", "/sapi/v1/system/status")
        assert idle.getresponse().read() == b'{"status":0,"msg":"normal"}'
        gateway.stop()  # joins the gateway thread for at most 10 s
        assert not any(thread.is_alive() for thread in gateway._threads)
        assert idle.sock is not None and idle.sock.recv(1) == b""  # closed by the server
    finally:
        idle.close()
