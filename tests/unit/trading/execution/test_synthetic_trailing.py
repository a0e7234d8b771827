"""Trailing stops: the level follows the best price since placement and never moves back; fires at the exact level."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from hftpipe.schema.trading import OrderType
from stages.trading.execution.synthetic.actions import SynthState
from stages.trading.execution.synthetic.trailing import TrailingStop, trail_level
from stages.trading.execution.synthetic.trigger import Trigger
from tests.unit.trading.execution.synth_desk import BUY, SELL, Desk, on, price, releases


def _levels(desk: Desk, order_id: int, path: list[str]) -> list[int | None]:
    """The trigger level after each last price of ``path``."""
    found = []
    for px in path:
        desk.trade(px)
        found.append(desk.book.trigger_level(order_id))
    return found


def test_a_sell_trailing_stop_follows_the_high_and_fires_an_offset_below_it_not_a_tick_before() -> None:
    desk = Desk()
    desk.trade("100.00")
    desk.place(TrailingStop(**on(1, SELL, "1.000"), offset=price("2.00")))
    assert desk.book.trigger_level(1) == price("98.00")  # the price seen at placement starts the trail
    assert _levels(desk, 1, ["101.00", "100.00", "103.50", "101.51"]) == [
        price(level) for level in ["99.00", "99.00", "101.50", "101.50"]
    ]
    fired = releases(desk.trade("101.50"))
    assert [(r.order_type, r.trigger_price) for r in fired] == [(OrderType.MARKET, price("101.50"))]
    assert desk.state(1) is SynthState.TRIGGERED


def test_a_buy_trailing_stop_follows_the_low_and_fires_an_offset_above_it() -> None:
    desk = Desk()
    desk.trade("100.00")
    desk.place(TrailingStop(**on(1, BUY, "1.000"), offset=price("1.00")))
    assert _levels(desk, 1, ["99.00", "99.50", "97.00", "97.99"]) == [
        price(level) for level in ["100.00", "100.00", "98.00", "98.00"]
    ]
    assert desk.fired_at(["98.00"]) == [0]


def test_the_trail_never_moves_back_on_a_path_that_turns_around_again_and_again() -> None:
    desk = Desk()
    desk.trade("100.00")
    desk.place(TrailingStop(**on(1, SELL, "1.000"), offset=price("5.00")))
    path = ["101.00", "99.00", "102.00", "98.00", "102.00", "103.00", "100.00", "104.00", "99.50"]
    levels = _levels(desk, 1, path)
    assert levels == sorted(levels)  # type: ignore[type-var]
    assert levels[-1] == price("99.00")  # 104 − 5; 99.50 did not reach it


def test_a_percent_trail_fires_exactly_at_best_times_one_minus_percent() -> None:
    desk = Desk()
    desk.trade("100.00")
    desk.place(TrailingStop(**on(1, SELL, "1.000"), percent=Decimal("1")))
    assert desk.book.trigger_level(1) == price("99.00")
    assert desk.fired_at(["99.01", "99.00"]) == [1]


def test_a_percent_level_between_ticks_rounds_towards_firing_later() -> None:
    sell, buy = Desk(), Desk()
    sell.trade("100.01")
    buy.trade("100.01")
    sell.place(TrailingStop(**on(1, SELL, "1.000"), percent=Decimal("1")))  # 99.0099
    buy.place(TrailingStop(**on(1, BUY, "1.000"), percent=Decimal("1")))  # 101.0101
    assert (sell.book.trigger_level(1), buy.book.trigger_level(1)) == (price("99.00"), price("101.02"))
    assert sell.fired_at(["99.01", "99.00"]) == [1]
    assert buy.fired_at(["101.01", "101.02"]) == [1]


def test_the_price_that_sets_a_new_best_never_fires_even_with_a_tiny_percent() -> None:
    assert trail_level(False, 1, 0, 1, 10_000) == 0  # below a best of one unit
    assert trail_level(True, 1, 0, 1, 10_000) == 2
    desk = Desk()
    desk.trade("100.00")
    desk.place(TrailingStop(**on(1, SELL, "1.000"), percent=Decimal("0.0001")))
    assert desk.fired_at(["100.01", "100.02", "100.03", "100.02"]) == [3]


def test_a_trailing_stop_placed_before_any_price_starts_its_trail_at_the_first_one() -> None:
    desk = Desk()
    desk.place(TrailingStop(**on(1, SELL, "1.000"), offset=price("1.00")))
    assert desk.book.trigger_level(1) is None
    desk.trade("100.00")
    assert desk.book.trigger_level(1) == price("99.00")
    assert desk.fired_at(["99.01", "99.00"]) == [1]


def test_a_bid_ask_sell_trail_follows_the_bid_only() -> None:
    desk = Desk()
    desk.quote("100.00", "100.02")
    desk.place(TrailingStop(**on(1, SELL, "1.000"), offset=price("1.00"), trigger=Trigger.BID_ASK))
    desk.quote("100.00", "105.00")  # the ask is not what a sell gets
    assert desk.book.trigger_level(1) == price("99.00")
    desk.quote("101.00", "101.02")
    assert desk.book.trigger_level(1) == price("100.00")
    assert releases(desk.quote("100.01", "100.02")) == []
    assert [r.trigger_price for r in releases(desk.quote("100.00", "100.02"))] == [price("100.00")]


def test_a_mid_trail_follows_the_exact_mid_between_ticks() -> None:
    desk = Desk()
    desk.quote("100.00", "100.01")  # mid 100.005
    desk.place(TrailingStop(**on(1, SELL, "1.000"), offset=price("0.01"), trigger=Trigger.MID))
    assert desk.book.trigger_level(1) == price("100.00") + price("100.01") - 2 * price("0.01")  # 2 × 99.995
    assert releases(desk.quote("99.99", "100.01")) == []  # mid 100.00
    assert [r.trigger_price for r in releases(desk.quote("99.99", "100.00"))] == [price("99.99")]  # 99.995


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "exactly one"),
        ({"offset": 1, "percent": Decimal(1)}, "exactly one"),
        ({"offset": 0}, "offset must be > 0"),
        ({"percent": Decimal(100)}, r"percent must be in \(0, 100\)"),
        ({"percent": Decimal("NaN")}, r"percent must be in \(0, 100\)"),
    ],
)
def test_a_trailing_spec_takes_one_positive_offset_or_a_percent_below_100(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrailingStop(**on(1, SELL, "1.000"), **fields)
