"""OTO and brackets: children armed by the parent's fills, sized to what filled, growing with it, then an OCO."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hftpipe.schema.trading import OrderSide, OrderType, RejectReason
from stages.trading.execution.synthetic.actions import Action, Cancel, StateChange, SynthState
from stages.trading.execution.synthetic.direct import Direct
from stages.trading.execution.synthetic.stop import Stop, TakeProfit
from stages.trading.execution.synthetic.trailing import TrailingStop
from tests.unit.trading.execution.synth_desk import (
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
    replaces,
    states,
)

ENTRY, STOP_LOSS, TAKE_PROFIT = 1, 2, 3


def _bracket(desk: Desk, resting_profit: bool = False) -> list[Action]:
    """Buy 1.000 at 100 (a limit at the venue), stop-loss at 95, take-profit at 110 (held, or a resting limit)."""
    desk.trade("100.00")
    profit = (
        Direct(**on(TAKE_PROFIT, SELL, "1.000"), price=price("110.00"))
        if resting_profit
        else TakeProfit(**on(TAKE_PROFIT, SELL, "1.000"), stop_price=price("110.00"))
    )
    return desk.bracket(
        Direct(**on(ENTRY, BUY, "1.000"), price=price("100.00")),
        Stop(**on(STOP_LOSS, SELL, "1.000"), stop_price=price("95.00")),
        profit,
    )


def test_the_exits_wait_for_the_entrys_first_fill() -> None:
    desk = Desk()
    placed = _bracket(desk)
    assert [(r.synthetic_id, r.order_type) for r in releases(placed)] == [(ENTRY, OrderType.LIMIT)]
    assert [(a.synthetic_id, a.state, a.qty) for a in placed if isinstance(a, StateChange)] == [
        (ENTRY, SynthState.TRIGGERED, qty("1.000")),
        (STOP_LOSS, SynthState.PENDING_PARENT, 0),
        (TAKE_PROFIT, SynthState.PENDING_PARENT, 0),
    ]
    assert desk.fired_at(["95.00", "110.00"]) == []  # nothing watched yet


def test_the_exits_are_sized_to_the_filled_quantity_and_grow_with_partial_fills() -> None:
    desk = Desk()
    _bracket(desk)
    actions = desk.fill(ENTRY, "0.400")
    assert states(actions) == {
        ENTRY: SynthState.PARTIALLY_FILLED,
        STOP_LOSS: SynthState.PENDING_TRIGGER,
        TAKE_PROFIT: SynthState.PENDING_TRIGGER,
    }
    assert (desk.size(STOP_LOSS), desk.size(TAKE_PROFIT)) == (qty("0.400"), qty("0.400"))
    desk.fill(ENTRY, "0.250")
    assert (desk.size(STOP_LOSS), desk.size(TAKE_PROFIT)) == (qty("0.650"), qty("0.650"))
    desk.fill(ENTRY, "0.350")
    assert (desk.size(STOP_LOSS), desk.size(TAKE_PROFIT)) == (qty("1.000"), qty("1.000"))
    actions = desk.trade("110.00")
    assert [(r.synthetic_id, r.qty) for r in releases(actions)] == [(TAKE_PROFIT, qty("1.000"))]
    assert states(actions) == {TAKE_PROFIT: SynthState.TRIGGERED, STOP_LOSS: SynthState.CANCELED}
    assert cancels(actions) == []  # the entry filled completely: nothing left to cancel


def test_an_exit_that_fires_cancels_the_other_exit_and_the_entrys_unfilled_remainder() -> None:
    desk = Desk()
    _bracket(desk)
    desk.fill(ENTRY, "0.400")
    actions = desk.trade("95.00")
    assert [(r.synthetic_id, r.qty) for r in releases(actions)] == [(STOP_LOSS, qty("0.400"))]
    assert cancels(actions) == [Cancel(ENTRY, STRATEGY, TST.id)]
    assert states(actions) == {
        STOP_LOSS: SynthState.TRIGGERED,
        TAKE_PROFIT: SynthState.CANCELED,
        ENTRY: SynthState.CANCELED,
    }


def test_an_entry_fill_that_raced_the_remainders_cancel_tops_up_the_fired_exit() -> None:
    desk = Desk()
    _bracket(desk)
    desk.fill(ENTRY, "0.400")
    desk.trade("95.00")
    actions = desk.fill(ENTRY, "0.100")
    assert [(r.synthetic_id, r.order_type, r.qty, r.trigger_price) for r in releases(actions)] == [
        (STOP_LOSS, OrderType.MARKET, qty("0.100"), price("95.00"))
    ]
    assert desk.size(STOP_LOSS) == qty("0.500")
    assert desk.state(TAKE_PROFIT) is SynthState.CANCELED


def test_a_resting_take_profit_is_released_on_the_first_fill_and_replaced_as_the_entry_fills() -> None:
    desk = Desk()
    _bracket(desk, resting_profit=True)
    actions = desk.fill(ENTRY, "0.400")
    assert [(r.synthetic_id, r.price, r.qty) for r in releases(actions)] == [
        (TAKE_PROFIT, price("110.00"), qty("0.400"))
    ]
    actions = desk.fill(ENTRY, "0.600")
    assert [(r.synthetic_id, r.qty) for r in replaces(actions)] == [(TAKE_PROFIT, qty("1.000"))]
    assert desk.size(STOP_LOSS) == qty("1.000")


def test_then_the_exits_behave_as_an_oco_partial_fill_shrinks_full_fill_cancels() -> None:
    desk = Desk()
    _bracket(desk, resting_profit=True)
    desk.fill(ENTRY, "1.000")
    desk.fill(TAKE_PROFIT, "0.300", "110.00")
    assert desk.size(STOP_LOSS) == qty("0.700")
    actions = desk.fill(TAKE_PROFIT, "0.700", "110.00")
    assert states(actions) == {TAKE_PROFIT: SynthState.FILLED, STOP_LOSS: SynthState.CANCELED}
    assert desk.fired_at(["95.00"]) == []
    assert len(desk.book) == 0  # everything is final: forgotten


def test_an_entry_canceled_before_any_fill_cancels_the_exits_once_the_venue_confirms() -> None:
    desk = Desk()
    _bracket(desk)
    actions = list(desk.book.cancel(ENTRY))
    assert cancels(actions) == [Cancel(ENTRY, STRATEGY, TST.id)]
    assert desk.state(STOP_LOSS) is SynthState.PENDING_PARENT  # a fill may still race the cancel
    actions = list(desk.book.on_venue_closed(ENTRY))
    assert states(actions) == {STOP_LOSS: SynthState.CANCELED, TAKE_PROFIT: SynthState.CANCELED}
    assert len(desk.book) == 0


def test_an_entry_canceled_after_a_partial_fill_leaves_the_exits_protecting_what_filled() -> None:
    desk = Desk()
    _bracket(desk)
    desk.fill(ENTRY, "0.400")
    desk.book.cancel(ENTRY)
    desk.book.on_venue_closed(ENTRY)
    assert (desk.state(STOP_LOSS), desk.size(STOP_LOSS)) == (SynthState.PENDING_TRIGGER, qty("0.400"))
    assert [(r.synthetic_id, r.qty) for r in releases(desk.trade("95.00"))] == [(STOP_LOSS, qty("0.400"))]


def test_an_entry_refused_by_risk_ends_rejected_and_cancels_the_exits() -> None:
    desk = Desk()
    _bracket(desk)
    actions = list(desk.book.on_release_refused(ENTRY, RejectReason.MAX_POSITION))
    assert [(a.synthetic_id, a.state, a.reason) for a in actions if isinstance(a, StateChange)] == [
        (ENTRY, SynthState.REJECTED, RejectReason.MAX_POSITION),
        (STOP_LOSS, SynthState.CANCELED, RejectReason.NONE),
        (TAKE_PROFIT, SynthState.CANCELED, RejectReason.NONE),
    ]


def test_a_stop_entry_arms_its_bracket_once_it_triggers_and_fills() -> None:
    desk = Desk()
    desk.trade("100.00")
    desk.bracket(
        Stop(**on(ENTRY, BUY, "1.000"), stop_price=price("101.00")),
        Stop(**on(STOP_LOSS, SELL, "1.000"), stop_price=price("99.00")),
        TakeProfit(**on(TAKE_PROFIT, SELL, "1.000"), stop_price=price("105.00")),
    )
    assert desk.fired_at(["99.00", "101.00"]) == [1]  # the exits ignore 99 before the entry fills
    desk.fill(ENTRY, "1.000", "101.00")
    assert [r.synthetic_id for r in releases(desk.trade("99.00"))] == [STOP_LOSS]


def test_an_exit_already_through_its_level_at_the_first_fill_is_released_at_once() -> None:
    desk = Desk()
    _bracket(desk)
    desk.trade("94.00")
    actions = desk.fill(ENTRY, "0.400", "100.00")
    assert [(r.synthetic_id, r.qty, r.trigger_price) for r in releases(actions)] == [
        (STOP_LOSS, qty("0.400"), price("94.00"))
    ]
    assert states(actions)[TAKE_PROFIT] is SynthState.CANCELED
    assert cancels(actions) == [Cancel(ENTRY, STRATEGY, TST.id)]


def test_an_oto_child_is_armed_and_grows_on_its_own() -> None:
    desk = Desk()
    desk.trade("100.00")
    desk.oto(
        Direct(**on(ENTRY, BUY, "1.000"), price=price("100.00")),
        TrailingStop(**on(STOP_LOSS, SELL, "1.000"), percent=Decimal("2")),
    )
    desk.fill(ENTRY, "0.500")
    assert (desk.state(STOP_LOSS), desk.size(STOP_LOSS)) == (SynthState.PENDING_TRIGGER, qty("0.500"))
    assert desk.book.trigger_level(STOP_LOSS) == price("98.00")
    desk.fill(ENTRY, "0.500")
    assert [(r.synthetic_id, r.qty) for r in releases(desk.trade("98.00"))] == [(STOP_LOSS, qty("1.000"))]


@pytest.mark.parametrize(
    ("exit_side", "exit_size", "message"),
    [(BUY, "1.000", "other side"), (SELL, "0.500", "parent's quantity")],
)
def test_a_brackets_exits_are_on_the_other_side_and_carry_the_entrys_quantity(
    exit_side: OrderSide, exit_size: str, message: str
) -> None:
    desk = Desk()
    with pytest.raises(ValueError, match=message):
        desk.bracket(
            Direct(**on(ENTRY, BUY, "1.000"), price=price("100.00")),
            Stop(**on(STOP_LOSS, exit_side, exit_size), stop_price=price("95.00")),
            TakeProfit(**on(TAKE_PROFIT, SELL, "1.000"), stop_price=price("110.00")),
        )
    assert len(desk.book) == 0
