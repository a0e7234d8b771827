"""GatewayStage in this process over real rings; the test plays accounting (FakeAccounting)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect, unix_connect

from hftpipe.schema.exchange import Command
from hftpipe.schema.exchange_codec import decode_id
from hftpipe.schema.trading import OrderSide, OrderType
from tests.unit.exchange.gateway.client import Client, limit, now_ms, signed
from tests.unit.exchange.gateway.harness import (
    DEMO_KEY,
    DEMO_SECRET,
    MM_KEY,
    MM_SECRET,
    GatewayHarness,
    exchange_table,
)

# ------------------------------------------------------------------------------ connection and public methods


def test_should_serve_only_the_ws_api_path(gateway: GatewayHarness) -> None:
    with pytest.raises(InvalidStatus) as caught, connect(gateway.url.replace("/ws-api/v3", "/ws/btcusdt@trade")):
        pass
    assert caught.value.response.status_code == 404


def test_should_answer_public_methods_with_rate_limits(client: Client) -> None:
    ping = client.call("ping")
    assert ping["status"] == 200 and ping["result"] == {}
    assert ping["rateLimits"] == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000, "count": 3}
    ]
    assert abs(client.call("v3/time")["result"]["serverTime"] - now_ms()) < 60_000
    info = client.call("exchangeInfo", {"symbols": ["ETHUSDT"]})
    assert [s["symbol"] for s in info["result"]["symbols"]] == ["ETHUSDT"]
    assert info["rateLimits"][0]["count"] == 24
    assert client.call("exchangeInfo", {"symbol": "NOPE"})["error"] == {"code": -1121, "msg": "Invalid symbol."}
    quiet = client.call("time", {"returnRateLimits": False})
    assert "rateLimits" not in quiet


def test_should_hide_rate_limits_when_the_url_says_so(gateway: GatewayHarness) -> None:
    with connect(gateway.url + "?returnRateLimits=false") as ws:
        client = Client(ws)
        assert "rateLimits" not in client.call("ping")
        assert "rateLimits" in client.call("ping", {"returnRateLimits": True})


def test_should_answer_malformed_requests_and_keep_the_connection(gateway: GatewayHarness, client: Client) -> None:
    bad = client.send_raw("{not json")
    assert bad["id"] is None and bad["status"] == 400 and bad["error"]["code"] == -1000
    assert client.send_raw("[1, 2]")["error"]["code"] == -1000
    assert client.send_raw('{"id": 5, "method": 7}')["id"] == 5
    unknown = client.call("margin.borrow")
    assert unknown["status"] == 400 and unknown["error"]["code"] == -1020
    assert client.call("ping")["status"] == 200
    assert gateway.gateway_ctx.counters.add("malformed").value == 3


def test_should_answer_depth_from_the_book(client: Client) -> None:
    client.logon()
    assert client.session("order.place", limit("BUY", "59000", "0.01"))["status"] == 200
    depth = client.call("depth", {"symbol": "BTCUSDT", "limit": 5})
    assert depth["result"] == {"lastUpdateId": 1, "bids": [["59000.00000000", "0.01000000"]], "asks": []}
    assert depth["rateLimits"][0]["count"] == 2 + 2 + 1 + 5  # connect, logon, order, depth


# ------------------------------------------------------------------------------ security


def test_should_check_keys_signatures_and_timestamps(client: Client) -> None:
    params = {"symbol": "BTCUSDT"}
    good = signed(params, DEMO_KEY, DEMO_SECRET)
    assert client.call("openOrders.status", good)["status"] == 200
    tampered = {**good, "symbol": "ETHUSDT"}
    assert client.call("openOrders.status", tampered)["error"] == {
        "code": -1022,
        "msg": "Signature for this request is not valid.",
    }
    stale = signed({**params, "timestamp": now_ms() - 10_000}, DEMO_KEY, DEMO_SECRET)
    assert client.call("openOrders.status", stale)["error"] == {
        "code": -1021,
        "msg": "Timestamp for this request is outside of the recvWindow.",
    }
    wide = signed({**params, "timestamp": now_ms() - 10_000, "recvWindow": 20_000}, DEMO_KEY, DEMO_SECRET)
    assert client.call("openOrders.status", wide)["status"] == 200
    ahead = signed({**params, "timestamp": now_ms() + 5_000}, DEMO_KEY, DEMO_SECRET)
    assert client.call("openOrders.status", ahead)["error"] == {
        "code": -1021,
        "msg": "Timestamp for this request was 1000ms ahead of the server's time.",
    }
    unknown = client.call("openOrders.status", signed(params, "A" * 64, DEMO_SECRET))
    assert (unknown["status"], unknown["error"]["code"]) == (401, -2015)
    assert client.call("openOrders.status", signed(params, "not-a-key!", DEMO_SECRET))["error"]["code"] == -2014
    assert client.call("openOrders.status", {**params, "timestamp": now_ms()})["error"] == {
        "code": -1102,
        "msg": "Mandatory parameter 'apiKey' was not sent, was empty/null, or malformed.",
    }
    no_time = {**params, "apiKey": DEMO_KEY}
    assert client.call("openOrders.status", no_time)["error"]["code"] == -1102
    assert client.call("userDataStream.subscribe")["error"]["code"] == -2015


def test_should_log_on_with_hmac_and_ed25519_keys(gateway: GatewayHarness, client: Client) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    status = client.logon()["result"]
    assert status["apiKey"] == DEMO_KEY and status["userDataStream"] is False
    assert status["authorizedSince"] >= status["connectedSince"]
    private = Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    key, _ = gateway.stage.keys.add_key("demo", ed25519_public_key=pem)
    params = {"apiKey": key.api_key, "timestamp": now_ms()}
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    import base64

    params["signature"] = base64.b64encode(private.sign(payload.encode())).decode()
    assert client.call("session.logon", params)["result"]["apiKey"] == key.api_key
    assert client.call("session.logout")["result"]["apiKey"] is None
    assert client.call("session.status")["result"]["authorizedSince"] is None


# ------------------------------------------------------------------------------ trading and the user data stream


def test_should_trade_and_stream_executions_to_maker_and_taker(gateway: GatewayHarness) -> None:
    with connect(gateway.url) as maker_ws, connect(gateway.url) as taker_ws:
        maker, taker = Client(maker_ws), Client(taker_ws)
        subscription = maker.call("userDataStream.subscribe.signature", signed({}, MM_KEY, MM_SECRET))
        assert subscription["result"] == {"subscriptionId": 0}
        ask = limit("SELL", "60000", "0.5", newClientOrderId="ask-1")
        placed = maker.call("order.place", signed(ask, MM_KEY, MM_SECRET))
        assert placed["result"]["status"] == "NEW" and placed["result"]["fills"] == []

        taker.logon()
        assert taker.call("userDataStream.subscribe")["result"] == {"subscriptionId": 0}
        bought = taker.session("order.place", limit("BUY", "60001", "0.2", newClientOrderId="bid-1"))
        result = bought["result"]
        assert (result["status"], result["executedQty"], result["cummulativeQuoteQty"]) == (
            "FILLED",
            "0.20000000",
            "12000.00000000",
        )
        assert result["fills"] == [
            {"price": "60000.00000000", "qty": "0.20000000", "commission": "0.00020000", "commissionAsset": "BTC",
             "tradeId": 1}
        ]
        assert [r["rateLimitType"] for r in bought["rateLimits"]] == ["ORDERS", "ORDERS", "REQUEST_WEIGHT"]

        taker_reports = taker.wait_events(2, lambda e: e["e"] == "executionReport")
        assert [(e["x"], e["X"], e["c"]) for e in taker_reports] == [
            ("NEW", "NEW", "bid-1"),
            ("TRADE", "FILLED", "bid-1"),
        ]
        assert taker_reports[1]["m"] is False and taker_reports[1]["Y"] == "12000.00000000"
        positions = taker.wait_events(1, lambda e: e["e"] == "outboundAccountPosition")
        assert {b["a"] for b in positions[0]["B"]} == {"BTC", "USDT"}

        maker_reports = maker.wait_events(2, lambda e: e["e"] == "executionReport")
        fill = maker_reports[1]
        assert [fill[k] for k in "xXcmS"] == ["TRADE", "PARTIALLY_FILLED", "ask-1", True, "SELL"]
        assert (fill["p"], fill["q"], fill["l"], fill["z"], fill["t"]) == (
            "60000.00000000",
            "0.50000000",
            "0.20000000",
            "0.20000000",
            1,
        )
        assert (fill["n"], fill["N"]) == ("12.00000000", "USDT")
        assert all(e["subscriptionId"] == 0 for e in maker.events)

        maker.call("userDataStream.unsubscribe")
        ended = maker.wait_events(1, lambda e: e["e"] == "eventStreamTerminated")
        assert ended and maker.call("session.status")["result"]["userDataStream"] is False


def test_should_query_cancel_and_report_unknown_orders(client: Client) -> None:
    client.logon()
    order = client.session("order.place", limit("BUY", "50000", "0.01", newOrderRespType="ACK"))["result"]
    assert set(order) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    status = client.session("order.status", {"symbol": "BTCUSDT", "orderId": order["orderId"]})["result"]
    assert (status["status"], status["price"]) == ("NEW", "50000.00000000")
    assert status["clientOrderId"] == order["clientOrderId"]
    open_orders = client.session("openOrders.status")["result"]
    assert [o["orderId"] for o in open_orders] == [order["orderId"]]
    account = client.session("account.status", {"omitZeroBalances": True})["result"]
    usdt = next(b for b in account["balances"] if b["asset"] == "USDT")
    assert usdt == {"asset": "USDT", "free": "99500.00000000", "locked": "500.00000000"}
    assert (account["makerCommission"], account["uid"], account["accountType"]) == (10, 1, "SPOT")

    canceled = client.session(
        "order.cancel", {"symbol": "BTCUSDT", "origClientOrderId": order["clientOrderId"], "newClientOrderId": "c-1"}
    )["result"]
    assert (canceled["status"], canceled["origClientOrderId"], canceled["clientOrderId"]) == (
        "CANCELED",
        order["clientOrderId"],
        "c-1",
    )
    again = client.session("order.cancel", {"symbol": "BTCUSDT", "orderId": order["orderId"]})
    assert (again["status"], again["error"]) == (400, {"code": -2011, "msg": "Unknown order sent."})
    missing = client.session("order.status", {"symbol": "BTCUSDT", "orderId": 999})
    assert missing["error"] == {"code": -2013, "msg": "Order does not exist."}
    broke = client.session("order.place", limit("BUY", "60000", "5"))
    assert broke["error"] == {"code": -2010, "msg": "Account has insufficient balance for requested action."}
    filtered = client.session("order.place", limit("BUY", "1", "0.01"))
    assert filtered["error"] == {"code": -1013, "msg": "Filter failure: NOTIONAL"}


def test_should_cancel_replace_and_cancel_all(client: Client) -> None:
    client.logon()
    first = client.session("order.place", limit("BUY", "50000", "0.01", newClientOrderId="one"))["result"]
    replaced = client.session(
        "order.cancelReplace",
        {**limit("BUY", "50001", "0.01", newClientOrderId="two"), "cancelReplaceMode": "STOP_ON_FAILURE",
         "cancelOrderId": first["orderId"]},
    )
    assert replaced["status"] == 200
    result = replaced["result"]
    assert (result["cancelResult"], result["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert result["cancelResponse"]["origClientOrderId"] == "one"
    assert result["newOrderResponse"]["clientOrderId"] == "two"
    failed = client.session(
        "order.cancelReplace",
        {**limit("BUY", "50002", "0.01"), "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrigClientOrderId": "gone"},
    )
    assert (failed["status"], failed["error"]["code"], failed["error"]["msg"]) == (
        400,
        -2022,
        "Order cancel-replace failed.",
    )
    assert failed["error"]["data"] == {
        "cancelResult": "FAILURE",
        "newOrderResult": "NOT_ATTEMPTED",
        "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
        "newOrderResponse": None,
    }
    partial = client.session(
        "order.cancelReplace",
        {**limit("BUY", "50003", "0.01", newClientOrderId="three"), "cancelReplaceMode": "ALLOW_FAILURE",
         "cancelOrigClientOrderId": "gone"},
    )
    assert (partial["status"], partial["error"]["code"]) == (409, -2021)
    assert partial["error"]["data"]["newOrderResponse"]["clientOrderId"] == "three"
    everything = client.session("openOrders.cancelAll", {"symbol": "BTCUSDT"})["result"]
    assert sorted(o["origClientOrderId"] for o in everything) == ["three", "two"]
    assert {o["status"] for o in everything} == {"CANCELED"}
    nothing = client.session("openOrders.cancelAll", {"symbol": "BTCUSDT"})
    assert nothing["error"] == {"code": -2011, "msg": "Unknown order sent."}


def test_should_send_the_commands_the_spec_describes(gateway: GatewayHarness, client: Client) -> None:
    client.logon()
    client.session("order.place", limit("SELL", "61000", "0.001", newClientOrderId="spec-1"))
    client.session("order.place", {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "10"})
    place, market = gateway.commands[-2:]
    assert place.command == Command.NEW_ORDER and place.account == 1 and place.instrument == 1
    assert (place.side, place.order_type, place.price, place.qty) == (OrderSide.SELL, OrderType.LIMIT, 6_100_000, 100)
    assert decode_id(place.client_order_id) == "spec-1" and place.seq == 0 and place.ts_origin > 0
    assert (market.instrument, market.order_type, market.quote_qty, market.qty) == (2, OrderType.MARKET, 10 * 10**6, 0)
    assert len(decode_id(market.client_order_id)) == 22
    assert market.request_id > place.request_id


def test_should_count_ring_records_and_websocket_messages_apart_and_measure_both_hops(
    gateway: GatewayHarness, client: Client
) -> None:
    client.logon()
    client.session("order.place", limit("SELL", "61000", "0.001"))
    client.session("order.place", limit("BUY", "59000", "0.001"))
    control = gateway.owned.control
    counters = control.read_counters(control.stage_index("gateway"))
    answered = control.read_counters(control.stage_index("accounting"))["messages_out"]
    [command] = [c for c in gateway.commands[-2:] if c.side == OrderSide.BUY]
    assert command.ts_hop0 >= command.ts_origin > 0  # stamped by gw-acct's port when the gateway sent it
    assert (counters["messages_out"], counters["backpressure"]) == (len(gateway.commands), 0)
    assert counters["messages_in"] == answered > len(gateway.commands)  # every acct-gw record
    assert counters["ws_messages_in"] == 3  # the client's messages
    assert control.read_hop_histogram(0).count == len(gateway.commands)  # gw-acct, measured by accounting
    assert control.read_hop_histogram(1).count == answered  # acct-gw, measured by the gateway's reader


# ------------------------------------------------------------------------------ limits and failures


def test_should_enforce_order_and_weight_limits(make: Callable[..., GatewayHarness], tmp_path: Path) -> None:
    table = exchange_table(tmp_path / "limits", rate_limits={"orders_per_10s": 2, "request_weight_per_minute": 40})
    gateway = make(exchange=table)
    with connect(gateway.url) as ws:
        client = Client(ws)
        client.logon()
        for price in ("50000", "50001"):
            assert client.session("order.place", limit("BUY", price, "0.0001"))["status"] == 200
        refused = client.session("order.place", limit("BUY", "50002", "0.0001"))
        assert (refused["status"], refused["error"]["code"]) == (429, -1015)
        assert refused["error"]["msg"] == "Too many new orders; current limit is 2 orders per 10 SECOND."
        assert refused["rateLimits"][0]["count"] == 2
        for _ in range(2):
            exempt = client.call("order.place", signed(limit("SELL", "70000", "0.0001"), MM_KEY, MM_SECRET))
            assert exempt["status"] == 200
        assert client.call("exchangeInfo")["status"] == 200
        heavy = client.call("exchangeInfo")
        assert (heavy["status"], heavy["error"]["code"]) == (429, -1003)
        assert heavy["error"]["data"]["retryAfter"] % 60_000 == 0


def test_should_time_out_requests_accounting_never_answers(make: Callable[..., GatewayHarness]) -> None:
    gateway = make(request_timeout_s=0.2)
    with connect(gateway.url) as ws:
        client = Client(ws)
        client.logon()
        gateway.answering.clear()
        late = client.session("order.place", limit("BUY", "50000", "0.0001"))
        assert (late["status"], late["error"]["code"]) == (503, -1007)
        gateway.answering.set()
        assert client.call("ping")["status"] == 200
        assert client.session("openOrders.status")["status"] == 200
    assert gateway.gateway_ctx.counters.add("timeouts").value == 1


# ------------------------------------------------------------------------------ admin socket


def admin(gateway: GatewayHarness, method: str, **params: Any) -> dict[str, Any]:
    with unix_connect(str(gateway.settings.admin_socket)) as ws:
        ws.send(json.dumps({"id": 1, "method": method, "params": params}))
        reply: dict[str, Any] = json.loads(ws.recv(timeout=10))
        return reply


def test_should_serve_the_admin_socket_owner_only(gateway: GatewayHarness) -> None:
    path = gateway.settings.admin_socket
    assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert admin(gateway, "status") == {"id": 1, "status": 200, "result": {"live": True, "invariant_ok": True}}
    assert admin(gateway, "nope")["error"]["code"] == -1020


def test_should_add_keys_move_funds_and_list_balances(make: Callable[..., GatewayHarness], tmp_path: Path) -> None:
    gateway = make()
    added = admin(gateway, "keys.add", account="alice")["result"]
    assert added["account"] == "alice" and added["account_id"] == 1000 and len(added["secret"]) == 64
    deposit = admin(gateway, "deposit", account="alice", asset="USDT", amount="250.5")
    assert deposit["result"] == {"account": "alice", "asset": "USDT", "free": "250.50000000", "locked": "0.00000000"}
    too_much = admin(gateway, "withdraw", account="alice", asset="USDT", amount="1000")
    assert too_much["status"] == 400 and too_much["error"]["code"] == -2010
    assert admin(gateway, "withdraw", account="alice", asset="USDT", amount="0.5")["result"]["free"] == "250.00000000"
    assert admin(gateway, "deposit", account="nobody", asset="USDT", amount="1")["status"] == 400
    assert admin(gateway, "deposit", account="alice", asset="DOGE", amount="1")["status"] == 400
    assert admin(gateway, "deposit", account="alice", asset="USDT", amount="-1")["status"] == 400

    alice = admin(gateway, "balances", account="alice")["result"]
    assert alice["invariant_ok"] is True
    assert alice["accounts"] == [
        {
            "account": "alice",
            "account_id": 1000,
            "balances": [
                {"asset": "BTC", "free": "0.00000000", "locked": "0.00000000"},
                {"asset": "USDT", "free": "250.00000000", "locked": "0.00000000"},
                {"asset": "ETH", "free": "0.00000000", "locked": "0.00000000"},
            ],
        }
    ]
    everyone = admin(gateway, "balances")["result"]["accounts"]
    assert [a["account"] for a in everyone][:3] == ["exchange-fees", "demo", "mm-1"]
    assert everyone[-1]["account"] == "alice"

    with connect(gateway.url) as ws:
        client = Client(ws)
        client.logon(added["api_key"], added["secret"])
        client.call("userDataStream.subscribe")
        admin(gateway, "deposit", account="alice", asset="BTC", amount="1")
        kinds = [e["e"] for e in client.wait_events(2)]
        assert kinds == ["balanceUpdate", "outboundAccountPosition"]
        account = client.session("account.status", {"omitZeroBalances": "true"})["result"]
        assert [b["asset"] for b in account["balances"]] == ["BTC", "USDT"]

    gateway.stop()
    again = make(index=1)  # same state dir: the key and the account survive a restart
    with connect(again.url) as ws:
        assert Client(ws).logon(added["api_key"], added["secret"])["status"] == 200
    assert os.stat(again.settings.key_store_path).st_mode & 0o077 == 0
