"""A deterministic price-time-priority matching engine for one symbol (Binance spot semantics).

Pure and single-threaded: no IO, no clock (the caller passes ``now_ns``), no
randomness; the same calls always give the same events. A later stage wraps it.

Orders (``new_order``):

* ``LIMIT`` with ``GTC`` (the remainder rests), ``IOC`` (the remainder expires,
  reason ``IOC``) or ``FOK`` (fills entirely or expires with no trade, reason
  ``FOK``; feasibility is checked before matching, counting self-trade
  prevention: with ``EXPIRE_MAKER`` own orders do not count, with
  ``EXPIRE_TAKER``/``EXPIRE_BOTH`` the walk stops at the first own order).
* ``MARKET`` by ``qty``: takes liquidity until filled; the remainder expires
  (reason ``MARKET``, status ``EXPIRED``, as Binance does on thin books).
* ``MARKET`` by ``quote_qty`` (``quoteOrderQty``): spends (buy) or receives
  (sell) at most ``quote_qty``. At each maker it takes
  ``min(maker open qty, floor(remaining quote / (price * lot)) * lot)`` where
  ``lot`` is the LOT_SIZE ``stepSize`` (one qty unit when 0). When the remaining
  quote cannot pay one lot at the next maker's price (or the book runs out with
  less than one lot's worth left at the last price) the order is ``FILLED``;
  when the book runs out first it ``EXPIRED`` (reason ``MARKET``). Such an order
  has no base quantity: its ``Ack.qty`` is 0, its ``PartiallyFilled.leaves_qty``
  is 0 and its ``Expired.expired_qty`` is 0 (the unspent quote is
  ``quote_qty - sum(price * qty) / 10**qty_scale`` over its trades). It is
  rejected up front when the opposite side is empty (-2010 "Order book liquidity
  is less than symbol minimum quantity.") or holds less than LOT_SIZE ``minQty``
  (-2010 "Order book liquidity is less than LOT_SIZE filter minimum quantity.").
* ``cap`` (MARKET orders, optional): a bound on what the order may consume,
  set by whoever holds the funds (the exchange's accounting): for a BUY the
  quote spent (``sum(price * qty)``), for a SELL the base sold. Fills are cut
  down to the whole lots the cap allows; when it allows none the remainder
  expires (reason ``MARKET``, status ``EXPIRED``), for quote orders too.
* ``LIMIT_MAKER``: rests like a GTC limit, or is rejected with -2010 "Order
  would immediately match and take." if it would cross (whatever its STP mode).
* ``STOP_MARKET``/``STOP_LIMIT`` are not supported (Binance's -2010 "... are not
  supported for this symbol.").
* Self-trade prevention (same ``account``; the taker's mode decides, as on
  Binance): ``EXPIRE_TAKER`` expires the taker's remaining quantity and stops,
  ``EXPIRE_MAKER`` expires the resting order and goes on matching,
  ``EXPIRE_BOTH`` does both, ``NONE`` lets the trade happen. STP expiries carry
  reason ``STP`` and leave status ``EXPIRED_IN_MATCH``.
* Request checks, in order: side, type/timeInForce/quantity combination, STP
  mode, duplicate ``client_order_id`` among the account's open orders (-2010
  "Duplicate order sent."), then :class:`~stages.exchange.core.filters.SymbolFilters`
  (-1013 "Filter failure: ..."). MARKET orders use the last trade price as the
  reference price for the notional filter (Binance with ``avgPriceMins == 0``;
  a time-weighted average is not kept); before the first trade the MARKET
  notional check is skipped. Rejected requests get no order id.

Events, in the order they happen: ``Ack`` first for every accepted order; then
per match ``Trade``, the maker's status update, the taker's status update
(``PartiallyFilled`` or ``Filled``); STP expiries of makers where they happen;
finally the taker's ``Expired`` if a remainder expires. Order ids and trade ids
start at 1 and increase by one per accepted order / per trade. Trades happen at
the maker's price. Every number is a fixed-point int (prices at
``price_scale``, quantities at ``qty_scale``, quote amounts at ``price_scale``).

``cancel`` and ``cancel_replace`` follow Binance: an order of another account,
or one no longer open, is -2011 "Unknown order sent."; ``cancel_replace``
checks the new order's filters first (a failure rejects the whole request and
cancels nothing), then cancels, then (unless the cancel failed under
``STOP_ON_FAILURE``) places the new order, which gets a new id and loses the old
order's time priority. ``check_replacement`` is that first step alone, for a
caller that runs the halves itself. ``cancel_all`` cancels every open order of
an account (-2011 when there is none).

Events are ``NamedTuple`` s built with ``tuple.__new__`` on the hot path (half
the cost of calling the class); they compare as tuples, so compare types too
when that matters.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from typing import Final, NamedTuple, TypeAlias

from hftpipe.schema.exchange import ExpireReason, OrderStatus, ReplaceMode, STPMode
from hftpipe.schema.exchange_errors import (
    CANCEL_ID_MISSING,
    DUPLICATE_ORDER,
    INVALID_ORDER_TYPE,
    INVALID_SIDE,
    INVALID_STP_MODE,
    INVALID_TIF,
    LIQUIDITY_BELOW_LOT_SIZE,
    NO_LIQUIDITY,
    QTY_OR_QUOTE_MISSING,
    QUOTE_NOT_REQUIRED,
    STOP_LOSS_LIMIT_UNSUPPORTED,
    STOP_LOSS_UNSUPPORTED,
    UNKNOWN_ORDER,
    WOULD_TAKE,
    RejectReason,
)
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from stages.exchange.core.filters import SymbolFilters
from stages.exchange.core.order_book import Order, PriceLadder, PriceLevel

__all__ = [
    "Ack",
    "Canceled",
    "Event",
    "Expired",
    "Filled",
    "MatchingEngine",
    "OrderInfo",
    "PartiallyFilled",
    "Rejected",
    "Trade",
]


class Ack(NamedTuple):
    """The order was accepted (it may trade, rest or expire next)."""

    order_id: int
    client_order_id: int
    account: int
    side: int
    order_type: int
    tif: int
    price: int
    qty: int
    quote_qty: int
    ts_ns: int


class Trade(NamedTuple):
    trade_id: int
    price: int
    qty: int
    maker_order_id: int
    maker_account: int
    maker_side: int
    taker_order_id: int
    taker_account: int
    is_buyer_maker: bool
    ts_ns: int


class PartiallyFilled(NamedTuple):
    order_id: int
    account: int
    client_order_id: int
    last_price: int
    last_qty: int
    cum_qty: int
    leaves_qty: int


class Filled(NamedTuple):
    order_id: int
    account: int
    client_order_id: int
    last_price: int
    last_qty: int
    cum_qty: int


class Canceled(NamedTuple):
    order_id: int
    account: int
    client_order_id: int
    cum_qty: int
    canceled_qty: int


class Expired(NamedTuple):
    order_id: int
    account: int
    client_order_id: int
    cum_qty: int
    expired_qty: int
    reason: ExpireReason


class Rejected(NamedTuple):
    account: int
    client_order_id: int
    code: int
    message: str


Event: TypeAlias = Ack | Trade | PartiallyFilled | Filled | Canceled | Expired | Rejected


class OrderInfo(NamedTuple):
    """A snapshot of one order (``order_status``, ``open_orders``)."""

    order_id: int
    client_order_id: int
    account: int
    side: int
    order_type: int
    tif: int
    price: int
    qty: int
    quote_qty: int
    cum_qty: int
    leaves_qty: int
    status: OrderStatus
    stp_mode: int
    time_ns: int


_BID: Final = int(OrderSide.BUY)
_ASK: Final = int(OrderSide.SELL)
_LIMIT: Final = int(OrderType.LIMIT)
_MARKET: Final = int(OrderType.MARKET)
_LIMIT_MAKER: Final = int(OrderType.LIMIT_MAKER)
_STOP_MARKET: Final = int(OrderType.STOP_MARKET)
_STOP_LIMIT: Final = int(OrderType.STOP_LIMIT)
_GTC: Final = int(TimeInForce.GTC)
_IOC: Final = int(TimeInForce.IOC)
_FOK: Final = int(TimeInForce.FOK)
_STP_NONE: Final = int(STPMode.NONE)
_EXPIRE_TAKER: Final = int(STPMode.EXPIRE_TAKER)
_EXPIRE_MAKER: Final = int(STPMode.EXPIRE_MAKER)
_EXPIRE_BOTH: Final = int(STPMode.EXPIRE_BOTH)
_STP_MODES: Final = frozenset(int(m) for m in STPMode)
_TIFS: Final = frozenset(int(t) for t in TimeInForce)
_SIDES: Final = frozenset(int(s) for s in OrderSide)

_NEW: Final = OrderStatus.NEW
_PARTIALLY_FILLED: Final = OrderStatus.PARTIALLY_FILLED
_FILLED: Final = OrderStatus.FILLED
_CANCELED: Final = OrderStatus.CANCELED
_EXPIRED: Final = OrderStatus.EXPIRED
_EXPIRED_IN_MATCH: Final = OrderStatus.EXPIRED_IN_MATCH

_R_IOC: Final = ExpireReason.IOC
_R_FOK: Final = ExpireReason.FOK
_R_STP: Final = ExpireReason.STP
_R_MARKET: Final = ExpireReason.MARKET

_NO_LIMIT: Final = -(1 << 200)
"""The limit key of a MARKET order: every level key is above it, so it crosses everything."""

_new = tuple.__new__


def _check_request(
    side: int, order_type: int, tif: int, qty: int, quote_qty: int, stp_mode: int
) -> RejectReason | None:
    """The combination checks Binance runs before the filters."""
    if side not in _SIDES:
        return INVALID_SIDE
    if order_type == _LIMIT:
        if tif not in _TIFS:
            return INVALID_TIF
        if quote_qty:
            return QUOTE_NOT_REQUIRED
    elif order_type == _MARKET:
        if quote_qty and qty:
            return QUOTE_NOT_REQUIRED
        if not quote_qty and not qty:
            return QTY_OR_QUOTE_MISSING
    elif order_type == _LIMIT_MAKER:
        if quote_qty:
            return QUOTE_NOT_REQUIRED
    elif order_type == _STOP_MARKET:
        return STOP_LOSS_UNSUPPORTED
    elif order_type == _STOP_LIMIT:
        return STOP_LOSS_LIMIT_UNSUPPORTED
    else:
        return INVALID_ORDER_TYPE
    if stp_mode not in _STP_MODES:
        return INVALID_STP_MODE
    return None


def _info(o: Order) -> OrderInfo:
    return OrderInfo(
        o.order_id,
        o.client_order_id,
        o.account,
        o.side,
        o.order_type,
        o.tif,
        o.price,
        o.qty,
        o.quote_qty,
        o.cum_qty,
        o.leaves,
        o.status,
        o.stp_mode,
        o.time_ns,
    )


class MatchingEngine:
    """Price-time-priority books and Binance order semantics for one symbol (see the module docstring).

    ``history`` bounds how many finished orders ``order_status`` still knows
    (the most recent ones by id; open orders are always known); ``None`` keeps all.
    """

    def __init__(
        self,
        symbol: str,
        filters: SymbolFilters,
        *,
        price_scale: int,
        qty_scale: int,
        history: int | None = 100_000,
    ) -> None:
        if filters.qty_scale != qty_scale:
            raise ValueError(f"filters are at qty scale {filters.qty_scale}, the engine at {qty_scale}")
        if history is not None and history < 0:
            raise ValueError(f"history must be >= 0 or None, got {history}")
        self.symbol = symbol
        self.filters = filters
        self.price_scale = price_scale
        self.qty_scale = qty_scale
        self.bids = PriceLadder(1)
        self.asks = PriceLadder(-1)
        self.last_price = 0
        """Price of the last trade (0 before the first): the MARKET notional reference."""
        self._orders: dict[int, Order] = {}
        self._by_client: dict[tuple[int, int], Order] = {}
        self._next_order_id = 1
        self._next_trade_id = 1
        self._history = history
        self._prune_at = sys.maxsize if history is None else 2 * history + 1024
        self._check = filters.check_values
        self._lot = filters.lot
        self._quote_unit = 10**qty_scale

    # ------------------------------------------------------------------ orders

    def validate(
        self,
        account: int,
        client_order_id: int,
        side: int,
        order_type: int,
        tif: int,
        price: int,
        qty: int,
        quote_qty: int = 0,
        stp_mode: int = _STP_NONE,
    ) -> RejectReason | None:
        """Why ``new_order`` would reject these arguments before looking at the book, or ``None``."""
        reason = _check_request(side, order_type, tif, qty, quote_qty, stp_mode)
        if reason is not None:
            return reason
        if (account, client_order_id) in self._by_client:
            return DUPLICATE_ORDER
        return self._check(order_type, price, qty, quote_qty, self.last_price)

    def new_order(
        self,
        account: int,
        client_order_id: int,
        side: int,
        order_type: int,
        tif: int,
        price: int,
        qty: int,
        quote_qty: int = 0,
        stp_mode: int = _STP_NONE,
        now_ns: int = 0,
        cap: int = 0,
    ) -> list[Event]:
        """Submit an order; returns what happened, in order (see the module docstring).

        ``cap`` (MARKET orders only, 0 for none) bounds what the order may
        consume: for a BUY the quote spent (``sum(price * qty)``, scale
        ``price_scale + qty_scale``), for a SELL the base quantity sold. A fill
        is cut down to the whole lots the cap still allows; when it allows none
        the remainder expires (reason ``MARKET``, status ``EXPIRED``).
        """
        key = (account, client_order_id)
        if order_type == _LIMIT and not quote_qty and side in _SIDES and tif in _TIFS and stp_mode in _STP_MODES:
            # The common case, ``validate`` inlined.
            reason = DUPLICATE_ORDER if key in self._by_client else self._check(order_type, price, qty)
        else:
            reason = self.validate(account, client_order_id, side, order_type, tif, price, qty, quote_qty, stp_mode)
        if reason is not None:
            return [_new(Rejected, (account, client_order_id, reason[0], reason[1]))]
        if side == _BID:
            opp = self.asks
            lim_key = -price
        else:
            opp = self.bids
            lim_key = price
        okeys = opp.keys
        market = order_type == _MARKET
        if market:
            lim_key = _NO_LIMIT
            price = 0
            if quote_qty:
                reason = self._quote_liquidity(opp)
                if reason is not None:
                    return [_new(Rejected, (account, client_order_id, reason[0], reason[1]))]
        elif order_type == _LIMIT_MAKER and okeys and okeys[-1] >= lim_key:
            return [_new(Rejected, (account, client_order_id, WOULD_TAKE[0], WOULD_TAKE[1]))]

        order_id = self._next_order_id
        self._next_order_id = order_id + 1
        order = Order(
            order_id, client_order_id, account, side, order_type, tif, price, qty, quote_qty, stp_mode, now_ns, key
        )
        orders = self._orders
        orders[order_id] = order
        if len(orders) >= self._prune_at:
            self._prune()
        events: list[Event] = [
            _new(Ack, (order_id, client_order_id, account, side, order_type, tif, price, qty, quote_qty, now_ns))
        ]
        if okeys and okeys[-1] >= lim_key:
            if quote_qty:
                self._match_quote(order, opp, events, now_ns, cap)
                return events
            if tif == _FOK and not market and not self._fok_fillable(opp, lim_key, qty, account, stp_mode):
                order.leaves = 0
                order.status = _EXPIRED
                events.append(_new(Expired, (order_id, account, client_order_id, 0, qty, _R_FOK)))
                return events
            if self._match(order, opp, lim_key, events, now_ns, cap if market else 0) or not order.leaves:
                return events
        leaves = order.leaves
        if market or (tif != _GTC and order_type == _LIMIT):
            order.leaves = 0
            order.status = _EXPIRED
            why = _R_MARKET if market else (_R_IOC if tif == _IOC else _R_FOK)
            events.append(_new(Expired, (order_id, account, client_order_id, order.cum_qty, leaves, why)))
            return events
        # Rest (GTC limit or LIMIT_MAKER): PriceLadder.add, inlined.
        own = self.bids if side == _BID else self.asks
        book_key = price * own.sign
        level = own.levels.get(book_key)
        if level is None:
            own.add(order)
        else:
            level.queue.append(order)
            level.live += 1
            level.total += leaves
        self._by_client[key] = order
        return events

    def cancel(
        self, account: int, order_id: int | None = None, client_order_id: int | None = None, now_ns: int = 0
    ) -> list[Event]:
        """Cancel an open order by ``order_id`` or by the account's ``client_order_id``.

        With both, the order found by id must also carry that client order id
        (Binance). Unknown, finished or another account's orders: -2011.
        """
        order: Order | None
        if order_id is not None:
            order = self._orders.get(order_id)
            if order is not None and (
                order.account != account or (client_order_id is not None and order.client_order_id != client_order_id)
            ):
                order = None
        elif client_order_id is not None:
            order = self._by_client.get((account, client_order_id))
        else:
            return [_new(Rejected, (account, 0, CANCEL_ID_MISSING[0], CANCEL_ID_MISSING[1]))]
        if order is None or not order.leaves:
            coid = client_order_id if client_order_id is not None else 0
            return [_new(Rejected, (account, coid, UNKNOWN_ORDER[0], UNKNOWN_ORDER[1]))]
        leaves = (self.bids if order.side == _BID else self.asks).remove(order)
        order.status = _CANCELED
        del self._by_client[order.key]
        return [_new(Canceled, (order.order_id, account, order.client_order_id, order.cum_qty, leaves))]

    def cancel_replace(
        self,
        account: int,
        cancel_order_id: int | None = None,
        cancel_client_order_id: int | None = None,
        *,
        client_order_id: int,
        side: int,
        order_type: int,
        tif: int,
        price: int,
        qty: int,
        quote_qty: int = 0,
        stp_mode: int = _STP_NONE,
        mode: ReplaceMode = ReplaceMode.STOP_ON_FAILURE,
        now_ns: int = 0,
        cap: int = 0,
    ) -> list[Event]:
        """Binance ``cancelReplace``: cancel an open order, then place a new one.

        1. The new order's request checks and filters run first; a failure
           rejects the request (that ``Rejected`` only) and cancels nothing.
           The duplicate-``client_order_id`` check waits for step 3, so the new
           order may reuse the canceled order's client id.
        2. The cancel: its ``Canceled``, or its -2011 ``Rejected``.
        3. Unless the cancel failed under ``STOP_ON_FAILURE``: ``new_order``'s events.
        """
        reason = self.check_replacement(side, order_type, tif, price, qty, quote_qty, stp_mode)
        if reason is not None:
            return [_new(Rejected, (account, client_order_id, reason[0], reason[1]))]
        events = self.cancel(account, cancel_order_id, cancel_client_order_id, now_ns)
        if type(events[0]) is Rejected and mode == ReplaceMode.STOP_ON_FAILURE:
            return events
        events.extend(
            self.new_order(
                account, client_order_id, side, order_type, tif, price, qty, quote_qty, stp_mode, now_ns, cap
            )
        )
        return events

    def check_replacement(
        self, side: int, order_type: int, tif: int, price: int, qty: int, quote_qty: int = 0, stp_mode: int = _STP_NONE
    ) -> RejectReason | None:
        """Step 1 of ``cancel_replace``: the new order's request checks and filters (no duplicate check).

        A caller that runs the halves itself (to tell them apart) calls this,
        then ``cancel``, then ``new_order``: exactly what ``cancel_replace`` does.
        """
        return _check_request(side, order_type, tif, qty, quote_qty, stp_mode) or self._check(
            order_type, price, qty, quote_qty, self.last_price
        )

    def cancel_all(self, account: int, now_ns: int = 0) -> list[Event]:
        """Binance ``openOrders.cancelAll`` for this symbol: one ``Canceled`` per open order of
        ``account``, by order id; -2011 "Unknown order sent." when it has none."""
        mine = sorted(
            (o for side in (self.bids, self.asks) for o in side.iter_orders() if o.account == account),
            key=lambda o: o.order_id,
        )
        if not mine:
            return [_new(Rejected, (account, 0, UNKNOWN_ORDER[0], UNKNOWN_ORDER[1]))]
        events: list[Event] = []
        for order in mine:
            leaves = (self.bids if order.side == _BID else self.asks).remove(order)
            order.status = _CANCELED
            del self._by_client[order.key]
            events.append(_new(Canceled, (order.order_id, account, order.client_order_id, order.cum_qty, leaves)))
        return events

    # ---------------------------------------------------------------- matching

    def _match(
        self, taker: Order, opp: PriceLadder, lim_key: int, events: list[Event], now_ns: int, cap: int = 0
    ) -> bool:
        """Match a quantity taker against ``opp`` while it crosses; True if STP expired the taker.

        A MARKET order's ``cap`` (see ``new_order``) also cuts each fill to the whole lots it
        still allows, and stops matching when it allows none (the caller expires the rest).
        """
        keys = opp.keys
        levels = opp.levels
        append = events.append
        remaining = taker.leaves
        cum = taker.cum_qty
        account = taker.account
        stp = taker.stp_mode
        tid = taker.order_id
        tcoid = taker.client_order_id
        buyer_maker = taker.side == _ASK
        trade_id = self._next_trade_id
        stopped = capped = False
        last = 0
        lot = self._lot
        cap_quote = not buyer_maker  # a BUY caps the quote spent, a SELL the base sold
        cap_left = cap
        while keys:
            key = keys[-1]
            if key < lim_key:
                break
            level = levels[key]
            price = level.price
            queue = level.queue
            while queue:
                maker = queue[0]
                mleft = maker.leaves
                if not mleft:
                    queue.popleft()
                    continue
                if stp and maker.account == account:
                    if stp != _EXPIRE_TAKER:
                        self._expire_maker_for_stp(maker, queue, level, append)
                    if stp != _EXPIRE_MAKER:
                        stopped = True
                        break
                    continue
                fill = remaining if remaining < mleft else mleft
                if cap:
                    allowed = cap_left // (price * lot) * lot if cap_quote else cap_left // lot * lot
                    if not allowed:
                        capped = True
                        break
                    fill = allowed if allowed < fill else fill
                    cap_left -= price * fill if cap_quote else fill
                remaining -= fill
                cum += fill
                last = price
                self._fill_maker(maker, queue, level, price, fill, trade_id, tid, account, buyer_maker, now_ns, append)
                trade_id += 1
                if remaining:
                    append(_new(PartiallyFilled, (tid, account, tcoid, price, fill, cum, remaining)))
                else:
                    append(_new(Filled, (tid, account, tcoid, price, fill, cum)))
                    break
            if not level.live:
                keys.pop()
                del levels[key]
            if stopped or capped or not remaining:
                break
        self._next_trade_id = trade_id
        if last:
            self.last_price = last
        taker.cum_qty = cum
        if stopped:
            taker.leaves = 0
            taker.status = _EXPIRED_IN_MATCH
            append(_new(Expired, (tid, account, tcoid, cum, remaining, _R_STP)))
            return True
        taker.leaves = remaining
        taker.status = _PARTIALLY_FILLED if remaining and cum else (_FILLED if cum else _NEW)
        return False

    def _match_quote(self, taker: Order, opp: PriceLadder, events: list[Event], now_ns: int, cap: int = 0) -> None:
        """Match a ``quoteOrderQty`` MARKET order; always leaves it finished.

        With a ``cap`` (see ``new_order``) a fill is also cut to what the cap
        allows; when the cap, not the quote, stops the order it ``EXPIRED``.
        """
        keys = opp.keys
        levels = opp.levels
        append = events.append
        lot = self._lot
        budget = taker.quote_qty * self._quote_unit  # at price_scale + qty_scale, like price * qty
        cum = 0
        account = taker.account
        stp = taker.stp_mode
        tid = taker.order_id
        tcoid = taker.client_order_id
        buyer_maker = taker.side == _ASK
        trade_id = self._next_trade_id
        stopped = exhausted = capped = False
        last = 0
        last_update = -1
        cap_left = cap
        cap_quote = not buyer_maker  # a BUY caps the quote spent, a SELL the base sold
        while keys and not (stopped or exhausted or capped):
            key = keys[-1]
            level = levels[key]
            price = level.price
            queue = level.queue
            while queue:
                maker = queue[0]
                mleft = maker.leaves
                if not mleft:
                    queue.popleft()
                    continue
                if stp and maker.account == account:
                    if stp != _EXPIRE_TAKER:
                        self._expire_maker_for_stp(maker, queue, level, append)
                    if stp != _EXPIRE_MAKER:
                        stopped = True
                        break
                    continue
                afford = budget // (price * lot) * lot
                if not afford:
                    exhausted = True
                    break
                if cap:
                    allowed = cap_left // (price * lot) * lot if cap_quote else cap_left // lot * lot
                    if not allowed:
                        capped = True
                        break
                    afford = allowed if allowed < afford else afford
                    fill = afford if afford < mleft else mleft
                    cap_left -= price * fill if cap_quote else fill
                else:
                    fill = afford if afford < mleft else mleft
                budget -= price * fill
                cum += fill
                last = price
                self._fill_maker(maker, queue, level, price, fill, trade_id, tid, account, buyer_maker, now_ns, append)
                trade_id += 1
                last_update = len(events)
                append(_new(PartiallyFilled, (tid, account, tcoid, price, fill, cum, 0)))
            if not level.live:
                keys.pop()
                del levels[key]
        self._next_trade_id = trade_id
        taker.cum_qty = cum
        taker.leaves = 0
        if last:
            self.last_price = last
        if stopped:
            taker.status = _EXPIRED_IN_MATCH
            append(_new(Expired, (tid, account, tcoid, cum, 0, _R_STP)))
        elif cum and not capped and (exhausted or budget < last * lot):
            taker.status = _FILLED
            final = events[last_update]
            assert type(final) is PartiallyFilled
            events[last_update] = _new(Filled, (tid, account, tcoid, final.last_price, final.last_qty, cum))
        else:
            taker.status = _EXPIRED
            append(_new(Expired, (tid, account, tcoid, cum, 0, _R_MARKET)))

    def _expire_maker_for_stp(
        self, maker: Order, queue: deque[Order], level: PriceLevel, append: Callable[[Event], None]
    ) -> None:
        """Self-trade prevention took the resting maker out (EXPIRE_MAKER / EXPIRE_BOTH)."""
        mleft = maker.leaves
        queue.popleft()
        level.live -= 1
        level.total -= mleft
        maker.leaves = 0
        maker.status = _EXPIRED_IN_MATCH
        del self._by_client[maker.key]
        append(_new(Expired, (maker.order_id, maker.account, maker.client_order_id, maker.cum_qty, mleft, _R_STP)))

    def _fill_maker(
        self,
        maker: Order,
        queue: deque[Order],
        level: PriceLevel,
        price: int,
        fill: int,
        trade_id: int,
        taker_id: int,
        taker_account: int,
        buyer_maker: bool,
        now_ns: int,
        append: Callable[[Event], None],
    ) -> None:
        """``fill`` traded against the maker at the head of ``queue``: the trade, then the maker's status."""
        mleft = maker.leaves - fill
        mcum = maker.cum_qty + fill
        maker.cum_qty = mcum
        level.total -= fill
        trade = (trade_id, price, fill, maker.order_id, maker.account, maker.side, taker_id, taker_account)
        append(_new(Trade, (*trade, buyer_maker, now_ns)))
        if mleft:
            maker.leaves = mleft
            maker.status = _PARTIALLY_FILLED
            status = (maker.order_id, maker.account, maker.client_order_id, price, fill, mcum, mleft)
            append(_new(PartiallyFilled, status))
        else:
            queue.popleft()
            level.live -= 1
            maker.leaves = 0
            maker.status = _FILLED
            del self._by_client[maker.key]
            append(_new(Filled, (maker.order_id, maker.account, maker.client_order_id, price, fill, mcum)))

    def _fok_fillable(self, opp: PriceLadder, lim_key: int, qty: int, account: int, stp: int) -> bool:
        """Would a FOK of ``qty`` fill entirely against ``opp`` (counting STP)?"""
        levels = opp.levels
        for key in reversed(opp.keys):
            if key < lim_key:
                return False
            level = levels[key]
            if not stp:
                qty -= level.total
                if qty <= 0:
                    return True
                continue
            for o in level.queue:
                left = o.leaves
                if not left:
                    continue
                if o.account == account:
                    if stp == _EXPIRE_MAKER:
                        continue
                    return False
                qty -= left
                if qty <= 0:
                    return True
        return False

    def _quote_liquidity(self, opp: PriceLadder) -> RejectReason | None:
        """Binance's up-front liquidity check of a ``quoteOrderQty`` MARKET order."""
        if not opp:
            return NO_LIQUIDITY
        need = self.filters.min_qty
        if need:
            for level in opp.iter_levels():
                need -= level.total
                if need <= 0:
                    return None
            return LIQUIDITY_BELOW_LOT_SIZE
        return None

    def _prune(self) -> None:
        """Forget finished orders older than the ``history`` most recent ids (amortized O(1))."""
        assert self._history is not None
        cutoff = self._next_order_id - self._history
        self._orders = {oid: o for oid, o in self._orders.items() if o.leaves or oid >= cutoff}
        self._prune_at = len(self._orders) + self._history + 1024

    # ----------------------------------------------------------------- queries

    def best_bid(self) -> int | None:
        return self.bids.best_price()

    def best_ask(self) -> int | None:
        return self.asks.best_price()

    def level_qty(self, side: int, price: int) -> int:
        """The open quantity resting at ``price`` on ``side`` (0: no such level)."""
        book = self.bids if side == _BID else self.asks
        level = book.levels.get(price * book.sign)
        return 0 if level is None else level.total

    def depth(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """``(bids, asks)``: the best ``n`` levels of each side as ``(price, total qty)``, best first."""
        return self.bids.depth(n), self.asks.depth(n)

    def order_status(self, order_id: int) -> OrderInfo | None:
        """A snapshot of the order, or ``None`` if it never existed or was forgotten (``history``)."""
        order = self._orders.get(order_id)
        return None if order is None else _info(order)

    def open_orders(self, account: int | None = None) -> list[OrderInfo]:
        """The open orders of ``account`` (all accounts when ``None``), by order id."""
        found = [
            _info(o)
            for side in (self.bids, self.asks)
            for o in side.iter_orders()
            if account is None or o.account == account
        ]
        found.sort(key=lambda info: info.order_id)
        return found

    @property
    def next_order_id(self) -> int:
        return self._next_order_id

    @property
    def next_trade_id(self) -> int:
        return self._next_trade_id

    def check_invariants(self) -> None:
        """Raise ``AssertionError`` if the books or indexes are inconsistent (tests, benchmarks)."""
        self.bids.check_invariants()
        self.asks.check_invariants()
        bid, ask = self.best_bid(), self.best_ask()
        if bid is not None and ask is not None and bid >= ask:
            raise AssertionError(f"crossed book: bid {bid} >= ask {ask}")
        for side, book in ((_BID, self.bids), (_ASK, self.asks)):
            if any(o.side != side for o in book.iter_orders()):
                raise AssertionError(f"an order of the other side rests in the {'bids' if side == _BID else 'asks'}")
        resting = list(self.bids.iter_orders()) + list(self.asks.iter_orders())
        if {o.key: o for o in resting} != self._by_client or len(resting) != len(self._by_client):
            raise AssertionError("client order id index out of step with the book")
        for o in resting:
            if self._orders.get(o.order_id) is not o:
                raise AssertionError(f"resting order {o.order_id} missing from the order index")
            if o.status not in (_NEW, _PARTIALLY_FILLED) or o.leaves != o.qty - o.cum_qty:
                raise AssertionError(f"resting order in a bad state: {o!r}")
