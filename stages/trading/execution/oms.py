"""The order management system: each order's state machine, the maps that find it, the reports its changes publish.

Pure: no IO, no clock (callers pass ``now``), no rings; the execution stage
calls it for every intent it sends and every answer the venue gives, and
publishes the :class:`~stages.trading.execution.oms_reports.Report` s it
returns. Every method returns a :class:`~stages.trading.execution.oms_reports.Result`
saying what happened. Moves follow :data:`~stages.trading.execution.oms_transitions.TRANSITIONS`;
an event the table does not allow is counted (``counts.illegal``), logged and
not applied.

Fills count by cumulative quantity. The venue's ``cum_qty`` on each trade is
the truth; a trade applies ``cum_qty - applied`` (one report, however many
trades it covers), so a report that was dropped is caught up by the next one,
and a cumulative quantity at or below the applied one is an older report
delivered late (``STALE``, counted, ignored). A trade id already applied is a
``DUPLICATE``. The sum of the published fills of an order is therefore always
its ``cum_qty``, and never more than the venue's. When one fill covers missed
trades its price is their average: exact from the venue's cumulative quote
(Binance ``Z``), else the trade's price (or the order's, for a query's
catch-up) stands in for them and ``counts.priced_approx`` says so.

Replace: :meth:`Oms.replace_request` moves the old order to PENDING_REPLACE and
creates the new one (linked both ways). The first sign that the venue has the
new order (its ack, a trade, its end, a query) replaces the old one: one
REPLACED report about the new order is published, before anything else about
it, in place of its ACK. If the new order is refused, its REJECTED report is
published and the old order stands, or, if its cancel half had gone through,
is published CANCELED. The OMS assumes ``cancelReplaceMode=STOP_ON_FAILURE``
(the new order is tried only once the cancel succeeded).

UNKNOWN: a request whose answer did not come (:meth:`Oms.timed_out`,
:meth:`Oms.disconnected`). Nothing of ours may move such an order; only the
venue's reports and query answers do, and a query that does not find an order
the venue never acknowledged resolves it as REJECTED (never placed).

Memory: ended orders are kept for late reports, the last ``closed_capacity``
of them; a report about one forgotten is ``UNKNOWN_ORDER``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from typing import Final

from hftpipe.schema.exchange import OrderStatus, ReplaceOutcome
from hftpipe.schema.exchange_errors import ErrorCode
from hftpipe.schema.trading import (
    ExecType,
    OrderSide,
    OrderType,
    RejectReason,
    TimeInForce,
    parse_client_order_id,
)
from stages.trading.execution.oms_order import FOREIGN_STRATEGY, OmsOrder, OrderKey
from stages.trading.execution.oms_reconcile import reconcile
from stages.trading.execution.oms_reports import Outcome, Report, Result, state_report
from stages.trading.execution.oms_transitions import (
    PENDING_STATES,
    TRANSITIONS,
    OmsEvent,
    OmsState,
    resting_state,
)
from stages.trading.execution.oms_venue import Reconciliation, VenueOrder, VenueView

CLOSED_CAPACITY: Final = 1 << 16
"""Ended orders kept for their late reports (a few hours of Binance's order rate)."""
NOT_FOUND_CODE: Final = int(ErrorCode.NO_SUCH_ORDER)
"""-2013 "Order does not exist.": the code of an order a query did not find."""

_S = OmsState
_E = OmsEvent
_OPEN_STATUSES: Final = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})
_END_EVENTS: Final = {
    OrderStatus.CANCELED: _E.CANCELED,
    OrderStatus.EXPIRED: _E.EXPIRED,
    OrderStatus.EXPIRED_IN_MATCH: _E.EXPIRED,
    OrderStatus.REJECTED: _E.REJECTED,
}
_EXISTED: Final = frozenset({_S.FILLED, _S.CANCELED, _S.EXPIRED})
"""Ends only an order the venue had can reach (a REJECTED one never traded)."""


class OmsCounts:
    """What the OMS saw, for the stage's counters."""

    __slots__ = (
        "adopted",
        "applied",
        "duplicates",
        "forgotten",
        "illegal",
        "late_fills",
        "overfills",
        "priced_approx",
        "stale",
        "unchanged",
        "unknown_orders",
    )

    def __init__(self) -> None:
        self.applied = 0
        self.unchanged = 0
        self.duplicates = 0
        """Trades whose id was already applied."""
        self.stale = 0
        """Trades (or query answers) whose cumulative quantity was below what was applied."""
        self.illegal = 0
        self.overfills = 0
        """Trades past the order's quantity (counted in ``illegal`` too)."""
        self.unknown_orders = 0
        self.late_fills = 0
        """Fills applied to an order that had already ended (canceled, expired, replaced)."""
        self.priced_approx = 0
        """Fills covering missed trades with no cumulative quote: their price stands in for the missed ones'."""
        self.adopted = 0
        self.forgotten = 0
        """Ended orders dropped to keep memory bounded."""

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class Oms:
    """Every order this execution stage sent or adopted (module docstring)."""

    __slots__ = (
        "_by_key",
        "_by_strategy",
        "_by_venue_id",
        "_closed",
        "_foreign",
        "_open",
        "_requests",
        "closed_capacity",
        "counts",
        "logger",
    )

    def __init__(self, closed_capacity: int = CLOSED_CAPACITY, logger: logging.Logger | None = None) -> None:
        if closed_capacity <= 0:
            raise ValueError(f"closed_capacity must be > 0, got {closed_capacity}")
        self.closed_capacity = closed_capacity
        self.logger = logger if logger is not None else logging.getLogger(__name__)
        self.counts = OmsCounts()
        self._by_key: dict[OrderKey, OmsOrder] = {}
        self._by_venue_id: dict[int, OmsOrder] = {}
        self._foreign: dict[str, OmsOrder] = {}
        """Adopted orders whose client id is not ours, by that id."""
        self._requests: dict[OrderKey, OmsOrder] = {}
        """Cancel request key -> the order it cancels (the venue's cancel answer carries the request's id)."""
        self._open: dict[OrderKey, OmsOrder] = {}
        self._by_strategy: dict[tuple[int, int], dict[OrderKey, OmsOrder]] = {}
        """(strategy_id, instrument) -> its open orders."""
        self._closed: deque[OrderKey] = deque()

    # ------------------------------------------------------------------ reads
    def get(self, key: OrderKey) -> OmsOrder | None:
        return self._by_key.get(key)

    def find(self, client_id: str) -> OmsOrder | None:
        """The order a venue client id names: its own, one of its cancel requests', or an adopted foreign one."""
        key = parse_client_order_id(client_id)
        if key is None:
            return self._foreign.get(client_id)
        order = self._by_key.get(key)
        return order if order is not None else self._requests.get(key)

    def by_venue_id(self, venue_order_id: int) -> OmsOrder | None:
        return self._by_venue_id.get(venue_order_id)

    def open_orders(self, strategy_id: int | None = None, instrument: int | None = None) -> list[OmsOrder]:
        """Open orders (UNKNOWN ones included), all or one strategy's in one instrument."""
        if strategy_id is None or instrument is None:
            return [
                o
                for o in self._open.values()
                if (strategy_id is None or o.strategy_id == strategy_id)
                and (instrument is None or o.instrument == instrument)
            ]
        return list(self._by_strategy.get((strategy_id, instrument), {}).values())

    def orders_in(self, state: OmsState) -> list[OmsOrder]:
        source = self._open if state.is_open else self._by_key
        return [o for o in source.values() if o.state is state]

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: OrderKey) -> bool:
        return key in self._by_key

    # ------------------------------------------------------------------ our own actions
    def submit(
        self,
        key: OrderKey,
        instrument: int,
        side: OrderSide,
        order_type: OrderType,
        tif: TimeInForce,
        price: int,
        qty: int,
        *,
        stop_price: int = 0,
        ts_origin: int = 0,
        now: int = 0,
    ) -> Result:
        """A new order is being sent: PENDING_NEW. A key already known is refused (ILLEGAL)."""
        known = self._by_key.get(key)
        if known is not None:
            return self._refuse_id(known)
        order = OmsOrder(key, instrument, side, order_type, tif, price, qty, stop_price, ts_origin, now)
        self._register(order)
        self.counts.applied += 1
        return Result(Outcome.APPLIED, order, None, order.state, ())

    def cancel_request(self, key: OrderKey, request_seq: int = 0) -> Result:
        """A cancel is being sent (``request_seq``: the cancel's own sequence, so its answer finds the order)."""
        order = self._get(key)
        if order is None:
            return _NO_ORDER
        before = order.state
        reports: list[Report] = []
        outcome = self._step(order, _E.CANCEL_REQUEST, reports)
        if outcome is not Outcome.ILLEGAL and request_seq:
            request = (order.strategy_id, order.epoch, request_seq)
            self._requests[request] = order
            order.requests.append(request)
        return Result(outcome, order, before, order.state, tuple(reports))

    def replace_request(
        self,
        old_key: OrderKey,
        new_key: OrderKey,
        price: int,
        qty: int,
        *,
        ts_origin: int = 0,
        now: int = 0,
    ) -> Result:
        """A cancel-replace is being sent: the old order PENDING_REPLACE, the new one (returned) PENDING_NEW."""
        old = self._get(old_key)
        if old is None:
            return _NO_ORDER
        known = self._by_key.get(new_key)
        if known is not None:
            return self._refuse_id(known)
        if (old.state, _E.REPLACE_REQUEST) not in TRANSITIONS:
            self._illegal(old, _E.REPLACE_REQUEST)
            return Result(Outcome.ILLEGAL, old, old.state, old.state, ())
        self._step(old, _E.REPLACE_REQUEST, [])
        new = OmsOrder(
            new_key, old.instrument, old.side, old.order_type, old.tif, price, qty, old.stop_price, ts_origin, now
        )
        new.replaces, old.replaced_by, new.link_open = old, new, True
        self._register(new)
        self.counts.applied += 1
        return Result(Outcome.APPLIED, new, None, new.state, ())

    def timed_out(self, key: OrderKey) -> Result:
        """The answer to a request on this order did not come: UNKNOWN (a replace's old order too)."""
        order = self._get(key)
        if order is None:
            return _NO_ORDER
        before = order.state
        reports: list[Report] = []
        outcome = self._step(order, _E.TIMEOUT, reports)
        old = order.replaces
        if order.link_open and old is not None and old.state is _S.PENDING_REPLACE:
            self._step(old, _E.TIMEOUT, reports)
        return Result(outcome, order, before, order.state, tuple(reports))

    def disconnected(self) -> list[OmsOrder]:
        """The connection dropped: every order with a request in flight is UNKNOWN now (returned)."""
        pending = [o for o in self._open.values() if o.state in PENDING_STATES]
        for order in pending:
            self._step(order, _E.TIMEOUT, [])
        return pending

    # ------------------------------------------------------------------ the venue's reports
    def on_ack(self, key: OrderKey, venue_order_id: int = 0, now: int = 0) -> Result:
        order = self._get(key)
        if order is None:
            return _NO_ORDER
        before = order.state
        reports: list[Report] = []
        outcome = self._ack(order, venue_order_id, now, reports)
        return self._finish(order, before, outcome, reports)

    def on_trade(
        self,
        key: OrderKey,
        trade_id: int,
        last_price: int,
        last_qty: int,
        cum_qty: int,
        fee: int = 0,
        cum_quote: int = -1,
        venue_order_id: int = 0,
    ) -> Result:
        """One trade of the order; ``cum_qty`` (and ``cum_quote``, -1: not known) the venue's totals after it."""
        order = self._get(key)
        if order is None:
            return _NO_ORDER
        before = order.state
        reports: list[Report] = []
        if trade_id in order.trade_ids:
            outcome = Outcome.DUPLICATE
            self.counts.duplicates += 1
        else:
            outcome = self._fill(order, cum_qty, cum_quote, last_price, last_qty, fee, reports)
            if outcome is not Outcome.ILLEGAL:
                order.trade_ids.add(trade_id)
        if venue_order_id and outcome is not Outcome.ILLEGAL:
            self._name(order, venue_order_id)
        return self._finish(order, before, outcome, reports)

    def on_canceled(self, key: OrderKey, cum_qty: int = -1, cum_quote: int = -1) -> Result:
        """The venue canceled the order; its final ``cum_qty`` (-1: not given) catches up missed fills first."""
        return self._end(key, _E.CANCELED, cum_qty, cum_quote)

    def on_expired(self, key: OrderKey, cum_qty: int = -1, cum_quote: int = -1) -> Result:
        """The venue expired the order (IOC/FOK/market remainder, or self-trade prevention)."""
        return self._end(key, _E.EXPIRED, cum_qty, cum_quote)

    def on_rejected(self, key: OrderKey, reason: RejectReason = RejectReason.VENUE, venue_code: int = 0) -> Result:
        order = self._get(key)
        if order is None:
            return _NO_ORDER
        before = order.state
        reports: list[Report] = []
        outcome = self._step(order, _E.REJECTED, reports, reason, venue_code)
        return self._finish(order, before, outcome, reports)

    def on_cancel_rejected(
        self, key: OrderKey, reason: RejectReason = RejectReason.VENUE, venue_code: int = 0
    ) -> Result:
        order = self._get(key)
        if order is None:
            return _NO_ORDER
        before = order.state
        reports: list[Report] = []
        outcome = self._step(order, _E.CANCEL_REJECTED, reports, reason, venue_code)
        return self._finish(order, before, outcome, reports)

    def on_replace_result(
        self, new_key: OrderKey, outcome: ReplaceOutcome, venue_code: int = 0, venue_order_id: int = 0, now: int = 0
    ) -> Result:
        """The answer to a cancel-replace (``new_key``: its new order), whatever its halves' reports said before."""
        new = self._get(new_key)
        if new is None:
            return _NO_ORDER
        old = new.replaces
        before = new.state
        if old is None:
            self.counts.illegal += 1
            self.logger.warning("OMS: a replace answer for %s, which replaces nothing; not applied", new.client_id)
            return Result(Outcome.ILLEGAL, new, before, before, ())
        reports: list[Report] = []
        steps: list[Outcome] = []
        if outcome is ReplaceOutcome.SUCCESS:
            steps.append(self._ack(new, venue_order_id, now, reports))
        elif outcome is ReplaceOutcome.NEW_FAILED:
            if old.state is _S.PENDING_REPLACE or old.state is _S.UNKNOWN:
                steps.append(self._step(old, _E.CANCELED, reports))
            steps.append(self._step(new, _E.REJECTED, reports, RejectReason.VENUE, venue_code))
        elif outcome is ReplaceOutcome.CANCEL_FAILED_NEW_PLACED:  # ALLOW_FAILURE: both orders stand
            new.link_open = False
            if old.state is _S.PENDING_REPLACE:
                steps.append(self._step(old, _E.CANCEL_REJECTED, reports, RejectReason.VENUE, venue_code))
            steps.append(self._ack(new, venue_order_id, now, reports))
        else:  # CANCEL_FAILED, BOTH_FAILED: the new order was not placed; the old one stands
            steps.append(self._step(new, _E.REJECTED, reports, RejectReason.VENUE, venue_code))
        return self._finish(new, before, _combined(steps), reports)

    # ------------------------------------------------------------------ the venue's answers to queries
    def on_status(
        self, key: OrderKey, venue: VenueOrder | None, venue_code: int = NOT_FOUND_CODE, now: int = 0
    ) -> Result:
        """An ``order.status`` (or open-orders) answer: missed fills by cumulative quantity, then its status.

        ``venue`` None: the venue has no such order (``venue_code``, -2013): an UNKNOWN order it never
        acknowledged is REJECTED (never placed); a PENDING_NEW one may still be on its way (UNCHANGED).
        """
        order = self._get(key)
        if order is None:
            return _NO_ORDER
        before = order.state
        reports: list[Report] = []
        if venue is None:
            outcome = self._step(order, _E.NOT_FOUND, reports, RejectReason.VENUE, venue_code)
            return self._finish(order, before, outcome, reports)
        steps: list[Outcome] = []
        if venue.venue_order_id:
            self._name(order, venue.venue_order_id)
        if venue.cum_qty > order.cum_qty:
            steps.append(self._fill(order, venue.cum_qty, venue.cum_quote, order.price, 0, 0, reports))
        elif venue.cum_qty < order.cum_qty:  # the answer is older than a trade already applied
            self.counts.stale += 1
        status = venue.status
        if status in _OPEN_STATUSES:
            if not order.acked:  # resting, so the venue took it: its ack, then what resting means here
                steps.append(self._ack(order, venue.venue_order_id, now, reports))
            steps.append(self._step(order, _E.STATUS_OPEN, reports))
        elif status is OrderStatus.FILLED:
            if order.state is not _S.FILLED and Outcome.ILLEGAL not in steps:  # short of its quantity here
                steps.append(self._illegal(order, _E.TRADE_FULL))
        else:
            steps.append(self._step(order, _END_EVENTS[status], reports, RejectReason.VENUE, 0))
        return self._finish(order, before, _combined(steps), reports)

    def adopt(self, venue: VenueOrder) -> Result:
        """An order open on the venue that the OMS does not know: keep it, flagged ``adopted``; one ACK report.

        Its fills before now are not published (another run may have); later ones are.
        """
        parsed = parse_client_order_id(venue.client_id)
        key = parsed if parsed is not None else (FOREIGN_STRATEGY, 0, venue.venue_order_id)
        known = self._by_key.get(key)
        if known is not None:
            return self._refuse_id(known)
        if venue.status not in _OPEN_STATUSES:
            self.counts.illegal += 1
            self.logger.warning("OMS: %s is %s on the venue: only open orders are adopted", venue.client_id,
                                venue.status.name)  # fmt: skip
            return Result(Outcome.ILLEGAL, None, None, None, ())
        order = OmsOrder(
            key, venue.instrument, venue.side, venue.order_type, venue.tif, venue.price, venue.qty,
            client_id=venue.client_id,
        )  # fmt: skip
        order.adopted = order.acked = True
        order.cum_qty = venue.cum_qty
        order.notional = venue.cum_quote if venue.cum_quote >= 0 else venue.cum_qty * venue.price
        order.state = resting_state(True, venue.cum_qty)
        self._register(order)
        if parsed is None:
            self._foreign[venue.client_id] = order
        self._name(order, venue.venue_order_id)
        self.counts.adopted += 1
        self.counts.applied += 1
        self.logger.warning("OMS: adopted %r from the venue", order)
        return Result(Outcome.APPLIED, order, None, order.state, (state_report(order, ExecType.ACK),))

    def reconcile(self, view: VenueView, now: int = 0) -> Reconciliation:
        """Bring the OMS to the venue's truth (:func:`~stages.trading.execution.oms_reconcile.reconcile`)."""
        return reconcile(self, view, now)

    # ------------------------------------------------------------------ moves
    def _step(
        self,
        order: OmsOrder,
        event: OmsEvent,
        reports: list[Report],
        reason: RejectReason = RejectReason.NONE,
        venue_code: int = 0,
    ) -> Outcome:
        """Apply one event with no payload through the table."""
        before = order.state
        edge = TRANSITIONS.get((before, event))
        if edge is None or (event is _E.NOT_FOUND and (order.acked or order.cum_qty)):
            return self._illegal(order, event)
        after = edge.state if edge.state is not None else resting_state(order.acked, order.cum_qty)
        if after is _S.REJECTED and before is not _S.REJECTED:
            order.reason, order.venue_code = reason, venue_code
        self._enter(order, after)
        report = edge.report
        if report is None:
            return self._counted(Outcome.APPLIED if after is not before else Outcome.UNCHANGED)
        if report is ExecType.REJECTED:
            reports.append(state_report(order, report, order.reason, order.venue_code))
        elif report is ExecType.CANCEL_REJECTED:
            reports.append(state_report(order, report, reason, venue_code))
        else:
            reports.append(state_report(order, report))
        return self._counted(Outcome.APPLIED)

    def _ack(self, order: OmsOrder, venue_order_id: int, now: int, reports: list[Report]) -> Outcome:
        """The venue's first ack; a repeat changes nothing."""
        if order.acked:
            if venue_order_id:
                self._name(order, venue_order_id)
            return self._counted(Outcome.UNCHANGED)
        edge = TRANSITIONS.get((order.state, _E.ACK))
        if edge is None:
            return self._illegal(order, _E.ACK)
        order.acked, order.ts_acked = True, now
        if venue_order_id:
            self._name(order, venue_order_id)
        self._enter(order, edge.state if edge.state is not None else resting_state(True, order.cum_qty))
        if edge.report is not None:
            reports.append(state_report(order, edge.report))
        return self._counted(Outcome.APPLIED)

    def _fill(
        self,
        order: OmsOrder,
        cum_qty: int,
        cum_quote: int,
        last_price: int,
        last_qty: int,
        fee: int,
        reports: list[Report],
    ) -> Outcome:
        """The venue's cumulative quantity rose to ``cum_qty``: one fill of the difference."""
        applied = order.cum_qty
        if cum_qty <= applied:
            self.counts.stale += 1
            return Outcome.STALE
        if cum_qty > order.qty:
            self.counts.overfills += 1
            self.logger.error("OMS: %s: cumulative quantity %d is past its quantity %d; not applied",
                              order.client_id, cum_qty, order.qty)  # fmt: skip
            return self._illegal(order, _E.TRADE_FULL)
        event = _E.TRADE_FULL if cum_qty == order.qty else _E.TRADE_PARTIAL
        edge = TRANSITIONS.get((order.state, event))
        if edge is None or edge.report is None:
            return self._illegal(order, event)
        qty = cum_qty - applied
        if cum_quote > order.notional:
            notional = cum_quote - order.notional
        else:
            notional = last_price * qty
            if qty != last_qty:
                self.counts.priced_approx += 1
        if not order.state.is_open:
            self.counts.late_fills += 1
        order.cum_qty = cum_qty
        order.notional += notional
        order.fees += fee
        self._enter(order, edge.state if edge.state is not None else resting_state(order.acked, cum_qty))
        price = (2 * notional + qty) // (2 * qty)  # the nearest integer (exact when one trade is covered)
        reports.append(Report(order, edge.report, price, qty, cum_qty, order.leaves, fee, RejectReason.NONE, 0))
        return self._counted(Outcome.APPLIED)

    def _end(self, key: OrderKey, event: OmsEvent, cum_qty: int, cum_quote: int) -> Result:
        order = self._get(key)
        if order is None:
            return _NO_ORDER
        before = order.state
        reports: list[Report] = []
        steps: list[Outcome] = []
        if cum_qty > order.cum_qty:
            steps.append(self._fill(order, cum_qty, cum_quote, order.price, 0, 0, reports))
        steps.append(self._step(order, event, reports))
        return self._finish(order, before, _combined(steps), reports)

    def _finish(self, order: OmsOrder, before: OmsState, outcome: Outcome, reports: list[Report]) -> Result:
        """Settle a replace whose new order's fate is now known, and say what happened."""
        if order.link_open:
            self._settle(order, reports)
        return Result(outcome, order, before, order.state, tuple(reports))

    def _settle(self, new: OmsOrder, reports: list[Report]) -> None:
        old = new.replaces
        if old is None:
            return
        if new.state is _S.REJECTED:
            new.link_open = False
            self._step(old, _E.REPLACEMENT_REJECTED, reports)
        elif new.acked or new.cum_qty or new.state in _EXISTED:
            new.link_open = False
            self._step(old, _E.REPLACEMENT_ACCEPTED, reports)
            if old.state is _S.REPLACED:  # the REPLACED report stands for the new order's ack, and comes first
                own = [r for r in reports if not (r.order is new and r.exec_type is ExecType.ACK)]
                reports[:] = [state_report(new, ExecType.REPLACED), *own]

    def _enter(self, order: OmsOrder, state: OmsState) -> None:
        was_open = order.state.is_open
        order.state = state
        if was_open and not state.is_open:
            self._close(order)

    def _illegal(self, order: OmsOrder, event: OmsEvent) -> Outcome:
        self.counts.illegal += 1
        self.logger.warning("OMS: %s: %s in state %s is not a legal transition; not applied",
                            order.client_id, event.name, order.state.name)  # fmt: skip
        return Outcome.ILLEGAL

    def _refuse_id(self, known: OmsOrder) -> Result:
        self.counts.illegal += 1
        self.logger.warning("OMS: %s is already known (%s); not sent again", known.client_id, known.state.name)
        return Result(Outcome.ILLEGAL, known, known.state, known.state, ())

    def _counted(self, outcome: Outcome) -> Outcome:
        if outcome is Outcome.APPLIED:
            self.counts.applied += 1
        else:
            self.counts.unchanged += 1
        return outcome

    # ------------------------------------------------------------------ maps
    def _get(self, key: OrderKey) -> OmsOrder | None:
        order = self._by_key.get(key)
        if order is None:
            self.counts.unknown_orders += 1
        return order

    def _register(self, order: OmsOrder) -> None:
        self._by_key[order.key] = order
        self._open[order.key] = order
        pair = (order.strategy_id, order.instrument)
        own = self._by_strategy.get(pair)
        if own is None:
            own = self._by_strategy[pair] = {}
        own[order.key] = order

    def _name(self, order: OmsOrder, venue_order_id: int) -> None:
        if order.venue_order_id == venue_order_id:
            return
        if order.venue_order_id:
            self.logger.warning("OMS: %s: venue order id %d, now %d; keeping the first",
                                order.client_id, order.venue_order_id, venue_order_id)  # fmt: skip
            return
        order.venue_order_id = venue_order_id
        self._by_venue_id[venue_order_id] = order

    def _close(self, order: OmsOrder) -> None:
        self._open.pop(order.key, None)
        pair = (order.strategy_id, order.instrument)
        own = self._by_strategy.get(pair)
        if own is not None:
            own.pop(order.key, None)
            if not own:
                del self._by_strategy[pair]
        self._closed.append(order.key)
        while len(self._closed) > self.closed_capacity:
            self._forget(self._closed.popleft())

    def _forget(self, key: OrderKey) -> None:
        order = self._by_key.pop(key, None)
        if order is None:
            return
        self._by_venue_id.pop(order.venue_order_id, None)
        if order.strategy_id == FOREIGN_STRATEGY:
            self._foreign.pop(order.client_id, None)
        for request in order.requests:
            self._requests.pop(request, None)
        self.counts.forgotten += 1


_NO_ORDER: Final = Result(Outcome.UNKNOWN_ORDER, None, None, None, ())


def _combined(outcomes: Iterable[Outcome]) -> Outcome:
    """One outcome for several steps: ILLEGAL if any was, else APPLIED if any was, else the first."""
    seen = list(outcomes)
    if Outcome.ILLEGAL in seen:
        return Outcome.ILLEGAL
    if Outcome.APPLIED in seen:
        return Outcome.APPLIED
    return seen[0] if seen else Outcome.UNCHANGED
