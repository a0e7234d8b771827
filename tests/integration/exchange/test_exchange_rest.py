"""The REST API on ``rest_port`` against ``hftpipe exchange run``: every signed endpoint's errors and
weights as Binance documents them, the listenKey user data stream (REST and ``/ws/<listenKey>`` on the
REST port), and the market port's refusal of every private path."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Final

import orjson
import pytest
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.sync.client import connect, unix_connect

from stages.exchange.gateway.rest import KEY_ROUTES, SIGNED_ROUTES
from stages.exchange.protocol.settings import ExchangeSettings
from tests.integration.exchange.rest_client import RestClient, demo_client, running_exchange

FAR_SELL: dict[str, Any] = {
    "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.0001",
    "price": "999999",
}  # fmt: skip
"""Rests far above any price the book reaches: never fills."""
ENDPOINTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/v3/order", FAR_SELL),
    ("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 1}),
    ("DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 1}),
    ("POST", "/api/v3/order/test", FAR_SELL),
    (
        "POST",
        "/api/v3/order/cancelReplace",
        {**FAR_SELL, "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": 1},
    ),
    ("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}),
    ("DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"}),
    ("GET", "/api/v3/allOrders", {"symbol": "BTCUSDT"}),
    ("GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"}),
    ("GET", "/api/v3/account", {}),
    ("GET", "/api/v3/rateLimit/order", {}),
    ("GET", "/sapi/v1/capital/config/getall", {}),
    ("GET", "/sapi/v1/margin/allPairs", {}),
    ("GET", "/sapi/v1/margin/isolated/allPairs", {}),
]
KEY_ENDPOINTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/v3/userDataStream", {}),
    ("PUT", "/api/v3/userDataStream", {"listenKey": "k" * 60}),
    ("DELETE", "/api/v3/userDataStream", {"listenKey": "k" * 60}),
]
"""USER_STREAM: the API key alone, no signature."""
NO_LISTEN_KEY: Final = {"code": -1125, "msg": "This listenKey does not exist."}


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExchangeSettings]:
    with running_exchange(tmp_path_factory.mktemp("rest"), flow=False) as settings:
        yield settings


@pytest.fixture
def client(exchange: ExchangeSettings) -> Iterator[RestClient]:
    rest = demo_client(exchange)
    yield rest
    rest.close()


def test_every_signed_endpoint_is_routed_and_checked(client: RestClient) -> None:
    routed = {(method, path) for path, methods in SIGNED_ROUTES.items() for method in methods}
    assert routed == {(method, path) for method, path, _ in ENDPOINTS}
    key_only = {(method, path) for path, methods in KEY_ROUTES.items() for method in methods}
    assert key_only == {(method, path) for method, path, _ in KEY_ENDPOINTS}


@pytest.mark.parametrize(("method", "path", "params"), ENDPOINTS)
def test_a_bad_signature_is_refused_with_1022(
    client: RestClient, method: str, path: str, params: dict[str, Any]
) -> None:
    answer = client.signed(method, path, params, bad_signature=True)
    assert (answer.status, answer.body) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})
    assert int(answer.headers["x-mbx-used-weight-1m"]) > 0
    assert answer.headers["x-mbx-used-weight"] == answer.headers["x-mbx-used-weight-1m"]


@pytest.mark.parametrize(("method", "path", "params"), ENDPOINTS)
def test_a_stale_timestamp_is_refused_with_1021(
    client: RestClient, method: str, path: str, params: dict[str, Any]
) -> None:
    answer = client.signed(method, path, params, timestamp_ms=int(time.time() * 1000) - 60_000)
    assert answer.status == 400
    assert answer.body["code"] == -1021 and "outside of the recvWindow" in answer.body["msg"]


@pytest.mark.parametrize(("method", "path", "params"), ENDPOINTS)
def test_no_key_or_an_unknown_key_is_refused(
    exchange: ExchangeSettings, method: str, path: str, params: dict[str, Any]
) -> None:
    stranger = RestClient(exchange.rest_port, "A" * 64, "secret")
    try:
        answer = stranger.signed(method, path, params)
    finally:
        stranger.close()
    assert (answer.status, answer.body["code"]) == (401, -2015)
    anonymous = RestClient(exchange.rest_port)  # no X-MBX-APIKEY at all
    try:
        answer = anonymous.request(method, f"{path}?timestamp={int(time.time() * 1000)}&signature=00")
    finally:
        anonymous.close()
    assert (answer.status, answer.body) == (401, {"code": -2014, "msg": "API-key format invalid."})


def test_orders_place_query_cancel_and_their_errors(client: RestClient) -> None:
    placed = client.signed("POST", "/api/v3/order", FAR_SELL)
    assert placed.status == 200 and placed.body["status"] == "NEW"
    assert placed.headers["x-mbx-order-count-10s"] >= "1" and "x-mbx-order-count-1d" in placed.headers
    order_id = placed.body["orderId"]
    status = client.signed("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": order_id})
    assert status.status == 200 and status.body["orderId"] == order_id
    open_orders = client.signed("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"})
    assert order_id in [order["orderId"] for order in open_orders.body]
    assert client.signed("POST", "/api/v3/order/test", FAR_SELL).body == {}
    rates = client.signed("POST", "/api/v3/order/test", {**FAR_SELL, "computeCommissionRates": "true"})
    assert rates.body["standardCommissionForOrder"] == {"maker": "0.00100000", "taker": "0.00100000"}
    assert rates.headers["x-mbx-used-weight-1m"]

    # unknown order
    unknown = client.signed("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 987654})
    assert (unknown.status, unknown.body) == (400, {"code": -2013, "msg": "Order does not exist."})
    unknown = client.signed("DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 987654})
    assert (unknown.status, unknown.body["code"]) == (400, -2011)
    replace = {**FAR_SELL, "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": 987654}
    unknown = client.signed("POST", "/api/v3/order/cancelReplace", replace)
    assert (unknown.status, unknown.body["code"]) == (400, -2022)
    # filter failure
    for path in ("/api/v3/order", "/api/v3/order/test"):
        bad_tick = client.signed("POST", path, {**FAR_SELL, "price": "999999.001"})
        assert (bad_tick.status, bad_tick.body) == (400, {"code": -1013, "msg": "Filter failure: PRICE_FILTER"})
    bad_tick = client.signed("POST", "/api/v3/order/cancelReplace", {**replace, "price": "999999.001"})
    assert (bad_tick.status, bad_tick.body) == (400, {"code": -1013, "msg": "Filter failure: PRICE_FILTER"})
    # insufficient balance (demo holds 1 BTC)
    broke = client.signed("POST", "/api/v3/order", {**FAR_SELL, "quantity": "5"})
    assert (broke.status, broke.body) == (
        400, {"code": -2010, "msg": "Account has insufficient balance for requested action."},
    )  # fmt: skip
    spare = client.signed("POST", "/api/v3/order", FAR_SELL).body["orderId"]
    swapped = client.signed(
        "POST", "/api/v3/order/cancelReplace", {**replace, "cancelOrderId": spare, "quantity": "5"}
    )  # accounting refuses it before anything is cancelled: the new order could not be paid for
    assert (swapped.status, swapped.body["code"]) == (400, -2010)
    assert "insufficient balance" in str(swapped.body)
    still = client.signed("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": spare})
    assert still.body["status"] == "NEW"

    canceled = client.signed("DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": order_id})
    assert canceled.status == 200 and canceled.body["status"] == "CANCELED"
    history = client.signed("GET", "/api/v3/allOrders", {"symbol": "BTCUSDT"})
    assert history.status == 200 and (order_id, "CANCELED") in [(o["orderId"], o["status"]) for o in history.body]
    assert history.body == sorted(history.body, key=lambda o: o["orderId"])
    later = client.signed("GET", "/api/v3/allOrders", {"symbol": "BTCUSDT", "orderId": order_id + 1})
    assert later.status == 200 and order_id not in [o["orderId"] for o in later.body]
    assert client.signed("GET", "/api/v3/allOrders", {"symbol": "ETHUSDT"}).body == []
    too_many = client.signed("GET", "/api/v3/allOrders", {"symbol": "BTCUSDT", "limit": 1001})
    assert (too_many.status, too_many.body["code"]) == (400, -1100)
    account = client.signed("GET", "/api/v3/account", {})
    assert account.status == 200 and account.body["updateTime"] > 0  # the cancel just changed a balance
    assert account.body["updateTime"] >= status.body["time"]
    assert client.signed("GET", "/sapi/v1/margin/allPairs").body == []
    isolated = client.signed("GET", "/sapi/v1/margin/isolated/allPairs")
    assert (isolated.status, isolated.body) == (200, [])
    coins = client.signed("GET", "/sapi/v1/capital/config/getall").body
    assert {coin["coin"] for coin in coins} == {"BTC", "USDT", "ETH"}
    assert not any(coin["depositAllEnable"] or coin["withdrawAllEnable"] or coin["networkList"] for coin in coins)


def test_my_trades_lists_each_side_of_a_fill(exchange: ExchangeSettings, client: RestClient) -> None:
    maker_key = next(k for k in exchange.api_keys if k.account == "mm-1")
    maker = RestClient(exchange.rest_port, maker_key.api_key, maker_key.secret or "")
    try:
        ask = {"symbol": "ETHUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01"}
        resting = maker.signed("POST", "/api/v3/order", {**ask, "price": "3000"})
        assert resting.status == 200 and resting.body["status"] == "NEW"
        bid = {**ask, "side": "BUY", "timeInForce": "IOC", "price": "3000"}
        taken = client.signed("POST", "/api/v3/order", bid)
        assert taken.status == 200 and taken.body["status"] == "FILLED"
        mine = client.signed("GET", "/api/v3/myTrades", {"symbol": "ETHUSDT"})
        assert mine.status == 200 and len(mine.body) == 1
        fill = mine.body[0]
        assert (fill["orderId"], fill["price"], fill["qty"], fill["quoteQty"]) == (
            taken.body["orderId"], "3000.00000000", "0.01000000", "30.00000000",
        )  # fmt: skip
        assert (fill["isBuyer"], fill["isMaker"], fill["commissionAsset"], fill["commission"]) == (
            True, False, "ETH", "0.00001000",
        )  # fmt: skip
        assert fill["id"] == taken.body["fills"][0]["tradeId"] and fill["time"] > 0
        theirs = maker.signed("GET", "/api/v3/myTrades", {"symbol": "ETHUSDT", "orderId": resting.body["orderId"]})
        assert [(f["id"], f["isBuyer"], f["isMaker"]) for f in theirs.body] == [(fill["id"], False, True)]
        assert client.signed("GET", "/api/v3/myTrades", {"symbol": "ETHUSDT", "fromId": fill["id"] + 1}).body == []
        assert client.signed("GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"}).body == []
    finally:
        maker.close()


def test_a_listen_key_streams_the_accounts_events_on_the_rest_port(
    exchange: ExchangeSettings, client: RestClient
) -> None:
    """python-binance's and the SDK's listenKey flow: create (key only), stream, keep alive, close."""
    path, headers = "/api/v3/userDataStream", {"X-MBX-APIKEY": client.api_key}
    anonymous = client.request("POST", path)
    assert (anonymous.status, anonymous.body["code"]) == (401, -2014)
    stranger = client.request("POST", path, headers={"X-MBX-APIKEY": "A" * 64})
    assert (stranger.status, stranger.body["code"]) == (401, -2015)
    created = client.request("POST", path, headers=headers)  # no timestamp, no signature
    key = created.body["listenKey"]
    assert created.status == 200 and len(key) == 60 and int(created.headers["x-mbx-used-weight-1m"]) >= 2
    assert client.request("POST", path, headers=headers).body == {"listenKey": key}  # the live one, extended

    with connect(f"ws://127.0.0.1:{exchange.rest_port}/ws/{key}") as stream:

        def next_event() -> Any:
            return orjson.loads(stream.recv(timeout=60))

        order_id = client.signed("POST", "/api/v3/order", FAR_SELL).body["orderId"]
        report = next_event()
        assert (report["e"], report["x"], report["i"], report["s"]) == ("executionReport", "NEW", order_id, "BTCUSDT")
        position = next_event()
        assert position["e"] == "outboundAccountPosition" and "BTC" in {b["a"] for b in position["B"]}
        client.signed("DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": order_id})
        canceled = next_event()
        assert (canceled["e"], canceled["x"], canceled["i"]) == ("executionReport", "CANCELED", order_id)
        with unix_connect(str(exchange.admin_socket)) as admin:
            params = {"account": "demo", "asset": "USDT", "amount": "1"}
            admin.send(orjson.dumps({"id": 1, "method": "deposit", "params": params}).decode())
            assert orjson.loads(admin.recv(timeout=60))["status"] == 200
        update = next_event()
        while update["e"] == "outboundAccountPosition":  # the cancel's
            update = next_event()
        assert (update["e"], update["a"], update["d"]) == ("balanceUpdate", "USDT", "1.00000000")

        kept = client.request("PUT", path, f"listenKey={key}".encode(), headers)  # python-binance: a form body
        assert (kept.status, kept.body) == (200, {})
        unknown = client.request("PUT", f"{path}?listenKey={'x' * 60}", headers=headers)
        assert (unknown.status, unknown.body) == (400, NO_LISTEN_KEY)
        missing = client.request("PUT", path, headers=headers)
        assert (missing.status, missing.body["code"]) == (400, -1102)
        closed = client.request("DELETE", f"{path}?listenKey={key}", headers=headers)
        assert (closed.status, closed.body) == (200, {})
        with pytest.raises(ConnectionClosedOK):
            while next_event()["e"] == "outboundAccountPosition":  # the cancel's balances may come first
                pass
    gone = client.request("PUT", f"{path}?listenKey={key}", headers=headers)
    assert (gone.status, gone.body) == (400, NO_LISTEN_KEY)
    with pytest.raises(InvalidStatus) as refused, connect(f"ws://127.0.0.1:{exchange.rest_port}/ws/{key}"):
        pass
    assert refused.value.response.status_code == 400
    assert orjson.loads(refused.value.response.body or b"null") == NO_LISTEN_KEY


def test_the_order_rate_limit_answers_429_with_1015_and_the_counts(client: RestClient) -> None:
    placed = 0
    answer = client.signed("POST", "/api/v3/order", FAR_SELL)
    while answer.status == 200 and placed < 1000:  # 50 per 10 s: one window holds at most 50
        placed += 1
        assert int(answer.headers["x-mbx-order-count-10s"]) <= 50
        answer = client.signed("POST", "/api/v3/order", FAR_SELL)
    assert answer.status == 429
    assert answer.body == {"code": -1015, "msg": "Too many new orders; current limit is 50 orders per 10 SECOND."}
    assert answer.headers["x-mbx-order-count-10s"] == "50"
    limits = client.signed("GET", "/api/v3/rateLimit/order").body
    assert limits[0] == {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50, "count": 50}
    cleared = client.signed("DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"})
    assert cleared.status == 200 and len(cleared.body) >= placed > 0  # earlier tests may have left some open
    assert {order["status"] for order in cleared.body} == {"CANCELED"}
    assert client.signed("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}).body == []


def test_http_errors_on_the_rest_port(client: RestClient) -> None:
    answer = client.request("PUT", "/api/v3/order", b"x=1")
    assert answer.status == 405 and answer.body["code"] == -1 and answer.headers["allow"] == "POST, GET, DELETE"
    assert client.request("GET", "/api/v3/nothing").status == 404
    assert client.request("POST", "/api/v3/depth?symbol=BTCUSDT").status == 405
    duplicated = client.request("GET", "/api/v3/account?timestamp=1&timestamp=2", headers={"X-MBX-APIKEY": "k"})
    assert (duplicated.status, duplicated.body["code"]) == (400, -1101)
    assert client.request("GET", "/sapi/v1/system/status").body == {"status": 0, "msg": "normal"}


def test_the_market_port_has_no_route_to_account_data(exchange: ExchangeSettings, client: RestClient) -> None:
    """The publisher never gains a private path: every one, every method, signed, is a 404 there; a
    live listenKey in a stream path there is an unserved stream name (accepted, as Binance accepts
    any name, and never subscribed to anything)."""
    market = demo_client(exchange, exchange.market_port)
    try:
        for method, path, params in ENDPOINTS + KEY_ENDPOINTS:
            for verb in {method, "GET", "POST", "DELETE", "PUT"}:
                answer = market.signed(verb, path, params)
                assert answer.status == 404, (verb, path, answer)
                assert answer.body == {"code": -1, "msg": f"No such endpoint: {verb} {path}"}
    finally:
        market.close()
    key = client.request("POST", "/api/v3/userDataStream", headers={"X-MBX-APIKEY": client.api_key}).body
    with connect(f"ws://127.0.0.1:{exchange.market_port}/ws/{key['listenKey']}") as stream:
        stream.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}).decode())
        assert orjson.loads(stream.recv(timeout=60)) == {"result": [], "id": 1}


def test_the_request_weight_limit_answers_429_with_1003_and_retry_after(client: RestClient) -> None:
    """Last in this module: it uses up the minute's weight of 127.0.0.1."""
    answer = client.signed("GET", "/api/v3/account")
    for _ in range(1000):  # 6000 a minute, 20 each: one minute holds at most 300
        if answer.status != 200:
            break
        answer = client.signed("GET", "/api/v3/account")
    assert answer.status == 429 and answer.body["code"] == -1003
    assert answer.body["msg"].startswith(
        "Too much request weight used; current limit is 6000 request weight per 1 MINUTE."
    )
    assert int(answer.headers["x-mbx-used-weight-1m"]) > 6000
    assert 1 <= int(answer.headers["retry-after"]) <= 60
