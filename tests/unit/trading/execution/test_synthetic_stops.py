"""Stops and take-profits on price paths: each fires when its reference reaches the level, not a tick before, once.

TST prices have 2 decimals (one tick = 0.01). ``Desk.fired_at`` feeds a
last-price path and returns the steps that released something.
"""

from __future__ import annotations

import pytest

from hftpipe.schema.trading import IntentFlag, OrderType, RejectReason, TimeInForce
from stages.trading.execution.synthetic.actions import Release, StateChange, SynthState
from stages.trading.execution.synthetic.stop import Stop, TakeProfit
from stages.trading.execution.synthetic.trigger import Trigger
from tests.unit.trading.execution.synth_desk import ALT, BUY, SELL, STRATEGY, TST, Desk, on, price, qty, releases


# --------------------------------------------------------------------------------------- last price
def test_a_buy_stop_fires_when_the_last_price_reaches_the_level_not_a_tick_before() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, BUY, "2.000"), stop_price=price("101.00")))
    assert desk.fired_at(["100.00", "100.99", "101.00", "101.50"]) == [2]


def test_a_sell_stop_fires_when_the_last_price_falls_to_the_level_not_a_tick_before() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, SELL, "2.000"), stop_price=price("99.00")))
    assert desk.fired_at(["100.00", "99.01", "99.00", "98.00"]) == [2]


def test_a_sell_take_profit_fires_on_the_rise_to_its_level_and_a_buy_take_profit_on_the_fall() -> None:
    desk = Desk()
    desk.place(TakeProfit(**on(1, SELL, "1.000"), stop_price=price("105.00")))
    desk.place(TakeProfit(**on(2, BUY, "1.000"), stop_price=price("95.00")))
    path = ["100.00", "104.99", "105.00", "100.00", "95.01", "95.00"]
    fired = [(n, [r.synthetic_id for r in releases(a)]) for n, a in enumerate(desk.trades(path)) if releases(a)]
    assert fired == [(2, [1]), (5, [2])]


def test_the_release_of_a_stop_market_is_a_market_order_carrying_the_trigger_time_and_price() -> None:
    desk = Desk()
    flags = IntentFlag.REDUCE_ONLY
    desk.place(Stop(**on(1, SELL, "2.000"), stop_price=price("99.00"), flags=flags, tif=TimeInForce.IOC))
    desk.trade("100.00")
    actions = desk.trade("98.50")  # a gap through the level: the price that reached it is the trigger price
    assert actions == [
        Release(1, STRATEGY, TST.id, SELL, OrderType.MARKET, TimeInForce.IOC, 0, qty("2.000"), flags, desk.now,
                price("98.50")),
        StateChange(1, STRATEGY, TST.id, SynthState.TRIGGERED, qty("2.000"), 0, RejectReason.NONE),
    ]  # fmt: skip


@pytest.mark.parametrize("kind", [Stop, TakeProfit])
def test_a_limit_variant_releases_a_limit_order_at_its_limit_price(kind: type[Stop] | type[TakeProfit]) -> None:
    desk = Desk()
    desk.place(kind(**on(1, SELL, "1.000"), stop_price=price("100.00"), limit_price=price("99.50")))
    released = releases(desk.trade("100.00"))  # a sell stop falls to 100, a sell take-profit rises to it
    assert [(r.order_type, r.price, r.tif) for r in released] == [(OrderType.LIMIT, price("99.50"), TimeInForce.GTC)]


def test_the_stop_spec_names_its_intent_order_type() -> None:
    assert Stop(**on(1, BUY, "1.000"), stop_price=1).order_type is OrderType.STOP_MARKET
    assert Stop(**on(1, BUY, "1.000"), stop_price=1, limit_price=2).order_type is OrderType.STOP_LIMIT


def test_a_trigger_fires_once_however_often_the_price_comes_back_to_the_level() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, BUY, "1.000"), stop_price=price("101.00")))
    assert desk.fired_at(["101.00", "100.00", "101.00", "102.00", "101.00"]) == [0]
    assert desk.state(1) is SynthState.TRIGGERED


def test_a_stop_placed_with_its_level_already_reached_is_released_at_once_at_the_seen_price() -> None:
    desk = Desk()
    desk.trade("102.00")
    actions = desk.place(Stop(**on(1, BUY, "1.000"), stop_price=price("101.00")))
    assert [(r.trigger_price, r.trigger_ns) for r in releases(actions)] == [(price("102.00"), desk.now)]


def test_placing_exactly_at_the_seen_price_fires_at_once_and_a_tick_short_of_it_waits() -> None:
    desk = Desk()
    desk.trade("101.00")
    assert releases(desk.place(Stop(**on(1, BUY, "1.000"), stop_price=price("101.00"))))
    assert releases(desk.place(Stop(**on(2, BUY, "1.000"), stop_price=price("101.01")))) == []
    assert releases(desk.place(TakeProfit(**on(3, BUY, "1.000"), stop_price=price("101.00"))))
    assert releases(desk.place(TakeProfit(**on(4, BUY, "1.000"), stop_price=price("100.99")))) == []


def test_a_stop_placed_before_any_price_waits_for_one() -> None:
    desk = Desk()
    actions = desk.place(Stop(**on(1, BUY, "1.000"), stop_price=price("101.00")))
    assert [a.state for a in actions if isinstance(a, StateChange)] == [SynthState.PENDING_TRIGGER]
    assert desk.fired_at(["101.00"]) == [0]


def test_levels_reached_by_one_gap_fire_in_level_order_and_equal_levels_in_placement_order() -> None:
    desk = Desk()
    for order_id, level in [(1, "99.00"), (2, "98.00"), (3, "99.50"), (4, "99.00")]:
        desk.place(Stop(**on(order_id, SELL, "1.000"), stop_price=price(level)))
    desk.trade("100.00")
    assert [r.synthetic_id for r in releases(desk.trade("97.00"))] == [3, 1, 4, 2]


def test_a_quiet_update_returns_the_shared_empty_answer_and_leaves_every_level_armed() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, BUY, "1.000"), stop_price=price("101.00")))
    desk.place(Stop(**on(2, SELL, "1.000"), stop_price=price("99.00")))
    first = desk.book.on_trade(TST.id, price("100.00"), 1, desk.tick())
    second = desk.book.on_book(TST.id, price("99.99"), price("100.01"), desk.tick())
    assert first == () and first is second
    assert (desk.book.trigger_level(1), desk.book.trigger_level(2)) == (price("101.00"), price("99.00"))


def test_an_instruments_prices_never_reach_another_instruments_levels() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, BUY, "1.000"), stop_price=price("101.00")))
    assert desk.fired_at(["150.0000"], ALT) == []
    assert desk.fired_at(["101.00"]) == [0]


# -------------------------------------------------------------------------------- bid_ask and mid
def test_a_bid_ask_buy_stop_watches_the_ask_and_a_sell_stop_the_bid() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, BUY, "1.000"), stop_price=price("101.00"), trigger=Trigger.BID_ASK))
    desk.place(Stop(**on(2, SELL, "1.000"), stop_price=price("99.00"), trigger=Trigger.BID_ASK))
    assert releases(desk.quote("101.00", "100.99")) == []  # crossed: a bid at 101 is not what a buy pays
    assert [r.synthetic_id for r in releases(desk.quote("100.50", "101.00"))] == [1]
    assert releases(desk.quote("99.01", "98.99")) == []  # crossed: an ask at 98.99 is not what a sell gets
    assert [r.synthetic_id for r in releases(desk.quote("99.00", "99.01"))] == [2]


def test_a_bid_ask_sell_stop_does_not_fire_on_the_ask_one_tick_before_on_the_bid() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, SELL, "1.000"), stop_price=price("99.00"), trigger=Trigger.BID_ASK))
    assert releases(desk.quote("99.01", "99.00")) == []  # a crossed quote: the ask at the level is not the bid
    assert [r.trigger_price for r in releases(desk.quote("99.00", "99.02"))] == [price("99.00")]


def test_a_bid_ask_take_profit_watches_the_side_it_would_trade_against() -> None:
    desk = Desk()
    desk.place(TakeProfit(**on(1, SELL, "1.000"), stop_price=price("105.00"), trigger=Trigger.BID_ASK))
    desk.place(TakeProfit(**on(2, BUY, "1.000"), stop_price=price("95.00"), trigger=Trigger.BID_ASK))
    assert releases(desk.quote("104.99", "105.00")) == []
    assert [r.synthetic_id for r in releases(desk.quote("105.00", "105.01"))] == [1]
    assert releases(desk.quote("94.99", "95.01")) == []
    assert [r.synthetic_id for r in releases(desk.quote("94.98", "95.00"))] == [2]


def test_a_mid_stop_compares_the_exact_mid_even_between_ticks() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, BUY, "1.000"), stop_price=price("100.00"), trigger=Trigger.MID))
    assert releases(desk.quote("99.98", "100.01")) == []  # mid 99.995: half a tick short
    assert [r.trigger_price for r in releases(desk.quote("99.99", "100.01"))] == [price("100.00")]


def test_a_mid_sell_stop_reports_the_mid_rounded_down_as_its_trigger_price() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, SELL, "1.000"), stop_price=price("100.00"), trigger=Trigger.MID))
    assert releases(desk.quote("100.00", "100.01")) == []  # mid 100.005
    assert [r.trigger_price for r in releases(desk.quote("99.99", "100.00"))] == [price("99.99")]  # 99.995


def test_a_mid_stop_ignores_one_sided_books_and_a_last_stop_ignores_books() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, SELL, "1.000"), stop_price=price("100.00"), trigger=Trigger.MID))
    desk.place(Stop(**on(2, SELL, "1.000"), stop_price=price("100.00")))
    assert releases(desk.quote("90.00", "")) == []
    assert releases(desk.quote("", "90.00")) == []
    assert [r.synthetic_id for r in releases(desk.quote("90.00", "90.01"))] == [1]


def test_book_and_trade_triggers_do_not_see_each_others_prices() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, BUY, "1.000"), stop_price=price("101.00"), trigger=Trigger.BID_ASK))
    assert desk.fired_at(["105.00"]) == []
    assert [r.synthetic_id for r in releases(desk.quote("101.00", "101.00"))] == [1]


# ------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"stop_price": 0}, "stop_price > 0"),
        ({"stop_price": 1, "limit_price": -1}, "limit_price >= 0"),
        ({"stop_price": 1, "qty": 0}, "qty must be > 0"),
    ],
)
def test_a_stop_spec_refuses_nonsense(fields: dict[str, int], message: str) -> None:
    base = on(1, BUY, "1.000") | fields
    with pytest.raises(ValueError, match=message):
        Stop(**base)


def test_the_book_refuses_a_duplicate_id_and_an_unknown_instrument() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, BUY, "1.000"), stop_price=1))
    with pytest.raises(ValueError, match="already in the book"):
        desk.place(Stop(**on(1, BUY, "1.000"), stop_price=1))
    with pytest.raises(ValueError, match="not among the book's instruments"):
        desk.place(Stop(**(on(2, BUY, "1.000") | {"instrument_id": 99}), stop_price=1))


def test_a_trade_at_a_price_of_zero_or_less_is_no_price() -> None:
    desk = Desk()
    desk.place(Stop(**on(1, SELL, "1.000"), stop_price=price("99.00")))
    assert desk.book.on_trade(TST.id, 0, 1, desk.tick()) == ()
    assert desk.book.on_trade(TST.id, -1, 1, desk.tick()) == ()
    assert desk.state(1) is SynthState.PENDING_TRIGGER
