"""Binance spot WebSocket API messages, pure: intent fields -> request params, venue JSON -> typed events.

Requests: numbers leave as decimal text at the instrument's scales
(:meth:`Instrument.price_text` / :meth:`Instrument.qty_text`), never as
floats; the client order id is hftpipe's
(:func:`hftpipe.schema.trading.client_order_id`: ``hp<strategy>-<epoch>-<seq>``).

Answers and events come back in fixed point at the same scales: prices at
``price_scale``, quantities at ``qty_scale``, quote amounts at
``price_scale + qty_scale`` (exact: price x qty), fees and balances at
:data:`ASSET_SCALE` (Binance writes asset amounts with 8 decimals). A field
with more digits than its scale holds raises :class:`MessageError`: nothing
is rounded silently.

Field letters follow ``user-data-stream.md`` (``executionReport``,
``outboundAccountPosition``) and ``web-socket-api.md`` (order results,
``rateLimits``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any, Final, TypeVar

from hftpipe.schema.fixedpoint import parse_fixed
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce

ASSET_SCALE: Final = 8
"""Binance writes commissions and balances with 8 decimals."""

SIDE_TEXT: Final[Mapping[OrderSide, str]] = {OrderSide.BUY: "BUY", OrderSide.SELL: "SELL"}
SIDES: Final[Mapping[str, OrderSide]] = {text: side for side, text in SIDE_TEXT.items()}
TYPE_TEXT: Final[Mapping[OrderType, str]] = {
    OrderType.LIMIT: "LIMIT",
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT_MAKER: "LIMIT_MAKER",
}
"""The order types this client sends; stop orders are not offered."""
TIF_TEXT: Final[Mapping[TimeInForce, str]] = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
RESP_TYPES: Final = frozenset({"ACK", "RESULT", "FULL"})
REPLACE_MODES: Final = frozenset({"STOP_ON_FAILURE", "ALLOW_FAILURE"})
CLIENT_ID: Final = re.compile(r"[\.A-Z\:/a-z0-9_-]{1,36}")
"""What Binance accepts as ``newClientOrderId`` (``^[\\.A-Z\\:/a-z0-9_-]{1,36}$``)."""

OrderParams = dict[str, str]
"""``order.place`` parameters: every value a text, numbers as decimal text."""


class MessageError(ValueError):
    """A request that cannot be written, or an answer or event that is not what the docs describe."""


class VenueOrderStatus(StrEnum):
    """Binance's order status (``X``, ``status``)."""

    NEW = "NEW"
    PENDING_NEW = "PENDING_NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    PENDING_CANCEL = "PENDING_CANCEL"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"

    @property
    def is_open(self) -> bool:
        return self in _OPEN


_OPEN: Final = frozenset({VenueOrderStatus.NEW, VenueOrderStatus.PENDING_NEW, VenueOrderStatus.PARTIALLY_FILLED})


class VenueExecType(StrEnum):
    """Binance's execution type (``x``): what this report is about."""

    NEW = "NEW"
    CANCELED = "CANCELED"
    REPLACED = "REPLACED"
    REJECTED = "REJECTED"
    TRADE = "TRADE"
    EXPIRED = "EXPIRED"
    TRADE_PREVENTION = "TRADE_PREVENTION"
    AMENDMENT = "AMENDMENT"


# ------------------------------------------------------------------------------------------ requests
def check_client_id(text: str, name: str = "newClientOrderId") -> str:
    if not CLIENT_ID.fullmatch(text):
        raise MessageError(f"{name} {text!r} is not 1..36 of [.A-Z:/a-z0-9_-]")
    return text


def order_params(
    symbol: str,
    side: str,
    order_type: str,
    quantity: str,
    client_order_id: str,
    *,
    price: str | None = None,
    time_in_force: str | None = None,
    resp_type: str = "RESULT",
) -> OrderParams:
    """``order.place`` parameters from texts: LIMIT needs price and timeInForce, LIMIT_MAKER a price and
    no timeInForce, MARKET neither (Binance refuses a parameter an order type does not take)."""
    if side not in SIDES:
        raise MessageError(f"side must be BUY or SELL, got {side!r}")
    if resp_type not in RESP_TYPES:
        raise MessageError(f"newOrderRespType must be one of {sorted(RESP_TYPES)}, got {resp_type!r}")
    params: OrderParams = {"symbol": symbol, "side": side, "type": order_type}
    if order_type == "LIMIT":
        if price is None or time_in_force is None:
            raise MessageError("a LIMIT order needs a price and a timeInForce")
        params["timeInForce"] = time_in_force
        params["price"] = price
    elif order_type == "LIMIT_MAKER":
        if price is None or time_in_force is not None:
            raise MessageError("a LIMIT_MAKER order needs a price and takes no timeInForce")
        params["price"] = price
    elif order_type == "MARKET":
        if price is not None or time_in_force is not None:
            raise MessageError("a MARKET order takes no price and no timeInForce")
    else:
        raise MessageError(f"order type {order_type!r} is not offered (LIMIT, LIMIT_MAKER, MARKET)")
    params["quantity"] = quantity
    params["newClientOrderId"] = check_client_id(client_order_id)
    params["newOrderRespType"] = resp_type
    return params


def intent_order_params(
    instrument: Instrument,
    side: int,
    order_type: int,
    tif: int,
    price: int,
    qty: int,
    client_order_id: str,
    *,
    resp_type: str = "RESULT",
) -> OrderParams:
    """``order.place`` parameters of an intent's fields (enums as their ints, price and qty in fixed point).

    A MARKET intent's price (0 by convention) is not sent; nor is the tif of LIMIT_MAKER or MARKET. What
    depends only on the symbol and the enums is worked out once per combination (:class:`_Shape`): an order
    on its way out copies it and adds its numbers, in the order :func:`order_params` writes them.
    """
    key = (instrument.symbol, side, order_type, tif, resp_type)
    shape = _SHAPES.get(key)
    if shape is None:
        shape = _shape(instrument.symbol, side, order_type, tif, resp_type)
        if shape is None:  # refused: the full checks, for their error
            return _checked_order_params(instrument, side, order_type, tif, price, qty, client_order_id, resp_type)
        if len(_SHAPES) < _SHAPES_KEPT:
            _SHAPES[key] = shape
    if qty <= 0:
        raise MessageError(f"quantity must be positive, got {qty}")
    if shape.priced:
        if price <= 0:
            raise MessageError(f"a {shape.type_text} order needs a positive price, got {price}")
        params = shape.head.copy()
        params["price"] = instrument.price_text(price)
    else:
        params = shape.head.copy()
    params["quantity"] = instrument.qty_text(qty)
    params["newClientOrderId"] = check_client_id(client_order_id)
    params["newOrderRespType"] = resp_type
    return params


@dataclass(frozen=True, slots=True)
class _Shape:
    """An order's parameters but for its numbers and client id: the leading fields (``symbol``, ``side``,
    ``type``, ``timeInForce``) and whether a price follows them."""

    head: OrderParams
    priced: bool
    type_text: str


_SHAPES: Final[dict[tuple[str, int, int, int, str], _Shape]] = {}
_SHAPES_KEPT: Final = 4096
"""Combinations remembered (symbols x sides x types x tifs in use: a handful each); past that, worked out each time."""


def _shape(symbol: str, side: int, order_type: int, tif: int, resp_type: str) -> _Shape | None:
    """The combination's shape, from :func:`order_params` itself (stand-in numbers); None: it is refused."""
    try:
        kind = OrderType(order_type)
        type_text = TYPE_TEXT[kind]
        tif_text = TIF_TEXT[TimeInForce(tif)]  # checked whatever the type, as the full checks do
        priced = kind is not OrderType.MARKET
        full = order_params(
            symbol, SIDE_TEXT[OrderSide(side)], type_text, "1", "x", price="1" if priced else None,
            time_in_force=tif_text if kind is OrderType.LIMIT else None, resp_type=resp_type,
        )  # fmt: skip
    except (ValueError, KeyError):  # MessageError is a ValueError
        return None
    head = {k: v for k, v in full.items() if k in ("symbol", "side", "type", "timeInForce")}
    return _Shape(head, priced, type_text)


def _checked_order_params(
    instrument: Instrument, side: int, order_type: int, tif: int, price: int, qty: int, client_order_id: str,
    resp_type: str,
) -> OrderParams:  # fmt: skip
    """:func:`intent_order_params` checked step by step: what raises the error of a combination it refuses."""
    try:
        kind = OrderType(order_type)
        side_text = SIDE_TEXT[OrderSide(side)]
        tif_text = TIF_TEXT[TimeInForce(tif)]
    except (ValueError, KeyError) as exc:
        raise MessageError(f"not an order this client sends: side {side}, type {order_type}, tif {tif}") from exc
    type_text = TYPE_TEXT.get(kind)
    if type_text is None:
        raise MessageError(f"order type {kind.name} is not offered (LIMIT, LIMIT_MAKER, MARKET)")
    if qty <= 0:
        raise MessageError(f"quantity must be positive, got {qty}")
    if kind is not OrderType.MARKET and price <= 0:
        raise MessageError(f"a {type_text} order needs a positive price, got {price}")
    return order_params(
        instrument.symbol,
        side_text,
        type_text,
        instrument.qty_text(qty),
        client_order_id,
        price=None if kind is OrderType.MARKET else instrument.price_text(price),
        time_in_force=tif_text if kind is OrderType.LIMIT else None,
        resp_type=resp_type,
    )


def order_ref(
    client_order_id: str | None, order_id: int | None, *, id_name: str, orig_name: str
) -> dict[str, str | int]:
    """The order a cancel names: by client order id, venue order id, or both (the venue checks they agree)."""
    if client_order_id is None and order_id is None:
        raise MessageError(f"name the order: {orig_name} or {id_name}")
    ref: dict[str, str | int] = {}
    if order_id is not None:
        ref[id_name] = order_id
    if client_order_id is not None:
        ref[orig_name] = check_client_id(client_order_id, orig_name)
    return ref


def cancel_params(
    symbol: str,
    *,
    client_order_id: str | None = None,
    order_id: int | None = None,
    new_client_order_id: str | None = None,
) -> dict[str, str | int]:
    """``order.cancel``: the order by ``origClientOrderId`` and/or ``orderId``; ``newClientOrderId`` names
    the cancel itself (Binance makes one up otherwise)."""
    params: dict[str, str | int] = {
        "symbol": symbol,
        **order_ref(client_order_id, order_id, id_name="orderId", orig_name="origClientOrderId"),
    }
    if new_client_order_id is not None:
        params["newClientOrderId"] = check_client_id(new_client_order_id)
    return params


def cancel_replace_params(
    new_order: Mapping[str, str],
    *,
    cancel_client_order_id: str | None = None,
    cancel_order_id: int | None = None,
    cancel_new_client_order_id: str | None = None,
    mode: str = "STOP_ON_FAILURE",
) -> dict[str, str | int]:
    """``order.cancelReplace``: cancel one order and place ``new_order`` (from :func:`order_params`) on
    its symbol. ``STOP_ON_FAILURE``: no new order if the cancel fails."""
    if mode not in REPLACE_MODES:
        raise MessageError(f"cancelReplaceMode must be one of {sorted(REPLACE_MODES)}, got {mode!r}")
    params: dict[str, str | int] = {
        **new_order,
        "cancelReplaceMode": mode,
        **order_ref(
            cancel_client_order_id, cancel_order_id, id_name="cancelOrderId", orig_name="cancelOrigClientOrderId"
        ),
    }
    if cancel_new_client_order_id is not None:
        params["cancelNewClientOrderId"] = check_client_id(cancel_new_client_order_id, "cancelNewClientOrderId")
    return params


# ------------------------------------------------------------------------------------------ answers and events
def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str):
        raise MessageError(f"{key!r} is not a text: {value!r}")
    return value


def _int(raw: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MessageError(f"{key!r} is not an integer: {value!r}")
    return value


def _fixed(raw: Mapping[str, Any], key: str, scale: int) -> int:
    return parse_fixed(_text(raw, key), scale)


_T = TypeVar("_T")


def _parse(what: str, raw: object, build: Callable[[], _T]) -> _T:
    """Runs ``build`` and turns a missing key, a wrong type or an inexact number into :class:`MessageError`."""
    if not isinstance(raw, Mapping):
        raise MessageError(f"{what}: not a JSON object: {raw!r}")
    try:
        return build()
    except MessageError as exc:
        raise MessageError(f"{what}: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise MessageError(f"{what}: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """An ``executionReport``: one thing that happened to one order, in fixed point."""

    symbol: str
    client_order_id: str
    """``c``: the order's id; on a cancel, the cancel request's own id (then the order's is ``C``)."""
    orig_client_order_id: str
    """``C``: the canceled order's client id on CANCELED, otherwise empty."""
    order_id: int
    side: OrderSide
    order_type: str
    time_in_force: str
    exec_type: VenueExecType
    status: VenueOrderStatus
    reject_reason: str
    order_price: int
    order_qty: int
    last_qty: int
    last_price: int
    cum_qty: int
    cum_quote: int
    """``Z`` at ``price_scale + qty_scale``: average price = cum_quote / cum_qty."""
    fee: int
    """``n`` at :data:`ASSET_SCALE`, in ``fee_asset``."""
    fee_asset: str | None
    trade_id: int
    """``t``: -1 unless a TRADE."""
    execution_id: int
    """``I``: unique per event on the venue (Binance calls it "ignore"; useful to drop a duplicate)."""
    is_maker: bool
    on_book: bool
    event_time_ms: int
    transaction_time_ms: int
    order_time_ms: int
    expiry_reason: str = ""
    """``eR`` when an order EXPIRED for a stated reason (e.g. ``UNFILLED_IOC_QUANTITY_EXPIRED``)."""

    @property
    def order_client_id(self) -> str:
        """The client id of the order this report is about (``C`` on a cancel, else ``c``)."""
        if self.exec_type is VenueExecType.CANCELED and self.orig_client_order_id:
            return self.orig_client_order_id
        return self.client_order_id

    @property
    def leaves_qty(self) -> int:
        """What may still fill: 0 once the order is done (MARKET by quote amount: 0 too, ``q`` is 0)."""
        return max(self.order_qty - self.cum_qty, 0) if self.status.is_open else 0


def parse_execution_report(event: Mapping[str, Any], instrument: Instrument) -> ExecutionReport:
    """An ``executionReport`` event (the object under ``"event"``) of ``instrument``'s symbol."""

    def build() -> ExecutionReport:
        if event.get("e") != "executionReport":
            raise MessageError(f"not an executionReport: e = {event.get('e')!r}")
        symbol = _text(event, "s")
        if symbol != instrument.symbol:
            raise MessageError(f"symbol {symbol!r} is not {instrument.symbol!r}")
        price, qty = instrument.price_scale, instrument.qty_scale
        fee_asset = event.get("N")
        expiry = event.get("eR", "")
        return ExecutionReport(
            symbol=symbol,
            client_order_id=_text(event, "c"),
            orig_client_order_id=_text(event, "C") if event.get("C") is not None else "",
            order_id=_int(event, "i"),
            side=SIDES[_text(event, "S")],
            order_type=_text(event, "o"),
            time_in_force=_text(event, "f"),
            exec_type=VenueExecType(_text(event, "x")),
            status=VenueOrderStatus(_text(event, "X")),
            reject_reason=_text(event, "r"),
            order_price=_fixed(event, "p", price),
            order_qty=_fixed(event, "q", qty),
            last_qty=_fixed(event, "l", qty),
            last_price=_fixed(event, "L", price),
            cum_qty=_fixed(event, "z", qty),
            cum_quote=_fixed(event, "Z", price + qty),
            fee=_fixed(event, "n", ASSET_SCALE),
            fee_asset=fee_asset if isinstance(fee_asset, str) else None,
            trade_id=_int(event, "t"),
            execution_id=_int(event, "I", 0),
            is_maker=event.get("m") is True,
            on_book=event.get("w") is True,
            event_time_ms=_int(event, "E"),
            transaction_time_ms=_int(event, "T"),
            order_time_ms=_int(event, "O", 0),
            expiry_reason=expiry if isinstance(expiry, str) else "",
        )

    return _parse("executionReport", event, build)


@dataclass(frozen=True, slots=True)
class AssetBalance:
    asset: str
    free: int
    """At :data:`ASSET_SCALE`."""
    locked: int


@dataclass(frozen=True, slots=True)
class AccountPosition:
    """An ``outboundAccountPosition``: the balances an event changed, as they now are."""

    event_time_ms: int
    update_time_ms: int
    balances: tuple[AssetBalance, ...]


def parse_account_position(event: Mapping[str, Any]) -> AccountPosition:
    def build() -> AccountPosition:
        if event.get("e") != "outboundAccountPosition":
            raise MessageError(f"not an outboundAccountPosition: e = {event.get('e')!r}")
        entries = event["B"]
        if not isinstance(entries, list):
            raise MessageError(f"'B' is not a list: {entries!r}")
        return AccountPosition(
            event_time_ms=_int(event, "E"),
            update_time_ms=_int(event, "u"),
            balances=tuple(
                AssetBalance(_text(b, "a"), _fixed(b, "f", ASSET_SCALE), _fixed(b, "l", ASSET_SCALE)) for b in entries
            ),
        )

    return _parse("outboundAccountPosition", event, build)


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """An order as ``order.status`` / ``openOrders.status`` (or an ``order.place`` RESULT) shows it."""

    symbol: str
    order_id: int
    client_order_id: str
    side: OrderSide
    order_type: str
    time_in_force: str
    status: VenueOrderStatus
    price: int
    orig_qty: int
    executed_qty: int
    cum_quote: int
    time_ms: int
    """``time`` (or ``transactTime`` in a placement's result)."""
    update_time_ms: int


def parse_order(result: Mapping[str, Any], instrument: Instrument) -> OrderSnapshot:
    def build() -> OrderSnapshot:
        symbol = _text(result, "symbol")
        if symbol != instrument.symbol:
            raise MessageError(f"symbol {symbol!r} is not {instrument.symbol!r}")
        price, qty = instrument.price_scale, instrument.qty_scale
        time_ms = _int(result, "time", _int(result, "transactTime", 0))
        return OrderSnapshot(
            symbol=symbol,
            order_id=_int(result, "orderId"),
            client_order_id=_text(result, "clientOrderId"),
            side=SIDES[_text(result, "side")],
            order_type=_text(result, "type"),
            time_in_force=_text(result, "timeInForce"),
            status=VenueOrderStatus(_text(result, "status")),
            price=_fixed(result, "price", price),
            orig_qty=_fixed(result, "origQty", qty),
            executed_qty=_fixed(result, "executedQty", qty),
            cum_quote=_fixed(result, "cummulativeQuoteQty", price + qty),  # sic: Binance's spelling
            time_ms=time_ms,
            update_time_ms=_int(result, "updateTime", time_ms),
        )

    return _parse("order", result, build)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One entry of a response's ``rateLimits``: ``count`` used of ``limit`` per ``interval_num`` ``interval``."""

    rate_limit_type: str
    interval: str
    interval_num: int
    limit: int
    count: int


def _rate_limit(entry: Mapping[str, Any]) -> RateLimit:
    return RateLimit(
        _text(entry, "rateLimitType"),
        _text(entry, "interval"),
        _int(entry, "intervalNum"),
        _int(entry, "limit"),
        _int(entry, "count"),
    )


def parse_rate_limits(raw: object) -> tuple[RateLimit, ...]:
    """A response's ``rateLimits`` array."""
    if not isinstance(raw, list):
        raise MessageError(f"rateLimits is not a list: {raw!r}")
    return tuple(_parse("rateLimits entry", entry, partial(_rate_limit, entry)) for entry in raw)
