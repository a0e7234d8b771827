"""The class a user's strategy subclasses: handlers in, orders out, state at hand.

::

    from dataclasses import dataclass
    from hftpipe.strategy import BookView, Strategy

    class Skewer(Strategy):
        @dataclass(frozen=True, slots=True, kw_only=True)
        class Params:
            qty: str = "10"

        def on_book(self, book: BookView) -> None:
            if not self.open_orders(book.id):
                self.buy(book.id, self.params.qty, book.bid_price, post_only=True)

Rules the host keeps (the strategy stage, or any other :class:`StrategyHost`):

- Time is :attr:`now`, the stage's clock (record timestamps; timers fire
  from it), never ``time.time()``: the same records give the same orders.
- Every order passes :mod:`hftpipe.strategy.pricing` (tick, lot, passive
  rounding) and is refused, counted and logged, never sent, when the
  instrument's book is not SYNCED.
- A handler that raises is logged with its traceback and counted; after
  ``max_errors`` the strategy is disabled and its open orders are canceled.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import Contingency, IntentFlag, OrderSide, OrderType, TimeInForce, Trigger
from hftpipe.strategy.book import BookView
from hftpipe.strategy.events import Bar, OrderReport, Trade
from hftpipe.strategy.host import InstrumentKey, StrategyHost, Updating
from hftpipe.strategy.orders import Order
from hftpipe.strategy.position import Position
from hftpipe.strategy.pricing import Number
from hftpipe.strategy.synthetic import Leg

NANOS_PER_SECOND = 1_000_000_000


class Strategy:
    """Subclass it, override the handlers you need, name it in config as ``"module:Class"``."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        """A strategy's settings: a frozen dataclass, checked once when the config loads (exit 78 naming the key)."""

    def __init__(self, params: Any, host: StrategyHost) -> None:
        self.params = params
        self.host = host
        self.log: logging.Logger = host.logger

    # -- handlers (override) -----------------------------------------------------------
    def on_start(self) -> None:
        """Once, before any market data: set timers and indicators here."""

    def on_book(self, book: BookView) -> None:
        """After an atomic book update (conflated: a slow strategy sees the newest book, not a backlog)."""

    def on_trade(self, trade: Trade) -> None:
        """Every public trade, in order (never conflated)."""

    def on_bar(self, bar: Bar) -> None:
        """Every closed bar, after the indicators registered on bars were updated."""

    def on_order(self, report: OrderReport) -> None:
        """Ack, fill, cancel, replace, expiry or rejection of one of this strategy's orders."""

    def on_timer(self, name: str, now: int) -> None:
        """Timer ``name`` fired; ``now`` is its due time."""

    def on_stop(self) -> None:
        """Once, when the stage stops (orders still open are canceled by the host if ``cancel_on_stop``)."""

    # -- state -------------------------------------------------------------------------
    @property
    def id(self) -> int:
        return self.host.strategy_id

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def now(self) -> int:
        """The stage's clock, ns (monotonic domain: the ``ts_origin`` of the records)."""
        return self.host.now

    @property
    def enabled(self) -> bool:
        return self.host.enabled

    def instrument(self, key: InstrumentKey) -> Instrument:
        return self.host.instrument(key)

    def book(self, key: InstrumentKey) -> BookView:
        return self.host.book(key)

    def position(self, key: InstrumentKey) -> Position:
        return self.host.position(key)

    def open_orders(self, key: InstrumentKey | None = None) -> Collection[Order]:
        return self.host.open_orders(key)

    @property
    def realized_pnl(self) -> float:
        """Realized PnL over every instrument from this strategy's own fills, quote units, fees not deducted."""
        return self.host.realized_pnl()

    # -- orders ------------------------------------------------------------------------
    def buy(
        self,
        key: InstrumentKey,
        qty: Number,
        price: Number | None = None,
        *,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
    ) -> Order | None:
        """A limit buy (a market buy with no price); None when refused (counted, see the reason counters)."""
        return self._order(OrderSide.BUY, key, qty, price, tif, post_only, reduce_only)

    def sell(
        self,
        key: InstrumentKey,
        qty: Number,
        price: Number | None = None,
        *,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
    ) -> Order | None:
        return self._order(OrderSide.SELL, key, qty, price, tif, post_only, reduce_only)

    def _order(
        self,
        side: OrderSide,
        key: InstrumentKey,
        qty: Number,
        price: Number | None,
        tif: TimeInForce,
        post_only: bool,
        reduce_only: bool,
    ) -> Order | None:
        if price is None:
            order_type = OrderType.MARKET
        elif post_only:
            order_type = OrderType.LIMIT_MAKER
        else:
            order_type = OrderType.LIMIT
        flags = IntentFlag.REDUCE_ONLY if reduce_only else IntentFlag.NONE
        return self.host.submit(side, key, qty, price, order_type, tif, flags)

    # -- synthetic orders (held by the execution stage, released through risk when triggered) ------
    def stop_market(self, key: InstrumentKey, side: OrderSide, qty: Number, stop_price: Number, *,
                    trigger: Trigger = Trigger.LAST, reduce_only: bool = False) -> Order | None:  # fmt: skip
        """A market order released when the price reaches ``stop_price`` (a buy on a rise, a sell on a fall)."""
        return self._one(key, Leg.stop(side, qty, stop_price, trigger=trigger, reduce_only=reduce_only))

    def stop_limit(self, key: InstrumentKey, side: OrderSide, qty: Number, stop_price: Number,
                   limit_price: Number, *, trigger: Trigger = Trigger.LAST, tif: TimeInForce = TimeInForce.GTC,
                   reduce_only: bool = False) -> Order | None:  # fmt: skip
        """A limit order at ``limit_price`` released when the price reaches ``stop_price``."""
        leg = Leg.stop(side, qty, stop_price, limit_price, trigger=trigger, tif=tif, reduce_only=reduce_only)
        return self._one(key, leg)

    def take_profit(self, key: InstrumentKey, side: OrderSide, qty: Number, stop_price: Number,
                    limit_price: Number | None = None, *, trigger: Trigger = Trigger.LAST,
                    tif: TimeInForce = TimeInForce.GTC, reduce_only: bool = False) -> Order | None:  # fmt: skip
        """A market (or limit) order released when the price reaches ``stop_price`` in its favour
        (a sell on a rise, a buy on a fall)."""
        leg = Leg.take_profit(side, qty, stop_price, limit_price, trigger=trigger, tif=tif, reduce_only=reduce_only)
        return self._one(key, leg)

    def trailing_stop(self, key: InstrumentKey, side: OrderSide, qty: Number, *, trail: Number | None = None,
                      bps: int = 0, trigger: Trigger = Trigger.LAST,
                      reduce_only: bool = False) -> Order | None:  # fmt: skip
        """A stop ``trail`` price units (or ``bps`` basis points) behind the best price since placement."""
        return self._one(key, Leg.trailing(side, qty, trail=trail, bps=bps, trigger=trigger, reduce_only=reduce_only))

    def peg_mid(self, key: InstrumentKey, side: OrderSide, qty: Number, *, offset_ticks: int = 0,
                min_move_ticks: int = 1, max_replaces_per_s: int = 5, post_only: bool = False,
                reduce_only: bool = False) -> Order | None:  # fmt: skip
        """A limit order kept at mid ∓ ``offset_ticks``, re-priced on book changes, at most ``max_replaces_per_s``."""
        leg = Leg.peg(side, qty, offset_ticks=offset_ticks, min_move_ticks=min_move_ticks,
                      max_replaces_per_s=max_replaces_per_s, post_only=post_only, reduce_only=reduce_only)  # fmt: skip
        return self._one(key, leg)

    def oco(self, key: InstrumentKey, first: Leg, second: Leg) -> tuple[Order, ...] | None:
        """Two legs of one quantity: the one that triggers (or fills) cancels the other."""
        return self.host.submit_synthetic(key, (first, second), Contingency.OCO)

    def oto(self, key: InstrumentKey, parent: Leg, *children: Leg) -> tuple[Order, ...] | None:
        """A parent and children armed by its first fill, sized by its filled quantity (parent first)."""
        return self.host.submit_synthetic(key, (parent, *children), Contingency.OTO)

    def bracket(self, key: InstrumentKey, entry: Leg, stop_loss: Leg, take_profit: Leg) -> tuple[Order, ...] | None:
        """An entry and its two exits, an OCO pair armed and sized by the entry's fills (entry, stop, take-profit)."""
        return self.host.submit_synthetic(key, (entry, stop_loss, take_profit), Contingency.BRACKET)

    def _one(self, key: InstrumentKey, leg: Leg) -> Order | None:
        orders = self.host.submit_synthetic(key, (leg,), Contingency.NONE)
        return None if orders is None else orders[0]

    def cancel(self, order: Order) -> bool:
        """Ask the venue to cancel ``order``; False when it is not open (nothing is sent).

        A synthetic leg of an OCO, OTO or bracket takes its group with it.
        """
        return self.host.cancel(order)

    def replace(self, order: Order, *, price: Number | None = None, qty: Number | None = None) -> Order | None:
        """Cancel-replace ``order`` at a new price and/or size: the new order, or None when refused."""
        return self.host.replace(order, price, qty)

    def cancel_all(self, key: InstrumentKey | None = None) -> int:
        """Cancel every open order (of one instrument); how many instruments a cancel-all went to."""
        return self.host.cancel_all(key)

    # -- time --------------------------------------------------------------------------
    def set_timer(self, name: str, interval_ns: int, *, repeat: bool = True) -> None:
        """Call :meth:`on_timer` every ``interval_ns`` of the stage clock (once, unless ``repeat``)."""
        self.host.set_timer(name, interval_ns, repeat)

    def set_alarm(self, name: str, at_ns: int) -> None:
        """Call :meth:`on_timer` once when the stage clock reaches ``at_ns``."""
        self.host.set_alarm(name, at_ns)

    def cancel_timer(self, name: str) -> bool:
        return self.host.cancel_timer(name)

    # -- indicators --------------------------------------------------------------------
    def indicator(self, indicator: Updating, key: InstrumentKey, source: str = "bar.close") -> Any:
        """Feed ``indicator`` from ``key``'s market data before the handlers run; returns it.

        Sources: ``bar.close`` / ``bar.open`` / ``bar.high`` / ``bar.low`` / ``bar.volume`` /
        ``bar.hlc`` (ATR) / ``bar.close_volume`` (VWAP), ``trade.price`` / ``trade.price_qty``,
        ``book.mid`` / ``book.microprice``; prices as floats in price units.
        """
        self.host.register(indicator, key, source)
        return indicator
