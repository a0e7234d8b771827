"""Request builders and answer/event parsers, against the payloads in Binance's docs.

The ``executionReport`` and ``outboundAccountPosition`` examples are
``user-data-stream.md``'s (their comments dropped, so they are JSON); the
order is ``web-socket-api.md``'s ``order.status`` example; the rate limits its
response example.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce, client_order_id, parse_client_order_id
from stages.trading.execution.binance.messages import (
    ASSET_SCALE,
    AccountPosition,
    AssetBalance,
    MessageError,
    RateLimit,
    VenueExecType,
    VenueOrderStatus,
    cancel_params,
    cancel_replace_params,
    intent_order_params,
    order_params,
    parse_account_position,
    parse_execution_report,
    parse_order,
    parse_rate_limits,
)

ETHBTC = Instrument(id=1, venue="binance", symbol="ETHBTC", price_scale=8, qty_scale=8)
BTCUSDT = Instrument(id=2, venue="binance", symbol="BTCUSDT", price_scale=2, qty_scale=5, tick=1, lot=1)

DOCS_EXECUTION_REPORT = """{
  "e": "executionReport", "E": 1499405658658, "s": "ETHBTC", "c": "mUvoqJxFIILMdfAW5iGSOW", "S": "BUY",
  "o": "LIMIT", "f": "GTC", "q": "1.00000000", "p": "0.10264410", "P": "0.00000000", "d": 4, "F": "0.00000000",
  "g": -1, "C": "", "x": "NEW", "X": "NEW", "r": "NONE", "i": 4293153, "l": "0.00000000", "z": "0.00000000",
  "L": "0.00000000", "n": "0", "N": null, "T": 1499405658657, "t": -1, "I": 8641984, "w": true, "m": false,
  "M": false, "O": 1499405658657, "Z": "0.00000000", "Y": "0.00000000", "Q": "0.00000000", "D": 1668680518494,
  "j": 1, "J": 1000000, "W": 1499405658657, "V": "NONE"
}"""

DOCS_ACCOUNT_POSITION = """{
  "e": "outboundAccountPosition", "E": 1564034571105, "u": 1564034571073,
  "B": [{"a": "ETH", "f": "10000.000000", "l": "0.000000"}]
}"""

DOCS_ORDER_STATUS = """{
  "symbol": "BTCUSDT", "orderId": 12569099453, "orderListId": -1, "clientOrderId": "4d96324ff9d44481926157",
  "price": "23416.10000000", "origQty": "0.00847000", "executedQty": "0.00847000",
  "cummulativeQuoteQty": "198.33521500", "status": "FILLED", "timeInForce": "GTC", "type": "LIMIT", "side": "SELL",
  "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": 1660801715639, "updateTime": 1660801717945,
  "isWorking": true, "workingTime": 1660801715639, "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "NONE"
}"""

DOCS_RATE_LIMITS = """[
  {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50, "count": 12},
  {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000, "count": 4043},
  {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000, "count": 321}
]"""


def _docs_report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = orjson.loads(DOCS_EXECUTION_REPORT)
    report.update(changes)
    return report


# ------------------------------------------------------------------------------------------ requests
def test_should_write_an_intents_limit_order_as_decimal_text_at_the_instruments_scales() -> None:
    cid = client_order_id(3, 1765000000123, 42)
    params = intent_order_params(
        BTCUSDT, OrderSide.SELL, OrderType.LIMIT, TimeInForce.GTC, 2341610, 847, cid, resp_type="ACK"
    )
    assert params == {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "price": "23416.1",
        "quantity": "0.00847",
        "newClientOrderId": "hp3-1765000000123-42",
        "newOrderRespType": "ACK",
    }
    assert parse_client_order_id(params["newClientOrderId"]) == (3, 1765000000123, 42)
    assert all(isinstance(value, str) for value in params.values())


def test_should_send_no_price_for_market_and_no_time_in_force_for_market_or_limit_maker() -> None:
    market = intent_order_params(BTCUSDT, OrderSide.BUY, OrderType.MARKET, TimeInForce.IOC, 0, 100, "hp1-1-1")
    assert market == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "MARKET",
        "quantity": "0.001",
        "newClientOrderId": "hp1-1-1",
        "newOrderRespType": "RESULT",
    }
    maker = intent_order_params(BTCUSDT, OrderSide.BUY, OrderType.LIMIT_MAKER, TimeInForce.GTC, 5, 100000, "hp1-1-2")
    assert (maker["type"], maker["price"], maker["quantity"], "timeInForce" in maker) == (
        "LIMIT_MAKER",
        "0.05",
        "1",
        False,
    )
    ioc = intent_order_params(BTCUSDT, OrderSide.SELL, OrderType.LIMIT, TimeInForce.FOK, 6000000, 1, "hp1-1-3")
    assert (ioc["timeInForce"], ioc["price"], ioc["quantity"]) == ("FOK", "60000", "0.00001")


@pytest.mark.parametrize(
    ("order_type", "price", "qty", "cid", "match"),
    [
        (OrderType.STOP_LIMIT, 100, 1, "hp1-1-1", "STOP_LIMIT is not offered"),
        (OrderType.STOP_MARKET, 0, 1, "hp1-1-1", "STOP_MARKET is not offered"),
        (OrderType.LIMIT, 0, 1, "hp1-1-1", "positive price"),
        (OrderType.LIMIT_MAKER, -5, 1, "hp1-1-1", "positive price"),
        (OrderType.MARKET, 0, 0, "hp1-1-1", "quantity must be positive"),
        (OrderType.LIMIT, 100, 1, "not a valid id!", "newClientOrderId"),
        (OrderType.LIMIT, 100, 1, "x" * 37, "newClientOrderId"),
        (99, 100, 1, "hp1-1-1", "not an order this client sends"),
    ],
)
def test_should_refuse_an_order_it_cannot_write(order_type: int, price: int, qty: int, cid: str, match: str) -> None:
    with pytest.raises(MessageError, match=match):
        intent_order_params(BTCUSDT, OrderSide.BUY, order_type, TimeInForce.GTC, price, qty, cid)


def test_should_check_the_text_order_parameters_each_type_takes() -> None:
    with pytest.raises(MessageError, match="LIMIT order needs"):
        order_params("BTCUSDT", "BUY", "LIMIT", "1", "a", price="1")
    with pytest.raises(MessageError, match="MARKET order takes no price"):
        order_params("BTCUSDT", "BUY", "MARKET", "1", "a", price="1")
    with pytest.raises(MessageError, match="LIMIT_MAKER"):
        order_params("BTCUSDT", "BUY", "LIMIT_MAKER", "1", "a", price="1", time_in_force="GTC")
    with pytest.raises(MessageError, match="side"):
        order_params("BTCUSDT", "buy", "MARKET", "1", "a")
    with pytest.raises(MessageError, match="newOrderRespType"):
        order_params("BTCUSDT", "BUY", "MARKET", "1", "a", resp_type="SOME")


def test_should_name_the_order_a_cancel_or_a_replace_acts_on() -> None:
    assert cancel_params("BTCUSDT", client_order_id="hp1-2-3") == {"symbol": "BTCUSDT", "origClientOrderId": "hp1-2-3"}
    assert cancel_params("BTCUSDT", order_id=7, new_client_order_id="hp1-2-4") == {
        "symbol": "BTCUSDT",
        "orderId": 7,
        "newClientOrderId": "hp1-2-4",
    }
    with pytest.raises(MessageError, match="name the order"):
        cancel_params("BTCUSDT")
    new = order_params("BTCUSDT", "BUY", "LIMIT", "0.001", "hp1-2-5", price="60000", time_in_force="GTC")
    replace = cancel_replace_params(new, cancel_client_order_id="hp1-2-3", cancel_new_client_order_id="hp1-2-6")
    assert replace == {
        **new,
        "cancelReplaceMode": "STOP_ON_FAILURE",
        "cancelOrigClientOrderId": "hp1-2-3",
        "cancelNewClientOrderId": "hp1-2-6",
    }
    with pytest.raises(MessageError, match="cancelReplaceMode"):
        cancel_replace_params(new, cancel_order_id=1, mode="SOMETIMES")
    with pytest.raises(MessageError, match="cancelOrigClientOrderId or cancelOrderId"):
        cancel_replace_params(new)


# ------------------------------------------------------------------------------------------ events
def test_should_read_the_documented_execution_report_in_fixed_point() -> None:
    report = parse_execution_report(orjson.loads(DOCS_EXECUTION_REPORT), ETHBTC)
    assert (report.symbol, report.client_order_id, report.order_id, report.side) == (
        "ETHBTC",
        "mUvoqJxFIILMdfAW5iGSOW",
        4293153,
        OrderSide.BUY,
    )
    assert (report.exec_type, report.status, report.order_type, report.time_in_force, report.reject_reason) == (
        VenueExecType.NEW,
        VenueOrderStatus.NEW,
        "LIMIT",
        "GTC",
        "NONE",
    )
    assert (report.order_price, report.order_qty) == (10264410, 100_000_000)
    assert (report.last_qty, report.last_price, report.cum_qty, report.cum_quote) == (0, 0, 0, 0)
    assert (report.fee, report.fee_asset, report.trade_id, report.execution_id) == (0, None, -1, 8641984)
    assert (report.on_book, report.is_maker) == (True, False)
    assert (report.event_time_ms, report.transaction_time_ms, report.order_time_ms) == (
        1499405658658,
        1499405658657,
        1499405658657,
    )
    assert report.order_client_id == "mUvoqJxFIILMdfAW5iGSOW"
    assert report.leaves_qty == 100_000_000


def test_should_read_a_partial_fill_with_its_fee_and_cumulative_quantity() -> None:
    trade = _docs_report(
        x="TRADE",
        X="PARTIALLY_FILLED",
        l="0.25000000",
        z="0.40000000",
        L="0.10264400",
        n="0.00025000",
        N="ETH",
        t=1234,
        I=8641990,
        m=True,
        Z="0.04105760",
    )
    report = parse_execution_report(trade, ETHBTC)
    assert (report.exec_type, report.status) == (VenueExecType.TRADE, VenueOrderStatus.PARTIALLY_FILLED)
    assert (report.last_qty, report.last_price, report.cum_qty) == (25_000_000, 10264400, 40_000_000)
    assert report.cum_quote == 4105760 * 10**8  # at price_scale + qty_scale = 16
    assert (report.fee, report.fee_asset, report.trade_id, report.is_maker) == (25000, "ETH", 1234, True)
    assert report.leaves_qty == 60_000_000
    filled = parse_execution_report(_docs_report(x="TRADE", X="FILLED", z="1.00000000"), ETHBTC)
    assert filled.leaves_qty == 0


def test_should_tell_the_canceled_orders_id_from_the_cancels_own() -> None:
    canceled = parse_execution_report(
        _docs_report(x="CANCELED", X="CANCELED", c="hp1-5-9", C="mUvoqJxFIILMdfAW5iGSOW", w=False), ETHBTC
    )
    assert (canceled.client_order_id, canceled.orig_client_order_id) == ("hp1-5-9", "mUvoqJxFIILMdfAW5iGSOW")
    assert canceled.order_client_id == "mUvoqJxFIILMdfAW5iGSOW"
    assert canceled.leaves_qty == 0
    expired = parse_execution_report(_docs_report(x="EXPIRED", X="EXPIRED", eR="UNFILLED_IOC_QUANTITY_EXPIRED"), ETHBTC)
    assert expired.expiry_reason == "UNFILLED_IOC_QUANTITY_EXPIRED"


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"s": "BTCUSDT"}, "is not 'ETHBTC'"),
        ({"e": "balanceUpdate"}, "not an executionReport"),
        ({"l": "0.000000001"}, "more than 8 decimal places"),
        ({"q": 1.0}, "'q' is not a text"),
        ({"X": "HALF_FILLED"}, "HALF_FILLED"),
        ({"S": "HOLD"}, "KeyError"),
        ({"i": "4293153"}, "'i' is not an integer"),
        ({"c": None}, "'c' is not a text"),
    ],
)
def test_should_refuse_an_execution_report_it_cannot_read_exactly(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(MessageError, match=match):
        parse_execution_report(_docs_report(**changes), ETHBTC)
    with pytest.raises(MessageError, match="not a JSON object"):
        parse_execution_report([], ETHBTC)  # type: ignore[arg-type]
    missing = _docs_report()
    del missing["z"]
    with pytest.raises(MessageError, match="KeyError"):
        parse_execution_report(missing, ETHBTC)


def test_should_read_the_documented_account_position() -> None:
    position = parse_account_position(orjson.loads(DOCS_ACCOUNT_POSITION))
    assert position == AccountPosition(
        event_time_ms=1564034571105,
        update_time_ms=1564034571073,
        balances=(AssetBalance("ETH", 10000 * 10**ASSET_SCALE, 0),),
    )
    with pytest.raises(MessageError, match="'B' is not a list"):
        parse_account_position({**orjson.loads(DOCS_ACCOUNT_POSITION), "B": {}})


# ------------------------------------------------------------------------------------------ answers
def test_should_read_the_documented_order_status() -> None:
    order = parse_order(orjson.loads(DOCS_ORDER_STATUS), BTCUSDT)
    assert (order.symbol, order.order_id, order.client_order_id, order.side, order.status) == (
        "BTCUSDT",
        12569099453,
        "4d96324ff9d44481926157",
        OrderSide.SELL,
        VenueOrderStatus.FILLED,
    )
    assert (order.price, order.orig_qty, order.executed_qty, order.cum_quote) == (2341610, 847, 847, 1983352150)
    assert (order.time_ms, order.update_time_ms, order.status.is_open) == (1660801715639, 1660801717945, False)
    placed = parse_order({**orjson.loads(DOCS_ORDER_STATUS), "status": "NEW", "transactTime": 5}, BTCUSDT)
    assert placed.status.is_open
    with pytest.raises(MessageError, match="is not 'ETHBTC'"):
        parse_order(orjson.loads(DOCS_ORDER_STATUS), ETHBTC)


def test_should_read_the_documented_rate_limits() -> None:
    limits = parse_rate_limits(orjson.loads(DOCS_RATE_LIMITS))
    assert limits[0] == RateLimit("ORDERS", "SECOND", 10, 50, 12)
    assert limits[2] == RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 6000, 321)
    with pytest.raises(MessageError, match="not a list"):
        parse_rate_limits({})
    with pytest.raises(MessageError, match="'count' is not an integer"):
        parse_rate_limits([{"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 5}])
