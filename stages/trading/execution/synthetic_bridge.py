"""Synthetic orders in the execution stage: intents into the :class:`SyntheticBook`, its actions out as records.

Pure (no IO, no clock: callers pass ``now``), like :mod:`~.paper_bridge`; the
stage only packs what it answers. The path of one synthetic order:

1. An approved ORDER_INTENT flagged ``SYNTHETIC`` (:meth:`SyntheticBridge.place`)
   becomes a book order; a contingent leg waits until its group's last leg
   (``legs``) arrived, then the group is placed whole. A group or order the
   book refuses is REJECTED (``BAD_SYNTHETIC``) leg by leg.
2. The market (:meth:`~SyntheticBridge.on_trade`, :meth:`~SyntheticBridge.on_book`)
   triggers it: its TRIGGERED report goes out first (risk stops counting it
   as held), then its released child, a NEW intent flagged ``RELEASED`` with a
   sequence of this stage's own (from :data:`RELEASE_SEQ_BASE`) and
   ``synthetic_seq`` naming the synthetic order, to risk, which checks it
   again in full.
3. Risk approves it back to this stage (:meth:`~SyntheticBridge.approved`,
   which answers the trigger time, for trigger-to-send) or refuses it
   (:meth:`~SyntheticBridge.refused`): the synthetic order ends REJECTED with
   risk's reason.
4. The child's venue reports (:meth:`~SyntheticBridge.child_report`) go to
   risk flagged ``RELEASED_CHILD`` (its ledger books the fills; the strategy
   never sees the child) and come back from here as the synthetic order's own
   reports, flagged ``SYNTHETIC``: ACK (OPEN), fills with the child's price,
   quantity and fee, CANCELED, EXPIRED, REJECTED. Fills also drive the
   groups: an OCO sibling canceled at the venue (:class:`VenueCancel`), OTO
   children armed and sized.
5. A peg's re-price is a REPLACE of its working child, through risk as well;
   a refused one leaves the old child working at its old price.

Every report about a synthetic order carries its own ``order_seq``; its
states: HELD (watching, or waiting for its OTO parent), TRIGGERED, then its
child's (ACK, PARTIAL_FILL, FILL, CANCELED, EXPIRED, REJECTED).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Final, NamedTuple

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import (
    RELEASE_SEQ_BASE,
    Contingency,
    ExecType,
    IntentAction,
    IntentFlag,
    OrderSide,
    OrderType,
    RejectReason,
    TimeInForce,
    Trigger,
)
from stages.trading.execution.synthetic.actions import Action, Cancel, Release, Replace, StateChange, SynthState
from stages.trading.execution.synthetic.book import Spec, SyntheticBook
from stages.trading.execution.synthetic.direct import Direct
from stages.trading.execution.synthetic.peg import Peg
from stages.trading.execution.synthetic.stop import Stop, TakeProfit
from stages.trading.execution.synthetic.trailing import TrailingStop

OrderKey = tuple[int, int, int]
"""``(strategy_id, epoch, order_seq)``."""

_KEPT_FLAGS: Final = IntentFlag.REDUCE_ONLY | IntentFlag.FLATTEN
"""The flags a released child inherits (SYNTHETIC and POST_ONLY are the synthetic order's own)."""
_STATE_REPORTS: Final = {
    SynthState.PENDING_PARENT: ExecType.HELD,
    SynthState.PENDING_TRIGGER: ExecType.HELD,
    SynthState.TRIGGERED: ExecType.TRIGGERED,
    SynthState.CANCELED: ExecType.CANCELED,
    SynthState.REJECTED: ExecType.REJECTED,
    SynthState.EXPIRED: ExecType.EXPIRED,
}
"""The report a state change makes; the fill states make theirs with the child's fill (:meth:`child_report`)."""
_FILL_STATES: Final = frozenset({SynthState.PARTIALLY_FILLED, SynthState.FILLED})


class Intent(NamedTuple):
    """The fields of an approved synthetic ORDER_INTENT the bridge reads, from ``stop_price`` on in record order."""

    instrument: int
    strategy: int
    epoch: int
    seq: int
    side: int
    order_type: int
    tif: int
    flags: int
    price: int
    qty: int
    stop_price: int
    trail: int
    link: int
    peg_offset: int
    trail_bps: int
    max_replaces: int
    min_move: int
    trigger: int
    contingency: int
    leg: int
    legs: int


class ChildIntent(NamedTuple):
    """A released child to send to risk: an ORDER_INTENT flagged ``RELEASED`` (``REPLACE``: a peg's re-price)."""

    instrument: int
    strategy: int
    epoch: int
    action: IntentAction
    seq: int
    orig: int
    side: OrderSide
    order_type: OrderType
    tif: TimeInForce
    flags: IntentFlag
    price: int
    qty: int
    synthetic_seq: int
    market_caused: bool
    """Released by a market-data record (its header is the cause): a tick-caused order."""


class SynthReport(NamedTuple):
    """An EXEC_REPORT about a synthetic order (flagged ``SYNTHETIC``)."""

    instrument: int
    strategy: int
    seq: int
    side: OrderSide
    exec_type: ExecType
    last_price: int
    last_qty: int
    cum_qty: int
    leaves_qty: int
    fee: int
    reason: RejectReason


class VenueCancel(NamedTuple):
    """Cancel a working child at the venue (an OCO sibling, an owner's cancel): no risk check, cancels always pass."""

    instrument: int
    strategy: int
    epoch: int
    seq: int
    side: OrderSide


class Out(NamedTuple):
    """What one call caused, in the order the stage sends it: reports first (risk sees TRIGGERED before the
    child), then the children to risk, then the cancels to the venue."""

    reports: list[SynthReport]
    intents: list[ChildIntent]
    cancels: list[VenueCancel]


class _Meta:
    """One synthetic order as the intents know it: its key, side, and the child working for it now."""

    __slots__ = ("children", "instrument", "key", "last", "replacing", "side", "working")

    def __init__(self, key: OrderKey, instrument: int, side: OrderSide) -> None:
        self.key = key
        self.instrument = instrument
        self.side = side
        self.working = 0
        """The order_seq of its child at the venue (0: none yet)."""
        self.replacing = 0
        """A REPLACE's new child on its way to the venue (0: none): it works once the venue says REPLACED."""
        self.children: list[int] = []
        self.last: tuple[ExecType, int] | None = None
        """The last state report and size it made (a repeat is not sent)."""


class _Pending(NamedTuple):
    """A child on its way through risk."""

    order_id: int
    trigger_ns: int
    replaces: int
    """The child a REPLACE takes the place of (0: a NEW)."""


class SyntheticBridge:
    """Every synthetic order of the stage (see the module docstring)."""

    __slots__ = ("_by_key", "_children", "_groups", "_meta", "_next_id", "_next_seq", "_pending", "book")

    def __init__(self, instruments: Iterable[Instrument], seq_start: int = RELEASE_SEQ_BASE) -> None:
        self.book = SyntheticBook(instruments)
        self._next_id = 1
        self._next_seq = seq_start
        self._meta: dict[int, _Meta] = {}
        self._by_key: dict[OrderKey, int] = {}
        self._children: dict[tuple[int, int], int] = {}
        """(strategy, child seq) -> the synthetic order's id; child seqs are this stage's, unique in a run."""
        self._pending: dict[tuple[int, int], _Pending] = {}
        self._groups: dict[OrderKey, list[Intent]] = {}
        """Contingent groups still missing legs, by (strategy, epoch, link)."""

    # -- intents from risk ------------------------------------------------------------------------
    def place(self, intent: Intent, now: int) -> Out:
        """An approved synthetic NEW: held (a lone order), or kept until its group is whole."""
        out = Out([], [], [])
        if intent.contingency == Contingency.NONE:
            self._place_specs([intent], now, out)
            return out
        group = (intent.strategy, intent.epoch, intent.link)
        legs = self._groups.setdefault(group, [])
        legs.append(intent)
        if len(legs) >= intent.legs:
            del self._groups[group]
            self._place_specs(legs, now, out)
        return out

    def _place_specs(self, legs: list[Intent], now: int, out: Out) -> None:
        try:
            specs = [self._spec(leg) for leg in legs]
            kind = Contingency(legs[0].contingency)
            if kind is Contingency.NONE:
                actions = self.book.place(specs[0], now)
            elif kind is Contingency.OCO and len(specs) == 2:
                actions = self.book.place_oco(specs[0], specs[1], now)
            elif kind is Contingency.BRACKET and len(specs) == 3:
                actions = self.book.place_bracket(specs[0], specs[1], specs[2], now)
            elif kind is Contingency.OTO:
                actions = self.book.place_oto(specs[0], specs[1:], now)
            else:
                raise ValueError(f"{kind.name} with {len(specs)} legs")
        except ValueError:
            for leg in legs:
                self._forget_key((leg.strategy, leg.epoch, leg.seq))
                out.reports.append(_refusal(leg, RejectReason.BAD_SYNTHETIC))
            return
        self._apply(actions, now, out, market_caused=False)

    def _spec(self, i: Intent) -> Spec:
        key = (i.strategy, i.epoch, i.seq)
        if key in self._by_key:
            raise ValueError(f"synthetic order {key} is already held")
        order_id = self._next_id
        self._next_id += 1
        side = OrderSide(i.side)
        self._by_key[key] = order_id
        self._meta[order_id] = _Meta(key, i.instrument, side)
        common: dict[str, Any] = {"id": order_id, "strategy_id": i.strategy, "instrument_id": i.instrument,
                                  "side": side, "qty": i.qty, "flags": IntentFlag(i.flags) & _KEPT_FLAGS}  # fmt: skip
        kind = OrderType(i.order_type)
        tif = TimeInForce(i.tif)
        if kind in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT):
            return Stop(**common, stop_price=i.stop_price, limit_price=i.price, trigger=Trigger(i.trigger), tif=tif)
        if kind in (OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT):
            return TakeProfit(**common, stop_price=i.stop_price, limit_price=i.price, trigger=Trigger(i.trigger),
                              tif=tif)  # fmt: skip
        if kind is OrderType.TRAILING_STOP:
            percent = Decimal(i.trail_bps) / 100 if i.trail_bps else None
            return TrailingStop(**common, offset=i.trail or None, percent=percent, trigger=Trigger(i.trigger), tif=tif)
        if kind is OrderType.PEG_MID:
            return Peg(**common, offset_ticks=i.peg_offset, min_move_ticks=i.min_move,
                       max_replaces_per_s=i.max_replaces, post_only=bool(i.flags & IntentFlag.POST_ONLY))  # fmt: skip
        return Direct(**common, order_type=kind, price=i.price, tif=tif)

    def cancel(self, instrument: int, strategy: int, epoch: int, seq: int, side: int, now: int) -> Out:
        """The owner's cancel of a synthetic order (its group goes with it), or risk's of a group still missing legs.

        One that is not held (any more), or already final, is answered CANCEL_REJECTED (UNKNOWN_ORDER).
        """
        out = Out([], [], [])
        waiting = self._groups.pop((strategy, epoch, seq), None)
        if waiting is not None:  # a leg was refused: the group never comes whole
            for leg in waiting:
                out.reports.append(_refusal(leg, RejectReason.NONE, ExecType.CANCELED))
            return out
        order_id = self._by_key.get((strategy, epoch, seq))
        actions = self.book.cancel(order_id) if order_id is not None else ()
        if not actions:
            out.reports.append(SynthReport(instrument, strategy, seq, OrderSide(side), ExecType.CANCEL_REJECTED, 0, 0,
                                           0, 0, 0, RejectReason.UNKNOWN_ORDER))  # fmt: skip
            return out
        self._apply(actions, now, out, market_caused=False)
        return out

    def cancel_all(self, strategy: int, instrument: int, now: int) -> Out:
        out = Out([], [], [])
        self._apply(self.book.cancel_all(strategy, instrument), now, out, market_caused=False)
        return out

    def approved(self, strategy: int, seq: int) -> tuple[int, bool] | None:
        """Risk approved a child: ``(trigger_ns, send)``; ``send`` False when its synthetic order ended meanwhile
        (the stage then reports the child CANCELED to risk and calls :meth:`child_closed`). None: not a child."""
        pending = self._pending.pop((strategy, seq), None)
        if pending is None:
            return None
        meta = self._meta.get(pending.order_id)
        view = self.book.state(pending.order_id)
        self._children[(strategy, seq)] = pending.order_id
        if meta is None or view is None or view.state >= SynthState.FILLED:
            return pending.trigger_ns, False
        meta.children.append(seq)
        if pending.replaces:
            meta.replacing = seq
        else:
            meta.working = seq
        return pending.trigger_ns, True

    def refused(self, strategy: int, seq: int, reason: RejectReason, now: int) -> Out:
        """Risk refused a child: the synthetic order ends REJECTED with ``reason`` (a refused REPLACE: nothing)."""
        out = Out([], [], [])
        pending = self._pending.pop((strategy, seq), None)
        if pending is None:
            return out
        if pending.replaces:
            self.book.on_replace_refused(pending.order_id, reason)
        else:
            self._apply(self.book.on_release_refused(pending.order_id, reason), now, out, market_caused=False)
        return out

    # -- the market --------------------------------------------------------------------------------
    def on_trade(self, instrument: int, price: int, qty: int, now: int) -> Out | None:
        actions = self.book.on_trade(instrument, price, qty, now)
        return self._out(actions, now) if actions else None

    def on_book(self, instrument: int, bid: int, ask: int, now: int) -> Out | None:
        actions = self.book.on_book(instrument, bid, ask, now)
        return self._out(actions, now) if actions else None

    def _out(self, actions: Sequence[Action], now: int) -> Out:
        out = Out([], [], [])
        self._apply(actions, now, out, market_caused=True)
        return out

    # -- the children's venue reports ----------------------------------------------------------------
    def next_seq(self) -> int:
        """A sequence of this stage's own (a child, or a cancel request it sends itself)."""
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def child_report(
        self, strategy: int, seq: int, exec_type: ExecType, last_price: int, last_qty: int, fee: int,
        reason: RejectReason, now: int,
    ) -> Out:  # fmt: skip
        """A venue report about a child (``seq >= RELEASE_SEQ_BASE``): the synthetic order's report(s) it makes."""
        out = Out([], [], [])
        order_id = self._children.get((strategy, seq))
        meta = None if order_id is None else self._meta.get(order_id)
        if order_id is None or meta is None:
            return out
        if exec_type is ExecType.ACK:
            view = self.book.state(order_id)
            if view is not None and meta.working == seq:
                out.reports.append(_report(meta, view, ExecType.ACK))
        elif exec_type in (ExecType.PARTIAL_FILL, ExecType.FILL):
            actions = self.book.on_fill(order_id, last_qty, last_price, now)
            first = True
            for action in actions:
                if first and isinstance(action, StateChange) and action.synthetic_id == order_id:
                    first = False
                    kind = ExecType.FILL if action.state is SynthState.FILLED else ExecType.PARTIAL_FILL
                    out.reports.append(_report(meta, action, kind, last_price, last_qty, fee))
                    continue
                self._apply((action,), now, out, market_caused=False)
        elif exec_type in (ExecType.CANCELED, ExecType.EXPIRED):
            if meta.working == seq:
                self._apply(self.book.on_venue_closed(order_id, exec_type is ExecType.EXPIRED), now, out, False)
        elif exec_type is ExecType.REJECTED:
            if meta.replacing == seq:  # a re-price the venue refused: the old child stands
                meta.replacing = 0
                self.book.on_replace_refused(order_id, reason)
            elif meta.working == seq:
                self._apply(self.book.on_release_refused(order_id, reason), now, out, market_caused=False)
        elif exec_type is ExecType.REPLACED and meta.replacing == seq:
            meta.working, meta.replacing = seq, 0
        self._ended(order_id)
        return out

    def child_closed(self, strategy: int, seq: int, now: int) -> Out:
        """A child approved after its synthetic order ended was not sent: that ends it for the book too."""
        out = Out([], [], [])
        order_id = self._children.pop((strategy, seq), None)
        if order_id is not None:
            self._apply(self.book.on_venue_closed(order_id), now, out, market_caused=False)
            self._ended(order_id)
        return out

    # -- internals ---------------------------------------------------------------------------------
    def _apply(self, actions: Iterable[Action], now: int, out: Out, market_caused: bool) -> None:
        for action in actions:
            if isinstance(action, StateChange):
                meta = self._meta.get(action.synthetic_id)
                kind = _STATE_REPORTS.get(action.state)
                if meta is None or kind is None:
                    continue
                if meta.last != (kind, action.qty):
                    meta.last = (kind, action.qty)
                    out.reports.append(_report(meta, action, kind))
                self._ended(action.synthetic_id)
            elif isinstance(action, Release):
                self._child(action.synthetic_id, IntentAction.NEW, 0, action, action.trigger_ns, out, market_caused)
            elif isinstance(action, Replace):
                meta = self._meta.get(action.synthetic_id)
                if meta is not None and meta.working:
                    self._child(action.synthetic_id, IntentAction.REPLACE, meta.working, action, action.now, out,
                                market_caused)  # fmt: skip
            elif isinstance(action, Cancel):
                meta = self._meta.get(action.synthetic_id)
                if meta is not None and meta.working:
                    strategy, epoch, _ = meta.key
                    out.cancels.append(VenueCancel(meta.instrument, strategy, epoch, meta.working, meta.side))

    def _child(
        self, order_id: int, action: IntentAction, replaces: int, what: Release | Replace, trigger_ns: int, out: Out,
        market_caused: bool,
    ) -> None:  # fmt: skip
        meta = self._meta[order_id]
        strategy, epoch, synthetic_seq = meta.key
        seq = self.next_seq()
        self._pending[(strategy, seq)] = _Pending(order_id, trigger_ns, replaces)
        flags = what.flags | IntentFlag.RELEASED
        out.intents.append(ChildIntent(
            meta.instrument, strategy, epoch, action, seq, replaces, what.side, what.order_type, what.tif, flags,
            what.price, what.qty, synthetic_seq, market_caused,
        ))  # fmt: skip

    def _ended(self, order_id: int) -> None:
        """Forget the intents' side of an order the book forgot (its children's reports find nothing after)."""
        if self.book.state(order_id) is None and not any(p.order_id == order_id for p in self._pending.values()):
            meta = self._meta.pop(order_id, None)
            if meta is not None:
                self._by_key.pop(meta.key, None)
                for seq in meta.children:
                    self._children.pop((meta.key[0], seq), None)

    def _forget_key(self, key: OrderKey) -> None:
        order_id = self._by_key.pop(key, None)
        if order_id is not None:
            self._meta.pop(order_id, None)

    def __len__(self) -> int:
        """Synthetic orders held (not yet forgotten)."""
        return len(self._meta)


def _report(
    meta: _Meta, view: StateChange, kind: ExecType, last_price: int = 0, last_qty: int = 0, fee: int = 0
) -> SynthReport:
    leaves = max(view.qty - view.cum_qty, 0) if view.state < SynthState.FILLED else 0
    return SynthReport(meta.instrument, meta.key[0], meta.key[2], meta.side, kind, last_price, last_qty,
                       view.cum_qty, leaves, fee, view.reason)  # fmt: skip


def _refusal(leg: Intent, reason: RejectReason, kind: ExecType = ExecType.REJECTED) -> SynthReport:
    return SynthReport(leg.instrument, leg.strategy, leg.seq, OrderSide(leg.side), kind, 0, 0, 0, 0, 0, reason)
