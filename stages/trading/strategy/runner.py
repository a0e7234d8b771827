"""One hosted strategy: records in → handlers; orders out → intents. The pure core of the stage.

A :class:`StrategyRunner` is the :class:`~hftpipe.strategy.StrategyHost` of
one strategy. It owns the strategy's orders, positions, timers and
indicator feeds, turns each order action into an intent through ``emit``
(the stage packs it into the intent ring) and applies execution reports
before the strategy hears of them. It never touches a ring, so a test or a
backtest can drive it with plain bytes.

Isolation: every handler call is guarded. An exception is logged with its
traceback (to the logger and the pipeline's error log) and counted; at
``max_errors`` the strategy is disabled: its open orders are canceled
(a CANCEL_ALL per instrument), no handler runs again and no order leaves.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final, Protocol

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BarKind, BookState
from hftpipe.schema.records import RecordFlag
from hftpipe.schema.trading import (
    NO_TERMS,
    Contingency,
    ExecType,
    IntentAction,
    IntentFlag,
    OrderSide,
    OrderType,
    RejectReason,
    SynthTerms,
    TimeInForce,
)
from hftpipe.strategy import Bar, BookView, Order, OrderReport, OrderState, Position, Strategy, Trade
from hftpipe.strategy.host import InstrumentKey, Updating
from hftpipe.strategy.pricing import Number, Refused, to_price, to_qty
from hftpipe.strategy.synthetic import FixedLeg, Leg, check_group, fix_leg
from stages.trading.strategy.settings import StrategySettings
from stages.trading.strategy.timers import Timers

_PASSIVE_TYPES: Final = frozenset({OrderType.LIMIT_MAKER})
_BEFORE_OPEN: Final = frozenset({OrderState.PENDING_NEW, OrderState.HELD, OrderState.TRIGGERED})
"""States an ACK (a synthetic order's: its released order's) moves to OPEN."""


def _crosses(book: BookView, buy: bool, price: int) -> bool:
    """A post-only price at or through the opposite side of a two-sided book."""
    return book.two_sided and (price >= book.ask_price if buy else price <= book.bid_price)


class IntentSink(Protocol):
    """Where intents go: ``cause`` is the 40 bytes ``ts_origin`` + hop stamps of the record that caused it.

    ``stop_price`` and ``terms`` carry a synthetic order's terms (0 and :data:`NO_TERMS` for a plain order)."""

    def __call__(
        self,
        cause: bytes | memoryview,
        taken_ns: int,
        measured: bool,
        instrument: int,
        action: IntentAction,
        side: OrderSide,
        order_type: OrderType,
        tif: TimeInForce,
        flags: IntentFlag,
        price: int,
        qty: int,
        order_seq: int,
        orig_order_seq: int,
        book_update_id: int,
        strategy_id: int,
        epoch: int,
        now: int,
        stop_price: int = 0,
        terms: SynthTerms = NO_TERMS,
    ) -> None: ...


class CounterLike(Protocol):
    def add(self, delta: int = 1) -> None: ...


class StrategyCounters:
    """The strategy's counters, labelled ``<name>.<what>``; refusals get one per reason on first use."""

    def __init__(self, name: str, make: Callable[[str], CounterLike]) -> None:
        self._make = make
        self._name = name
        self.books = make(f"{name}.books")
        self.trades = make(f"{name}.trades")
        self.bars = make(f"{name}.bars")
        self.reports = make(f"{name}.reports")
        self.fills = make(f"{name}.fills")
        self.timers = make(f"{name}.timers")
        self.errors = make(f"{name}.errors")
        self.disabled = make(f"{name}.disabled")
        self.intents = {
            IntentAction.NEW: make(f"{name}.intents.new"),
            IntentAction.CANCEL: make(f"{name}.intents.cancel"),
            IntentAction.REPLACE: make(f"{name}.intents.replace"),
            IntentAction.CANCEL_ALL: make(f"{name}.intents.cancel_all"),
        }
        self.refused_total = make(f"{name}.refused")
        self._refused: dict[RejectReason, CounterLike] = {}
        self.rejects = make(f"{name}.rejects")

    def refused(self, reason: RejectReason) -> None:
        counter = self._refused.get(reason)
        if counter is None:
            counter = self._refused[reason] = self._make(f"{self._name}.refused.{reason.name.lower()}")
        counter.add()
        self.refused_total.add()


_NO_CAUSE: Final = bytes(40)
_FOREIGN: Final = int(RecordFlag.FOREIGN_ORDER)
_SYNTHETIC_REPORT: Final = int(RecordFlag.SYNTHETIC)
_FILL_TYPES: Final = frozenset({int(ExecType.FILL), int(ExecType.PARTIAL_FILL)})


def _bar_source(name: str) -> Callable[[Bar, float], tuple[float, ...]]:
    fields = {
        "bar.close": lambda b, u: (b.close * u,),
        "bar.open": lambda b, u: (b.open * u,),
        "bar.high": lambda b, u: (b.high * u,),
        "bar.low": lambda b, u: (b.low * u,),
        "bar.volume": lambda b, u: (float(b.volume),),
        "bar.hlc": lambda b, u: (b.high * u, b.low * u, b.close * u),
        "bar.close_volume": lambda b, u: (b.close * u, float(b.volume)),
    }
    return fields[name]


SOURCES: Final = (
    "bar.close", "bar.open", "bar.high", "bar.low", "bar.volume", "bar.hlc", "bar.close_volume",
    "trade.price", "trade.price_qty", "book.mid", "book.microprice",
)  # fmt: skip


class StrategyRunner:
    """The host of one strategy (see the module docstring)."""

    def __init__(
        self,
        settings: StrategySettings,
        instruments: Mapping[int, Instrument],
        books: Mapping[int, BookView],
        emit: IntentSink,
        counters: StrategyCounters,
        epoch: int,
        logger: logging.Logger,
        error_log: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.strategy_id = settings.id
        self.name = settings.name
        self.logger = logger
        self.epoch = epoch
        self.counters = counters
        self._emit = emit
        self._error_log = error_log
        self._rounding = settings.rounding
        self.instruments: dict[int, Instrument] = dict(instruments)
        self._by_symbol = {i.symbol: i for i in self.instruments.values()}
        self.books: dict[int, BookView] = {i: books[i] for i in self.instruments}
        self.positions = {i: Position(inst) for i, inst in self.instruments.items()}
        self.orders: dict[int, Order] = {}
        """Open orders by sequence."""
        self._open_by_instrument: dict[int, dict[int, Order]] = {i: {} for i in self.instruments}
        self._seq = 0
        self._now = 0
        self._cause: bytes | memoryview = _NO_CAUSE
        self._taken = 0
        self._measured = False
        self._update_id = 0
        self._timers = Timers()
        self._enabled = True
        self._errors = 0
        self._trades = {i: Trade(inst) for i, inst in self.instruments.items()}
        self._bars = {i: Bar(inst) for i, inst in self.instruments.items()}
        self._report = OrderReport()
        self._bar_feeds: list[tuple[int, Updating, Callable[[Bar, float], tuple[float, ...]]]] = []
        self._trade_feeds: list[tuple[int, Updating, bool]] = []
        self._book_feeds: list[tuple[int, Updating, bool]] = []
        self._units = {i: 10.0**-inst.price_scale for i, inst in self.instruments.items()}
        self.strategy: Strategy = settings.strategy_class(settings.params, self)

    # -- StrategyHost: state -------------------------------------------------------------
    @property
    def now(self) -> int:
        return self._now

    @property
    def enabled(self) -> bool:
        return self._enabled

    def instrument(self, key: InstrumentKey) -> Instrument:
        found = self.instruments.get(key) if isinstance(key, int) else self._by_symbol.get(key)
        if found is None:
            raise KeyError(f"strategy {self.name!r} does not trade {key!r} (it trades: {', '.join(self._by_symbol)})")
        return found

    def book(self, key: InstrumentKey) -> BookView:
        return self.books[key if isinstance(key, int) else self.instrument(key).id]

    def position(self, key: InstrumentKey) -> Position:
        return self.positions[key if isinstance(key, int) else self.instrument(key).id]

    def open_orders(self, key: InstrumentKey | None = None) -> Collection[Order]:
        if key is None:
            return self.orders.values()
        return self._open_by_instrument[key if isinstance(key, int) else self.instrument(key).id].values()

    def realized_pnl(self) -> float:
        return sum(p.realized_pnl for p in self.positions.values())

    # -- StrategyHost: orders ------------------------------------------------------------
    def submit(
        self,
        side: OrderSide,
        key: InstrumentKey,
        qty: Number,
        price: Number | None,
        order_type: OrderType,
        tif: TimeInForce,
        flags: IntentFlag,
    ) -> Order | None:
        instrument = self.instruments.get(key) if isinstance(key, int) else self._by_symbol.get(key)
        if instrument is None:
            return self._refuse(RejectReason.UNKNOWN_INSTRUMENT, f"{key!r}")
        book = self.books[instrument.id]
        barred = self._barred(instrument, book)
        if barred is not None:
            return self._refuse(*barred)
        buy = side is OrderSide.BUY
        try:
            fixed_qty = to_qty(qty, instrument, self._rounding)
            fixed_price = 0 if price is None else to_price(price, instrument, buy, self._rounding)
        except Refused as refusal:
            return self._refuse(refusal.reason, f"{instrument.symbol}: {refusal}")
        if order_type in _PASSIVE_TYPES and _crosses(book, buy, fixed_price):
            return self._refuse(RejectReason.WOULD_CROSS, f"{instrument.symbol} post-only at {fixed_price}")
        return self._send_new(IntentAction.NEW, instrument, side, order_type, tif, flags, fixed_price, fixed_qty, None)

    def _barred(self, instrument: Instrument, book: BookView) -> tuple[RejectReason, str] | None:
        """Why no order may go out on ``instrument`` now (disabled, or a book not SYNCED); None if it may."""
        if not self._enabled:
            return RejectReason.STRATEGY_DISABLED, instrument.symbol
        if book.state is not BookState.SYNCED:
            return RejectReason.BOOK_NOT_SYNCED, f"{instrument.symbol} is {book.state.name}"
        return None

    def submit_synthetic(
        self, key: InstrumentKey, legs: Sequence[Leg], contingency: Contingency
    ) -> tuple[Order, ...] | None:
        """One synthetic order or one contingent group: every leg checked before any is sent (all or none)."""
        instrument = self.instruments.get(key) if isinstance(key, int) else self._by_symbol.get(key)
        if instrument is None:
            return self._refuse_group(RejectReason.UNKNOWN_INSTRUMENT, f"{key!r}")
        book = self.books[instrument.id]
        barred = self._barred(instrument, book)
        if barred is not None:
            return self._refuse_group(*barred)
        grouped = contingency is not Contingency.NONE
        try:
            fixed = [fix_leg(leg, instrument, self._rounding, grouped) for leg in legs]
            check_group(contingency, fixed)
        except Refused as refusal:
            return self._refuse_group(refusal.reason, f"{instrument.symbol}: {refusal}")
        for leg in fixed:
            if leg.order_type in _PASSIVE_TYPES and _crosses(book, leg.side is OrderSide.BUY, leg.price):
                return self._refuse_group(RejectReason.WOULD_CROSS, f"{instrument.symbol} post-only at {leg.price}")
        link = self._seq + 1 if grouped else 0
        return tuple(self._send_leg(instrument, leg, contingency, link, index, len(fixed) if grouped else 0)
                     for index, leg in enumerate(fixed))  # fmt: skip

    def _send_leg(
        self, instrument: Instrument, leg: FixedLeg, contingency: Contingency, link: int, index: int, count: int
    ) -> Order:
        self._seq += 1
        order = Order(
            strategy_id=self.strategy_id, epoch=self.epoch, seq=self._seq, instrument=instrument, side=leg.side,
            order_type=leg.order_type, tif=leg.tif, price=leg.price, qty=leg.qty, stop_price=leg.stop_price,
            synthetic=True,
        )  # fmt: skip
        self.orders[order.seq] = order
        self._open_by_instrument[instrument.id][order.seq] = order
        terms = leg.terms._replace(link_seq=link, contingency=int(contingency), leg=index, legs=count)
        self._intent(IntentAction.NEW, instrument, leg.side, leg.order_type, leg.tif, leg.flags, leg.price,
                     leg.qty, order.seq, 0, leg.stop_price, terms)  # fmt: skip
        return order

    def cancel(self, order: Order) -> bool:
        if not order.is_open or order.state is OrderState.PENDING_CANCEL or order.seq not in self.orders:
            return False
        order.state = OrderState.PENDING_CANCEL
        self._seq += 1
        flags = IntentFlag.SYNTHETIC if order.synthetic else IntentFlag.NONE
        self._intent(IntentAction.CANCEL, order.instrument, order.side, order.order_type, order.tif,
                     flags, order.price, order.qty, self._seq, order.seq)  # fmt: skip
        return True

    def replace(self, order: Order, price: Number | None, qty: Number | None) -> Order | None:
        instrument = order.instrument
        if not order.is_open or order.seq not in self.orders or order.state is not OrderState.OPEN:
            return self._refuse(RejectReason.UNKNOWN_ORDER, f"{order.client_id} is {order.state.name}")
        if order.synthetic:  # its terms live in the execution stage: cancel it and place another
            return self._refuse(RejectReason.UNKNOWN_ORDER, f"{order.client_id} is synthetic: not replaced")
        book = self.books[instrument.id]
        barred = self._barred(instrument, book)
        if barred is not None:
            return self._refuse(*barred)
        buy = order.side is OrderSide.BUY
        try:
            new_price = order.price if price is None else to_price(price, instrument, buy, self._rounding)
            new_qty = order.qty if qty is None else to_qty(qty, instrument, self._rounding)
        except Refused as refusal:
            return self._refuse(refusal.reason, f"{instrument.symbol}: {refusal}")
        if order.order_type in _PASSIVE_TYPES and _crosses(book, buy, new_price):
            return self._refuse(RejectReason.WOULD_CROSS, f"{instrument.symbol} post-only at {new_price}")
        order.state = OrderState.PENDING_REPLACE
        return self._send_new(IntentAction.REPLACE, instrument, order.side, order.order_type, order.tif,
                              IntentFlag.NONE, new_price, new_qty, order)  # fmt: skip

    def cancel_all(self, key: InstrumentKey | None = None) -> int:
        targets = self.instruments.values() if key is None else (self.instrument(key),)
        sent = 0
        for instrument in targets:
            open_here = self._open_by_instrument[instrument.id]
            if not open_here:
                continue
            for order in open_here.values():
                order.state = OrderState.PENDING_CANCEL
            self._seq += 1
            self._intent(IntentAction.CANCEL_ALL, instrument, OrderSide.BUY, OrderType.LIMIT, TimeInForce.GTC,
                         IntentFlag.NONE, 0, 0, self._seq, 0)  # fmt: skip
            sent += 1
        return sent

    def _send_new(
        self,
        action: IntentAction,
        instrument: Instrument,
        side: OrderSide,
        order_type: OrderType,
        tif: TimeInForce,
        flags: IntentFlag,
        price: int,
        qty: int,
        replaces: Order | None,
    ) -> Order:
        self._seq += 1
        order = Order(
            strategy_id=self.strategy_id, epoch=self.epoch, seq=self._seq, instrument=instrument, side=side,
            order_type=order_type, tif=tif, price=price, qty=qty, replaces=replaces,
        )  # fmt: skip
        if replaces is not None:
            replaces.replaced_by = order
        self.orders[order.seq] = order
        self._open_by_instrument[instrument.id][order.seq] = order
        self._intent(action, instrument, side, order_type, tif, flags, price, qty, order.seq,
                     replaces.seq if replaces is not None else 0)  # fmt: skip
        return order

    def _intent(
        self,
        action: IntentAction,
        instrument: Instrument,
        side: OrderSide,
        order_type: OrderType,
        tif: TimeInForce,
        flags: IntentFlag,
        price: int,
        qty: int,
        seq: int,
        orig: int,
        stop_price: int = 0,
        terms: SynthTerms = NO_TERMS,
    ) -> None:
        self.counters.intents[action].add()
        update_id = self.books[instrument.id].update_id
        self._emit(self._cause, self._taken, self._measured, instrument.id, action, side, order_type, tif, flags,
                   price, qty, seq, orig, update_id, self.strategy_id, self.epoch, self._now, stop_price,
                   terms)  # fmt: skip

    def _refuse_group(self, reason: RejectReason, detail: str) -> tuple[Order, ...] | None:
        self._refuse(reason, detail)
        return None

    def _refuse(self, reason: RejectReason, detail: str) -> Order | None:
        self.counters.refused(reason)
        self.logger.debug("%s: order refused, %s (%s)", self.name, reason.name, detail)
        return None

    # -- StrategyHost: time and indicators ------------------------------------------------
    def set_timer(self, name: str, interval_ns: int, repeat: bool) -> None:
        if interval_ns <= 0:
            raise ValueError(f"timer {name!r}: interval must be > 0 ns, got {interval_ns}")
        self._timers.set(name, self._now + interval_ns, interval_ns if repeat else 0)

    def set_alarm(self, name: str, at_ns: int) -> None:
        self._timers.set(name, at_ns)

    def cancel_timer(self, name: str) -> bool:
        return self._timers.cancel(name)

    def register(self, indicator: Updating, key: InstrumentKey, source: str) -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown indicator source {source!r} (sources: {', '.join(SOURCES)})")
        instrument = self.instrument(key)
        if source.startswith("bar."):
            extract = _bar_source(source)
            self._bar_feeds.append((instrument.id, indicator, extract))
        elif source == "trade.price":
            self._trade_feeds.append((instrument.id, indicator, False))
        elif source == "trade.price_qty":
            self._trade_feeds.append((instrument.id, indicator, True))
        else:
            self._book_feeds.append((instrument.id, indicator, source == "book.microprice"))

    # -- driving (the stage calls these) ------------------------------------------------
    def start(self, now: int) -> None:
        self._now = now
        self._guard(self.strategy.on_start)

    def advance(self, now: int) -> int:
        """Move the clock to ``now`` (never back) and fire every timer due; how many fired."""
        if now > self._now:  # noqa: PLR1730 - max() is a call more, every duty cycle
            self._now = now
        if not self._timers:
            return 0
        fired = 0
        timers = self._timers
        while (due := timers.pop_due(self._now)) is not None:
            name, at = due
            saved = self._now
            self._now = at
            self._cause, self._taken, self._measured = _NO_CAUSE, at, False
            self.counters.timers.add()
            if self._enabled:
                self._guard(self.strategy.on_timer, name, at)
            self._now = saved
            fired += 1
        return fired

    def on_book(self, book: BookView) -> None:
        self.counters.books.add()
        origin = book.ts_origin
        if origin > self._now:  # noqa: PLR1730 - max() is a call more, per book update
            self._now = origin
        self._cause, self._taken, self._measured = book.cause, book.taken_ns, True
        if self._book_feeds:
            for iid, indicator, micro in self._book_feeds:
                if iid == book.id and book.two_sided:
                    indicator.update(book.microprice if micro else book.mid)
        if self._enabled:  # _guard, inlined: this runs for every book update
            handler = self.strategy.on_book
            try:
                handler(book)
            except Exception as exc:  # noqa: BLE001 - a strategy's bug must not take the stage down
                self._on_error(handler, exc)

    def on_trade(self, fields: tuple[Any, ...], header: bytes | memoryview, now: int) -> None:
        """A TRADE record's unpacked ``fields`` (header first), ``header`` its first 64 bytes."""
        trade = self._trades.get(fields[2])
        if trade is None:
            return
        self.counters.trades.add()
        trade.ts_venue, trade.ts_origin = fields[4], fields[5]
        trade.price, trade.qty, trade.trade_id, trade.aggressor = (
            fields[10],
            fields[11],
            fields[12],
            OrderSide(fields[13]),
        )
        self._now = max(self._now, trade.ts_origin)
        self._cause, self._taken, self._measured = header[24:64], now, True
        if self._trade_feeds:
            unit = self._units[trade.instrument.id]
            for iid, indicator, with_qty in self._trade_feeds:
                if iid == trade.instrument.id:
                    if with_qty:
                        indicator.update(trade.price * unit, float(trade.qty))
                    else:
                        indicator.update(trade.price * unit)
        if self._enabled:
            self._guard(self.strategy.on_trade, trade)

    def on_bar(self, fields: tuple[Any, ...], header: bytes | memoryview, now: int) -> None:
        bar = self._bars.get(fields[2])
        if bar is None:
            return
        self.counters.bars.add()
        bar.ts_venue, bar.ts_origin = fields[4], fields[5]
        bar.open, bar.high, bar.low, bar.close, bar.volume, bar.vwap, bar.trades = fields[10:17]
        bar.kind, bar.interval = BarKind(fields[17]), fields[18]
        self._now = max(self._now, bar.ts_origin)
        self._cause, self._taken, self._measured = header[24:64], now, True
        if self._bar_feeds:
            unit = self._units[bar.instrument.id]
            for iid, indicator, extract in self._bar_feeds:
                if iid == bar.instrument.id:
                    indicator.update(*extract(bar, unit))
        if self._enabled:
            self._guard(self.strategy.on_bar, bar)

    def on_report(self, fields: tuple[Any, ...], header: bytes | memoryview, now: int) -> None:
        """An EXEC_REPORT for this strategy: the order and position change first, then ``on_order``."""
        self.counters.reports.add()
        if fields[1] & _FOREIGN:  # risk's stop or kill-switch order: the position moves, no order of ours
            if fields[17] in _FILL_TYPES and fields[13]:
                self.counters.fills.add()
                position = self.positions.get(fields[2])
                if position is not None:
                    position.apply_fill(OrderSide(fields[18]), fields[12], fields[13], fields[16])
            return
        order = self._find(fields[10])
        if order is None and fields[1] & _SYNTHETIC_REPORT and fields[17] in _FILL_TYPES and fields[13]:
            # a fill that raced the cancel of a synthetic order already closed here: risk booked it, so do we
            self.counters.fills.add()
            raced = self.positions.get(fields[2])
            if raced is not None:
                raced.apply_fill(OrderSide(fields[18]), fields[12], fields[13], fields[16])
            return
        if order is None:
            self.logger.warning(
                "%s: report %s for unknown order seq %d", self.name, ExecType(fields[17]).name, fields[10]
            )
            return
        exec_type = ExecType(fields[17])
        report = self._report
        report.order, report.exec_type = order, exec_type
        report.last_price, report.last_qty, report.fee = fields[12], fields[13], fields[16]
        report.reason, report.venue_code = RejectReason(fields[19]), fields[20]
        report.est_avg_price, report.est_qty = fields[22], fields[23]
        report.est_touch_bps, report.est_mid_bps, report.fill_touch_bps, report.fill_mid_bps = fields[26:30]
        if fields[11]:
            order.venue_order_id = fields[11]
        self._apply(order, exec_type, report)
        self._cause, self._taken, self._measured = header[24:64], now, False
        if self._enabled:
            self._guard(self.strategy.on_order, report)

    def _find(self, seq: int) -> Order | None:
        order = self.orders.get(seq)
        if order is None:
            for candidate in self.orders.values():  # a replace's new order answers for its old one
                if candidate.replaces is not None and candidate.replaces.seq == seq:
                    return candidate.replaces
        return order

    def _apply(self, order: Order, exec_type: ExecType, report: OrderReport) -> None:
        if exec_type is ExecType.ACK:
            if order.state in _BEFORE_OPEN:
                order.state = OrderState.OPEN
        elif exec_type is ExecType.HELD:
            if order.state is OrderState.PENDING_NEW:
                order.state = OrderState.HELD
        elif exec_type is ExecType.TRIGGERED:
            if order.state in (OrderState.PENDING_NEW, OrderState.HELD):
                order.state = OrderState.TRIGGERED
        elif exec_type in (ExecType.PARTIAL_FILL, ExecType.FILL):
            self.counters.fills.add()
            order.fill(report.last_price, report.last_qty, report.fee)
            self.positions[order.instrument.id].apply_fill(order.side, report.last_price, report.last_qty, report.fee)
            if exec_type is ExecType.FILL or order.cum_qty >= order.qty:
                self._close(order, OrderState.FILLED)
            elif order.state in _BEFORE_OPEN or order.state is OrderState.OPEN:
                order.state = OrderState.PARTIALLY_FILLED
        elif exec_type is ExecType.CANCELED:
            self._close(order, OrderState.CANCELED)
        elif exec_type is ExecType.EXPIRED:
            self._close(order, OrderState.EXPIRED)
        elif exec_type is ExecType.REJECTED:
            self.counters.rejects.add()
            order.reason, order.venue_code = int(report.reason), report.venue_code
            self._close(order, OrderState.REJECTED)
            if order.replaces is not None and order.replaces.state is OrderState.PENDING_REPLACE:
                order.replaces.state = OrderState.OPEN  # the old order stands
                order.replaces.replaced_by = None
        elif exec_type is ExecType.REPLACED:
            old = order.replaces
            if order.state is OrderState.PENDING_NEW:
                order.state = OrderState.OPEN
            if old is not None:
                self._close(old, OrderState.REPLACED)
                order.replaces = None
        elif exec_type is ExecType.CANCEL_REJECTED and order.state is OrderState.PENDING_CANCEL:
            order.state = OrderState.PARTIALLY_FILLED if order.cum_qty else OrderState.OPEN

    def _close(self, order: Order, state: OrderState) -> None:
        order.state = state
        self.orders.pop(order.seq, None)
        self._open_by_instrument[order.instrument.id].pop(order.seq, None)

    def stop(self) -> None:
        if self._enabled:
            self._guard(self.strategy.on_stop)
        if self.settings.cancel_on_stop:
            self._cause, self._measured = _NO_CAUSE, False
            self.cancel_all()

    # -- isolation ----------------------------------------------------------------------
    def _guard(self, handler: Callable[..., None], *args: Any) -> None:
        try:
            handler(*args)
        except Exception as exc:  # noqa: BLE001 - a strategy's bug must not take the stage down
            self._on_error(handler, exc)

    def _on_error(self, handler: Callable[..., None], exc: Exception) -> None:
        self._errors += 1
        self.counters.errors.add()
        where = getattr(handler, "__name__", "handler")
        text = "".join(traceback.format_exception(exc))
        self.logger.error(
            "%s: %s raised (%d of max_errors %d)\n%s", self.name, where, self._errors, self.settings.max_errors, text
        )
        if self._error_log is not None:
            self._error_log(f"strategy {self.name}: {where}: {type(exc).__name__}: {exc}")
        if self._errors >= self.settings.max_errors and self._enabled:
            self.disable(f"{self._errors} handler errors")

    def disable(self, why: str) -> None:
        """Stop calling the strategy, cancel its open orders, refuse its new ones."""
        self._enabled = False
        self.counters.disabled.add()
        self.logger.error("%s: disabled (%s); canceling its open orders", self.name, why)
        if self._error_log is not None:
            self._error_log(f"strategy {self.name} disabled: {why}")
        self._measured = False
        self.cancel_all()
