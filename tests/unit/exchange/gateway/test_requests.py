"""Parameter parsing: fixed point at the symbol's scales, and Binance's errors for what does not fit."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hftpipe.schema.exchange import ReplaceMode, RespType
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from stages.exchange.gateway.request_json import JsonNumber, loads_request
from stages.exchange.gateway.requests import (
    decimal_param,
    depth_limit,
    depth_weight,
    int_param,
    new_client_order_id,
    parse_cancel,
    parse_cancel_replace,
    parse_new_order,
    recv_window_ms,
    timestamp_ms,
)
from stages.exchange.protocol.api_error import ApiError
from stages.exchange.protocol.settings import ExchangeSettings
from tests.unit.exchange.gateway.harness import exchange_table


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> ExchangeSettings:
    return ExchangeSettings.from_raw(exchange_table(Path(tmp_path_factory.mktemp("state"))))


def error_of(call: Any, *args: Any) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value.code, caught.value.msg


LIMIT = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "price": "60000.01",
    "quantity": "0.5",
}


def test_should_parse_a_limit_order_at_the_symbol_scales(settings: ExchangeSettings) -> None:
    order = parse_new_order(LIMIT, settings)
    assert (order.price, order.qty, order.quote_qty) == (6_000_001, 50_000, 0)
    assert (order.side, order.order_type, order.tif) == (OrderSide.BUY, OrderType.LIMIT, TimeInForce.GTC)
    assert order.resp_type == RespType.FULL
    assert order.stp_mode == 2  # EXPIRE_MAKER, the advertised default
    assert len(order.client_order_id) == 22 and order.client_order_id.isalnum()


def test_should_accept_json_numbers_and_trailing_zeros(settings: ExchangeSettings) -> None:
    params = loads_request('{"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "IOC",'
                           ' "price": 60000.0100000, "quantity": 2, "newClientOrderId": "my-id.1:/_"}')
    order = parse_new_order(params, settings)
    assert (order.price, order.qty, order.side, order.tif) == (6_000_001, 200_000, OrderSide.SELL, TimeInForce.IOC)
    assert order.client_order_id == "my-id.1:/_"


def test_should_parse_market_orders_by_quantity_or_quote(settings: ExchangeSettings) -> None:
    market = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"}
    by_quote = parse_new_order({**market, "quoteOrderQty": "100.5"}, settings)
    assert (by_quote.qty, by_quote.quote_qty, by_quote.price) == (0, 100_5000000, 0)  # price+qty scale = 7
    by_qty = parse_new_order({"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.001"}, settings)
    assert (by_qty.qty, by_qty.quote_qty) == (100, 0)
    maker = parse_new_order({**LIMIT, "type": "LIMIT_MAKER", "timeInForce": None}, settings)
    assert maker.order_type == OrderType.LIMIT_MAKER and maker.resp_type == RespType.ACK


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"symbol": "NOPE"}, -1121, "Invalid symbol."),
        ({"symbol": None}, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."),
        ({"side": "HOLD"}, -1117, "Invalid side."),
        ({"type": "FANCY"}, -1116, "Invalid orderType."),
        ({"type": "STOP_LOSS"}, -2010, "Stop loss orders are not supported for this symbol."),
        ({"timeInForce": "GTX"}, -1115, "Invalid timeInForce."),
        ({"timeInForce": None}, -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."),
        ({"price": None}, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."),
        ({"quantity": "-1"}, -1100, "Illegal characters found in parameter 'quantity'; legal range is "
                                    "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'."),
        ({"price": "1e3"}, -1100, "Illegal characters found in parameter 'price'; legal range is "
                                  "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'."),
        ({"quantity": "0.000000001"}, -1111, "Parameter 'quantity' has too much precision."),
        ({"quantity": "0.000001"}, -1013, "Filter failure: LOT_SIZE"),
        ({"price": "60000.001"}, -1013, "Filter failure: PRICE_FILTER"),
        ({"price": "0"}, -1013, "Filter failure: PRICE_FILTER"),
        ({"quoteOrderQty": "10"}, -1106, "Parameter 'quoteOrderQty' sent when not required."),
        ({"stopPrice": "1"}, -1106, "Parameter 'stopPrice' sent when not required."),
        ({"icebergQty": "0.1"}, -2010, "Iceberg orders are not supported for this symbol."),
        ({"selfTradePreventionMode": "DECREMENT"}, -1013,
         "This symbol does not allow the specified self-trade prevention mode."),
        ({"newOrderRespType": "ALL"}, -1100, "Illegal characters found in parameter 'newOrderRespType'; legal range "
                                             "is 'ACK, RESULT, FULL'."),
        ({"newClientOrderId": "has space"}, -1100, "Illegal characters found in parameter 'newClientOrderId'; legal "
                                                   "range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'."),
    ],
)
def test_should_reject_bad_orders_with_binance_errors(
    settings: ExchangeSettings, change: dict[str, Any], code: int, message: str
) -> None:
    assert error_of(parse_new_order, {**LIMIT, **change}, settings) == (code, message)


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({"type": "MARKET"}, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"),
        ({"type": "MARKET", "quantity": "1", "quoteOrderQty": "1"}, -1106,
         "Parameter 'quoteOrderQty' sent when not required."),
        ({"type": "MARKET", "quantity": "1", "price": "1"}, -1106, "Parameter 'price' sent when not required."),
        ({"type": "MARKET", "quantity": "1", "timeInForce": "GTC"}, -1106,
         "Parameter 'timeInForce' sent when not required."),
        ({"type": "MARKET", "quoteOrderQty": "0.000000001"}, -1111,
         "Parameter 'quoteOrderQty' has too much precision."),
    ],
)
def test_should_check_market_order_combinations(
    settings: ExchangeSettings, params: dict[str, Any], code: int, message: str
) -> None:
    assert error_of(parse_new_order, {"symbol": "BTCUSDT", "side": "BUY", **params}, settings) == (code, message)


def test_should_parse_cancels_by_id_or_client_id(settings: ExchangeSettings) -> None:
    by_id = parse_cancel({"symbol": "ETHUSDT", "orderId": JsonNumber("42")}, settings)
    assert (by_id.order_id, by_id.orig_client_order_id, by_id.symbol.symbol) == (42, "", "ETHUSDT")
    assert len(by_id.new_client_order_id) == 22
    by_client = parse_cancel({"symbol": "ETHUSDT", "origClientOrderId": "abc", "newClientOrderId": "x"}, settings)
    assert (by_client.order_id, by_client.orig_client_order_id, by_client.new_client_order_id) == (0, "abc", "x")
    assert error_of(parse_cancel, {"symbol": "ETHUSDT"}, settings) == (
        -1102,
        "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
    )
    restricted = {"symbol": "ETHUSDT", "orderId": 1, "cancelRestrictions": "NOPE"}
    assert error_of(parse_cancel, restricted, settings)[0] == -1145


def test_should_parse_cancel_replace(settings: ExchangeSettings) -> None:
    request = parse_cancel_replace(
        {
            **LIMIT,
            "cancelReplaceMode": "ALLOW_FAILURE",
            "cancelOrigClientOrderId": "old",
            "cancelNewClientOrderId": "c",
        },
        settings,
    )
    assert request.replace_mode == ReplaceMode.ALLOW_FAILURE
    assert (request.cancel.orig_client_order_id, request.cancel.new_client_order_id) == ("old", "c")
    assert request.order.price == 6_000_001
    assert error_of(parse_cancel_replace, {**LIMIT, "cancelOrderId": 1}, settings)[0] == -1102


def test_should_read_timestamps_and_windows() -> None:
    assert timestamp_ms({"timestamp": JsonNumber("1645423376532")}) == 1645423376532
    assert timestamp_ms({"timestamp": 1645423376532123}) == Decimal("1645423376532.123")
    assert error_of(timestamp_ms, {})[0] == -1102
    assert error_of(timestamp_ms, {"timestamp": "soon"})[0] == -1102
    assert recv_window_ms({}, 60000) == 5000
    assert recv_window_ms({"recvWindow": JsonNumber("6000.346")}, 60000) == Decimal("6000.346")
    assert error_of(recv_window_ms, {"recvWindow": 60001}, 60000) == (
        -1102,
        "'recvWindow' contains unexpected value. Cannot be greater than '60000'.",
    )


def test_should_refuse_integers_beyond_64_bits_as_illegal(settings: ExchangeSettings) -> None:
    """Binance's LONG: 2^63 and up used to reach the record codec and come back as -1000."""
    for value in (JsonNumber(str(2**63)), str(2**64), -(2**63) - 1, JsonNumber("9" * 20)):
        assert error_of(int_param, {"orderId": value}, "orderId")[0] == -1100
        assert error_of(parse_cancel, {"symbol": "BTCUSDT", "orderId": value}, settings)[0] == -1100
    assert int_param({"orderId": JsonNumber(str(2**63 - 1))}, "orderId") == 2**63 - 1
    assert int_param({"n": str(-(2**63))}, "n") == -(2**63)


def test_should_refuse_a_timestamp_too_long_to_be_one() -> None:
    assert error_of(timestamp_ms, {"timestamp": "9" * 5000})[0] == -1102


def test_should_weigh_depth_like_binance() -> None:
    assert [depth_weight(n) for n in (1, 100, 101, 500, 501, 1000, 1001, 5000)] == [5, 5, 25, 25, 50, 50, 250, 250]
    assert depth_limit({}) == 100 and depth_limit({"limit": 5}) == 5
    assert error_of(depth_limit, {"limit": 5001})[0] == -1100


def test_should_parse_decimals_exactly() -> None:
    assert decimal_param({"p": "12345678901234567.89"}, "p", 2, None) == 1234567890123456789
    assert decimal_param({"p": "0.10"}, "p", 1, None) == 1
    assert decimal_param({}, "p", 2, None) is None
    assert error_of(decimal_param, {"p": "99999999999999999999"}, "p", 2, None)[0] == -1108
    assert new_client_order_id() != new_client_order_id()
