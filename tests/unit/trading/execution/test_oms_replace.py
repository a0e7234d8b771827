"""Cancel-replace: one REPLACED report when the new order exists, REJECTED and the old order standing when not.

Downstream (risk's open orders, the strategy runner) closes the old order on
the new order's REPLACED report and restores it on the new order's REJECTED,
so those are the reports every path below must end with, in that order.
"""

from __future__ import annotations

from hftpipe.schema.exchange import OrderStatus, ReplaceOutcome
from hftpipe.schema.trading import ExecType, RejectReason
from stages.trading.execution.oms import Oms
from stages.trading.execution.oms_order import OmsOrder
from stages.trading.execution.oms_reports import Outcome
from stages.trading.execution.oms_transitions import OmsState
from tests.unit.trading.execution.oms_desk import PRICE, QTY, key, kinds, send, venue

X = ExecType
S = OmsState


def _replacing(oms: Oms, fill: int = 0) -> tuple[OmsOrder, OmsOrder]:
    old = send(oms, 1)
    oms.on_ack(old.key, 100)
    if fill:
        oms.on_trade(old.key, 1, PRICE, fill, fill)
    result = oms.replace_request(old.key, key(2), PRICE - 10, 8, ts_origin=77, now=1000)
    assert result.order is not None
    return old, result.order


def test_replace_request_links_both_orders_and_sends_the_new_one() -> None:
    oms = Oms()
    old, new = _replacing(oms)
    assert (old.state, new.state) == (S.PENDING_REPLACE, S.PENDING_NEW)
    assert (new.replaces, old.replaced_by, new.link_open) == (old, new, True)
    assert (new.price, new.qty, new.side, new.instrument, new.ts_origin, new.ts_sent) == (
        PRICE - 10, 8, old.side, old.instrument, 77, 1000,
    )  # fmt: skip
    assert {o.order_seq for o in oms.open_orders()} == {1, 2}


def test_success_old_canceled_then_new_acked_publishes_one_replaced() -> None:
    oms = Oms()
    old, new = _replacing(oms)
    canceled = oms.on_canceled(old.key)
    assert (old.state, canceled.reports) == (S.REPLACED, ())
    acked = oms.on_ack(new.key, 200)
    assert kinds(acked) == [(2, X.REPLACED)]
    assert (acked.reports[0].leaves_qty, new.state, new.link_open) == (8, S.NEW, False)
    assert oms.on_replace_result(new.key, ReplaceOutcome.SUCCESS, venue_order_id=200).reports == ()
    assert [o.order_seq for o in oms.open_orders()] == [2]


def test_success_new_acked_first_replaces_the_old_and_its_cancel_report_then_changes_nothing() -> None:
    oms = Oms()
    old, new = _replacing(oms)
    assert kinds(oms.on_ack(new.key, 200)) == [(2, X.REPLACED)]
    assert old.state is S.REPLACED
    late = oms.on_canceled(old.key)
    assert (late.outcome, late.reports) == (Outcome.UNCHANGED, ())


def test_success_told_only_by_the_replace_answer() -> None:
    oms = Oms()
    old, new = _replacing(oms)
    result = oms.on_replace_result(new.key, ReplaceOutcome.SUCCESS, venue_order_id=200, now=5)
    assert (kinds(result), old.state, new.state, new.venue_order_id) == ([(2, X.REPLACED)], S.REPLACED, S.NEW, 200)


def test_the_new_order_filling_before_its_ack_publishes_replaced_before_the_fill() -> None:
    oms = Oms()
    old, new = _replacing(oms)
    result = oms.on_trade(new.key, 1, PRICE - 10, 8, 8)
    assert kinds(result) == [(2, X.REPLACED), (2, X.FILL)]
    assert (old.state, new.state) == (S.REPLACED, S.FILLED)
    assert oms.on_ack(new.key, 200).reports == ()


def test_the_new_ioc_expiring_before_its_ack_still_replaces_the_old() -> None:
    oms = Oms()
    old, new = _replacing(oms)
    assert kinds(oms.on_expired(new.key)) == [(2, X.REPLACED), (2, X.EXPIRED)]
    assert old.state is S.REPLACED


def test_rejected_cancel_half_failed_the_old_order_stands() -> None:
    oms = Oms()
    old, new = _replacing(oms, fill=3)
    result = oms.on_replace_result(new.key, ReplaceOutcome.CANCEL_FAILED, venue_code=-2022)
    assert kinds(result) == [(2, X.REJECTED)]
    report = result.reports[0]
    assert (report.reason, report.venue_code) == (RejectReason.VENUE, -2022)
    assert (old.state, new.state, new.link_open) == (S.PARTIALLY_FILLED, S.REJECTED, False)
    assert [o.order_seq for o in oms.open_orders()] == [1]


def test_rejected_through_the_halves_reports_the_old_order_stands() -> None:
    oms = Oms()
    old, new = _replacing(oms)
    assert oms.on_cancel_rejected(old.key, venue_code=-2011).reports == ()  # the new order's REJECTED tells
    assert old.state is S.NEW
    assert kinds(oms.on_rejected(new.key, venue_code=-2022)) == [(2, X.REJECTED)]
    assert old.state is S.NEW


def test_new_half_failed_after_the_cancel_the_old_order_is_canceled() -> None:
    oms = Oms()
    old, new = _replacing(oms)
    result = oms.on_replace_result(new.key, ReplaceOutcome.NEW_FAILED, venue_code=-2021)
    assert kinds(result) == [(2, X.REJECTED), (1, X.CANCELED)]
    assert (old.state, new.state, oms.open_orders()) == (S.CANCELED, S.REJECTED, [])


def test_new_half_failed_told_by_the_halves_in_either_order() -> None:
    for old_first in (True, False):
        oms = Oms()
        old, new = _replacing(oms)
        halves = [(Oms.on_canceled, old), (Oms.on_rejected, new)]
        published = []
        for half, order in halves if old_first else halves[::-1]:
            published += kinds(half(oms, order.key))
        assert sorted(published) == [(1, X.CANCELED), (2, X.REJECTED)]
        assert (old.state, new.state) == (S.CANCELED, S.REJECTED)
        again = oms.on_replace_result(new.key, ReplaceOutcome.NEW_FAILED, venue_code=-2021)
        assert again.reports == ()


def test_the_old_order_filled_while_the_replace_was_in_flight() -> None:
    oms = Oms()
    old, new = _replacing(oms, fill=3)
    assert kinds(oms.on_trade(old.key, 2, PRICE, 7, QTY)) == [(1, X.FILL)]
    result = oms.on_replace_result(new.key, ReplaceOutcome.CANCEL_FAILED, venue_code=-2022)
    assert kinds(result) == [(2, X.REJECTED)]
    assert (old.state, oms.counts.illegal) == (S.FILLED, 0)


def test_allow_failure_cancel_failed_new_placed_both_orders_stand() -> None:
    oms = Oms()
    old, new = _replacing(oms)
    result = oms.on_replace_result(new.key, ReplaceOutcome.CANCEL_FAILED_NEW_PLACED, venue_code=-2021)
    assert kinds(result) == [(2, X.ACK)]
    assert (old.state, new.state) == (S.NEW, S.NEW)
    assert {o.order_seq for o in oms.open_orders()} == {1, 2}


def test_a_replace_that_timed_out_resolves_by_querying_the_new_order_first() -> None:
    oms = Oms()
    old, new = _replacing(oms)
    oms.timed_out(new.key)
    assert (old.state, new.state) == (S.UNKNOWN, S.UNKNOWN)
    found = oms.on_status(new.key, venue(new, OrderStatus.NEW))
    assert kinds(found) == [(2, X.REPLACED)]
    assert (old.state, new.state) == (S.REPLACED, S.NEW)
    assert oms.on_status(old.key, venue(old, OrderStatus.CANCELED)).reports == ()


def test_a_replace_whose_new_order_was_never_placed_leaves_the_old_one_to_its_own_query() -> None:
    oms = Oms()
    old, new = _replacing(oms)
    oms.timed_out(new.key)
    gone = oms.on_status(new.key, None)
    assert (kinds(gone), old.state) == ([(2, X.REJECTED)], S.UNKNOWN)
    assert gone.reports[0].venue_code == -2013
    assert kinds(oms.on_status(old.key, venue(old, OrderStatus.NEW))) == []
    assert old.state is S.NEW


def test_replace_of_an_order_not_acknowledged_or_by_a_known_id_is_refused() -> None:
    oms = Oms()
    pending = send(oms, 1)
    assert oms.replace_request(pending.key, key(2), PRICE, QTY).outcome is Outcome.ILLEGAL
    assert key(2) not in oms
    acked = send(oms, 3)
    oms.on_ack(acked.key, 1)
    assert oms.replace_request(acked.key, key(1), PRICE, QTY).outcome is Outcome.ILLEGAL
    assert acked.state is S.NEW
    assert oms.counts.illegal == 2


def test_a_replace_answer_for_an_order_that_replaces_nothing_is_refused() -> None:
    oms = Oms()
    order = send(oms, 1)
    result = oms.on_replace_result(order.key, ReplaceOutcome.SUCCESS, venue_order_id=5)
    assert (result.outcome, order.state, order.acked, oms.counts.illegal) == (Outcome.ILLEGAL, S.PENDING_NEW, False, 1)
