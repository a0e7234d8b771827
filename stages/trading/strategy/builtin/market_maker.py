"""Two-sided passive quotes around a fair price, leaning against inventory, pulled when the book is in doubt.

One bid and one ask of ``qty`` per instrument, both post-only (LIMIT_MAKER),
so a quote never takes liquidity: the edge of a market maker is the spread
it earns, and a taker fill pays the spread instead.

Prices, in ticks of the instrument (``t``)::

    center = fair - skew_ticks_per_unit * position * t     fair: mid or microprice
    bid    = floor(center / t - spread_ticks) * t, at most best ask - t
    ask    = ceil(center / t + spread_ticks) * t,  at least best bid + t

- **Spread**: each quote is at least ``spread_ticks`` from the center, so the
  quotes are never closer than ``2 * spread_ticks`` ticks to each other.
- **No cross**: the clamps keep the bid below the best ask and the ask above
  the best bid; a clamp only ever moves a quote away from the market.
- **Skew**: a long position lowers both quotes (buy less eagerly, sell more
  eagerly), a short one raises them; ``position`` in units of the base asset.
- **Inventory**: a side is quoted only while the worst case (the position
  if every open order of that side filled, plus the new quote) stays within
  ``max_inventory``; otherwise that side's quote is canceled.
- **Requotes**: a resting quote is replaced only when its target moved
  ``requote_ticks`` or more; smaller moves would cost queue position and
  message rate for nothing.
- **Pull**: on a book that is not SYNCED (or not two-sided) every open order
  of the instrument is canceled at once (one CANCEL_ALL): quotes priced off a
  book that may be wrong are the quickest way to be picked off.

A side waits while one of its orders has an unanswered request (new,
replace or cancel), so a slow venue never collects a pile of quotes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from hftpipe.runtime.validation import ConfigError, at_least
from hftpipe.strategy import BookView, Order, OrderReport, OrderSide, OrderState, Strategy
from stages.trading.strategy.builtin._common import (
    PENDING,
    decimal_param,
    fixed_qty,
    order_qty,
    size_within,
    traded_books,
)

FAIRS: Final = ("mid", "microprice")
_OPEN: Final = OrderState.OPEN


class MarketMaker(Strategy):
    """Quotes both sides of every instrument it trades (see the module docstring)."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        qty: str = "1"
        """Size of each quote, base units (a decimal string; rounded down to the lot)."""
        fair: str = "mid"
        """The price quotes center on: ``"mid"`` or ``"microprice"`` (size-weighted mid)."""
        spread_ticks: int = 1
        """Least distance of each quote from the center, ticks (>= 1)."""
        skew_ticks_per_unit: float = 0.0
        """Ticks both quotes move against the position, per unit of base asset held (>= 0)."""
        max_inventory: str = "10"
        """Largest position either way, open orders counted as filled, base units (>= qty)."""
        requote_ticks: int = 1
        """Least move of a quote's target, ticks, that replaces the resting quote (>= 1)."""

        def __post_init__(self) -> None:
            decimal_param("qty", self.qty)
            if self.fair not in FAIRS:
                raise ConfigError("fair", f"must be one of {', '.join(FAIRS)}, got {self.fair!r}")
            at_least("spread_ticks", self.spread_ticks, 1)
            if not math.isfinite(self.skew_ticks_per_unit):
                raise ConfigError("skew_ticks_per_unit", f"must be finite, got {self.skew_ticks_per_unit}")
            at_least("skew_ticks_per_unit", self.skew_ticks_per_unit, 0)
            decimal_param("max_inventory", self.max_inventory)
            size_within(self.qty, "max_inventory", self.max_inventory)
            at_least("requote_ticks", self.requote_ticks, 1)

    params: Params

    def on_start(self) -> None:
        p = self.params
        self._micro = p.fair == "microprice"
        self._qty: dict[int, int] = {}
        self._limit: dict[int, int] = {}
        self._requote: dict[int, int] = {}
        self._live: dict[int, tuple[Order, Order]] = {}
        """Per instrument, the two quotes when both rest untouched at their targets (the quiet path's check)."""
        for book in traded_books(self):
            qty = order_qty(self, Decimal(p.qty), book.instrument)
            if qty is not None:
                self._qty[book.id] = qty
                self._limit[book.id] = fixed_qty(Decimal(p.max_inventory), book.instrument)
                self._requote[book.id] = p.requote_ticks * book.instrument.tick

    def on_book(self, book: BookView) -> None:
        live = self._live.get(book.id)
        if live is not None and book.synced and book.two_sided:
            # The quiet path, most updates: both quotes rest (no answer due) and neither target moved
            # requote_ticks. Inventory only changes on fills, which take the full path (on_order).
            bid_order, ask_order = live
            if bid_order.state is _OPEN and ask_order.state is _OPEN:
                bid, ask = self.targets(book)
                step = self._requote[book.id]
                if -step < bid - bid_order.price < step and -step < ask - ask_order.price < step:
                    return
        self.quote(book)

    def on_order(self, report: OrderReport) -> None:
        order = report.order
        if order is None:
            return
        key = order.instrument.id
        if report.is_fill:  # inventory moved: requote now, not at the next book
            self.quote(self.book(key))
            return
        self._live.pop(key, None)  # an ack, cancel or replace: are both quotes resting again?
        bid_order = ask_order = None
        for open_order in self.open_orders(key):
            if open_order.state is not _OPEN:
                return
            if open_order.side is OrderSide.BUY:
                if bid_order is not None:
                    return
                bid_order = open_order
            elif ask_order is not None:
                return
            else:
                ask_order = open_order
        if bid_order is not None and ask_order is not None:
            self._live[key] = (bid_order, ask_order)

    def quote(self, book: BookView) -> None:
        """Bring the instrument's two quotes to where they should be now."""
        key = book.id
        qty = self._qty.get(key)
        if qty is None:
            return
        self._live.pop(key, None)
        orders = list(self.open_orders(key))
        if not (book.synced and book.two_sided):
            if any(o.state is not OrderState.PENDING_CANCEL for o in orders):
                self.cancel_all(key)
            return
        bid, ask = self.targets(book)
        position = self.position(key).qty
        limit = self._limit[key]
        bids = [o for o in orders if o.side is OrderSide.BUY]
        asks = [o for o in orders if o.side is OrderSide.SELL]
        # each side holds one quote, and it is what gets placed or replaced: the worst case after is position ± qty
        self._side(book, OrderSide.BUY, bid, bids, position + qty <= limit, qty)
        self._side(book, OrderSide.SELL, ask, asks, position - qty >= -limit, qty)
        if len(bids) == 1 and len(asks) == 1 and bids[0].state is _OPEN and asks[0].state is _OPEN:
            self._live[key] = (bids[0], asks[0])  # both rest where they should: the quiet path may skip

    def targets(self, book: BookView) -> tuple[int, int]:
        """Where the bid and the ask belong now (fixed point, on the tick, never crossing the book)."""
        tick = book.instrument.tick
        if self._micro:
            total = book.bid_qty + book.ask_qty
            fair = (book.bid_price * book.ask_qty + book.ask_price * book.bid_qty) / total
        else:
            fair = (book.bid_price + book.ask_price) / 2
        skew = self.params.skew_ticks_per_unit
        center = fair / tick - (skew * self.position(book.id).qty_f if skew else 0.0)
        half = self.params.spread_ticks
        bid = min(math.floor(center - half) * tick, book.ask_price - tick)
        ask = max(math.ceil(center + half) * tick, book.bid_price + tick)
        return bid, ask

    def _side(self, book: BookView, side: OrderSide, target: int, live: list[Order], allowed: bool, qty: int) -> None:
        """One side: place, replace, cancel or leave its quote. ``allowed``: a new quote keeps within inventory."""
        if any(o.state in PENDING for o in live):
            return  # an answer is due: act on it first
        if not allowed or target <= 0:
            for order in live:
                self.cancel(order)
            return
        if not live:
            if side is OrderSide.BUY:
                self.buy(book.id, qty, target, post_only=True)
            else:
                self.sell(book.id, qty, target, post_only=True)
            return
        if len(live) > 1:  # never placed so; left over from a replace race: start the side again
            for order in live:
                self.cancel(order)
            return
        order = live[0]
        if abs(target - order.price) < self.params.requote_ticks * book.instrument.tick:
            return
        if order.state is OrderState.OPEN:
            self.replace(order, price=target)
        else:  # partly filled: a replace would resize it; cancel, and quote afresh once it is gone
            self.cancel(order)
