"""OCO pairs: a leg that triggers or fills cancels the other; a partial fill shrinks the other by as much."""

from __future__ import annotations

import pytest

from hftpipe.schema.trading import OrderType
from stages.trading.execution.synthetic.actions import Cancel, SynthState
from stages.trading.execution.synthetic.direct import Direct
from stages.trading.execution.synthetic.stop import Stop, TakeProfit
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


def _exits(desk: Desk, size: str = "1.000") -> None:
    """A held take-profit at 105 and a held stop at 95, both selling ``size``."""
    desk.trade("100.00")
    desk.oco(
        TakeProfit(**on(1, SELL, size), stop_price=price("105.00")),
        Stop(**on(2, SELL, size), stop_price=price("95.00")),
    )


def _resting(desk: Desk) -> None:
    """Binance's OCO: a take-profit limit resting at the venue (released at once) and a held stop."""
    desk.trade("100.00")
    placed = desk.oco(
        Direct(**on(1, SELL, "1.000"), price=price("105.00")),
        Stop(**on(2, SELL, "1.000"), stop_price=price("95.00")),
    )
    assert [(r.synthetic_id, r.order_type, r.price) for r in releases(placed)] == [
        (1, OrderType.LIMIT, price("105.00"))
    ]


def test_a_held_leg_that_triggers_cancels_the_other_held_leg_with_nothing_to_send_the_venue() -> None:
    desk = Desk()
    _exits(desk)
    actions = desk.trade("95.00")
    assert [r.synthetic_id for r in releases(actions)] == [2]
    assert cancels(actions) == []
    assert states(actions) == {2: SynthState.TRIGGERED, 1: SynthState.CANCELED}
    assert desk.fired_at(["105.00", "95.00"]) == []  # neither fires again


def test_a_trigger_cancels_a_sibling_resting_at_the_venue() -> None:
    desk = Desk()
    _resting(desk)
    actions = desk.trade("94.00")
    assert [r.synthetic_id for r in releases(actions)] == [2]
    assert cancels(actions) == [Cancel(1, STRATEGY, TST.id)]
    assert states(actions)[1] is SynthState.CANCELED


def test_the_resting_leg_filling_completely_cancels_the_held_stop() -> None:
    desk = Desk()
    _resting(desk)
    actions = desk.fill(1, "1.000", "105.00")
    assert states(actions) == {1: SynthState.FILLED, 2: SynthState.CANCELED}
    assert cancels(actions) == []
    assert desk.fired_at(["95.00", "90.00"]) == []


def test_a_partial_fill_of_the_resting_leg_shrinks_the_held_stop_by_the_same_amount() -> None:
    desk = Desk()
    _resting(desk)
    desk.fill(1, "0.400", "105.00")
    assert (desk.size(1), desk.size(2)) == (qty("1.000"), qty("0.600"))
    desk.fill(1, "0.100", "105.00")
    assert desk.size(2) == qty("0.500")
    released = releases(desk.trade("95.00"))
    assert [(r.synthetic_id, r.qty) for r in released] == [(2, qty("0.500"))]
    assert desk.state(1) is SynthState.CANCELED  # its 0.5 left at the venue is canceled


def test_a_partial_fill_shrinks_a_sibling_working_at_the_venue_by_replacing_it() -> None:
    desk = Desk()
    desk.oco(
        Direct(**on(1, BUY, "1.000"), price=price("99.00")),
        Direct(**on(2, SELL, "1.000"), price=price("101.00")),
    )
    actions = desk.fill(1, "0.300", "99.00")
    assert [(r.synthetic_id, r.price, r.qty) for r in replaces(actions)] == [(2, price("101.00"), qty("0.700"))]
    actions = desk.fill(1, "0.700", "99.00")
    assert cancels(actions) == [Cancel(2, STRATEGY, TST.id)]
    assert states(actions) == {1: SynthState.FILLED, 2: SynthState.CANCELED}


def test_both_legs_reached_by_one_gap_release_only_the_first() -> None:
    desk = Desk()
    desk.trade("100.00")
    desk.oco(
        Stop(**on(1, SELL, "1.000"), stop_price=price("98.00")),
        Stop(**on(2, SELL, "1.000"), stop_price=price("99.00")),
    )
    actions = desk.trade("97.00")
    assert [r.synthetic_id for r in releases(actions)] == [2]
    assert states(actions) == {2: SynthState.TRIGGERED, 1: SynthState.CANCELED}


def test_a_leg_placed_with_its_level_reached_fires_at_once_and_its_sibling_never_arms() -> None:
    desk = Desk()
    desk.trade("94.00")
    actions = desk.oco(
        TakeProfit(**on(1, SELL, "1.000"), stop_price=price("105.00")),
        Stop(**on(2, SELL, "1.000"), stop_price=price("95.00")),
    )
    assert [r.synthetic_id for r in releases(actions)] == [2]
    assert states(actions) == {1: SynthState.CANCELED, 2: SynthState.TRIGGERED}


def test_canceling_one_leg_cancels_the_pair() -> None:
    desk = Desk()
    _resting(desk)
    actions = list(desk.book.cancel(2))
    assert cancels(actions) == [Cancel(1, STRATEGY, TST.id)]
    assert states(actions) == {1: SynthState.CANCELED, 2: SynthState.CANCELED}
    assert desk.fired_at(["95.00"]) == []


def test_a_fill_that_raced_the_siblings_cancel_is_still_booked() -> None:
    desk = Desk()
    _resting(desk)
    desk.trade("95.00")  # the stop fires; the resting limit is canceled
    actions = desk.fill(1, "1.000", "105.00")  # ... but it had filled first
    assert states(actions)[1] is SynthState.FILLED
    assert desk.book.stray_fills == 0


def test_an_oco_needs_one_quantity_two_ids_and_one_owner() -> None:
    desk = Desk()
    stop = Stop(**on(2, SELL, "1.000"), stop_price=1)
    with pytest.raises(ValueError, match="one quantity"):
        desk.oco(TakeProfit(**on(1, SELL, "2.000"), stop_price=1), stop)
    with pytest.raises(ValueError, match="two ids"):
        desk.oco(TakeProfit(**on(2, SELL, "1.000"), stop_price=1), stop)
    with pytest.raises(ValueError, match="share one strategy"):
        desk.oco(TakeProfit(**on(1, SELL, "1.000", strategy=8), stop_price=1), stop)
    assert len(desk.book) == 0
