"""UNKNOWN: a request without an answer is queried before anything else, and the answer resolves it either way."""

from __future__ import annotations

import pytest

from hftpipe.schema.exchange import OrderStatus
from hftpipe.schema.trading import ExecType, RejectReason
from stages.trading.execution.oms import Oms
from stages.trading.execution.oms_order import OmsOrder
from stages.trading.execution.oms_reports import Outcome
from stages.trading.execution.oms_transitions import OmsState
from tests.unit.trading.execution.oms_desk import PRICE, QTY, filled, key, kinds, send, venue

X = ExecType
S = OmsState


def _unknown(oms: Oms, seq: int = 1) -> OmsOrder:
    order = send(oms, seq)
    result = oms.timed_out(order.key)
    assert (result.outcome, result.before, result.after) == (Outcome.APPLIED, S.PENDING_NEW, S.UNKNOWN)
    return order


def test_nothing_of_ours_moves_an_unknown_order() -> None:
    oms = Oms()
    order = _unknown(oms)
    assert oms.cancel_request(order.key).outcome is Outcome.ILLEGAL
    resent = oms.submit(order.key, order.instrument, order.side, order.order_type, order.tif, PRICE, QTY)
    assert resent.outcome is Outcome.ILLEGAL, "resending the same id is refused"
    assert oms.replace_request(order.key, key(2), PRICE, QTY).outcome is Outcome.ILLEGAL
    assert order.state is S.UNKNOWN
    assert oms.timed_out(order.key).outcome is Outcome.UNCHANGED
    assert oms.counts.illegal == 3


@pytest.mark.parametrize(
    ("status", "cum", "state", "published"),
    [
        (OrderStatus.NEW, 0, S.NEW, [X.ACK]),
        (OrderStatus.PARTIALLY_FILLED, 4, S.PARTIALLY_FILLED, [X.PARTIAL_FILL, X.ACK]),
        (OrderStatus.FILLED, QTY, S.FILLED, [X.FILL]),
        (OrderStatus.CANCELED, 2, S.CANCELED, [X.PARTIAL_FILL, X.CANCELED]),
        (OrderStatus.EXPIRED, 0, S.EXPIRED, [X.EXPIRED]),
        (OrderStatus.EXPIRED_IN_MATCH, 1, S.EXPIRED, [X.PARTIAL_FILL, X.EXPIRED]),
        (OrderStatus.REJECTED, 0, S.REJECTED, [X.REJECTED]),
    ],
)
def test_query_finds_it_and_resolves_to_its_true_state_with_the_missed_fills(
    status: OrderStatus, cum: int, state: OmsState, published: list[ExecType]
) -> None:
    oms = Oms()
    order = _unknown(oms)
    result = oms.on_status(order.key, venue(order, status, cum_qty=cum, venue_order_id=321))
    assert (result.before, order.state, [r.exec_type for r in result.reports]) == (S.UNKNOWN, state, published)
    assert (filled(result), order.cum_qty, order.venue_order_id) == (cum, cum, 321)


def test_query_does_not_find_it_rejected_as_never_placed_with_the_venue_code() -> None:
    oms = Oms()
    order = _unknown(oms)
    result = oms.on_status(order.key, None)
    assert (result.outcome, kinds(result)) == (Outcome.APPLIED, [(1, X.REJECTED)])
    report = result.reports[0]
    assert (report.reason, report.venue_code, report.leaves_qty) == (RejectReason.VENUE, -2013, 0)
    assert (order.state, order.reason, order.venue_code) == (S.REJECTED, RejectReason.VENUE, -2013)


def test_not_found_proves_nothing_while_the_order_may_still_be_on_its_way() -> None:
    oms = Oms()
    order = send(oms, 1)
    result = oms.on_status(order.key, None)
    assert (result.outcome, order.state, result.reports) == (Outcome.UNCHANGED, S.PENDING_NEW, ())


def test_an_order_the_venue_acknowledged_cannot_be_never_placed() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_ack(order.key, 5)
    oms.cancel_request(order.key)
    oms.timed_out(order.key)
    result = oms.on_status(order.key, None)
    assert (result.outcome, order.state, oms.counts.illegal) == (Outcome.ILLEGAL, S.UNKNOWN, 1)


def test_a_late_report_resolves_an_unknown_order_without_a_query() -> None:
    oms = Oms()
    order = _unknown(oms)
    assert kinds(oms.on_ack(order.key, 5)) == [(1, X.ACK)]
    assert order.state is S.NEW
    other = _unknown(oms, 2)
    assert kinds(oms.on_trade(other.key, 1, PRICE, QTY, QTY)) == [(2, X.FILL)]


def test_a_cancel_that_timed_out_resolves_to_resting_when_the_venue_still_has_the_order() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_ack(order.key, 5)
    oms.on_trade(order.key, 1, PRICE, 3, 3)
    oms.cancel_request(order.key)
    oms.timed_out(order.key)
    result = oms.on_status(order.key, venue(order, OrderStatus.PARTIALLY_FILLED, cum_qty=3))
    assert (result.outcome, order.state, result.reports) == (Outcome.APPLIED, S.PARTIALLY_FILLED, ())
    assert oms.cancel_request(order.key).outcome is Outcome.APPLIED, "resolved: requests may go again"


def test_disconnect_makes_only_orders_with_a_request_in_flight_unknown() -> None:
    oms = Oms()
    pending = send(oms, 1)
    resting = send(oms, 2)
    oms.on_ack(resting.key, 2)
    canceling = send(oms, 3)
    oms.on_ack(canceling.key, 3)
    oms.cancel_request(canceling.key)
    done = send(oms, 4)
    oms.on_trade(done.key, 1, PRICE, QTY, QTY)
    moved = oms.disconnected()
    assert {o.order_seq for o in moved} == {1, 3}
    assert (pending.state, resting.state, canceling.state, done.state) == (S.UNKNOWN, S.NEW, S.UNKNOWN, S.FILLED)
    assert {o.order_seq for o in oms.orders_in(S.UNKNOWN)} == {1, 3}


def test_reports_about_orders_never_seen_are_counted() -> None:
    oms = Oms()
    result = oms.on_ack(key(99), 1)
    assert (result.outcome, result.order) == (Outcome.UNKNOWN_ORDER, None)
    assert oms.on_status(key(98), None).outcome is Outcome.UNKNOWN_ORDER
    assert oms.counts.unknown_orders == 2
