"""An answer's EX_EVENT records -> the ``result`` (or the error) of the request that caused them.

Pure functions: the records of one request, filtered to the requesting account
(a taker's request also carries the makers' records, which are user data for
them and no part of this answer), and what the request asked for.

A REJECTED record becomes the Binance error it carries. For
``order.cancelReplace`` the halves are told apart by order: the cancel's
CANCELED/REJECTED comes first, the new order's NEW/TRADE/EXPIRED/REJECTED
after it, the closing CANCEL_REPLACE last. An answer without that closing
record was refused as a whole (by accounting's checks or the filters, which
Binance evaluates "before cancellation and order placement occurs") and is
the plain error of its REJECTED.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from hftpipe.schema.exchange import Event, RespType
from hftpipe.schema.exchange_codec import EventRecord, decode_id
from hftpipe.schema.exchange_errors import (
    CANCEL_REPLACE_FAILED,
    CANCEL_REPLACE_PARTIALLY_FAILED,
    ORDER_DOES_NOT_EXIST,
    UNKNOWN_ERROR,
    UNKNOWN_ORDER,
    ErrorCode,
)
from hftpipe.schema.trading import OrderSide
from stages.exchange.gateway.formatter import Formatter, OrderInfo, fmt, ms
from stages.exchange.gateway.keys import ApiKey
from stages.exchange.gateway.link import Item
from stages.exchange.gateway.requests import CancelReplace, CancelTarget, NewOrder
from stages.exchange.protocol.api_error import ApiError
from stages.exchange.protocol.settings import ExchangeSettings

_NEW: Final = int(Event.NEW)
_TRADE: Final = int(Event.TRADE)
_CANCELED: Final = int(Event.CANCELED)
_EXPIRED: Final = int(Event.EXPIRED)
_REJECTED: Final = int(Event.REJECTED)
_ORDER: Final = int(Event.ORDER)
_BALANCE: Final = int(Event.BALANCE)
_DEPTH_LEVEL: Final = int(Event.DEPTH_LEVEL)
_DONE: Final = int(Event.DONE)
_BUY: Final = int(OrderSide.BUY)
_CANCEL_REPLACE: Final = int(Event.CANCEL_REPLACE)
_ORDER_UPDATES: Final = frozenset({_NEW, _TRADE, _CANCELED, _EXPIRED})
_FILTER_FAILURE: Final = int(ErrorCode.INVALID_MESSAGE)


def own(items: Sequence[Item], account: int) -> list[Item]:
    return [item for item in items if item[0].account == account]


def _first(items: Sequence[Item], event: int) -> Item | None:
    return next((item for item in items if item[0].event == event), None)


def _rejection(items: Sequence[Item]) -> ApiError:
    rejected = _first(items, _REJECTED)
    if rejected is None:
        return ApiError.of(UNKNOWN_ERROR)
    return ApiError.rejected(rejected[0].reject_code, rejected[0].reject_reason)


def _error_object(record: EventRecord) -> dict[str, Any]:
    return ApiError.rejected(record.reject_code, record.reject_reason).error_object()


# ------------------------------------------------------------------------------ order.place


def new_order_result(formatter: Formatter, order: NewOrder, new: EventRecord, items: Sequence[Item]) -> dict[str, Any]:
    """The ``order.place`` result for the order ``new`` accepted, in the asked response type."""
    info = OrderInfo.from_record(new)
    if not info.client_order_id:
        info.client_order_id = order.client_order_id
    transact_ms = ms(new.ts_venue)
    if order.resp_type == int(RespType.ACK):
        return formatter.order_ack(info, transact_ms)
    status, cum_qty, cum_quote = new.status, new.cum_qty, new.cum_quote
    fills = []
    for record, _ in items:
        if record.order_id != new.order_id or record.event not in _ORDER_UPDATES:
            continue
        status = record.status
        if record.event == _TRADE:
            cum_qty, cum_quote = record.cum_qty, record.cum_quote
            if not record.is_maker:
                fills.append(formatter.fill(record))
        elif record.event in (_CANCELED, _EXPIRED):
            cum_qty, cum_quote = max(cum_qty, record.cum_qty), max(cum_quote, record.cum_quote)
    result = formatter.order_result(info, transact_ms, status, cum_qty, cum_quote)
    if order.resp_type == int(RespType.FULL):
        result["fills"] = fills
    return result


def place_answer(formatter: Formatter, order: NewOrder, account: int, items: Sequence[Item]) -> dict[str, Any]:
    mine = own(items, account)
    new = _first(mine, _NEW)
    if new is None:
        raise _rejection(mine)
    return new_order_result(formatter, order, new[0], mine)


# ------------------------------------------------------------------------------ order.cancel


def cancel_ids(record: EventRecord, info: OrderInfo | None, new_client_order_id: str) -> tuple[str, str]:
    """(origClientOrderId, clientOrderId) of a cancel report.

    Accounting fills ``orig_client_order_id`` with the order's own id and
    ``client_order_id`` with the cancel's ``newClientOrderId``; should a
    record carry only the order's id, the request's new id is used.
    """
    orig = decode_id(record.orig_client_order_id)
    current = decode_id(record.client_order_id)
    if orig:
        return orig, current or new_client_order_id
    return (info.client_order_id if info and info.client_order_id else current), new_client_order_id


def _cancel_info(record: EventRecord, info: OrderInfo | None, orig_id: str) -> OrderInfo:
    if info is not None:
        return info
    fallback = OrderInfo.from_record(record)
    fallback.client_order_id = orig_id
    return fallback


def cancel_report(formatter: Formatter, item: Item, new_client_order_id: str) -> dict[str, Any]:
    record, info = item
    orig_id, new_id = cancel_ids(record, info, new_client_order_id)
    return formatter.cancel_report(_cancel_info(record, info, orig_id), record, orig_id, new_id)


def cancel_answer(formatter: Formatter, target: CancelTarget, account: int, items: Sequence[Item]) -> dict[str, Any]:
    mine = own(items, account)
    canceled = _first(mine, _CANCELED)
    if canceled is None:
        raise _rejection(mine) if _first(mine, _REJECTED) else ApiError.of(UNKNOWN_ORDER)
    return cancel_report(formatter, canceled, target.new_client_order_id)


def cancel_all_answer(
    formatter: Formatter, new_client_order_id: str, account: int, items: Sequence[Item]
) -> list[dict[str, Any]]:
    mine = own(items, account)
    reports = [cancel_report(formatter, item, new_client_order_id) for item in mine if item[0].event == _CANCELED]
    if not reports:
        raise _rejection(mine) if _first(mine, _REJECTED) else ApiError.of(UNKNOWN_ORDER)
    return reports


# ------------------------------------------------------------------------------ order.cancelReplace


def cancel_replace_answer(
    formatter: Formatter, request: CancelReplace, account: int, items: Sequence[Item]
) -> dict[str, Any]:
    """The 200 result; a partial or total failure raises ApiError -2021 (409) / -2022 (400) with ``data``."""
    mine = own(items, account)
    if _first(mine, _CANCEL_REPLACE) is None:
        raise _rejection(mine)
    cancel_half: Item | None = None
    new_half: Item | None = None
    new_rejected: EventRecord | None = None
    for item in mine:
        record = item[0]
        if cancel_half is None and record.event in (_CANCELED, _REJECTED):
            cancel_half = item
        elif record.event == _NEW and new_half is None:
            new_half = item
        elif record.event == _REJECTED and new_half is None and new_rejected is None:
            new_rejected = record
    if cancel_half is None:
        raise ApiError.of(UNKNOWN_ERROR)
    cancel_record = cancel_half[0]
    cancel_ok = cancel_record.event == _CANCELED
    if not cancel_ok and new_half is None and new_rejected is None and cancel_record.reject_code == _FILTER_FAILURE:
        raise ApiError.rejected(cancel_record.reject_code, cancel_record.reject_reason)  # a filter refused it all
    cancel_response = (
        cancel_report(formatter, cancel_half, request.cancel.new_client_order_id)
        if cancel_ok
        else _error_object(cancel_record)
    )
    new_response: dict[str, Any] | None = None
    if new_half is not None:
        new_response = new_order_result(formatter, request.order, new_half[0], mine)
    elif new_rejected is not None:
        new_response = _error_object(new_rejected)
    new_result = "SUCCESS" if new_half is not None else "FAILURE" if new_rejected is not None else "NOT_ATTEMPTED"
    body = {
        "cancelResult": "SUCCESS" if cancel_ok else "FAILURE",
        "newOrderResult": new_result,
        "cancelResponse": cancel_response,
        "newOrderResponse": new_response,
    }
    if cancel_ok and new_half is not None:
        return body
    if cancel_ok or new_half is not None:
        raise ApiError.of(CANCEL_REPLACE_PARTIALLY_FAILED, 409, body)
    raise ApiError.of(CANCEL_REPLACE_FAILED, 400, body)


# ------------------------------------------------------------------------------ queries


def order_status_answer(formatter: Formatter, account: int, items: Sequence[Item]) -> dict[str, Any]:
    mine = own(items, account)
    order = _first(mine, _ORDER)
    if order is None:
        raise _rejection(mine) if _first(mine, _REJECTED) else ApiError.of(ORDER_DOES_NOT_EXIST)
    return formatter.order_status(order[0])


def open_orders_answer(formatter: Formatter, account: int, items: Sequence[Item]) -> list[dict[str, Any]]:
    mine = own(items, account)
    if _first(mine, _REJECTED) is not None and _first(mine, _ORDER) is None:
        raise _rejection(mine)
    return [formatter.order_status(record) for record, _ in mine if record.event == _ORDER]


def my_trades_answer(formatter: Formatter, account: int, items: Sequence[Item]) -> list[dict[str, Any]]:
    """``myTrades``: one row per fill the query returned, by trade id."""
    mine = own(items, account)
    if _first(mine, _REJECTED) is not None and _first(mine, _TRADE) is None:
        raise _rejection(mine)
    rows = []
    for record, _ in mine:
        if record.event != _TRADE:
            continue
        instrument = record.instrument
        rows.append(
            {
                "symbol": formatter.symbol_name(instrument),
                "id": record.trade_id,
                "orderId": record.order_id,
                "orderListId": -1,
                "price": formatter.price(instrument, record.last_price),
                "qty": formatter.qty(instrument, record.last_qty),
                "quoteQty": formatter.quote(instrument, record.last_price * record.last_qty),
                "commission": formatter.amount(record.commission),
                "commissionAsset": formatter.asset_name(record.commission_asset),
                "time": ms(record.ts_venue),
                "isBuyer": record.side == _BUY,
                "isMaker": bool(record.is_maker),
                "isBestMatch": True,
            }
        )
    return rows


def depth_answer(formatter: Formatter, instrument: int, items: Sequence[Item]) -> dict[str, Any]:
    records = [record for record, _ in items]
    if any(record.event == _REJECTED for record in records):
        raise _rejection(items)
    last_update_id = next((record.order_id for record in records if record.event == _DONE and record.order_id), 0)
    levels = [record for record in records if record.event == _DEPTH_LEVEL]
    return formatter.depth(instrument, levels, last_update_id)


def commission_bps(rate: int) -> int:
    """A rate at 1e-8 in basis points (Binance's integer ``makerCommission``: 0.001 -> 10)."""
    return rate // 10_000


def account_answer(
    formatter: Formatter,
    settings: ExchangeSettings,
    key: ApiKey,
    items: Sequence[Item],
    omit_zero: bool,
) -> dict[str, Any]:
    mine = own(items, key.account_id)
    if _first(mine, _REJECTED) is not None:
        raise _rejection(mine)
    balances = [record for record, _ in mine if record.event == _BALANCE]
    zero = fmt(0, 0)
    return {
        "makerCommission": commission_bps(settings.maker_commission),
        "takerCommission": commission_bps(settings.taker_commission),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "canTrade": "TRADE" in key.permissions,
        "canWithdraw": False,
        "canDeposit": False,
        "commissionRates": {
            "maker": fmt(settings.maker_commission, 8),
            "taker": fmt(settings.taker_commission, 8),
            "buyer": zero,
            "seller": zero,
        },
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": max((ms(record.ts_venue) for record in balances), default=0),
        "accountType": "SPOT",
        "balances": formatter.balances(balances, omit_zero),
        "permissions": ["SPOT"],
        "uid": key.account_id,
    }


def test_order_rates(settings: ExchangeSettings) -> dict[str, Any]:
    """``order.test`` with ``computeCommissionRates``: the configured rates, no discounts or taxes here."""
    zero = fmt(0, 8)
    maker, taker = fmt(settings.maker_commission, 8), fmt(settings.taker_commission, 8)
    return {
        "standardCommissionForOrder": {"maker": maker, "taker": taker},
        "specialCommissionForOrder": {"maker": zero, "taker": zero},
        "taxCommissionForOrder": {"maker": zero, "taker": zero},
        "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": None, "discount": zero},
    }
