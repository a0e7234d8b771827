"""Reconciliation: bring the OMS to what the venue says, after a disconnect, a restart or a timeout.

The venue is the truth for what it holds: each order it answers for is
caught up by cumulative quantity (missed fills, one report each) and moved
to its status; an order open there that the OMS does not know is adopted;
an UNKNOWN order it does not have is REJECTED (never placed). What the
answers leave undecided (open here, missing from the venue's open orders,
not queried) is returned to be queried, never guessed: a missing order may
have filled as well as been canceled.

A replace's new order goes before the others, so that whether the venue has
it decides what its old order's cancel was (REPLACED, or plainly CANCELED).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stages.trading.execution.oms_order import OmsOrder, OrderKey
from stages.trading.execution.oms_reports import Outcome, Report, Result
from stages.trading.execution.oms_transitions import OmsState
from stages.trading.execution.oms_venue import Reconciliation, VenueView

if TYPE_CHECKING:
    from stages.trading.execution.oms import Oms


def reconcile(oms: Oms, view: VenueView, now: int = 0) -> Reconciliation:
    """Apply the venue's answers in ``view`` to ``oms``: what changed, and what is still to ask."""
    unknown = [order.key for order in oms.orders_in(OmsState.UNKNOWN)]
    reports: list[Report] = []
    adopted: list[OmsOrder] = []
    conflicts: list[OrderKey] = []
    answered: set[OrderKey] = set()

    def take(key: OrderKey, result: Result) -> None:
        reports.extend(result.reports)
        answered.add(key)
        if result.outcome is Outcome.ILLEGAL:
            conflicts.append(key)

    for key in sorted(view.statuses, key=lambda k: not _replacing(oms.get(k))):
        take(key, oms.on_status(key, view.statuses[key], now=now))
    for venue in sorted(view.open_orders, key=lambda v: not _replacing(oms.find(v.client_id))):
        order = oms.find(venue.client_id)
        if order is None:
            result = oms.adopt(venue)
            if result.order is not None:
                adopted.append(result.order)
                take(result.order.key, result)
        elif order.key not in answered:
            take(order.key, oms.on_status(order.key, venue, now=now))
    covered = None if view.instruments is None else frozenset(view.instruments)
    to_query = tuple(
        order.key
        for order in oms.open_orders()
        if order.key not in answered
        and (
            order.state is OmsState.UNKNOWN
            or ((covered is None or order.instrument in covered) and order.ts_sent <= view.as_of)
        )
    )
    resolved = {
        key: order.state
        for key in unknown
        if (order := oms.get(key)) is not None and order.state is not OmsState.UNKNOWN
    }
    return Reconciliation(tuple(reports), resolved, tuple(adopted), to_query, tuple(conflicts))


def _replacing(order: OmsOrder | None) -> bool:
    return order is not None and order.link_open
