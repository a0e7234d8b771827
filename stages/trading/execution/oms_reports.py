"""What an OMS call answers: what happened, and the execution reports to publish.

A :class:`Report` holds the EXEC_REPORT fields the OMS decides; the rest
(``order_seq``, ``venue_order_id``, ``side``, ``strategy_id``, the header's
instrument and ``ts_origin``) the stage takes from ``report.order``, so the
OMS never touches a record and a test reads plain tuples.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from hftpipe.schema.trading import ExecType, RejectReason
from stages.trading.execution.oms_order import OmsOrder
from stages.trading.execution.oms_transitions import OmsState


class Outcome(IntEnum):
    """What an event did to the OMS."""

    APPLIED = 0
    """The order changed (state, fills, or what is known of it)."""
    UNCHANGED = 1
    """Legal and nothing new: a repeated status, a confirmation, an answer that came after the fact."""
    DUPLICATE = 2
    """A trade id already applied."""
    STALE = 3
    """A cumulative quantity at or below what was applied: an older report delivered late."""
    ILLEGAL = 4
    """Not a legal transition (or a trade past the order's quantity): counted, logged, not applied."""
    UNKNOWN_ORDER = 5
    """No such order (another run's, or forgotten): counted."""


class Report(NamedTuple):
    """One EXEC_REPORT to publish about ``order``."""

    order: OmsOrder
    exec_type: ExecType
    last_price: int
    """Price of this fill (0: no fill); the average of a fill that covers missed trades (exact to rounding)."""
    last_qty: int
    """Quantity of this fill: the increase of the cumulative quantity, so fills never double-count."""
    cum_qty: int
    leaves_qty: int
    fee: int
    reason: RejectReason
    venue_code: int


class Result(NamedTuple):
    """What one call did: its outcome, the order, its state before and after, and the reports to publish."""

    outcome: Outcome
    order: OmsOrder | None
    before: OmsState | None
    """None: the order did not exist before (submitted or adopted) or does not exist."""
    after: OmsState | None
    reports: tuple[Report, ...]


def state_report(
    order: OmsOrder, exec_type: ExecType, reason: RejectReason = RejectReason.NONE, venue_code: int = 0
) -> Report:
    """A report with no fill: the order's cumulative and open quantities, and why, for a refusal."""
    return Report(order, exec_type, 0, 0, order.cum_qty, order.leaves, 0, reason, venue_code)
