"""Binance response and event shapes built from EX_EVENT records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hftpipe.schema.exchange import Event, OrderStatus, ReplaceMode, ReplaceOutcome, RespType
from hftpipe.schema.exchange_codec import EventRecord, encode_id
from hftpipe.schema.exchange_errors import reject_reason
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from stages.exchange.gateway import results
from stages.exchange.gateway.formatter import Formatter, OrderInfo, fmt
from stages.exchange.gateway.link import Item
from stages.exchange.gateway.requests import CancelReplace, CancelTarget, NewOrder
from stages.exchange.protocol.api_error import ApiError
from stages.exchange.protocol.settings import ExchangeSettings
from tests.unit.exchange.gateway.harness import exchange_table

T = 1_700_000_000_123_456_789
ACCOUNT = 1
OTHER = 2


@pytest.fixture(scope="module")
def formatter(tmp_path_factory: pytest.TempPathFactory) -> Formatter:
    return Formatter(ExchangeSettings.from_raw(exchange_table(Path(tmp_path_factory.mktemp("state")))))


def order_request(formatter: Formatter, resp_type: RespType = RespType.FULL) -> NewOrder:
    return NewOrder(
        symbol=formatter.settings.symbols[0],
        side=int(OrderSide.BUY),
        order_type=int(OrderType.LIMIT),
        tif=int(TimeInForce.GTC),
        stp_mode=2,
        resp_type=int(resp_type),
        price=6_000_000,
        qty=100_000,
        quote_qty=0,
        client_order_id="mine",
    )


def record(event: Event, **fields: Any) -> EventRecord:
    base: dict[str, Any] = {"instrument": 1, "account": ACCOUNT, "event": int(event), "ts_venue": T}
    base.update(fields)
    return EventRecord(**base)


def items(*records: EventRecord) -> list[Item]:
    return [(r, None) for r in records]


def new(order_id: int = 7, **fields: Any) -> EventRecord:
    base: dict[str, Any] = {
        "order_id": order_id,
        "side": int(OrderSide.BUY),
        "order_type": int(OrderType.LIMIT),
        "tif": int(TimeInForce.GTC),
        "stp_mode": 2,
        "price": 6_000_000,
        "qty": 100_000,
        "status": int(OrderStatus.NEW),
        "client_order_id": encode_id("mine"),
    }
    base.update(fields)
    return record(Event.NEW, **base)


def trade(order_id: int, maker: bool, qty: int, cum: int, status: OrderStatus, **fields: Any) -> EventRecord:
    return record(
        Event.TRADE,
        order_id=order_id,
        is_maker=int(maker),
        trade_id=11,
        last_price=5_999_999,
        last_qty=qty,
        cum_qty=cum,
        cum_quote=5_999_999 * cum,
        status=int(status),
        commission=123,
        commission_asset=1,
        **fields,
    )


def rejected(code: int, message: str) -> EventRecord:
    return record(Event.REJECTED, reject_code=code, reject_reason=reject_reason(message))


def test_should_format_fixed_point_with_eight_decimals() -> None:
    assert fmt(6_000_001, 2) == "60000.01000000"
    assert fmt(0, 0) == "0.00000000"
    assert fmt(-5, 8) == "-0.00000005"
    assert fmt(1, 10) == "0.0000000001"


def test_should_answer_order_place_in_each_response_type(formatter: Formatter) -> None:
    answer = items(
        new(),
        trade(3, True, 40_000, 40_000, OrderStatus.PARTIALLY_FILLED, account=OTHER),
        trade(7, False, 40_000, 40_000, OrderStatus.PARTIALLY_FILLED),
        record(Event.DONE, flags=1),
    )
    ack = results.place_answer(formatter, order_request(formatter, RespType.ACK), ACCOUNT, answer)
    assert ack == {
        "symbol": "BTCUSDT",
        "orderId": 7,
        "orderListId": -1,
        "clientOrderId": "mine",
        "transactTime": T // 1_000_000,
    }
    full = results.place_answer(formatter, order_request(formatter), ACCOUNT, answer)
    assert full["status"] == "PARTIALLY_FILLED"
    assert (full["price"], full["origQty"], full["executedQty"]) == ("60000.00000000", "1.00000000", "0.40000000")
    assert full["cummulativeQuoteQty"] == "23999.99600000"
    assert (full["type"], full["side"], full["timeInForce"]) == ("LIMIT", "BUY", "GTC")
    assert full["selfTradePreventionMode"] == "EXPIRE_MAKER"
    assert full["fills"] == [
        {
            "price": "59999.99000000",
            "qty": "0.40000000",
            "commission": "0.00000123",
            "commissionAsset": "BTC",
            "tradeId": 11,
        }
    ]
    result = results.place_answer(formatter, order_request(formatter, RespType.RESULT), ACCOUNT, answer)
    assert "fills" not in result and result["executedQty"] == "0.40000000"


def test_should_turn_a_rejection_into_its_binance_error(formatter: Formatter) -> None:
    with pytest.raises(ApiError) as caught:
        results.place_answer(
            formatter,
            order_request(formatter),
            ACCOUNT,
            items(rejected(-2010, "Account has insufficient balance for requested action."), record(Event.DONE)),
        )
    assert (caught.value.status, caught.value.code) == (400, -2010)
    assert caught.value.msg == "Account has insufficient balance for requested action."


def canceled(order_id: int = 7, **fields: Any) -> EventRecord:
    base: dict[str, Any] = {
        "order_id": order_id,
        "qty": 100_000,
        "cum_qty": 10_000,
        "cum_quote": 60_000_000_000,
        "status": int(OrderStatus.CANCELED),
        "client_order_id": encode_id("cancel-id"),
        "orig_client_order_id": encode_id("mine"),
    }
    base.update(fields)
    return record(Event.CANCELED, **base)


def test_should_answer_a_cancel_with_the_order_it_canceled(formatter: Formatter) -> None:
    info = OrderInfo.from_record(new())
    target = CancelTarget(formatter.settings.symbols[0], 7, "", "cancel-id")
    report = results.cancel_answer(formatter, target, ACCOUNT, [(canceled(), info)])
    assert report["origClientOrderId"] == "mine" and report["clientOrderId"] == "cancel-id"
    assert (report["status"], report["price"], report["executedQty"]) == ("CANCELED", "60000.00000000", "0.10000000")
    assert report["cummulativeQuoteQty"] == "6000.00000000"
    with pytest.raises(ApiError) as caught:
        results.cancel_answer(formatter, target, ACCOUNT, items(rejected(-2011, "Unknown order sent.")))
    assert (caught.value.code, caught.value.msg) == (-2011, "Unknown order sent.")


def replace_request(formatter: Formatter, mode: ReplaceMode) -> CancelReplace:
    target = CancelTarget(formatter.settings.symbols[0], 7, "", "cancel-id")
    return CancelReplace(cancel=target, order=order_request(formatter, RespType.ACK), replace_mode=int(mode))


def closing(outcome: ReplaceOutcome) -> EventRecord:
    return record(Event.CANCEL_REPLACE, status=int(outcome))


def test_should_answer_a_successful_cancel_replace(formatter: Formatter) -> None:
    result = results.cancel_replace_answer(
        formatter,
        replace_request(formatter, ReplaceMode.STOP_ON_FAILURE),
        ACCOUNT,
        items(canceled(), new(8), closing(ReplaceOutcome.SUCCESS)),
    )
    assert (result["cancelResult"], result["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert result["cancelResponse"]["orderId"] == 7 and result["newOrderResponse"]["orderId"] == 8


@pytest.mark.parametrize(
    ("records", "status", "code", "cancel_result", "new_result"),
    [
        ((rejected(-2011, "Unknown order sent."), closing(ReplaceOutcome.CANCEL_FAILED)), 400, -2022, "FAILURE",
         "NOT_ATTEMPTED"),
        ((canceled(), rejected(-2010, "Order would immediately match and take."), closing(ReplaceOutcome.NEW_FAILED)),
         409, -2021, "SUCCESS", "FAILURE"),
        ((rejected(-2011, "Unknown order sent."), new(8), closing(ReplaceOutcome.CANCEL_FAILED)), 409, -2021,
         "FAILURE", "SUCCESS"),
        ((rejected(-2011, "Unknown order sent."), rejected(-2010, "Order would immediately match and take."),
          closing(ReplaceOutcome.BOTH_FAILED)), 400, -2022, "FAILURE", "FAILURE"),
    ],
)
def test_should_report_cancel_replace_failures_with_the_documented_data(
    formatter: Formatter,
    records: tuple[EventRecord, ...],
    status: int,
    code: int,
    cancel_result: str,
    new_result: str,
) -> None:
    with pytest.raises(ApiError) as caught:
        results.cancel_replace_answer(
            formatter, replace_request(formatter, ReplaceMode.ALLOW_FAILURE), ACCOUNT, items(*records)
        )
    error = caught.value
    assert (error.status, error.code) == (status, code)
    assert error.msg == ("Order cancel-replace failed." if code == -2022 else "Order cancel-replace partially failed.")
    assert (error.data["cancelResult"], error.data["newOrderResult"]) == (cancel_result, new_result)
    if cancel_result == "FAILURE":
        assert error.data["cancelResponse"] == {"code": -2011, "msg": "Unknown order sent."}
    if new_result == "FAILURE":
        assert error.data["newOrderResponse"] == {"code": -2010, "msg": "Order would immediately match and take."}
    if new_result == "NOT_ATTEMPTED":
        assert error.data["newOrderResponse"] is None


def test_should_refuse_a_cancel_replace_that_failed_its_filters_as_a_plain_error(formatter: Formatter) -> None:
    for answer in (
        items(rejected(-1013, "Filter failure: LOT_SIZE"), closing(ReplaceOutcome.CANCEL_FAILED)),
        items(rejected(-2010, "Account has insufficient balance for requested action.")),
    ):
        with pytest.raises(ApiError) as caught:
            results.cancel_replace_answer(
                formatter, replace_request(formatter, ReplaceMode.STOP_ON_FAILURE), ACCOUNT, answer
            )
        assert caught.value.code in (-1013, -2010) and caught.value.data is None


def test_should_build_execution_reports_from_trades_with_what_the_new_event_said(formatter: Formatter) -> None:
    info = OrderInfo.from_record(new())
    report = formatter.execution_report(
        trade(7, True, 40_000, 40_000, OrderStatus.PARTIALLY_FILLED), info, now_ms=5, execution_id=9
    )
    assert report["e"] == "executionReport" and report["E"] == 5 and report["I"] == 9
    assert [report[k] for k in "scSof"] == ["BTCUSDT", "mine", "BUY", "LIMIT", "GTC"]
    assert (report["q"], report["p"]) == ("1.00000000", "60000.00000000")
    assert [report[k] for k in "xXitm"] == ["TRADE", "PARTIALLY_FILLED", 7, 11, True]
    assert (report["l"], report["z"], report["L"]) == ("0.40000000", "0.40000000", "59999.99000000")
    assert (report["n"], report["N"]) == ("0.00000123", "BTC")
    assert report["Y"] == "23999.99600000" and report["Z"] == "23999.99600000"
    assert report["O"] == T // 1_000_000 and report["w"] is True and report["W"] == T // 1_000_000
    assert report["V"] == "EXPIRE_MAKER" and report["C"] == ""


def test_should_build_account_events(formatter: Formatter) -> None:
    balances = [record(Event.BALANCE, commission_asset=3, qty=150_000_000, quote_qty=2)]
    position = formatter.account_position(balances, now_ms=5)
    assert position == {
        "e": "outboundAccountPosition",
        "E": 5,
        "u": T // 1_000_000,
        "B": [{"a": "ETH", "f": "1.50000000", "l": "0.00000002"}],
    }
    update = formatter.balance_update(record(Event.BALANCE_UPDATE, commission_asset=2, qty=-100_000_000), now_ms=5)
    assert update == {"e": "balanceUpdate", "E": 5, "a": "USDT", "d": "-1.00000000", "T": T // 1_000_000}


def test_should_answer_depth_with_the_last_update_id(formatter: Formatter) -> None:
    answer = items(
        record(Event.DEPTH_LEVEL, side=0, price=100, qty=5),
        record(Event.DEPTH_LEVEL, side=1, price=101, qty=6),
        record(Event.DONE, order_id=77),
        record(Event.DONE, flags=1),
    )
    assert results.depth_answer(formatter, 1, answer) == {
        "lastUpdateId": 77,
        "bids": [["1.00000000", "0.00005000"]],
        "asks": [["1.01000000", "0.00006000"]],
    }
