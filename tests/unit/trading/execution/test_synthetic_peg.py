"""Adaptive-mid pegs: priced at mid ± offset ticks on the grid, re-priced only past min_move and within the rate."""

from __future__ import annotations

import pytest

from hftpipe.schema.trading import OrderType, RejectReason, TimeInForce
from stages.trading.execution.synthetic.actions import Cancel, SynthState
from stages.trading.execution.synthetic.peg import WINDOW_NS, Peg, ReplaceBudget, peg_price
from tests.unit.trading.execution.synth_desk import (
    ALT,
    BUY,
    MS,
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
)


@pytest.mark.parametrize(
    ("buy", "bid", "ask", "offset", "post_only", "expected"),
    [
        (True, "100.00", "100.02", 0, False, "100.01"),
        (True, "100.00", "100.02", 1, False, "100.00"),
        (False, "100.00", "100.02", 1, False, "100.02"),
        (True, "100.00", "100.01", 0, False, "100.00"),  # mid 100.005: a buy rounds down
        (False, "100.00", "100.01", 0, False, "100.01"),  # ... a sell up
        (True, "100.00", "100.02", -2, False, "100.03"),  # a negative offset leans in
        (True, "100.00", "100.02", -2, True, "100.01"),  # post-only: held a tick under the ask
        (False, "100.00", "100.02", -2, True, "100.01"),  # ... or over the bid
    ],
)
def test_the_peg_target_is_mid_offset_ticks_on_the_grid_away_from_the_other_side(
    buy: bool, bid: str, ask: str, offset: int, post_only: bool, expected: str
) -> None:
    assert peg_price(buy, price(bid), price(ask), TST.tick, offset, post_only) == price(expected)


def test_the_peg_target_rounds_onto_a_tick_that_is_not_one() -> None:
    bid, ask = price("1.0000", ALT), price("1.0005", ALT)  # mid 1.00025, tick 0.0005
    assert peg_price(True, bid, ask, ALT.tick, 0, False) == price("1.0000", ALT)
    assert peg_price(False, bid, ask, ALT.tick, 0, False) == price("1.0005", ALT)
    assert peg_price(True, bid, ask, ALT.tick, 1, False) == price("0.9995", ALT)


def test_a_peg_is_released_on_the_first_two_sided_book() -> None:
    desk = Desk()
    desk.place(Peg(**on(1, BUY, "1.000"), offset_ticks=1))
    assert desk.state(1) is SynthState.PENDING_TRIGGER
    assert releases(desk.quote("100.00", "")) == []
    released = releases(desk.quote("100.00", "100.03"))
    assert [(r.order_type, r.tif, r.price, r.qty, r.trigger_price) for r in released] == [
        (OrderType.LIMIT, TimeInForce.GTC, price("100.00"), qty("1.000"), price("100.01"))
    ]  # mid 100.015 − 1 tick = 100.005, rounded down; the trigger price is the mid rounded down
    assert desk.state(1) is SynthState.TRIGGERED


def test_a_post_only_peg_goes_as_limit_maker_and_at_once_on_a_known_book() -> None:
    desk = Desk()
    desk.quote("100.00", "100.02")
    released = releases(desk.place(Peg(**on(1, SELL, "1.000"), post_only=True)))
    assert [(r.order_type, r.price) for r in released] == [(OrderType.LIMIT_MAKER, price("100.01"))]


def test_a_peg_re_prices_only_when_the_target_moved_at_least_min_move_ticks() -> None:
    desk = Desk()
    desk.quote("100.00", "100.02")
    desk.place(Peg(**on(1, BUY, "1.000"), min_move_ticks=2))  # at 100.01
    assert replaces(desk.quote("100.01", "100.03")) == []  # target 100.02: one tick
    assert replaces(desk.quote("99.99", "100.01")) == []  # 100.00: one tick the other way
    moved = replaces(desk.quote("100.02", "100.04"))  # 100.03: two ticks
    assert [(r.synthetic_id, r.price, r.qty, r.order_type) for r in moved] == [
        (1, price("100.03"), qty("1.000"), OrderType.LIMIT)
    ]
    assert replaces(desk.quote("100.01", "100.03")) == []  # back one tick from the new price


def test_a_peg_replaces_at_most_n_times_in_any_second() -> None:
    desk = Desk()
    desk.quote("100.00", "100.02")
    desk.place(Peg(**on(1, BUY, "1.000"), max_replaces_per_s=2))
    moved, times = [], []
    for n in range(1, 5):  # four one-tick moves, 100 ms apart
        moved.append(bool(replaces(desk.quote(TST.price_text(10000 + n), TST.price_text(10002 + n), step=100 * MS))))
        times.append(desk.now)
    assert moved == [True, True, False, False]
    desk.now = times[0] + WINDOW_NS - 2
    assert replaces(desk.quote("100.06", "100.08", step=1)) == []  # one ns short of a second after the first
    assert [r.price for r in replaces(desk.quote("100.06", "100.08", step=1))] == [price("100.07")]


def test_a_move_the_rate_refused_is_made_at_the_next_book_change_if_still_due() -> None:
    desk = Desk()
    desk.quote("100.00", "100.02")
    desk.place(Peg(**on(1, BUY, "1.000"), max_replaces_per_s=1))
    assert replaces(desk.quote("100.01", "100.03"))
    assert replaces(desk.quote("100.02", "100.04")) == []
    desk.now += WINDOW_NS
    assert [r.price for r in replaces(desk.quote("100.02", "100.04"))] == [price("100.03")]


def test_a_replace_carries_the_open_quantity_after_partial_fills() -> None:
    desk = Desk()
    desk.quote("100.00", "100.02")
    desk.place(Peg(**on(1, BUY, "1.000")))
    desk.fill(1, "0.300", "100.01")
    assert [r.qty for r in replaces(desk.quote("100.01", "100.03"))] == [qty("0.700")]
    assert desk.state(1) is SynthState.PARTIALLY_FILLED


def test_a_filled_peg_stops_re_pricing_and_is_forgotten() -> None:
    desk = Desk()
    desk.quote("100.00", "100.02")
    desk.place(Peg(**on(1, BUY, "1.000")))
    desk.fill(1, "1.000", "100.01")
    assert desk.quote("101.00", "101.02") == []
    assert len(desk.book) == 0


def test_a_canceled_peg_sends_a_cancel_and_stops_re_pricing() -> None:
    desk = Desk()
    desk.quote("100.00", "100.02")
    desk.place(Peg(**on(1, SELL, "1.000")))
    assert cancels(list(desk.book.cancel(1))) == [Cancel(1, STRATEGY, TST.id)]
    assert desk.quote("101.00", "101.02") == []


def test_a_refused_replace_puts_the_peg_back_at_its_previous_price() -> None:
    desk = Desk()
    desk.quote("100.00", "100.02")
    desk.place(Peg(**on(1, BUY, "1.000"), min_move_ticks=2))  # at 100.01
    assert [r.price for r in replaces(desk.quote("100.02", "100.04"))] == [price("100.03")]
    desk.book.on_replace_refused(1, RejectReason.ORDER_RATE)
    # the same target again: no move from the refused price, but two ticks from the 100.01 still working
    assert [r.price for r in replaces(desk.quote("100.02", "100.04"))] == [price("100.03")]


def test_a_peg_as_an_oco_leg_is_replaced_smaller_when_the_other_leg_fills_partly() -> None:
    desk = Desk()
    desk.quote("100.00", "100.02")
    desk.place(Peg(**on(9, SELL, "1.000", ALT)))  # another instrument's peg is not looked at below
    desk.oco(Peg(**on(1, BUY, "1.000"), offset_ticks=5), Peg(**on(2, SELL, "1.000"), offset_ticks=5))
    assert [(r.synthetic_id, r.qty) for r in replaces(desk.fill(1, "0.400", "99.96"))] == [(2, qty("0.600"))]


def test_the_replace_budget_window_is_one_second_of_now() -> None:
    budget = ReplaceBudget(2)
    assert [budget.take(t) for t in (0, 1, 2, WINDOW_NS - 1, WINDOW_NS, WINDOW_NS + 1, WINDOW_NS + 2)] == [
        True,
        True,
        False,
        False,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"min_move_ticks": 0}, "min_move_ticks must be >= 1"), ({"max_replaces_per_s": 0}, "max_replaces_per_s")],
)
def test_a_peg_spec_refuses_a_zero_move_or_rate(fields: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Peg(**(on(1, BUY, "1.000") | fields))
