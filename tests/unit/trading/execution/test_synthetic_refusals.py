"""Refused releases, the venue's ends, cancels and the book's lifetime: every synthetic order ends in a final state."""

from __future__ import annotations

from hftpipe.schema.trading import RejectReason
from stages.trading.execution.synthetic.actions import Cancel, StateChange, SynthState
from stages.trading.execution.synthetic.direct import Direct
from stages.trading.execution.synthetic.stop import Stop, TakeProfit
from tests.unit.trading.execution.synth_desk import (
    ALT,
    BUY,
    SELL,
    STRATEGY,
    TST,
    Desk,
    cancels,
    on,
    price,
    qty,
    releases,
    states,
)


def test_a_release_risk_refuses_ends_the_order_rejected_with_the_reason_and_it_never_fires_again() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, SELL, "1.000"), stop_price=price("95.00")))
    desk.trade("95.00")
    actions = list(desk.book.on_release_refused(1, RejectReason.REDUCE_ONLY))
    assert actions == [StateChange(1, STRATEGY, TST.id, SynthState.REJECTED, qty("1.000"), 0, RejectReason.REDUCE_ONLY)]
    assert desk.fired_at(["96.00", "95.00", "90.00"]) == []
    assert desk.book.state(1) is None  # final, nothing more can come: forgotten


def test_a_refused_oco_leg_leaves_its_sibling_canceled() -> None:
    desk = Desk()
    desk.trade("100.00")
    desk.oco(
        TakeProfit(**on(1, SELL, "1.000"), stop_price=price("105.00")),
        Stop(**on(2, SELL, "1.000"), stop_price=price("95.00")),
    )
    desk.trade("95.00")
    actions = list(desk.book.on_release_refused(2, RejectReason.DATA_STALE))
    assert states(actions) == {2: SynthState.REJECTED}
    assert desk.fired_at(["105.00"]) == []


def test_a_refusal_for_an_order_never_released_changes_nothing() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, SELL, "1.000"), stop_price=price("95.00")))
    assert desk.book.on_release_refused(1, RejectReason.RISK_LIMIT) == ()
    assert desk.book.on_release_refused(99, RejectReason.RISK_LIMIT) == ()
    assert desk.state(1) is SynthState.PENDING_TRIGGER


def test_the_venue_ending_a_released_order_ends_it_canceled_or_expired() -> None:
    desk = Desk()
    desk.place(Direct(**on(1, BUY, "1.000"), price=price("100.00")))
    desk.place(Direct(**on(2, BUY, "1.000"), price=price("100.00")))
    desk.fill(2, "0.400")
    assert states(desk.book.on_venue_closed(1)) == {1: SynthState.CANCELED}
    assert [(a.state, a.cum_qty) for a in desk.book.on_venue_closed(2, expired=True) if isinstance(a, StateChange)] == [
        (SynthState.EXPIRED, qty("0.400"))
    ]
    assert len(desk.book) == 0


def test_a_canceled_working_order_is_kept_until_the_venue_confirms_the_cancel() -> None:
    desk = Desk()
    desk.place(Direct(**on(1, BUY, "1.000"), price=price("100.00")))
    assert cancels(list(desk.book.cancel(1))) == [Cancel(1, STRATEGY, TST.id)]
    assert desk.state(1) is SynthState.CANCELED
    desk.fill(1, "0.200")  # it raced the cancel
    assert desk.book.state(1) == StateChange(
        1, STRATEGY, TST.id, SynthState.CANCELED, qty("1.000"), qty("0.200"), RejectReason.NONE
    )
    assert desk.book.on_venue_closed(1) == []
    assert len(desk.book) == 0
    desk.fill(1, "0.100")
    assert desk.book.stray_fills == 1


def test_a_held_order_canceled_is_forgotten_at_once_and_a_second_cancel_is_a_no_op() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, SELL, "1.000"), stop_price=price("95.00")))
    assert states(desk.book.cancel(1)) == {1: SynthState.CANCELED}
    assert cancels(desk.log) == []
    assert desk.book.cancel(1) == ()
    assert len(desk.book) == 0


def test_cancel_all_cancels_one_strategys_orders_on_one_instrument_or_all_of_them() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, SELL, "1.000"), stop_price=price("95.00")))
    desk.place(Stop(**on(2, SELL, "1.0", ALT), stop_price=price("0.9000", ALT)))
    desk.place(Stop(**on(3, SELL, "1.000", strategy=8), stop_price=price("95.00")))
    desk.place(Direct(**on(4, BUY, "1.000"), price=price("99.00")))
    actions = desk.book.cancel_all(STRATEGY, TST.id)
    assert states(actions) == {1: SynthState.CANCELED, 4: SynthState.CANCELED}
    assert cancels(actions) == [Cancel(4, STRATEGY, TST.id)]
    assert states(desk.book.cancel_all(STRATEGY)) == {2: SynthState.CANCELED}
    assert [a.synthetic_id for a in desk.book.orders(8, TST.id)] == [3]


def test_orders_lists_a_strategys_orders_on_an_instrument_in_placement_order() -> None:
    desk = Desk()
    desk.place(Stop(**on(5, SELL, "1.000"), stop_price=price("95.00")))
    desk.place(TakeProfit(**on(3, SELL, "1.000"), stop_price=price("105.00")))
    desk.place(Stop(**on(4, SELL, "1.000", strategy=8), stop_price=price("95.00")))
    assert [(a.synthetic_id, a.state) for a in desk.book.orders(STRATEGY, TST.id)] == [
        (5, SynthState.PENDING_TRIGGER),
        (3, SynthState.PENDING_TRIGGER),
    ]


def test_fills_move_a_released_order_to_partially_filled_then_filled_and_strays_are_counted() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, SELL, "1.000"), stop_price=price("95.00")))
    desk.fill(1, "0.500")  # not released yet: no real order can have filled
    assert desk.book.stray_fills == 1
    desk.trade("95.00")
    assert states(desk.fill(1, "0.500")) == {1: SynthState.PARTIALLY_FILLED}
    assert states(desk.fill(1, "0.500")) == {1: SynthState.FILLED}
    assert releases(desk.log)[0].qty == qty("1.000")
