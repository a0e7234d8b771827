"""Reports in the order the real world delivers them: fills before the ack, after the cancel, and late ones."""

from __future__ import annotations

from hftpipe.schema.trading import ExecType, TimeInForce
from stages.trading.execution.oms import Oms
from stages.trading.execution.oms_reports import Outcome
from stages.trading.execution.oms_transitions import OmsState
from tests.unit.trading.execution.oms_desk import PRICE, QTY, filled, kinds, send

X = ExecType
S = OmsState


def test_partial_fill_before_the_ack_is_applied_and_the_late_ack_still_published() -> None:
    oms = Oms()
    order = send(oms, 1)
    result = oms.on_trade(order.key, 1, PRICE, 4, 4)
    assert (result.outcome, order.state, kinds(result)) == (Outcome.APPLIED, S.PARTIALLY_FILLED, [(1, X.PARTIAL_FILL)])
    assert (result.reports[0].cum_qty, result.reports[0].leaves_qty) == (4, 6)
    ack = oms.on_ack(order.key, 55, now=123)
    assert (order.state, kinds(ack)) == (S.PARTIALLY_FILLED, [(1, X.ACK)])
    assert (order.venue_order_id, order.ts_acked) == (55, 123)
    assert oms.by_venue_id(55) is order


def test_full_fill_before_the_ack_ends_the_order_and_the_ack_is_recorded_not_published() -> None:
    oms = Oms()
    order = send(oms, 1)
    result = oms.on_trade(order.key, 1, PRICE, QTY, QTY)
    assert (order.state, kinds(result), result.reports[0].leaves_qty) == (S.FILLED, [(1, X.FILL)], 0)
    assert oms.open_orders() == []
    ack = oms.on_ack(order.key, 56)
    assert (ack.outcome, order.state, ack.reports, order.acked) == (Outcome.APPLIED, S.FILLED, (), True)
    assert order.venue_order_id == 56


def test_ioc_with_nothing_to_fill_is_canceled_or_expired_before_its_ack() -> None:
    for end in (Oms.on_canceled, Oms.on_expired):
        oms = Oms()
        order = send(oms, 1, tif=TimeInForce.IOC)
        result = end(oms, order.key)
        assert order.state in (S.CANCELED, S.EXPIRED)
        assert kinds(result) == [(1, X.CANCELED if end is Oms.on_canceled else X.EXPIRED)]
        assert oms.on_ack(order.key, 9).reports == ()


def test_partial_fill_after_the_cancel_is_published_and_counted_the_order_stays_canceled() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_ack(order.key, 9)
    oms.cancel_request(order.key)
    assert kinds(oms.on_canceled(order.key)) == [(1, X.CANCELED)]
    late = oms.on_trade(order.key, 7, PRICE - 5, 3, 3)
    assert (late.outcome, order.state, kinds(late)) == (Outcome.APPLIED, S.CANCELED, [(1, X.PARTIAL_FILL)])
    report = late.reports[0]
    assert (report.last_price, report.last_qty, report.cum_qty, report.leaves_qty) == (PRICE - 5, 3, 3, 0)
    assert oms.counts.late_fills == 1


def test_full_fill_after_the_cancel_makes_the_order_filled() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_ack(order.key, 9)
    oms.on_canceled(order.key)
    late = oms.on_trade(order.key, 7, PRICE, QTY, QTY)
    assert (order.state, kinds(late), filled(late)) == (S.FILLED, [(1, X.FILL)], QTY)


def test_a_cancel_whose_cumulative_quantity_is_ahead_catches_up_the_missed_fill_first() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_ack(order.key, 9)
    result = oms.on_canceled(order.key, cum_qty=6, cum_quote=6 * PRICE + 12)
    assert kinds(result) == [(1, X.PARTIAL_FILL), (1, X.CANCELED)]
    fill = result.reports[0]
    assert (fill.last_qty, fill.last_price, fill.leaves_qty) == (6, PRICE + 2, 4)
    assert result.reports[1].leaves_qty == 0
    assert (order.cum_qty, order.notional) == (6, 6 * PRICE + 12)


def test_a_lower_cumulative_quantity_is_stale_ignored_and_counted() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_trade(order.key, 2, PRICE, 2, 5)  # trade 1 (cum 3) was not delivered yet: 5 covers it
    stale = oms.on_trade(order.key, 1, PRICE, 3, 3)
    assert (stale.outcome, stale.reports, order.cum_qty) == (Outcome.STALE, (), 5)
    assert oms.counts.stale == 1
    same = oms.on_trade(order.key, 3, PRICE, 0, 5)  # a new id at the applied cumulative: nothing new to fill
    assert same.outcome is Outcome.STALE


def test_a_fill_covering_missed_trades_publishes_their_sum_once_at_the_exact_average() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_trade(order.key, 1, 100, 2, 2, cum_quote=200)
    # trades 2 (3 @ 104) and 3 (1 @ 107) were dropped; trade 4 (2 @ 101) arrives with the venue's totals
    cum_quote = 200 + 3 * 104 + 1 * 107 + 2 * 101
    result = oms.on_trade(order.key, 4, 101, 2, 8, fee=7, cum_quote=cum_quote)
    report = result.reports[0]
    assert (report.last_qty, report.cum_qty, report.fee) == (6, 8, 7)
    assert report.last_price == 104  # 621 / 6 = 103.5, to the nearest
    assert order.notional == cum_quote, "the exact sum is kept, whatever the report rounds"
    assert oms.counts.priced_approx == 0


def test_without_the_cumulative_quote_a_covering_fill_uses_the_trade_price_and_says_so() -> None:
    oms = Oms()
    order = send(oms, 1)
    result = oms.on_trade(order.key, 4, 101, 2, 8)
    assert (result.reports[0].last_qty, result.reports[0].last_price) == (8, 101)
    assert oms.counts.priced_approx == 1


def test_a_trade_past_the_order_quantity_is_illegal_and_not_applied() -> None:
    oms = Oms()
    order = send(oms, 1)
    result = oms.on_trade(order.key, 1, PRICE, QTY + 1, QTY + 1)
    assert (result.outcome, order.cum_qty, order.state, result.reports) == (Outcome.ILLEGAL, 0, S.PENDING_NEW, ())
    assert (oms.counts.overfills, oms.counts.illegal) == (1, 1)
    assert oms.on_trade(order.key, 1, PRICE, 1, 1).outcome is Outcome.APPLIED, "an illegal trade's id is not kept"


def test_a_fill_while_the_cancel_is_in_flight_keeps_it_pending_and_the_refusal_restores_partially_filled() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_ack(order.key, 9)
    oms.cancel_request(order.key)
    oms.on_trade(order.key, 1, PRICE, 2, 2)
    assert order.state is S.PENDING_CANCEL
    refused = oms.on_cancel_rejected(order.key, venue_code=-2011)
    assert (order.state, kinds(refused)) == (S.PARTIALLY_FILLED, [(1, X.CANCEL_REJECTED)])
    assert (refused.reports[0].venue_code, refused.reports[0].leaves_qty) == (-2011, 8)


def test_the_cancel_that_lost_the_race_to_the_fill_changes_nothing() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_ack(order.key, 9)
    oms.cancel_request(order.key)
    oms.on_trade(order.key, 1, PRICE, QTY, QTY)
    refused = oms.on_cancel_rejected(order.key, venue_code=-2011)
    assert (refused.outcome, order.state, refused.reports) == (Outcome.UNCHANGED, S.FILLED, ())
    assert oms.counts.illegal == 0
