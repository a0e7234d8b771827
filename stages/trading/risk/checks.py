"""The pre-trade checks: each order intent approved, or refused with the first reason that applies.

:meth:`PreTradeChecks.check` takes an intent's fields as plain ints (what the
risk stage reads from an ORDER_INTENT record) and the time, and answers a
:class:`~hftpipe.schema.trading.RejectReason` (``NONE``: approved). An
approved intent is committed at once: its order becomes open (pending), its
rate tokens are spent; a refused one changes nothing but the ids seen. The
stage feeds the market with :meth:`~PreTradeChecks.on_book` and the venue's
answers with :meth:`~PreTradeChecks.on_report`.

The checks of a NEW or REPLACE, in this order, each a method that can be
called alone (:mod:`stages.trading.risk.timing` times them one by one):

1.  :meth:`~PreTradeChecks.check_state`: ACTIVE passes; REDUCING passes only
    an order that reduces the strategy's position (below); HALTED refuses
    every order. The refusal's reason is the one the state was set with
    (HALTED, REDUCE_ONLY, or MAX_LOSS from a loss breaker).
2.  :meth:`~PreTradeChecks.check_duplicate`: the id was seen in this run
    (DUPLICATE_ORDER). Every intent that gets past this check is seen, be it
    approved or refused later: an id is used once.
3.  :meth:`~PreTradeChecks.check_known` (REPLACE): the order it replaces is
    open and in the same instrument (UNKNOWN_ORDER).
4.  :meth:`~PreTradeChecks.check_book`: an instrument of the pipeline
    (UNKNOWN_INSTRUMENT), its book SYNCED and two-sided (BOOK_NOT_SYNCED), its
    last update at most ``max_data_age_ms`` old (DATA_STALE).
5.  :meth:`~PreTradeChecks.check_steps`: a positive price on the tick (limit
    and stop-limit orders; a stop order's stop price too), a quantity of
    whole lots (PRICE_NOT_POSITIVE, PRICE_NOT_ON_TICK, QTY_BELOW_LOT,
    QTY_NOT_ON_LOT).
6.  :meth:`~PreTradeChecks.check_size`: ``qty <= max_order_qty`` (MAX_ORDER_QTY),
    ``notional <= max_order_notional`` (MAX_ORDER_NOTIONAL).
7.  :meth:`~PreTradeChecks.check_min_notional` (MIN_NOTIONAL).
8.  :meth:`~PreTradeChecks.check_band`: a buy ``price <= ask * (1 + bps/1e4)``,
    a sell ``price >= bid * (1 - bps/1e4)`` (PRICE_BAND); a stop-limit's price
    against its stop price instead (where the market is when it triggers);
    market and stop-market orders have no price to check.
9.  :meth:`~PreTradeChecks.check_slippage`: a marketable order (a market
    order; a limit order priced at or through the far touch) walks the
    instrument's visible depth (:mod:`hftpipe.strategy.slippage`): its
    estimated average price at most ``max_slippage_bps`` from the touch
    (MAX_SLIPPAGE). A market order the visible depth cannot fill, or a
    crossed or empty side, is refused: its cost is unknown. A limit order's
    remainder past the visible levels is priced at its limit (the worst it
    can fill at). Stop orders are not marketable until they trigger; a
    FLATTEN order (a stop or a disabled strategy getting out) is not bounded:
    getting out comes before its cost.
10. :meth:`~PreTradeChecks.check_reduce_only`: an order flagged REDUCE_ONLY
    or FLATTEN must reduce the strategy's position (REDUCE_ONLY).
11. :meth:`~PreTradeChecks.check_position`: the strategy's and the account's
    worst case (MAX_POSITION, below).
12. :meth:`~PreTradeChecks.check_exposure`: the account's worst gross and
    net exposure (MAX_GROSS_EXPOSURE, MAX_NET_EXPOSURE; :mod:`~stages.trading.risk.exposure`).
13. :meth:`~PreTradeChecks.check_open_orders`: the strategy's and the
    account's open orders in the instrument (MAX_OPEN_ORDERS).
14. :meth:`~PreTradeChecks.check_order_rate`: the strategy's and the
    account's order buckets (ORDER_RATE).
15. :meth:`~PreTradeChecks.check_self_cross`: it would trade against an open
    order of the account, any strategy's, in the instrument (SELF_CROSS).

A CANCEL passes checks 2, 3 and :meth:`~PreTradeChecks.check_cancel_rate`
(CANCEL_RATE); a CANCEL_ALL checks 2 and the cancel rate. Cancels pass in
every trading state: they are the way out. An intent with an action, side or
order type no enum has is refused as RISK_LIMIT before anything else.

Definitions (quantities at the qty scale, prices at the price scale):

* Notional: ``price * qty`` (limit, limit-maker, stop-limit,
  take-profit-limit), ``touch * qty`` for a market order, a trailing stop or a
  peg (the ask for a buy, the bid for a sell), ``stop_price * qty`` for a
  stop-market or take-profit order. The same price values the order while it
  is open (exposure).
* Synthetic orders (``IntentFlag.SYNTHETIC``, held by the execution stage):
  checked like any order when submitted, and open at their whole size while
  held (position, exposure, open orders), but never on the book (no
  self-cross). When one triggers, its TRIGGERED report ends it here and its
  released child comes back as an intent of its own (``RELEASED``), checked
  again in full. A CANCEL of one is not checked against the open orders (a
  triggered one lives on as its child).
* Worst case (position): every open order on the order's side fills, and so
  does this one: a buy must keep ``position + open buys + qty <=
  max_position``, a sell ``position - open sells - qty >= -max_position``.
  Only the side the order grows is checked, so an order that reduces the
  position is never refused by the limit, even when the position is beyond
  it (a lowered limit). A REPLACE's new order is counted beside the order it
  replaces: the old one may fill before the cancel lands, and the venue
  places the new one all the same.
* Reduces: a buy when the position is short and ``position + open buys + qty
  <= 0``, a sell when long and ``position - open sells - qty >= 0``: it
  cannot flip the position whatever fills. Strategy positions, not the
  account's (what REDUCE_ONLY promises).
* Exposure: refused only when the order takes the worst case above the limit
  and raises it (an order that hedges passes).
* Open orders: a REPLACE does not add one (the venue's count stays).
* Rates: a NEW or REPLACE spends one token of each order bucket (per second,
  per 10 s) of the strategy and of the account, a CANCEL or CANCEL_ALL one
  of the cancel buckets; only approved intents spend.
* Self-cross: a buy crosses when its price is at or above the lowest open
  sell of the account in the instrument, a sell at or below the highest
  open buy. A market order's price is the touch when the touch's size covers
  it, else any price (it may walk the book). Stop orders are not on the book
  until they trigger: they neither cross nor are crossed. The order a
  REPLACE cancels does not count.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Final, NamedTuple

from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import IntentAction, IntentFlag, OrderSide, OrderType, RejectReason, TradingState
from hftpipe.strategy.slippage import WalkStatus
from stages.trading.risk.buckets import RateLimit
from stages.trading.risk.exposure import Exposure
from stages.trading.risk.limits import RiskSettings
from stages.trading.risk.market import Depth, Touch
from stages.trading.risk.orders import ANY_PRICE, BUY, SELL, InstrumentOrders, OpenOrder, OpenOrders, StrategyOrders
from stages.trading.risk.positions import Positions
from stages.trading.risk.scaled import BPS, ScaledLimits, at_most
from stages.trading.risk.seen_ids import SEEN_CAPACITY, OrderKey

_NONE: Final = RejectReason.NONE
_MALFORMED: Final = RejectReason.RISK_LIMIT
_NEW: Final = int(IntentAction.NEW)
_CANCEL: Final = int(IntentAction.CANCEL)
_REPLACE: Final = int(IntentAction.REPLACE)
_CANCEL_ALL: Final = int(IntentAction.CANCEL_ALL)
_MARKET: Final = int(OrderType.MARKET)
_STOP_MARKET: Final = int(OrderType.STOP_MARKET)
_STOP_LIMIT: Final = int(OrderType.STOP_LIMIT)
_LIMIT: Final = int(OrderType.LIMIT)
_SIDE: Final = (OrderSide.BUY, OrderSide.SELL)
_UNPRICEABLE: Final = frozenset({WalkStatus.EMPTY, WalkStatus.CROSSED})
_ORDERS: Final = frozenset({_NEW, _REPLACE})
_CANCELS: Final = frozenset({_CANCEL, _CANCEL_ALL})
_SIDES: Final = frozenset({BUY, SELL})
_ORDER_TYPES: Final = frozenset(int(t) for t in OrderType)
_TAKE_PROFIT: Final = int(OrderType.TAKE_PROFIT)
_TAKE_PROFIT_LIMIT: Final = int(OrderType.TAKE_PROFIT_LIMIT)
_STOPS: Final = frozenset({_STOP_MARKET, _STOP_LIMIT, _TAKE_PROFIT, _TAKE_PROFIT_LIMIT})
"""Order types with a stop (trigger) price."""
_STOP_LIMITS: Final = frozenset({_STOP_LIMIT, _TAKE_PROFIT_LIMIT})
_PRICED: Final = frozenset({int(OrderType.LIMIT), int(OrderType.LIMIT_MAKER), _STOP_LIMIT, _TAKE_PROFIT_LIMIT})
"""Order types with a limit price."""
_AT_STOP: Final = frozenset({_STOP_MARKET, _TAKE_PROFIT})
"""Market orders released at their stop price: valued at it."""
_SYNTHETIC: Final = int(IntentFlag.SYNTHETIC)
_REDUCING_FLAGS: Final = int(IntentFlag.REDUCE_ONLY | IntentFlag.FLATTEN)
_FLATTEN: Final = int(IntentFlag.FLATTEN)
_ACTIVE: Final = int(TradingState.ACTIVE)
_REDUCING: Final = int(TradingState.REDUCING)
_DEFAULT_REASON: Final = {
    TradingState.ACTIVE: RejectReason.NONE,
    TradingState.REDUCING: RejectReason.REDUCE_ONLY,
    TradingState.HALTED: RejectReason.HALTED,
}
_NO_STRATEGY: Final = 0
"""Strategy ids are 1..65535: 0 stands for "the account" (states) and "a strategy with no table" (limits)."""


class Intent(NamedTuple):
    """The fields of an ORDER_INTENT :meth:`PreTradeChecks.check` reads, in its argument order (tests, benchmarks)."""

    instrument_id: int
    strategy_id: int
    epoch: int
    order_seq: int
    orig_order_seq: int = 0
    action: int = _NEW
    side: int = BUY
    order_type: int = int(OrderType.LIMIT)
    price: int = 0
    qty: int = 0
    stop_price: int = 0
    flags: int = 0


def reduces(position: int, open_same_side: int, side: int, qty: int) -> bool:
    """Whether an order cannot grow ``|position|`` nor flip it, whatever of the open orders on its side fills."""
    if side == BUY:
        return position < 0 and position + open_same_side + qty <= 0
    return position > 0 and position - open_same_side - qty >= 0


def order_value(touch: Touch, side: int, order_type: int, price: int, stop_price: int) -> int:
    """What one unit of the order may cost: its limit price, its stop price (stop-market, take-profit) or the
    far touch (market, and a trailing stop or a peg, whose price is where the market will be)."""
    if order_type in _PRICED:
        return price
    if order_type in _AT_STOP:
        return stop_price
    return touch.ask if side == BUY else touch.bid


class PreTradeChecks:
    """The pure pre-trade check core (module docstring: the checks, their order and definitions)."""

    __slots__ = (
        "_account_rate",
        "_default_limits",
        "_depths",
        "_exposure",
        "_exposure_on",
        "_instruments",
        "_limits",
        "_max_gross",
        "_max_net",
        "_positions",
        "_rates",
        "_slippage_on",
        "_state",
        "_state_reason",
        "_strategy_states",
        "_touches",
        "orders",
        "settings",
    )

    def __init__(
        self,
        settings: RiskSettings,
        instruments: Iterable[Instrument],
        positions: Positions,
        *,
        seen_capacity: int = SEEN_CAPACITY,
    ) -> None:
        """Build every limit at its instrument's scales now: a config error surfaces before the first order.

        Raises :class:`ConfigError` naming the key when a table names a symbol
        no instrument has, or a bound is below one unit of its instrument.
        """
        listed = tuple(instruments)
        self.settings = settings
        self._instruments = {i.id: i for i in listed}
        by_symbol = {i.symbol: i for i in listed}
        for strategy_id, symbol in [(0, s) for s in settings.instruments] + sorted(settings.strategy_instruments):
            if symbol not in by_symbol:
                raise ConfigError(
                    settings.where(strategy_id, symbol), f"no instrument {symbol!r} in this pipeline's [[instruments]]"
                )
        self._positions = positions
        self._touches = {i.id: Touch() for i in listed}
        self.orders = OpenOrders(seen_capacity)
        self._default_limits = self._build_limits(_NO_STRATEGY, listed)
        self._limits = {sid: self._build_limits(sid, listed) for sid in settings.strategies}
        self._rates = {sid: RateLimit(*settings.strategy_rates(sid)) for sid in settings.strategies}
        self._rates = {sid: rate for sid, rate in self._rates.items() if not rate.unlimited}
        self._account_rate = RateLimit(*settings.account_rates())
        self._slippage_on = any(
            limits.max_slippage_bps
            for table in (self._default_limits, *self._limits.values())
            for limits in table.values()
        )
        """The levels are kept (:meth:`on_depth`) only when a slippage bound is configured."""
        self._depths = {i.id: Depth() for i in listed}
        self._exposure = Exposure(listed, positions)
        scale = self._exposure.scale
        account = settings.account
        where = settings.where()
        zero = Fraction(0)
        self._max_gross = at_most(account.max_gross_exposure or zero, scale, f"{where}.max_gross_exposure", "quote")
        self._max_net = at_most(account.max_net_exposure or zero, scale, f"{where}.max_net_exposure", "quote")
        self._exposure_on = bool(self._max_gross or self._max_net)
        if self._exposure_on:
            self._exposure.refresh_all(self.orders)
        self._state = _ACTIVE
        self._state_reason = RejectReason.NONE
        self._strategy_states: dict[int, tuple[int, RejectReason]] = {}

    def _build_limits(self, strategy_id: int, instruments: tuple[Instrument, ...]) -> dict[int, ScaledLimits]:
        settings = self.settings
        return {
            i.id: ScaledLimits(
                settings.effective(strategy_id, i.symbol),
                i,
                settings.where(strategy_id, i.symbol),
                settings.where(0, i.symbol),
            )
            for i in instruments
        }

    # ------------------------------------------------------------------ inputs
    def on_book(self, instrument_id: int, bid: int, bid_qty: int, ask: int, ask_qty: int, state: int, now: int) -> None:
        """The instrument's touch after a BBO or DEPTH record (``state``: BookState; ``now``: check's clock, ns)."""
        touch = self._touches.get(instrument_id)
        if touch is None:
            return
        if self._slippage_on and (bid, bid_qty, ask, ask_qty) != (touch.bid, touch.bid_qty, touch.ask, touch.ask_qty):
            self._depths[instrument_id].current = False
        touch.update(bid, bid_qty, ask, ask_qty, state, now)
        if self._exposure_on and self._exposure.set_mark(instrument_id, touch.mark):
            self._exposure.refresh(instrument_id, self.orders.instrument(instrument_id))

    def on_depth(self, instrument_id: int, buf: memoryview | bytes, offset: int) -> None:
        """The instrument's levels from the DEPTH record at ``offset`` (after :meth:`on_book` of its top)."""
        if self._slippage_on:
            depth = self._depths.get(instrument_id)
            if depth is not None:
                depth.take(buf, offset)

    def on_report(self, strategy_id: int, epoch: int, order_seq: int, exec_type: int, leaves_qty: int) -> None:
        """An execution report (``exec_type``: ExecType). Apply a fill to the ledger first: exposure reads it here.

        EXEC_REPORT records carry no epoch: pass the one the order was sent
        with (:meth:`OpenOrders.epoch_of` is the strategy's latest).
        """
        order = self.orders.on_report(strategy_id, epoch, order_seq, exec_type, leaves_qty)
        if order is not None and self._exposure_on:
            self._exposure.refresh(order.instrument_id, self.orders.instrument(order.instrument_id))

    def set_state(
        self, state: TradingState, strategy_id: int = _NO_STRATEGY, reason: RejectReason | None = None
    ) -> None:
        """The account's trading state (``strategy_id`` 0) or one strategy's; the more severe of the two applies.

        ``reason``: what refused orders say (default HALTED for HALTED,
        REDUCE_ONLY for REDUCING; a loss breaker says MAX_LOSS).
        """
        said = _DEFAULT_REASON[state] if reason is None else reason
        if strategy_id == _NO_STRATEGY:
            self._state, self._state_reason = int(state), said
        elif state == TradingState.ACTIVE:
            self._strategy_states.pop(strategy_id, None)
        else:
            self._strategy_states[strategy_id] = (int(state), said)

    def state(self, strategy_id: int = _NO_STRATEGY) -> TradingState:
        """The state that applies to the strategy's orders (``strategy_id`` 0: the account's own)."""
        own = self._strategy_states.get(strategy_id, (_ACTIVE, _NONE))[0] if strategy_id else _ACTIVE
        return TradingState(max(self._state, own))

    def refresh_exposure(self) -> None:
        """Re-read every position for exposure (after the ledger changed other than by a reported fill)."""
        if self._exposure_on:
            self._exposure.refresh_all(self.orders)

    # ------------------------------------------------------------------ reads
    def touch(self, instrument_id: int) -> Touch | None:
        """The instrument's touch (None: not an instrument of the pipeline)."""
        return self._touches.get(instrument_id)

    def limits(self, strategy_id: int, instrument_id: int) -> ScaledLimits:
        """The strategy's limits in the instrument, at its scales."""
        return self._limits.get(strategy_id, self._default_limits)[instrument_id]

    def instrument(self, instrument_id: int) -> Instrument:
        return self._instruments[instrument_id]

    @property
    def exposure(self) -> Exposure:
        return self._exposure

    # ------------------------------------------------------------------ the check
    def check(
        self,
        instrument_id: int,
        strategy_id: int,
        epoch: int,
        order_seq: int,
        orig_order_seq: int,
        action: int,
        side: int,
        order_type: int,
        price: int,
        qty: int,
        stop_price: int,
        flags: int,
        now: int,
    ) -> RejectReason:
        """Approve (NONE, and commit) or refuse an intent; ``now``: ns, the clock :meth:`on_book` was given."""
        if action not in _ORDERS:
            if action in _CANCELS:
                return self._check_cancel(
                    instrument_id, strategy_id, epoch, order_seq, orig_order_seq, action, now, flags & _SYNTHETIC
                )
            return _MALFORMED
        if side not in _SIDES or order_type not in _ORDER_TYPES:
            return _MALFORMED
        reason = self.check_state(strategy_id, instrument_id, side, qty)
        if reason:
            return reason
        key = (strategy_id, epoch, order_seq)
        reason = self.check_duplicate(key)
        if reason:
            return reason
        self.orders.seen.add(key)
        replaced = None
        if action == _REPLACE:
            orig_key = (strategy_id, epoch, orig_order_seq)
            reason = self.check_known(orig_key, instrument_id)
            if reason:
                return reason
            replaced = self.orders.get(orig_key)
        touch = self._touches.get(instrument_id)
        if touch is None:
            return RejectReason.UNKNOWN_INSTRUMENT
        limits = self._limits.get(strategy_id, self._default_limits)[instrument_id]
        reason = self.check_book(touch, limits, now)
        if reason:
            return reason
        reason = self.check_steps(self._instruments[instrument_id], order_type, price, qty, stop_price)
        if reason:
            return reason
        value = order_value(touch, side, order_type, price, stop_price)
        notional = value * qty
        reason = self.check_size(limits, qty, notional)
        if reason:
            return reason
        reason = self.check_min_notional(limits, notional)
        if reason:
            return reason
        reason = self.check_band(limits, touch, side, order_type, price, stop_price)
        if reason:
            return reason
        if limits.max_slippage_bps and not flags & _FLATTEN:
            reason = self.check_slippage(limits, instrument_id, touch, side, order_type, price, qty)
            if reason:
                return reason
        own = self.orders.strategy(strategy_id, instrument_id)
        if flags & _REDUCING_FLAGS:
            reason = self.check_reduce_only(own, strategy_id, instrument_id, side, qty)
            if reason:
                return reason
        account = self.orders.instrument(instrument_id)
        reason = self.check_position(limits, own, account, strategy_id, instrument_id, side, qty)
        if reason:
            return reason
        reason = self.check_exposure(account, instrument_id, side, notional)
        if reason:
            return reason
        reason = self.check_open_orders(limits, own, account, replaced is not None)
        if reason:
            return reason
        reason = self.check_order_rate(strategy_id, now)
        if reason:
            return reason
        cross = None if flags & _SYNTHETIC else self.cross_price(touch, side, order_type, price, qty)
        reason = self.check_self_cross(account, side, cross, replaced)
        if reason:
            return reason
        # approved: commit
        self.orders.add(key, instrument_id, side, value, cross, qty, None if replaced is None else replaced.key)
        rate = self._rates.get(strategy_id)
        if rate is not None:
            rate.spend_order(now)
        self._account_rate.spend_order(now)
        if self._exposure_on:
            self._exposure.refresh(instrument_id, self.orders.instrument(instrument_id))
        return _NONE

    def check_intent(self, intent: Intent, now: int) -> RejectReason:
        """:meth:`check` of an :class:`Intent` (tests; the stage passes the fields)."""
        return self.check(*intent, now)

    def _check_cancel(
        self,
        instrument_id: int,
        strategy_id: int,
        epoch: int,
        order_seq: int,
        orig_order_seq: int,
        action: int,
        now: int,
        synthetic: int = 0,
    ) -> RejectReason:
        key = (strategy_id, epoch, order_seq)
        reason = self.check_duplicate(key)
        if reason:
            return reason
        self.orders.seen.add(key)
        if action == _CANCEL and not synthetic:  # a triggered synthetic order is its child's: execution knows it
            reason = self.check_known((strategy_id, epoch, orig_order_seq), instrument_id)
            if reason:
                return reason
        reason = self.check_cancel_rate(strategy_id, now)
        if reason:
            return reason
        own = self._rates.get(strategy_id)
        if own is not None:
            own.spend_cancel(now)
        self._account_rate.spend_cancel(now)
        return _NONE

    # ------------------------------------------------------------------ the checks, one by one
    def check_state(self, strategy_id: int, instrument_id: int, side: int, qty: int) -> RejectReason:
        """1. The trading state lets this order through (cancels never come here: they always pass)."""
        state, reason = self._state, self._state_reason
        if self._strategy_states:
            own = self._strategy_states.get(strategy_id)
            if own is not None and own[0] > state:
                state, reason = own
        if state == _ACTIVE:
            return _NONE
        if state == _REDUCING:
            position = self._positions.strategy_qty(strategy_id, instrument_id)
            if reduces(position, self.orders.strategy(strategy_id, instrument_id).qty[side], side, qty):
                return _NONE
        return reason

    def check_duplicate(self, key: OrderKey) -> RejectReason:
        """2. An id is used once in a run."""
        return RejectReason.DUPLICATE_ORDER if self.orders.seen.seen(key) else _NONE

    def check_known(self, orig_key: OrderKey, instrument_id: int) -> RejectReason:
        """3. A CANCEL or REPLACE names an open order of its strategy and instrument."""
        orig = self.orders.get(orig_key)
        return RejectReason.UNKNOWN_ORDER if orig is None or orig.instrument_id != instrument_id else _NONE

    def check_book(self, touch: Touch, limits: ScaledLimits, now: int) -> RejectReason:
        """4. The book is SYNCED, two-sided and fresh."""
        if not touch.usable:
            return RejectReason.BOOK_NOT_SYNCED
        if limits.max_age_ns and now - touch.time_ns > limits.max_age_ns:
            return RejectReason.DATA_STALE
        return _NONE

    def check_steps(
        self, instrument: Instrument, order_type: int, price: int, qty: int, stop_price: int
    ) -> RejectReason:
        """5. Prices on the instrument's tick, the quantity whole lots."""
        tick = instrument.tick
        if order_type in _PRICED:
            if price <= 0:
                return RejectReason.PRICE_NOT_POSITIVE
            if price % tick:
                return RejectReason.PRICE_NOT_ON_TICK
        if order_type in _STOPS:
            if stop_price <= 0:
                return RejectReason.PRICE_NOT_POSITIVE
            if stop_price % tick:
                return RejectReason.PRICE_NOT_ON_TICK
        lot = instrument.lot
        if qty < lot:
            return RejectReason.QTY_BELOW_LOT
        if qty % lot:
            return RejectReason.QTY_NOT_ON_LOT
        return _NONE

    def check_size(self, limits: ScaledLimits, qty: int, notional: int) -> RejectReason:
        """6. The order's quantity and notional."""
        if limits.max_order_qty and qty > limits.max_order_qty:
            return RejectReason.MAX_ORDER_QTY
        if limits.max_order_notional and notional > limits.max_order_notional:
            return RejectReason.MAX_ORDER_NOTIONAL
        return _NONE

    def check_min_notional(self, limits: ScaledLimits, notional: int) -> RejectReason:
        """7. The order is worth at least ``min_notional``."""
        return RejectReason.MIN_NOTIONAL if notional < limits.min_notional else _NONE

    def check_band(
        self, limits: ScaledLimits, touch: Touch, side: int, order_type: int, price: int, stop_price: int
    ) -> RejectReason:
        """8. The price is within the fat-finger band of the far touch (a stop-limit's: of its stop price)."""
        if not limits.band_bps or order_type not in _PRICED:
            return _NONE
        if side == BUY:
            reference = stop_price if order_type in _STOP_LIMITS else touch.ask
            return RejectReason.PRICE_BAND if price * BPS > reference * limits.band_up else _NONE
        reference = stop_price if order_type in _STOP_LIMITS else touch.bid
        return RejectReason.PRICE_BAND if price * BPS < reference * limits.band_down else _NONE

    def check_slippage(
        self, limits: ScaledLimits, instrument_id: int, touch: Touch, side: int, order_type: int, price: int, qty: int
    ) -> RejectReason:
        """9. A marketable order's estimated cost against the touch, walking the visible depth, within the bound."""
        bound = limits.max_slippage_bps
        if not bound:
            return _NONE
        if order_type == _MARKET:
            limit = 0
        elif order_type == _LIMIT and (price >= touch.ask if side == BUY else price <= touch.bid):
            limit = price
        else:
            return _NONE  # resting, post-only or a stop: takes nothing now
        estimate = self._depths[instrument_id].estimate(touch, _SIDE[side], qty, limit)
        status = estimate.status
        if status in _UNPRICEABLE or (status is WalkStatus.SHORT and not limit):
            return RejectReason.MAX_SLIPPAGE
        if status is WalkStatus.SHORT:  # the rest may fill past the visible levels, at its limit at worst
            reference = estimate.touch
            worst = estimate.notional + estimate.unfilled_qty * limit
            cost = (worst - reference * qty) if side == BUY else (reference * qty - worst)
            return RejectReason.MAX_SLIPPAGE if cost * BPS > bound * reference * qty else _NONE
        return RejectReason.MAX_SLIPPAGE if estimate.exceeds_touch_bps(bound) else _NONE

    def check_reduce_only(
        self, own: StrategyOrders, strategy_id: int, instrument_id: int, side: int, qty: int
    ) -> RejectReason:
        """10. A REDUCE_ONLY or FLATTEN order reduces the strategy's position (``own``: its open orders there)."""
        position = self._positions.strategy_qty(strategy_id, instrument_id)
        if reduces(position, own.qty[side], side, qty):
            return _NONE
        return RejectReason.REDUCE_ONLY

    def check_position(
        self,
        limits: ScaledLimits,
        own: StrategyOrders,
        account: InstrumentOrders,
        strategy_id: int,
        instrument_id: int,
        side: int,
        qty: int,
    ) -> RejectReason:
        """11. The worst case of the strategy's and of the account's position, on the side the order grows.

        ``own``, ``account``: the strategy's and the account's open orders in the instrument.
        """
        bound = limits.max_position
        if bound:
            position = self._positions.strategy_qty(strategy_id, instrument_id)
            open_qty = own.qty[side]
            if (position + open_qty + qty > bound) if side == BUY else (position - open_qty - qty < -bound):
                return RejectReason.MAX_POSITION
        bound = limits.account_max_position
        if bound:
            position = self._positions.account_qty(instrument_id)
            open_qty = account.qty[side]
            if (position + open_qty + qty > bound) if side == BUY else (position - open_qty - qty < -bound):
                return RejectReason.MAX_POSITION
        return _NONE

    def check_exposure(self, account: InstrumentOrders, instrument_id: int, side: int, notional: int) -> RejectReason:
        """12. The account's worst gross and net exposure, unless the order lowers or keeps them."""
        if not self._exposure_on:
            return _NONE
        exposure = self._exposure
        exposure.refresh(instrument_id, account)  # the position may have moved since the part was computed
        bound = self._max_gross
        if bound:
            after = exposure.gross_with(instrument_id, side, notional)
            if after > bound and after > exposure.gross:
                return RejectReason.MAX_GROSS_EXPOSURE
        bound = self._max_net
        if bound:
            after = exposure.net_with(instrument_id, side, notional)
            if after > bound and after > exposure.net():
                return RejectReason.MAX_NET_EXPOSURE
        return _NONE

    def check_open_orders(
        self, limits: ScaledLimits, own: StrategyOrders, account: InstrumentOrders, replacing: bool
    ) -> RejectReason:
        """13. Open orders of the strategy and of the account in the instrument, this one included."""
        added = 0 if replacing else 1
        bound = limits.max_open_orders
        if bound and own.count + added > bound:
            return RejectReason.MAX_OPEN_ORDERS
        bound = limits.account_max_open_orders
        if bound and account.count + added > bound:
            return RejectReason.MAX_OPEN_ORDERS
        return _NONE

    def check_order_rate(self, strategy_id: int, now: int) -> RejectReason:
        """14. A token in each order bucket of the strategy and of the account."""
        own = self._rates.get(strategy_id)
        if (own is None or own.order_ready(now)) and self._account_rate.order_ready(now):
            return _NONE
        return RejectReason.ORDER_RATE

    def check_cancel_rate(self, strategy_id: int, now: int) -> RejectReason:
        """A token in the cancel bucket of the strategy and of the account."""
        own = self._rates.get(strategy_id)
        if (own is None or own.cancel_ready(now)) and self._account_rate.cancel_ready(now):
            return _NONE
        return RejectReason.CANCEL_RATE

    def cross_price(self, touch: Touch, side: int, order_type: int, price: int, qty: int) -> int | None:
        """The price an order may trade at against ours (None: a stop order, not on the book)."""
        if order_type == _MARKET:
            if side == BUY:
                return touch.ask if qty <= touch.ask_qty else ANY_PRICE
            return touch.bid if qty <= touch.bid_qty else 0
        if order_type in _STOPS:
            return None
        return price

    def check_self_cross(
        self, resting: InstrumentOrders, side: int, cross_price: int | None, replaced: OpenOrder | None
    ) -> RejectReason:
        """15. No trade against an open order of the account (the order a REPLACE cancels aside).

        ``resting``: the account's open orders in the instrument.
        """
        if cross_price is None:
            return _NONE
        if side == BUY:
            best = resting.best[SELL] if replaced is None else resting.best_excluding(SELL, replaced)
            return RejectReason.SELF_CROSS if cross_price >= best else _NONE
        best = resting.best[BUY] if replaced is None else resting.best_excluding(BUY, replaced)
        return RejectReason.SELF_CROSS if cross_price <= best else _NONE
