"""Request parameters -> checked, fixed-point values, with Binance's errors for bad ones.

Decimals (``price``, ``quantity``, ``quoteOrderQty``) must match Binance's
``^([0-9]{1,20})(\\.[0-9]{1,20})?$`` (-1100), may not carry more than eight
significant decimals (-1111, the assets' precision), and must fit the symbol's
scale: a price finer than ``tickSize`` or a quantity finer than ``stepSize``
cannot be on the grid, so it is the filter failure Binance would report for it
(-1013 PRICE_FILTER / LOT_SIZE). Zero values fail the same filters (the engine
would reject them anyway, and a zero would read as "not sent" in a record).
``quoteOrderQty`` is kept at ``price_scale + qty_scale`` (the records' quote
scale); finer than that is -1111.

The combination rules are Binance's ``order.place`` table for the supported
types: LIMIT needs ``timeInForce``, ``price``, ``quantity``; LIMIT_MAKER
``price``, ``quantity``; MARKET ``quantity`` or ``quoteOrderQty``. A parameter
a type does not take is -1106 "sent when not required". Stop, take-profit,
trailing and iceberg orders are -2010 "... not supported for this symbol.", as
on a Binance symbol where they are disabled. ``strategyId``/``strategyType``
are accepted and ignored.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from hftpipe.protocols.binance_signing import param_text
from hftpipe.schema.exchange import Command, ReplaceMode, RespType
from hftpipe.schema.exchange_codec import CommandRecord, encode_id
from hftpipe.schema.exchange_errors import (
    CANCEL_ID_MISSING,
    DECIMAL_RANGE,
    ICEBERG_UNSUPPORTED,
    INVALID_CANCEL_REPLACE_MODE,
    INVALID_CANCEL_RESTRICTIONS,
    INVALID_ORDER_TYPE,
    INVALID_SIDE,
    INVALID_STP_MODE,
    INVALID_SYMBOL,
    INVALID_TIF,
    NOTIONAL,
    OPERATION_NOT_SUPPORTED,
    QTY_OR_QUOTE_MISSING,
    QUOTE_NOT_REQUIRED,
    STOP_LOSS_LIMIT_UNSUPPORTED,
    STOP_LOSS_UNSUPPORTED,
    TAKE_PROFIT_LIMIT_UNSUPPORTED,
    TAKE_PROFIT_UNSUPPORTED,
    TRAILING_STOP_UNSUPPORTED,
    RejectReason,
    filter_failure,
    illegal,
    mandatory,
    not_required,
    one_of,
    overflowed,
    recv_window_too_large,
    too_precise,
)
from hftpipe.schema.fixedpoint import INT64_MAX, INT64_MIN
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from stages.exchange.protocol.api_error import ApiError
from stages.exchange.protocol.exchange_info import DEFAULT_STP_MODE, STP_MODES
from stages.exchange.protocol.settings import ExchangeSettings, SymbolSettings

_DECIMAL: Final = re.compile(DECIMAL_RANGE)
CLIENT_ID_RANGE: Final = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
_CLIENT_ID: Final = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_INTEGER: Final = re.compile(r"^-?[0-9]{1,20}$")
MAX_DECIMALS: Final = 8
"""Binance's base/quote asset precision: more significant decimals is -1111."""
_ID_ALPHABET: Final = string.ascii_letters + string.digits

SIDES: Final = {"BUY": int(OrderSide.BUY), "SELL": int(OrderSide.SELL)}
ORDER_TYPES: Final = {
    "LIMIT": int(OrderType.LIMIT),
    "MARKET": int(OrderType.MARKET),
    "LIMIT_MAKER": int(OrderType.LIMIT_MAKER),
}
UNSUPPORTED_TYPES: Final = {
    "STOP_LOSS": STOP_LOSS_UNSUPPORTED,
    "STOP_LOSS_LIMIT": STOP_LOSS_LIMIT_UNSUPPORTED,
    "TAKE_PROFIT": TAKE_PROFIT_UNSUPPORTED,
    "TAKE_PROFIT_LIMIT": TAKE_PROFIT_LIMIT_UNSUPPORTED,
}
TIFS: Final = {"GTC": int(TimeInForce.GTC), "IOC": int(TimeInForce.IOC), "FOK": int(TimeInForce.FOK)}
RESP_TYPES: Final = {"ACK": int(RespType.ACK), "RESULT": int(RespType.RESULT), "FULL": int(RespType.FULL)}
REPLACE_MODES: Final = {
    "STOP_ON_FAILURE": int(ReplaceMode.STOP_ON_FAILURE),
    "ALLOW_FAILURE": int(ReplaceMode.ALLOW_FAILURE),
}
RATE_LIMIT_EXCEEDED_MODES: Final = ("DO_NOTHING", "CANCEL_ONLY")
CANCEL_RESTRICTIONS: Final = ("ONLY_NEW", "ONLY_PARTIALLY_FILLED")


def new_client_order_id() -> str:
    """A random id like the ones Binance generates (22 letters and digits)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


# ------------------------------------------------------------------------------ single parameters


def present(params: Mapping[str, Any], name: str) -> bool:
    """Sent and not empty/null (Binance treats both like "not sent")."""
    value = params.get(name)
    return value is not None and value != ""


def text_param(params: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    if not present(params, name):
        if required:
            raise ApiError.of(mandatory(name))
        return None
    value = params[name]
    if not isinstance(value, str):
        raise ApiError.of(mandatory(name))
    return str.__str__(value)


def int_param(params: Mapping[str, Any], name: str, required: bool = True) -> int | None:
    """An integer sent as a JSON number or a numeric string; Binance's LONG, so beyond 64 bits is -1100."""
    if not present(params, name):
        if required:
            raise ApiError.of(mandatory(name))
        return None
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ApiError.of(illegal(name, "^[0-9]{1,20}$"))
    text = value if isinstance(value, str) else str(value)
    if not _INTEGER.match(text) or not INT64_MIN <= (number := int(text)) <= INT64_MAX:
        raise ApiError.of(illegal(name, "^[0-9]{1,20}$"))
    return number


def decimal_param(params: Mapping[str, Any], name: str, scale: int, filter_name: str | None) -> int | None:
    """A DECIMAL parameter at ``scale`` (None when not sent); see the module docstring for the errors."""
    if not present(params, name):
        return None
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ApiError.of(illegal(name, DECIMAL_RANGE))
    text = param_text(value)
    if isinstance(value, float) and "e" in text.lower():  # a float client wrote 1e-05: take its value
        text = format(Decimal(text), "f")
    match = _DECIMAL.match(text)
    if match is None:
        raise ApiError.of(illegal(name, DECIMAL_RANGE))
    whole, fraction = match.group(1), (match.group(2) or ".")[1:].rstrip("0")
    if len(fraction) > MAX_DECIMALS:
        raise ApiError.of(too_precise(name))
    if len(fraction) > scale:
        if filter_name is None:
            raise ApiError.of(too_precise(name))
        raise ApiError.of(filter_failure(filter_name))
    result: int = int(whole) * 10**scale + (int(fraction) * 10 ** (scale - len(fraction)) if fraction else 0)
    if result > INT64_MAX:
        raise ApiError.of(overflowed(name))
    if result == 0 and filter_name is not None:
        raise ApiError.of(filter_failure(filter_name))
    return result


def client_id_param(params: Mapping[str, Any], name: str, generate: bool) -> str | None:
    if not present(params, name):
        return new_client_order_id() if generate else None
    value = params[name]
    if not isinstance(value, str) or not _CLIENT_ID.match(value):
        raise ApiError.of(illegal(name, CLIENT_ID_RANGE))
    return str.__str__(value)


def symbol_param(params: Mapping[str, Any], settings: ExchangeSettings, name: str = "symbol") -> SymbolSettings:
    text = text_param(params, name)
    assert text is not None
    symbol = settings.symbol(text)
    if symbol is None:
        raise ApiError.of(INVALID_SYMBOL)
    return symbol


def bool_param(params: Mapping[str, Any], name: str) -> bool | None:
    if name not in params or params[name] is None:
        return None
    value = params[name]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ApiError.of(illegal(name, "true, false"))


def recv_window_ms(params: Mapping[str, Any], maximum_ms: int) -> Decimal:
    """``recvWindow`` in ms (default 5000; up to three decimals, for microseconds)."""
    if not present(params, "recvWindow"):
        return Decimal(5000)
    value = params["recvWindow"]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ApiError.of(illegal("recvWindow", "^[0-9]{1,20}(\\.[0-9]{1,3})?$"))
    try:
        window = Decimal(param_text(value))
    except InvalidOperation:
        raise ApiError.of(illegal("recvWindow", "^[0-9]{1,20}(\\.[0-9]{1,3})?$")) from None
    if not window.is_finite() or window <= 0:
        raise ApiError.of(illegal("recvWindow", "^[0-9]{1,20}(\\.[0-9]{1,3})?$"))
    if window > maximum_ms:
        raise ApiError.of(recv_window_too_large(maximum_ms))
    return window


def timestamp_ms(params: Mapping[str, Any]) -> Decimal:
    """``timestamp`` in ms; microsecond timestamps (16 digits) are accepted as Binance does."""
    if not present(params, "timestamp"):
        raise ApiError.of(mandatory("timestamp"))
    value = params["timestamp"]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ApiError.of(mandatory("timestamp"))
    text = value if isinstance(value, str) else str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise ApiError.of(mandatory("timestamp"))
    raw = int(text)
    return Decimal(raw) / 1000 if raw >= 10**14 else Decimal(raw)


def _choice(params: Mapping[str, Any], name: str, choices: Mapping[str, int], invalid: RejectReason) -> int:
    text = text_param(params, name)
    assert text is not None
    if text not in choices:
        raise ApiError.of(invalid)
    return choices[text]


# ------------------------------------------------------------------------------ requests


@dataclass(frozen=True, slots=True)
class NewOrder:
    """``order.place`` (and the new half of ``order.cancelReplace``) in record terms."""

    symbol: SymbolSettings
    side: int
    order_type: int
    tif: int
    stp_mode: int
    resp_type: int
    price: int
    qty: int
    quote_qty: int
    """At ``price_scale + qty_scale``."""
    client_order_id: str

    def record(self, command: Command, account: int) -> CommandRecord:
        """The EX_COMMAND that places this order for ``account`` (NEW_ORDER, or the new half of a
        CANCEL_REPLACE, whose cancel fields the caller adds)."""
        return CommandRecord(
            instrument=self.symbol.symbol_id,
            account=account,
            command=int(command),
            side=self.side,
            order_type=self.order_type,
            tif=self.tif,
            stp_mode=self.stp_mode,
            resp_type=self.resp_type,
            price=self.price,
            qty=self.qty,
            quote_qty=self.quote_qty,
            client_order_id=encode_id(self.client_order_id),
        )


@dataclass(frozen=True, slots=True)
class CancelTarget:
    symbol: SymbolSettings
    order_id: int
    """0: by client id."""
    orig_client_order_id: str
    new_client_order_id: str


@dataclass(frozen=True, slots=True)
class CancelReplace:
    cancel: CancelTarget
    order: NewOrder
    replace_mode: int


def parse_new_order(params: Mapping[str, Any], settings: ExchangeSettings) -> NewOrder:
    symbol = symbol_param(params, settings)
    side = _choice(params, "side", SIDES, INVALID_SIDE)
    type_text = text_param(params, "type")
    assert type_text is not None
    if type_text in UNSUPPORTED_TYPES:
        raise ApiError.of(UNSUPPORTED_TYPES[type_text])
    if type_text not in ORDER_TYPES:
        raise ApiError.of(INVALID_ORDER_TYPE)
    order_type = ORDER_TYPES[type_text]
    if present(params, "trailingDelta"):
        raise ApiError.of(TRAILING_STOP_UNSUPPORTED)
    if present(params, "icebergQty"):
        raise ApiError.of(ICEBERG_UNSUPPORTED)
    if present(params, "stopPrice"):
        raise ApiError.of(not_required("stopPrice"))
    limit_like = order_type != ORDER_TYPES["MARKET"]
    tif = int(TimeInForce.GTC)
    if order_type == ORDER_TYPES["LIMIT"]:
        tif = _choice(params, "timeInForce", TIFS, INVALID_TIF)
    elif present(params, "timeInForce"):
        raise ApiError.of(not_required("timeInForce"))
    price = decimal_param(params, "price", symbol.price_scale, "PRICE_FILTER")
    qty = decimal_param(params, "quantity", symbol.qty_scale, "LOT_SIZE")
    quote_qty = decimal_param(params, "quoteOrderQty", symbol.price_scale + symbol.qty_scale, None)
    if quote_qty == 0:
        raise ApiError.of(NOTIONAL)
    if limit_like:
        if price is None:
            raise ApiError.of(mandatory("price"))
        if qty is None:
            raise ApiError.of(mandatory("quantity"))
        if quote_qty is not None:
            raise ApiError.of(QUOTE_NOT_REQUIRED)
    else:
        if price is not None:
            raise ApiError.of(not_required("price"))
        if qty is None and quote_qty is None:
            raise ApiError.of(QTY_OR_QUOTE_MISSING)
        if qty is not None and quote_qty is not None:
            raise ApiError.of(QUOTE_NOT_REQUIRED)
    stp_text = text_param(params, "selfTradePreventionMode", required=False) or DEFAULT_STP_MODE
    if stp_text not in STP_MODES:
        raise ApiError.of(INVALID_STP_MODE)
    resp_text = text_param(params, "newOrderRespType", required=False)
    if resp_text is None:
        resp_type = RESP_TYPES["FULL"] if type_text in ("LIMIT", "MARKET") else RESP_TYPES["ACK"]
    elif resp_text in RESP_TYPES:
        resp_type = RESP_TYPES[resp_text]
    else:
        raise ApiError.of(illegal("newOrderRespType", "ACK, RESULT, FULL"))
    client_order_id = client_id_param(params, "newClientOrderId", generate=True)
    assert client_order_id is not None
    return NewOrder(
        symbol=symbol,
        side=side,
        order_type=order_type,
        tif=tif,
        stp_mode=STP_MODES.index(stp_text),
        resp_type=resp_type,
        price=price or 0,
        qty=qty or 0,
        quote_qty=quote_qty or 0,
        client_order_id=client_order_id,
    )


def _check_cancel_restrictions(params: Mapping[str, Any]) -> None:
    if not present(params, "cancelRestrictions"):
        return
    if params["cancelRestrictions"] not in CANCEL_RESTRICTIONS:
        raise ApiError.of(INVALID_CANCEL_RESTRICTIONS)
    raise ApiError.of(OPERATION_NOT_SUPPORTED)


def parse_cancel(
    params: Mapping[str, Any],
    settings: ExchangeSettings,
    id_name: str = "orderId",
    orig_name: str = "origClientOrderId",
    new_name: str = "newClientOrderId",
) -> CancelTarget:
    symbol = symbol_param(params, settings)
    order_id = int_param(params, id_name, required=False)
    orig = client_id_param(params, orig_name, generate=False)
    if order_id is None and orig is None:
        raise ApiError.of(one_of(orig_name, id_name))
    if order_id is not None and order_id <= 0:
        raise ApiError.of(illegal(id_name, "^[0-9]{1,20}$"))
    _check_cancel_restrictions(params)
    new_id = client_id_param(params, new_name, generate=True)
    assert new_id is not None
    return CancelTarget(
        symbol=symbol, order_id=order_id or 0, orig_client_order_id=orig or "", new_client_order_id=new_id
    )


def parse_cancel_replace(params: Mapping[str, Any], settings: ExchangeSettings) -> CancelReplace:
    mode = _choice(params, "cancelReplaceMode", REPLACE_MODES, INVALID_CANCEL_REPLACE_MODE)
    exceeded = text_param(params, "orderRateLimitExceededMode", required=False)
    if exceeded is not None and exceeded not in RATE_LIMIT_EXCEEDED_MODES:
        raise ApiError.of(illegal("orderRateLimitExceededMode", ", ".join(RATE_LIMIT_EXCEEDED_MODES)))
    cancel = parse_cancel(params, settings, "cancelOrderId", "cancelOrigClientOrderId", "cancelNewClientOrderId")
    order = parse_new_order(params, settings)
    return CancelReplace(cancel=cancel, order=order, replace_mode=mode)


def parse_order_query(params: Mapping[str, Any], settings: ExchangeSettings) -> tuple[SymbolSettings, int, str]:
    """``order.status``: (symbol, orderId or 0, origClientOrderId or "")."""
    symbol = symbol_param(params, settings)
    order_id = int_param(params, "orderId", required=False)
    orig = client_id_param(params, "origClientOrderId", generate=False)
    if order_id is None and orig is None:
        raise ApiError.of(CANCEL_ID_MISSING)
    return symbol, order_id or 0, orig or ""


DEPTH_LIMIT_MAX: Final = 5000


def depth_limit(params: Mapping[str, Any]) -> int:
    limit = int_param(params, "limit", required=False)
    if limit is None:
        return 100
    if not 1 <= limit <= DEPTH_LIMIT_MAX:
        raise ApiError.of(illegal("limit", f"1-{DEPTH_LIMIT_MAX}"))
    return limit


def depth_weight(limit: int) -> int:
    """Binance's weight table for ``depth``."""
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250
