"""Paper fills for one instrument: orders against the live book and trades, with queue position and latency.

Nothing is sent anywhere: orders meet the book the market-data path
publishes (DEPTH, top N levels) and the trades it prints (TRADE). Pure and
deterministic: no IO, no clock (every call passes the stage clock ``now``,
monotonic ns), no randomness; the same calls give the same reports, trade
ids and venue order ids (each counts from 1 per instance).

Latency. An order becomes live at ``send + entry_ns``; a cancel or replace
takes effect at ``send + cancel_ns``, so a fill can still happen between a
cancel's sending and its effect, and the cancel is then refused (the order
is gone) or cancels the remainder. Requests travel one connection, so none
overtakes another: each takes effect no earlier than the one sent before it.
Whatever is due at a time happens before the market data of that time.

Arrival (what the venue does with a new order, Binance spot semantics):

* refused (REJECTED, no ACK): a quantity <= 0 or off the lot; a limit price
  <= 0 or off the tick; a stop order (unsupported, as on the loopback
  venue: -2010); an id already open (DUPLICATE_ORDER); a LIMIT_MAKER that
  would cross (WOULD_CROSS); a MARKET order with an empty opposite side
  (-2010, "Order book liquidity is less than symbol minimum quantity").
* otherwise ACK, then, if marketable, it takes the visible levels best first
  up to its limit (one fill per level, at the level's price, as taker), and
  those levels are that much smaller until the next DEPTH replaces the book.
  FOK first checks the visible levels within its limit hold its whole
  quantity, and expires untouched if not. What is left: a GTC limit (or
  LIMIT_MAKER) rests; IOC, FOK and MARKET remainders expire (EXPIRED). A
  MARKET order sees only the N visible levels: what lies beyond them
  expires rather than being guessed.

Queue position: hftbacktest's ``RiskAdverseQueueModel`` (queue ahead = the
level's size on arrival; a trade at the price takes its quantity off it; a
depth change clamps it to the new size; what a trade leaves beyond it
fills), in exact integers, with what a top-N book and a trade feed add. A
resting order joins the back of the queue at its price; ``ahead`` is the
quantity in front of it:

1. On arrival, ``ahead`` is the visible size of its own side's level at its
   price (0 where there is no such level inside the visible book; *unknown*
   where the price is beyond the last visible level of a full top-N, or no
   book has been seen yet).
2. A trade that took its side (a sell aggressor for a resting buy, a buy
   aggressor for a resting sell) at exactly its price first consumes
   ``ahead``; only what is left of the trade fills the order (at the order's
   price, as maker). A trade *through* its price (a sell aggressor below the
   buy's price) means the whole level went: ``ahead`` becomes 0 and the
   trade's quantity fills it. Within one trade, orders are served in price
   then arrival order, and what fills one is not there for the next: all the
   fills one trade makes add up to at most its quantity (so a print that our
   better-priced orders absorbed does not move the queue at its own price;
   the next DEPTH showing that level smaller does).
3. A DEPTH update clamps ``ahead`` to the level's visible size:
   ``ahead = min(ahead, size)`` (an unknown ``ahead`` becomes the size when
   the level first shows). Shrinkage only counts this way, after trades: a
   trade already took its quantity off ``ahead``, and the level's shrinking
   by the same trade later changes nothing, while a shrink that trades do not
   explain (cancels ahead of us) advances the order only as far as it must,
   since the queue ahead cannot be longer than the level. Growth never adds
   to ``ahead`` (it joins behind us).

Never optimistic, given that a DEPTH never runs ahead of the trades it
reflects (Binance: ``aggTrade`` is pushed at once, ``depth@100ms`` after the
100 ms it sums up, on the same connection): the fills of an order never
exceed the trades on its side at or through its price since it became live,
and an order never fills from trades at its price until trades at its price
since its arrival have exceeded ``min(size at arrival, smallest size shown
since)``. Pessimistic on purpose, where hftbacktest fills: a book that
crosses a resting order without a trade on its side fills nothing (we cannot
tell whether the crossing order would have met ours). Paper orders never
trade with each other. Orders at a price beyond the visible depth fill only
on a trade through their price until their level shows.

Reports (:class:`PaperReport`, close to an EXEC_REPORT): ACK, PARTIAL_FILL,
FILL, CANCELED, EXPIRED, REJECTED, CANCEL_REJECTED and REPLACED (a replace's
new order, in place of an ACK: the old one is gone with it, as the strategy
runner reads it). A replace whose old order is no longer open rejects the new
order (UNKNOWN_ORDER), as Binance's cancel-replace with STOP_ON_FAILURE; one
whose new order fails the static checks changes nothing; one whose new order
the book refuses (a LIMIT_MAKER that would cross, a MARKET with nothing to
take) cancels the old (CANCELED) and rejects the new.
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from collections.abc import Sequence
from typing import Final, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from hftpipe.schema.trading import ExecType, OrderSide, OrderType, RejectReason, TimeInForce

Levels: TypeAlias = Sequence[int] | npt.NDArray[np.int64]

NEW_ORDER_REJECTED: Final = -2010
"""Binance's code for a new order the matching engine refuses."""
UNKNOWN: Final = -1
"""``ahead`` of an order whose level is beyond the visible book (or that arrived before any book)."""

_BUY: Final = OrderSide.BUY
_SELL: Final = OrderSide.SELL
_NEW: Final = 0
_CANCEL: Final = 1
_REPLACE: Final = 2
_STOPS: Final = (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)


class Latency(NamedTuple):
    """How long requests take to reach the paper venue, ns of the stage clock."""

    entry_ns: int = 0
    cancel_ns: int = 0
    """Cancels and replaces."""


NO_LATENCY: Final = Latency()


class PaperReport(NamedTuple):
    """One thing that happened to an order: what the execution stage turns into an EXEC_REPORT."""

    ts_ns: int
    """When it happened (stage clock): an arrival's effect time, or the market data's ``now``."""
    exec_type: ExecType
    order_id: int
    """The caller's id of the order (a replace's new order in REPLACED)."""
    venue_order_id: int
    """The paper venue's id, from 1 (0: never accepted)."""
    side: OrderSide
    last_price: int
    last_qty: int
    cum_qty: int
    leaves_qty: int
    trade_id: int
    """From 1, one per fill (0: no fill)."""
    is_maker: bool
    reason: RejectReason
    venue_code: int
    """The venue's error code when ``reason`` is VENUE."""


class OrderSpec(NamedTuple):
    """A new order as sent."""

    order_id: int
    side: OrderSide
    order_type: OrderType
    tif: TimeInForce
    price: int
    """Limit price, fixed point (ignored for MARKET)."""
    qty: int


class _Resting:
    """An accepted order: while it takes liquidity, then while it rests."""

    __slots__ = ("ahead", "cum_qty", "order_id", "price", "qty", "seq", "side", "venue_order_id")

    def __init__(self, spec: OrderSpec, venue_order_id: int, seq: int) -> None:
        self.order_id = spec.order_id
        self.side = spec.side
        self.price = spec.price
        self.qty = spec.qty
        self.venue_order_id = venue_order_id
        self.seq = seq
        self.cum_qty = 0
        self.ahead = UNKNOWN

    def priority(self) -> tuple[int, int]:
        """Sort key within a side: better price first, then earlier."""
        return (-self.price if self.side == _BUY else self.price, self.seq)


_Request: TypeAlias = tuple[int, int, OrderSpec | None, int, OrderSide]
"""``(effective_ns, kind, new order, order acted on, its side)``."""


class PaperVenue:
    """One instrument's paper venue (see the module's docstring for the model)."""

    __slots__ = (
        "_asks",
        "_bids",
        "_book",
        "_full",
        "_last_effect",
        "_next_seq",
        "_next_trade",
        "_next_venue_id",
        "_now",
        "_open",
        "_out",
        "_pending",
        "latency",
        "lot",
        "tick",
    )

    def __init__(self, latency: Latency = NO_LATENCY, tick: int = 1, lot: int = 1) -> None:
        if latency.entry_ns < 0 or latency.cancel_ns < 0:
            raise ValueError(f"latencies must be >= 0, got {latency}")
        if tick <= 0 or lot <= 0:
            raise ValueError(f"tick and lot must be positive, got {tick}, {lot}")
        self.latency = latency
        self.tick = tick
        self.lot = lot
        self._pending: deque[_Request] = deque()
        self._last_effect = 0
        self._now = 0
        self._open: dict[int, _Resting] = {}
        self._bids: list[_Resting] = []
        """Resting buys, best price then earliest first."""
        self._asks: list[_Resting] = []
        self._book: tuple[list[int], list[int], list[int], list[int]] | None = None
        """The last DEPTH: bid prices, bid sizes, ask prices, ask sizes, best first, empty levels dropped."""
        self._full = (False, False)
        """Whether each side filled every level it was given (so a price beyond its last level is not known)."""
        self._next_venue_id = 1
        self._next_trade = 1
        self._next_seq = 1
        self._out: list[PaperReport] = []

    # -- requests (they take effect later: see advance) ---------------------------------------
    def submit(
        self, order_id: int, side: OrderSide, order_type: OrderType, tif: TimeInForce, price: int, qty: int, now: int
    ) -> None:
        """Send a new order at ``now``: it arrives at ``now + entry_ns``."""
        spec = OrderSpec(order_id, OrderSide(side), OrderType(order_type), TimeInForce(tif), price, qty)
        self._send(now + self.latency.entry_ns, _NEW, spec, order_id, spec.side)

    def cancel(self, order_id: int, now: int) -> None:
        """Send a cancel at ``now``: it takes effect at ``now + cancel_ns`` (no earlier than what was sent before)."""
        self._send(now + self.latency.cancel_ns, _CANCEL, None, order_id, self._side_of(order_id))

    def replace(
        self,
        order_id: int,
        new_order_id: int,
        side: OrderSide,
        order_type: OrderType,
        tif: TimeInForce,
        price: int,
        qty: int,
        now: int,
    ) -> None:
        """Send a cancel-replace of ``order_id`` by a new order at ``now`` (effect at ``now + cancel_ns``).

        The new order loses the old one's place: it joins the back of its level's queue when the replace lands.
        """
        spec = OrderSpec(new_order_id, OrderSide(side), OrderType(order_type), TimeInForce(tif), price, qty)
        self._send(now + self.latency.cancel_ns, _REPLACE, spec, order_id, self._side_of(order_id))

    # -- the clock and the market ------------------------------------------------------------
    def advance(self, now: int) -> list[PaperReport]:
        """Let every request due by ``now`` take effect; the reports that made."""
        self._out = []
        self._run_until(now)
        return self._out

    def on_depth(
        self, bid_prices: Levels, bid_qtys: Levels, ask_prices: Levels, ask_qtys: Levels, now: int
    ) -> list[PaperReport]:
        """A new top-N book at ``now`` (best first; zero sizes are unused levels); the reports it made.

        Requests due by ``now`` take effect first, against the previous book. The arrays are copied.
        """
        self._out = []
        self._run_until(now)
        bids_p, bids_q, bids_full = _side_levels(bid_prices, bid_qtys)
        asks_p, asks_q, asks_full = _side_levels(ask_prices, ask_qtys)
        self._book = (bids_p, bids_q, asks_p, asks_q)
        self._full = (bids_full, asks_full)
        for order in (*self._bids, *self._asks):
            size = self._visible(order.side, order.price)
            if size is not None and (order.ahead == UNKNOWN or size < order.ahead):
                order.ahead = size
        return self._out

    def on_trade(self, price: int, qty: int, aggressor: int, now: int) -> list[PaperReport]:
        """A trade printed at ``now``: ``aggressor`` is the taker's side (TRADE's ``aggressor``: 0 buyer, 1 seller).

        A buyer took asks, so it reaches resting sells at or below ``price``; a seller, buys at or above it.
        Requests due by ``now`` take effect first. Any other aggressor value touches nothing.
        """
        self._out = []
        self._run_until(now)
        if aggressor == _SELL:
            resting, buys = self._bids, True
        elif aggressor == _BUY:
            resting, buys = self._asks, False
        else:
            return self._out
        available = qty
        done: list[_Resting] = []
        for order in resting:
            if available <= 0 or (order.price < price if buys else order.price > price):
                break  # best first: no order after this one is reached either
            if order.price == price:
                consumed = available if order.ahead == UNKNOWN else min(available, order.ahead)
                if order.ahead != UNKNOWN:
                    order.ahead -= consumed
                free = available - consumed
            else:  # through its price: the whole level went
                order.ahead = 0
                free = available
            take = min(free, order.qty - order.cum_qty)
            if take > 0:
                available -= take
                if self._fill(order, order.price, take, True, now):
                    done.append(order)
        for order in done:
            self._remove(order)
        return self._out

    # -- reads -----------------------------------------------------------------------------
    def queue_ahead(self, order_id: int) -> int | None:
        """What is ahead of a resting order in its level's queue (None: not resting, or not known yet)."""
        order = self._open.get(order_id)
        if order is None or order.ahead == UNKNOWN:
            return None
        return order.ahead

    def open_orders(self) -> list[tuple[int, int, int]]:
        """``(order_id, cum_qty, leaves_qty)`` of every resting order, buys then sells, in queue priority."""
        return [(o.order_id, o.cum_qty, o.qty - o.cum_qty) for o in (*self._bids, *self._asks)]

    @property
    def pending(self) -> int:
        """Requests sent that have not taken effect yet."""
        return len(self._pending)

    # -- internals ---------------------------------------------------------------------------
    def _side_of(self, order_id: int) -> OrderSide:
        """The side of an order open or on its way (for a refusal's report); BUY when none is."""
        order = self._open.get(order_id)
        if order is not None:
            return order.side
        for _, _, spec, _, _ in reversed(self._pending):
            if spec is not None and spec.order_id == order_id:
                return spec.side
        return _BUY

    def _send(self, due: int, kind: int, spec: OrderSpec | None, order_id: int, side: OrderSide) -> None:
        effect = max(due, self._last_effect, self._now)
        self._last_effect = effect
        self._pending.append((effect, kind, spec, order_id, side))

    def _run_until(self, now: int) -> None:
        pending = self._pending
        while pending and pending[0][0] <= now:
            effect, kind, spec, order_id, side = pending.popleft()
            self._now = effect
            if kind == _NEW:
                assert spec is not None
                self._arrive(spec, effect)
            elif kind == _CANCEL:
                self._cancel(order_id, side, effect)
            else:
                assert spec is not None
                self._replace(order_id, spec, effect)
        self._now = max(self._now, now)

    def _report(
        self,
        ts: int,
        exec_type: ExecType,
        order_id: int,
        venue_order_id: int,
        side: OrderSide,
        last_price: int = 0,
        last_qty: int = 0,
        cum_qty: int = 0,
        leaves_qty: int = 0,
        trade_id: int = 0,
        is_maker: bool = False,
        reason: RejectReason = RejectReason.NONE,
        venue_code: int = 0,
    ) -> None:
        self._out.append(
            PaperReport(
                ts,
                exec_type,
                order_id,
                venue_order_id,
                side,
                last_price,
                last_qty,
                cum_qty,
                leaves_qty,
                trade_id,
                is_maker,
                reason,
                venue_code,
            )
        )

    def _reject(self, spec: OrderSpec, ts: int, reason: RejectReason, venue_code: int = 0) -> None:
        self._report(ts, ExecType.REJECTED, spec.order_id, 0, spec.side, reason=reason, venue_code=venue_code)

    def _static_refusal(self, spec: OrderSpec) -> tuple[RejectReason, int] | None:
        """Why the venue refuses the order whatever the book, or None."""
        if spec.order_type in _STOPS:
            return RejectReason.VENUE, NEW_ORDER_REJECTED
        if spec.qty <= 0:
            return RejectReason.QTY_BELOW_LOT, 0
        if spec.qty % self.lot:
            return RejectReason.QTY_NOT_ON_LOT, 0
        if spec.order_type != OrderType.MARKET:
            if spec.price <= 0:
                return RejectReason.PRICE_NOT_POSITIVE, 0
            if spec.price % self.tick:
                return RejectReason.PRICE_NOT_ON_TICK, 0
        if spec.order_id in self._open:
            return RejectReason.DUPLICATE_ORDER, 0
        return None

    def _opposite(self, side: OrderSide) -> tuple[list[int], list[int]]:
        book = self._book
        if book is None:
            return [], []
        return (book[2], book[3]) if side == _BUY else (book[0], book[1])

    def _book_refusal(self, spec: OrderSpec) -> tuple[RejectReason, int] | None:
        """Why the venue refuses the order given the book now, or None."""
        prices, _ = self._opposite(spec.side)
        if spec.order_type == OrderType.MARKET:
            return None if prices else (RejectReason.VENUE, NEW_ORDER_REJECTED)
        crossing = prices and (prices[0] <= spec.price if spec.side == _BUY else prices[0] >= spec.price)
        if spec.order_type == OrderType.LIMIT_MAKER and crossing:
            return RejectReason.WOULD_CROSS, 0
        return None

    def _arrive(self, spec: OrderSpec, ts: int) -> None:
        """A new order reaches the venue at ``ts``."""
        refusal = self._static_refusal(spec) or self._book_refusal(spec)
        if refusal is not None:
            self._reject(spec, ts, *refusal)
            return
        self._place(spec, ts, ExecType.ACK)

    def _replace(self, order_id: int, spec: OrderSpec, ts: int) -> None:
        """A cancel-replace reaches the venue at ``ts``: static checks, the cancel, then the new order."""
        refusal = self._static_refusal(spec)
        if refusal is not None:  # nothing is canceled
            self._reject(spec, ts, *refusal)
            return
        old = self._open.get(order_id)
        if old is None:
            self._reject(spec, ts, RejectReason.UNKNOWN_ORDER)
            return
        self._remove(old)
        refusal = self._book_refusal(spec)
        if refusal is not None:  # the cancel stands, the new order fails
            self._report(
                ts,
                ExecType.CANCELED,
                old.order_id,
                old.venue_order_id,
                old.side,
                cum_qty=old.cum_qty,
                leaves_qty=old.qty - old.cum_qty,
            )
            self._reject(spec, ts, *refusal)
            return
        self._place(spec, ts, ExecType.REPLACED)

    def _place(self, spec: OrderSpec, ts: int, accepted: ExecType) -> None:
        """An accepted order: ``accepted`` (ACK or REPLACED), what it takes, then it rests or expires."""
        side, order_type = spec.side, spec.order_type
        prices, sizes = self._opposite(side)
        market = order_type == OrderType.MARKET
        buy = side == _BUY
        limit = spec.price
        order = _Resting(spec, self._next_venue_id, self._next_seq)
        self._next_venue_id += 1
        self._next_seq += 1
        self._report(ts, accepted, spec.order_id, order.venue_order_id, side, leaves_qty=spec.qty)
        if order_type == OrderType.LIMIT_MAKER:
            tif = TimeInForce.GTC
        else:
            tif = TimeInForce.IOC if market else spec.tif
            # levels it can take: the opposite side best first, up to its limit
            reach = 0
            fillable = 0
            while reach < len(prices) and (market or (prices[reach] <= limit if buy else prices[reach] >= limit)):
                fillable += sizes[reach]
                reach += 1
            if tif == TimeInForce.FOK and fillable < spec.qty:
                self._report(ts, ExecType.EXPIRED, spec.order_id, order.venue_order_id, side, leaves_qty=spec.qty)
                return
            level = 0
            while level < reach and order.cum_qty < spec.qty:
                take = min(sizes[level], spec.qty - order.cum_qty)
                sizes[level] -= take
                self._fill(order, prices[level], take, False, ts)
                level += 1
            while prices and sizes[0] == 0:  # what it took is gone until the next DEPTH
                del prices[0], sizes[0]
        leaves = spec.qty - order.cum_qty
        if not leaves:
            return
        if tif != TimeInForce.GTC:
            self._report(
                ts,
                ExecType.EXPIRED,
                spec.order_id,
                order.venue_order_id,
                side,
                cum_qty=order.cum_qty,
                leaves_qty=leaves,
            )
            return
        size = self._visible(side, spec.price)
        order.ahead = UNKNOWN if size is None else size
        self._open[spec.order_id] = order
        insort(self._bids if buy else self._asks, order, key=_Resting.priority)

    def _fill(self, order: _Resting, price: int, qty: int, maker: bool, ts: int) -> bool:
        """Report a fill of ``order``; True when it is done."""
        order.cum_qty += qty
        leaves = order.qty - order.cum_qty
        trade_id = self._next_trade
        self._next_trade += 1
        self._report(
            ts,
            ExecType.FILL if not leaves else ExecType.PARTIAL_FILL,
            order.order_id,
            order.venue_order_id,
            order.side,
            price,
            qty,
            order.cum_qty,
            leaves,
            trade_id,
            maker,
        )
        return not leaves

    def _remove(self, order: _Resting) -> None:
        del self._open[order.order_id]
        (self._bids if order.side == _BUY else self._asks).remove(order)

    def _cancel(self, order_id: int, side: OrderSide, ts: int) -> None:
        order = self._open.get(order_id)
        if order is None:
            self._report(ts, ExecType.CANCEL_REJECTED, order_id, 0, side, reason=RejectReason.UNKNOWN_ORDER)
            return
        self._remove(order)
        self._report(
            ts,
            ExecType.CANCELED,
            order_id,
            order.venue_order_id,
            order.side,
            cum_qty=order.cum_qty,
            leaves_qty=order.qty - order.cum_qty,
        )

    def _visible(self, side: OrderSide, price: int) -> int | None:
        """The visible size of ``side``'s level at ``price``: 0 inside the book where there is none, None beyond it."""
        book = self._book
        if book is None:
            return None
        buy = side == _BUY
        prices, sizes = (book[0], book[1]) if buy else (book[2], book[3])
        for level, level_price in enumerate(prices):
            if level_price == price:
                return sizes[level]
            if (level_price < price) if buy else (level_price > price):
                return 0  # past where it would be: no such level
        return None if self._full[0 if buy else 1] else 0


def _side_levels(prices: Levels, sizes: Levels) -> tuple[list[int], list[int], bool]:
    """One side's levels as int lists, up to the first empty one; and whether none was empty."""
    out_p: list[int] = []
    out_q: list[int] = []
    count = min(len(prices), len(sizes))
    for level in range(count):
        price, size = int(prices[level]), int(sizes[level])
        if size <= 0 or price <= 0:
            return out_p, out_q, False
        out_p.append(price)
        out_q.append(size)
    return out_p, out_q, count > 0
