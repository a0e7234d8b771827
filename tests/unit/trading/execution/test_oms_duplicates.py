"""Repeated reports are applied once: by trade id, by cumulative quantity, by state."""

from __future__ import annotations

from hftpipe.schema.exchange import OrderStatus
from hftpipe.schema.trading import ExecType
from stages.trading.execution.oms import Oms
from stages.trading.execution.oms_reports import Outcome
from stages.trading.execution.oms_transitions import OmsState
from tests.unit.trading.execution.oms_desk import PRICE, QTY, filled, kinds, send, venue

X = ExecType
S = OmsState


def test_the_same_trade_twice_is_applied_once() -> None:
    oms = Oms()
    order = send(oms, 1)
    first = oms.on_trade(order.key, 42, PRICE, 3, 3, fee=5)
    again = oms.on_trade(order.key, 42, PRICE, 3, 3, fee=5)
    assert (first.outcome, again.outcome) == (Outcome.APPLIED, Outcome.DUPLICATE)
    assert (filled(first), filled(again), again.reports) == (3, 0, ())
    assert (order.cum_qty, order.fees, oms.counts.duplicates) == (3, 5, 1)


def test_a_repeated_final_trade_does_not_refill_a_filled_order() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_trade(order.key, 1, PRICE, QTY, QTY)
    assert oms.on_trade(order.key, 1, PRICE, QTY, QTY).outcome is Outcome.DUPLICATE
    assert oms.on_trade(order.key, 2, PRICE, QTY, QTY).outcome is Outcome.STALE  # same fill, another id
    assert order.cum_qty == QTY


def test_repeated_ack_cancel_expire_and_reject_change_nothing() -> None:
    oms = Oms()
    acked = send(oms, 1)
    oms.on_ack(acked.key, 5)
    assert oms.on_ack(acked.key, 5).outcome is Outcome.UNCHANGED
    oms.on_canceled(acked.key)
    repeat = oms.on_canceled(acked.key)
    assert (repeat.outcome, repeat.reports, acked.state) == (Outcome.UNCHANGED, (), S.CANCELED)
    expired = send(oms, 2)
    oms.on_expired(expired.key)
    assert oms.on_expired(expired.key).outcome is Outcome.UNCHANGED
    rejected = send(oms, 3)
    oms.on_rejected(rejected.key, venue_code=-1013)
    again = oms.on_rejected(rejected.key, venue_code=-2010)
    assert (again.outcome, again.reports, rejected.venue_code) == (Outcome.UNCHANGED, (), -1013)
    assert oms.counts.illegal == 0


def test_a_query_repeating_what_trades_said_publishes_nothing() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_ack(order.key, 5)
    oms.on_trade(order.key, 1, PRICE, 4, 4)
    result = oms.on_status(order.key, venue(order, OrderStatus.PARTIALLY_FILLED, cum_qty=4))
    assert (result.outcome, result.reports, order.cum_qty) == (Outcome.UNCHANGED, (), 4)


def test_a_trade_after_a_query_caught_it_up_is_stale_not_counted_twice() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_ack(order.key, 5)
    caught = oms.on_status(order.key, venue(order, OrderStatus.PARTIALLY_FILLED, cum_qty=4, cum_quote=4 * PRICE))
    assert (kinds(caught), filled(caught)) == ([(1, X.PARTIAL_FILL)], 4)
    late = oms.on_trade(order.key, 1, PRICE, 4, 4)
    assert (late.outcome, order.cum_qty) == (Outcome.STALE, 4)
