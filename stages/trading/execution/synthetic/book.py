"""The synthetic book: orders the venue lacks, held per (strategy, instrument), released when the market triggers them.

Feed it the market (:meth:`SyntheticBook.on_trade`, :meth:`SyntheticBook.on_book`)
and what became of the real orders it released (:meth:`~SyntheticBook.on_fill`,
:meth:`~SyntheticBook.on_release_refused`, :meth:`~SyntheticBook.on_replace_refused`,
:meth:`~SyntheticBook.on_venue_closed`); every call answers the actions it
caused, in order (:mod:`~stages.trading.execution.synthetic.actions`): real
orders to send (``Release``: through risk again, re-checked at release),
replace (``Replace``: a peg's new price, a leg's new size) or cancel
(``Cancel``), and ``StateChange`` snapshots of the synthetic orders for their
strategies. It is pure: no clock (``now`` comes in, monotonic ns), no IO,
no randomness; the same calls give the same actions.

Orders: :class:`~stages.trading.execution.synthetic.stop.Stop` (stop-market,
stop-limit), :class:`~stages.trading.execution.synthetic.stop.TakeProfit`
(market, limit), :class:`~stages.trading.execution.synthetic.trailing.TrailingStop`,
:class:`~stages.trading.execution.synthetic.peg.Peg`,
:class:`~stages.trading.execution.synthetic.direct.Direct` (released at once),
alone (:meth:`~SyntheticBook.place`) or contingent
(:meth:`~SyntheticBook.place_oco`, :meth:`~SyntheticBook.place_oto`,
:meth:`~SyntheticBook.place_bracket`; see
:mod:`~stages.trading.execution.synthetic.contingent`). Ids are the
caller's: any int, unique among the orders the book holds.

Triggers fire exactly once: a trigger order leaves the sorted levels when it
fires and never goes back (a later fill, refusal or cancel only changes its
state). A release that risk (or the venue) refuses comes back as
:meth:`~SyntheticBook.on_release_refused`: the synthetic order ends REJECTED
with that reason, and nothing re-arms it (an OCO sibling canceled by the
trigger stays canceled; the strategy decides what next).

Cost: each instrument has one watch per reference price (last, bid, ask,
mid), each two :class:`~stages.trading.execution.synthetic.levels.LevelQueue`
(levels that fire up, levels that fire down) whose next level is a plain
int. A market update compares its price with the two next levels of each
watch it feeds (two for a trade, six for a book update) and returns a shared
empty tuple when nothing is reached: no search, no allocation. Only the
instrument's own levels are looked at, and pegs (which must look at every
book change) only on their instrument. A trailing stop keeps a second entry,
its *tracker* (one tick past its best price, on the other queue), so a new
best is found the same way as a trigger.

Book lifetime: an order is forgotten once it is final and nothing more can
come for it: no cancel awaiting the venue's confirmation, no parent that may
still fill (a fill for a forgotten id is counted in ``stray_fills``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, TypeAlias

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import OrderSide, OrderType, RejectReason, TimeInForce
from stages.trading.execution.synthetic.actions import Action, Cancel, Release, Replace, StateChange, SynthState
from stages.trading.execution.synthetic.contingent import Group
from stages.trading.execution.synthetic.direct import Direct
from stages.trading.execution.synthetic.levels import LevelQueue
from stages.trading.execution.synthetic.orders import Kind, SynthOrder
from stages.trading.execution.synthetic.peg import Peg, ReplaceBudget, peg_price
from stages.trading.execution.synthetic.stop import Stop, TakeProfit
from stages.trading.execution.synthetic.trailing import TrailingStop, trail_level
from stages.trading.execution.synthetic.trigger import SOURCES, UNITS, Source, reached, source_of

Spec: TypeAlias = Stop | TakeProfit | TrailingStop | Peg | Direct

_EMPTY: Final[tuple[Action, ...]] = ()
# enum members as module constants: a global read is far cheaper than ``Enum.MEMBER`` on the hot paths
_PENDING_PARENT: Final = SynthState.PENDING_PARENT
_PENDING_TRIGGER: Final = SynthState.PENDING_TRIGGER
_BUY: Final = OrderSide.BUY
_DIRECT: Final = Kind.DIRECT
_TRAILING: Final = Kind.TRAILING
_PEG: Final = Kind.PEG


class _Watch:
    """One reference price of one instrument: its levels, up and down, and trailing stops with no best yet."""

    __slots__ = ("down", "fresh", "source", "units", "up")

    def __init__(self, source: Source) -> None:
        self.source = source
        self.units = UNITS[source]
        self.up: LevelQueue[SynthOrder] = LevelQueue(up=True)
        self.down: LevelQueue[SynthOrder] = LevelQueue(up=False)
        self.fresh: list[SynthOrder] = []


class _Market:
    """One instrument: its last prices (0: none seen) and its watches, by :class:`Source`."""

    __slots__ = (
        "ask",
        "ask_watch",
        "bid",
        "bid_watch",
        "id",
        "last",
        "last_watch",
        "mid_watch",
        "pegs",
        "tick",
        "watches",
    )

    def __init__(self, instrument: Instrument) -> None:
        self.id = instrument.id
        self.tick = instrument.tick
        self.last = 0
        self.bid = 0
        self.ask = 0
        self.watches = tuple(_Watch(source) for source in SOURCES)
        # the same watches by name: the hot paths read an attribute, not an enum member (~150 ns each on 3.11)
        self.last_watch, self.bid_watch, self.ask_watch, self.mid_watch = self.watches
        self.pegs: dict[int, SynthOrder] = {}

    def ref(self, source: Source) -> int:
        """The reference price now, in the source's units; 0 when none is known."""
        if source is Source.LAST:
            return self.last
        if source is Source.BID:
            return self.bid
        if source is Source.ASK:
            return self.ask
        return self.bid + self.ask if self.bid > 0 and self.ask > 0 else 0


class SyntheticBook:
    """Synthetic orders of every strategy on ``instruments``; see the module docstring."""

    __slots__ = ("_by_owner", "_markets", "_orders", "_seq", "stray_fills")

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self._markets: dict[int, _Market] = {inst.id: _Market(inst) for inst in instruments}
        self._orders: dict[int, SynthOrder] = {}
        """Every order not yet forgotten, in placement order."""
        self._by_owner: dict[tuple[int, int], dict[int, SynthOrder]] = {}
        """(strategy, instrument) -> its orders, by id."""
        self._seq = 0
        self.stray_fills = 0
        """Fills for ids the book does not hold (forgotten, never released, or never its own)."""

    # ------------------------------------------------------------------------------------ placing
    def place(self, spec: Spec, now: int) -> Sequence[Action]:
        """Hold (or, for a direct order or a peg on a two-sided book, release) one order."""
        node = self._node(spec)
        self._add(node)
        out: list[Action] = []
        self._arm(node, now, out)
        return out

    def place_oco(self, first: Spec, second: Spec, now: int) -> Sequence[Action]:
        """Two legs sharing qty, strategy and instrument (any sides); one triggering or filling cancels the other."""
        a, b = self._node(first), self._node(second)
        if a.id == b.id:
            raise ValueError(f"an OCO's legs need two ids, got {a.id} twice")
        _same_owner("an OCO", a, b)
        if a.qty != b.qty:
            raise ValueError(f"an OCO's legs have one quantity, got {a.qty} and {b.qty}")
        Group((a, b), None, a.qty)
        self._add(a)
        self._add(b)
        out: list[Action] = []
        self._arm(a, now, out)
        if not b.final:  # ``a`` may have fired at once and canceled it
            self._arm(b, now, out)
        return out

    def place_oto(self, parent: Spec, children: Sequence[Spec], now: int) -> Sequence[Action]:
        """A parent and children (each its own group) armed on its first fill, sized to its filled quantity."""
        head = self._node(parent)
        legs = [self._node(child) for child in children]
        self._check_children("an OTO", head, legs, opposite=False)
        for leg in legs:
            Group((leg,), head)
        return self._place_family(head, legs, now)

    def place_bracket(self, parent: Spec, stop_loss: Spec, take_profit: Spec, now: int) -> Sequence[Action]:
        """An entry and its two exits, an OCO pair on the other side, armed and sized by the entry's fills."""
        head = self._node(parent)
        legs = [self._node(stop_loss), self._node(take_profit)]
        self._check_children("a bracket", head, legs, opposite=True)
        Group((legs[0], legs[1]), head)
        return self._place_family(head, legs, now)

    def _place_family(self, head: SynthOrder, legs: list[SynthOrder], now: int) -> Sequence[Action]:
        out: list[Action] = []
        self._add(head)
        for leg in legs:
            leg.qty = 0  # sized by the parent's fills
            self._add(leg)
        self._arm(head, now, out)
        out.extend(leg.view() for leg in legs)
        return out

    def _check_children(self, what: str, head: SynthOrder, legs: list[SynthOrder], opposite: bool) -> None:
        if not legs:
            raise ValueError(f"{what} needs at least one child")
        ids = [head.id, *(leg.id for leg in legs)]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{what} needs distinct ids, got {ids}")
        for leg in legs:
            _same_owner(what, head, leg)
            if leg.qty != head.qty:
                raise ValueError(f"{what}'s children carry the parent's quantity {head.qty}, got {leg.qty}")
            if opposite and leg.side is head.side:
                raise ValueError(f"{what}'s exits are on the other side of the entry ({head.side.name})")

    def _node(self, spec: Spec) -> SynthOrder:
        if spec.id in self._orders:
            raise ValueError(f"synthetic order id {spec.id} is already in the book")
        market = self._markets.get(spec.instrument_id)
        if market is None:
            raise ValueError(f"instrument id {spec.instrument_id} is not among the book's instruments")
        self._seq += 1
        seq = self._seq
        ids = (spec.id, spec.strategy_id, spec.instrument_id, spec.side, spec.qty)
        if isinstance(spec, Direct):
            return SynthOrder(Kind.DIRECT, *ids, spec.order_type, spec.price, spec.tif, spec.flags, seq)
        if isinstance(spec, Peg):
            order_type = OrderType.LIMIT_MAKER if spec.post_only else OrderType.LIMIT
            node = SynthOrder(Kind.PEG, *ids, order_type, 0, TimeInForce.GTC, spec.flags, seq)
            node.offset = spec.offset_ticks
            node.min_move = spec.min_move_ticks * market.tick
            node.post_only = spec.post_only
            node.budget = ReplaceBudget(spec.max_replaces_per_s)
            return node
        source = source_of(spec.trigger, spec.side)
        if isinstance(spec, TrailingStop):
            node = SynthOrder(Kind.TRAILING, *ids, OrderType.MARKET, 0, spec.tif, spec.flags, seq)
            node.offset = (spec.offset or 0) * UNITS[source]
            node.num, node.den = spec.ratio()
        else:
            kind = Kind.STOP if isinstance(spec, Stop) else Kind.TAKE_PROFIT
            order_type = OrderType.LIMIT if spec.limit_price else OrderType.MARKET
            node = SynthOrder(kind, *ids, order_type, spec.limit_price, spec.tif, spec.flags, seq)
            node.level = spec.stop_price * UNITS[source]
        node.source = source
        node.up = spec.up
        return node

    def _add(self, node: SynthOrder) -> None:
        self._orders[node.id] = node
        owner = self._by_owner.get((node.strategy_id, node.instrument_id))
        if owner is None:
            owner = self._by_owner[(node.strategy_id, node.instrument_id)] = {}
        owner[node.id] = node

    def _arm(self, node: SynthOrder, now: int, out: list[Action]) -> None:
        """Start watching (or release) a node not armed yet; one StateChange (or its release's)."""
        market = self._markets[node.instrument_id]
        node.state = _PENDING_TRIGGER
        kind = node.kind
        if kind is Kind.DIRECT:
            self._release(node, now, out)
            return
        if kind is Kind.PEG:
            market.pegs[node.id] = node
            if market.bid > 0 and market.ask > 0 and self._peg_release(node, market, now, out):
                return
            out.append(node.view())
            return
        watch = market.watches[node.source]
        ref = market.ref(node.source)
        if kind is Kind.TRAILING:
            if ref:
                self._trail_start(node, watch, ref)
            else:
                watch.fresh.append(node)
        elif ref and reached(node.up, node.level, ref):
            self._fire(node, watch, ref, now, out)
            return
        else:
            (watch.up if node.up else watch.down).add(node.level, node.seq, node)
        out.append(node.view())

    # --------------------------------------------------------------------------------- the market
    def on_trade(self, instrument_id: int, price: int, qty: int, now: int) -> Sequence[Action]:
        """A trade (``price`` at the price scale, > 0; ``qty`` is not used yet): the ``"last"`` triggers."""
        market = self._markets.get(instrument_id)
        if market is None or price <= 0:
            return _EMPTY
        market.last = price
        watch = market.last_watch
        if watch.fresh or price >= watch.up.next or price <= watch.down.next:
            out: list[Action] = []
            self._run(watch, price, now, out)
            return out
        return _EMPTY

    def on_book(self, instrument_id: int, bid: int, ask: int, now: int) -> Sequence[Action]:
        """The instrument's best bid and ask (0: that side is empty): ``"bid_ask"`` and ``"mid"`` triggers, pegs."""
        market = self._markets.get(instrument_id)
        if market is None:
            return _EMPTY
        market.bid = bid
        market.ask = ask
        out: list[Action] | None = None
        if bid > 0:
            watch = market.bid_watch
            if watch.fresh or bid >= watch.up.next or bid <= watch.down.next:
                out = []
                self._run(watch, bid, now, out)
        if ask > 0:
            watch = market.ask_watch
            if watch.fresh or ask >= watch.up.next or ask <= watch.down.next:
                if out is None:
                    out = []
                self._run(watch, ask, now, out)
        if bid > 0 and ask > 0:
            mid = bid + ask
            watch = market.mid_watch
            if watch.fresh or mid >= watch.up.next or mid <= watch.down.next:
                if out is None:
                    out = []
                self._run(watch, mid, now, out)
            if market.pegs:
                if out is None:
                    out = []
                self._reprice(market, bid, ask, now, out)
        return out if out else _EMPTY

    def _run(self, watch: _Watch, ref: int, now: int, out: list[Action]) -> None:
        """Everything ``ref`` reaches on one watch, in level order: the up queue, then the down queue.

        Up: buy stops, sell take-profits, buy trailing stops, and the trackers
        of sell trailing stops (a new high); down: the mirror images. A new
        best and a trigger never come from one price for one order, so the
        order of the two queues changes nothing but the order of the actions.
        """
        if watch.fresh:
            for node in watch.fresh:
                self._trail_start(node, watch, ref)
            watch.fresh.clear()
        up = watch.up
        while ref >= up.next:
            node = up.pop()
            if node.up:
                self._fire(node, watch, ref, now, out)
            else:  # a sell trailing stop's tracker: a new high
                self._trail_move(node, watch, ref)
        down = watch.down
        while ref <= down.next:
            node = down.pop()
            if node.up:  # a buy trailing stop's tracker: a new low
                self._trail_move(node, watch, ref)
            else:
                self._fire(node, watch, ref, now, out)

    def _trail_start(self, node: SynthOrder, watch: _Watch, best: int) -> None:
        """Set a trailing stop's best price; index its level and its tracker (one unit past the best)."""
        node.best = best
        node.level = trail_level(node.up, best, node.offset, node.num, node.den)
        node.track = best - 1 if node.up else best + 1
        (watch.up if node.up else watch.down).add(node.level, node.seq, node)
        (watch.down if node.up else watch.up).add(node.track, node.seq, node)

    def _trail_move(self, node: SynthOrder, watch: _Watch, best: int) -> None:
        """A better price reached the tracker (already popped): move the level, only ever in the order's favour."""
        (watch.up if node.up else watch.down).remove(node.level, node.seq)
        self._trail_start(node, watch, best)

    def _fire(self, node: SynthOrder, watch: _Watch, ref: int, now: int, out: list[Action]) -> None:
        """Release a trigger order whose level ``ref`` reached (its level entry is already gone)."""
        if node.kind is _TRAILING:
            (watch.down if node.up else watch.up).remove(node.track, node.seq)
        node.trigger_price = ref // watch.units
        self._release(node, now, out)
        group = node.group
        if group is not None and group.closer is None:
            self._close(group, node, out)

    def _reprice(self, market: _Market, bid: int, ask: int, now: int, out: list[Action]) -> None:
        tick = market.tick
        for node in market.pegs.values():
            if node.state is _PENDING_TRIGGER:
                self._peg_release(node, market, now, out)
                continue
            if not node.working:
                continue
            target = peg_price(node.side is _BUY, bid, ask, tick, node.offset, node.post_only)
            move = target - node.price
            budget = node.budget
            if (
                target > 0
                and (move >= node.min_move or -move >= node.min_move)
                and budget is not None
                and budget.take(now)
            ):
                node.prev_price = node.price
                node.price = target
                out.append(_replace(node, node.qty - node.cum, now))

    def _peg_release(self, node: SynthOrder, market: _Market, now: int, out: list[Action]) -> bool:
        """Release a peg at its first target (a two-sided book); False when the target is not a price (<= 0)."""
        bid, ask = market.bid, market.ask
        target = peg_price(node.side is OrderSide.BUY, bid, ask, market.tick, node.offset, node.post_only)
        if target <= 0:
            return False
        node.price = node.prev_price = target
        node.trigger_price = (bid + ask) // 2
        self._release(node, now, out)
        return True

    # -------------------------------------------------------------------------- the real orders
    def on_fill(self, order_id: int, qty: int, price: int, now: int) -> Sequence[Action]:
        """A fill of ``qty`` (qty scale) at ``price`` of a real order released for ``order_id``.

        Sizes the OCO sibling, the OTO or bracket children (armed at the
        parent's first fill); a fill that completes a leg closes its group.
        A fill of a CANCELED order whose cancel had not been confirmed is
        booked too (it raced the cancel; one that fills everything released
        makes it FILLED). ``price`` is not used yet.
        """
        node = self._orders.get(order_id)
        if node is None or node.released == 0:
            self.stray_fills += 1
            return _EMPTY
        out: list[Action] = []
        node.cum += qty
        if not node.final:
            node.state = SynthState.FILLED if node.cum >= node.qty else SynthState.PARTIALLY_FILLED
            if node.final and node.kind is Kind.PEG:
                self._markets[node.instrument_id].pegs.pop(node.id, None)
        elif node.cancel_pending and node.cum >= node.released:
            node.cancel_pending = False
            node.state = SynthState.FILLED
        out.append(node.view())
        for group in node.children:
            self._sync(group, None, now, out)
        if node.group is not None:
            self._sync(node.group, node, now, out)
        self._ended(node, out)
        return out

    def on_release_refused(self, order_id: int, reason: RejectReason) -> Sequence[Action]:
        """Risk (or the venue) refused the real order released for ``order_id``: it ends REJECTED with ``reason``.

        Nothing is re-armed: the trigger has fired, an OCO sibling it canceled
        stays canceled, a parent refused before any fill cancels its children.
        """
        node = self._orders.get(order_id)
        if node is None or node.released == 0:
            return _EMPTY
        out: list[Action] = []
        if node.final:  # canceled while the release was on its way: no cancel to wait for now
            node.cancel_pending = False
        else:
            self._unindex(node)
            node.state = SynthState.REJECTED
            node.reason = reason
            out.append(node.view())
        self._ended(node, out)
        return out

    def on_replace_refused(self, order_id: int, reason: RejectReason) -> Sequence[Action]:
        """A :class:`Replace` was refused and the old real order stands: a peg goes back to its previous price.

        ``reason`` is not kept (the order is not rejected: it still works).
        A refused re-size is not undone (an open point, see the package docstring).
        """
        node = self._orders.get(order_id)
        if node is not None and node.working:
            node.price = node.prev_price
        return _EMPTY

    def on_venue_closed(self, order_id: int, expired: bool = False) -> Sequence[Action]:
        """The released real order of ``order_id`` ended at the venue without filling (canceled, or ``expired``).

        Confirms a :class:`Cancel` the book sent (nothing more can fill, the
        order can be forgotten), or ends a working order CANCELED / EXPIRED.
        """
        node = self._orders.get(order_id)
        if node is None or node.released == 0:
            return _EMPTY
        out: list[Action] = []
        if node.cancel_pending:
            node.cancel_pending = False
        elif not node.final:
            self._unindex(node)
            node.state = SynthState.EXPIRED if expired else SynthState.CANCELED
            out.append(node.view())
        self._ended(node, out)
        return out

    # -------------------------------------------------------------------------------- canceling
    def cancel(self, order_id: int) -> Sequence[Action]:
        """The owner's cancel: the order, or its whole group for an OCO or OTO leg.

        A parent's children follow it (see :mod:`~stages.trading.execution.synthetic.contingent`).
        """
        node = self._orders.get(order_id)
        if node is None or node.final:
            return _EMPTY
        out: list[Action] = []
        group = node.group
        for leg in group.legs if group is not None else (node,):
            self._cancel_node(leg, out)
        return out

    def cancel_all(self, strategy_id: int, instrument_id: int | None = None) -> Sequence[Action]:
        """Cancel every order of the strategy (on one instrument, or all), in placement order."""
        keys = (
            [(strategy_id, instrument_id)]
            if instrument_id is not None
            else [key for key in self._by_owner if key[0] == strategy_id]
        )
        nodes = [node for key in keys for node in self._by_owner.get(key, {}).values()]
        out: list[Action] = []
        for node in sorted(nodes, key=lambda n: n.seq):
            if not node.final:
                self._cancel_node(node, out)
        return out

    def _cancel_node(self, node: SynthOrder, out: list[Action]) -> None:
        if node.final:
            return
        self._unindex(node)
        if node.working:
            node.cancel_pending = True
            out.append(Cancel(node.id, node.strategy_id, node.instrument_id))
        node.state = SynthState.CANCELED
        out.append(node.view())
        self._ended(node, out)

    def _unindex(self, node: SynthOrder) -> None:
        """Take a node out of whatever watches it (an armed trigger order's levels, a peg's list)."""
        market = self._markets[node.instrument_id]
        kind = node.kind
        if kind is Kind.PEG:
            market.pegs.pop(node.id, None)
            return
        if kind is Kind.DIRECT or node.state is not _PENDING_TRIGGER:
            return
        watch = market.watches[node.source]
        if kind is Kind.TRAILING and node.best is None:
            watch.fresh.remove(node)
            return
        (watch.up if node.up else watch.down).remove(node.level, node.seq)
        if kind is Kind.TRAILING:
            (watch.down if node.up else watch.up).remove(node.track, node.seq)

    # ------------------------------------------------------------------------- contingent groups
    def _sync(self, group: Group, filled: SynthOrder | None, now: int, out: list[Action]) -> None:
        """Size the legs after a fill of the parent or of ``filled`` (a leg); close the group when a leg filled it."""
        open_qty = group.open_qty()
        closer = group.closer
        if closer is not None:  # only the closing leg still follows the target (a late parent fill)
            if not closer.final or closer.state is SynthState.FILLED:
                self._resize(closer, closer.cum + open_qty, now, out)
            return
        if filled is not None and open_qty == 0 and group.target() > 0:
            self._close(group, filled, out)
            return
        for leg in group.legs:
            if group.closer is not None:  # a leg armed here fired at once
                break
            if leg.final:
                continue
            if leg.state is _PENDING_PARENT:
                if open_qty > 0 and group.parent is not None:
                    leg.qty = open_qty
                    self._arm(leg, now, out)
            else:
                self._resize(leg, leg.cum + open_qty, now, out)

    def _close(self, group: Group, closer: SynthOrder, out: list[Action]) -> None:
        """``closer`` triggered or filled the group: cancel the other leg and the parent's unfilled remainder."""
        group.closer = closer
        for leg in group.legs:
            if leg is not closer:
                self._cancel_node(leg, out)
        parent = group.parent
        if parent is not None and not parent.final:
            self._cancel_node(parent, out)

    def _resize(self, node: SynthOrder, qty: int, now: int, out: list[Action]) -> None:
        """Make ``qty`` the node's size (never below what filled), at the venue too when it is out there."""
        qty = max(qty, node.cum)
        if qty == node.qty:
            return
        state = node.state
        if state is _PENDING_TRIGGER or state is _PENDING_PARENT:
            node.qty = qty
        elif node.final and state is not SynthState.FILLED:
            return
        elif node.working and node.order_type is not OrderType.MARKET:
            if qty == node.cum:  # nothing left for it to do
                self._cancel_node(node, out)
                return
            node.qty = node.released = qty
            out.append(_replace(node, qty - node.cum, now))
        elif qty > node.released:  # its real order is gone or cannot be amended: send the increment
            extra = qty - node.released
            node.qty = node.released = qty
            if state is SynthState.FILLED:
                node.state = SynthState.PARTIALLY_FILLED
            out.append(_release(node, extra, now))
        else:  # a market order already sent cannot be taken back
            return
        out.append(node.view())

    def _release(self, node: SynthOrder, now: int, out: list[Action]) -> None:
        """Send the node's unreleased size as a real order; TRIGGERED."""
        qty = node.qty - node.released
        node.released = node.qty
        node.state = SynthState.TRIGGERED
        out.append(_release(node, qty, now))
        out.append(node.view())

    def _ended(self, node: SynthOrder, out: list[Action]) -> None:
        """After a node may have become settled: a parent that is settles its children; forget what is done."""
        if node.live:
            return
        if node.children:
            for group in node.children:
                for leg in group.legs:
                    if node.cum == 0:  # the parent never filled: nothing for the children to protect
                        self._cancel_node(leg, out)
                    self._forget(leg)
        self._forget(node)

    def _forget(self, node: SynthOrder) -> None:
        """Drop a node nothing more can come for: final, no cancel unconfirmed, no parent that may still fill."""
        if node.live:
            return
        group = node.group
        if group is not None and group.parent is not None and group.parent.live:
            return
        if self._orders.get(node.id) is not node:
            return
        del self._orders[node.id]
        key = (node.strategy_id, node.instrument_id)
        owner = self._by_owner[key]
        del owner[node.id]
        if not owner:
            del self._by_owner[key]

    # ---------------------------------------------------------------------------------- reading
    def state(self, order_id: int) -> StateChange | None:
        """The order as its strategy sees it; None once forgotten (or never placed)."""
        node = self._orders.get(order_id)
        return None if node is None else node.view()

    def orders(self, strategy_id: int, instrument_id: int) -> list[StateChange]:
        """The (strategy, instrument)'s orders the book holds, in placement order."""
        return [node.view() for node in self._by_owner.get((strategy_id, instrument_id), {}).values()]

    def trigger_level(self, order_id: int) -> int | None:
        """An armed trigger order's level, in its reference's units (price units; twice that for ``"mid"``).

        None for other orders and for a trailing stop with no best price yet.
        """
        node = self._orders.get(order_id)
        if node is None or node.state is not _PENDING_TRIGGER or node.kind in (Kind.DIRECT, Kind.PEG):
            return None
        if node.kind is Kind.TRAILING and node.best is None:
            return None
        return node.level

    def __len__(self) -> int:
        return len(self._orders)


def _same_owner(what: str, a: SynthOrder, b: SynthOrder) -> None:
    if (a.strategy_id, a.instrument_id) != (b.strategy_id, b.instrument_id):
        raise ValueError(f"{what}'s orders share one strategy and instrument")


def _release(node: SynthOrder, qty: int, now: int) -> Release:
    return Release(
        node.id,
        node.strategy_id,
        node.instrument_id,
        node.side,
        node.order_type,
        node.tif,
        node.price,
        qty,
        node.flags,
        now,
        node.trigger_price,
    )


def _replace(node: SynthOrder, qty: int, now: int) -> Replace:
    return Replace(
        node.id,
        node.strategy_id,
        node.instrument_id,
        node.side,
        node.order_type,
        node.tif,
        node.price,
        qty,
        node.flags,
        now,
    )
