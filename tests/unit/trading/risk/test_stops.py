"""Stops on price paths: each level fires exactly when a mark reaches it, once per position episode.

TSTUSDT: price scale 2, qty scale 3. Positions come from a real
``PositionLedger`` so the entry cost is the ledger's. ``_walk`` feeds a list
of marks and returns, per mark, the orders it produced.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import OrderSide
from stages.trading.risk.ledger import Ledger
from stages.trading.risk.stops import (
    StopBook,
    StopKind,
    StopLoss,
    StopOrder,
    StopSettings,
    TakeProfit,
    TrailingStop,
)
from tests.unit.trading.risk.worked import ALT, TST, price, qty

BUY, SELL = OrderSide.BUY, OrderSide.SELL
LONG_EXIT, SHORT_EXIT = SELL, BUY


class Desk:
    """A ledger and a stop book fed together, as the risk stage will."""

    def __init__(self, **by: Any) -> None:
        self.ledger = Ledger([TST, ALT])
        self.book = StopBook([TST, ALT], **by)

    def fill(self, strategy: int, side: OrderSide, px: str, size: str, instrument: Instrument = TST) -> None:
        self.ledger.apply_fill(strategy, instrument.id, side, price(px, instrument), qty(size, instrument))
        position = self.ledger.position(strategy, instrument.id)
        self.book.position(strategy, instrument.id, position.qty, position.cost)

    def walk(self, marks: list[str], instrument: Instrument = TST) -> list[list[StopOrder]]:
        return [self.book.mark(instrument.id, price(m, instrument)) for m in marks]


def _on_tst(**settings: str) -> Desk:
    return Desk(by_instrument={TST.id: StopSettings(**settings)})


def _fired_at(orders: list[list[StopOrder]]) -> list[int]:
    return [n for n, found in enumerate(orders) if found]


# ------------------------------------------------------------------------------------------ stop loss
def test_a_long_stop_loss_fires_when_the_mark_reaches_entry_minus_offset_not_a_tick_before() -> None:
    desk = _on_tst(stop_loss_offset="2")
    desk.fill(1, BUY, "100.00", "1.000")
    orders = desk.walk(["99.50", "98.01", "98.00", "97.00"])
    assert orders == [[], [], [StopOrder(1, TST.id, LONG_EXIT, qty("1.000"), StopKind.STOP_LOSS)], []]


def test_a_short_stop_loss_mirrors_the_long_above_the_entry() -> None:
    desk = _on_tst(stop_loss_offset="2")
    desk.fill(1, SELL, "100.00", "1.000")
    orders = desk.walk(["98.00", "101.99", "102.00"])
    assert orders == [[], [], [StopOrder(1, TST.id, SHORT_EXIT, qty("1.000"), StopKind.STOP_LOSS)]]


def test_the_offset_is_from_the_exact_average_entry_even_between_ticks() -> None:
    desk = _on_tst(stop_loss_offset="0.66")
    desk.fill(1, BUY, "100.00", "1.000")
    desk.fill(1, BUY, "101.00", "2.000")  # entry 100.6666…, level 100.00666…
    assert _fired_at(desk.walk(["100.01", "100.00"])) == [1]


@pytest.mark.parametrize(
    ("side", "entry", "marks", "exit_side"),
    [(BUY, "100.00", ["95.01", "95.00"], LONG_EXIT), (SELL, "90.00", ["94.99", "95.00"], SHORT_EXIT)],
)
def test_an_absolute_stop_price_cuts_a_long_that_falls_to_it_and_a_short_that_rises_to_it(
    side: OrderSide, entry: str, marks: list[str], exit_side: OrderSide
) -> None:
    desk = _on_tst(stop_loss_price="95")
    desk.fill(1, side, entry, "1.000")
    assert desk.walk(marks) == [[], [StopOrder(1, TST.id, exit_side, qty("1.000"), StopKind.STOP_LOSS)]]


# ------------------------------------------------------------------------------------------ trailing
def test_a_long_trailing_stop_follows_the_highest_mark_and_fires_percent_below_it() -> None:
    desk = _on_tst(trailing_percent="5")
    desk.fill(1, BUY, "100.00", "1.000")
    # best 100 -> level 95.00; best 110 -> level 104.50
    orders = desk.walk(["100.00", "95.01", "110.00", "104.51", "104.50"])
    assert _fired_at(orders) == [4]
    assert orders[4] == [StopOrder(1, TST.id, LONG_EXIT, qty("1.000"), StopKind.TRAILING_STOP)]


def test_a_short_trailing_stop_follows_the_lowest_mark_and_fires_percent_above_it() -> None:
    desk = _on_tst(trailing_percent="5")
    desk.fill(1, SELL, "100.00", "1.000")
    # best 100 -> level 105.00; best 90 -> level 94.50
    orders = desk.walk(["100.00", "104.99", "90.00", "94.49", "94.50"])
    assert _fired_at(orders) == [4]
    assert orders[4] == [StopOrder(1, TST.id, SHORT_EXIT, qty("1.000"), StopKind.TRAILING_STOP)]


def test_a_trailing_amount_fires_that_far_from_the_best_mark_either_side() -> None:
    long, short = _on_tst(trailing_amount="1.5"), _on_tst(trailing_amount="1.5")
    long.fill(1, BUY, "100.00", "1.000")
    short.fill(1, SELL, "100.00", "1.000")
    assert _fired_at(long.walk(["100.00", "101.00", "99.51", "99.50"])) == [3]
    assert _fired_at(short.walk(["100.00", "99.00", "100.49", "100.50"])) == [3]


def test_the_trail_starts_at_the_first_mark_seen_not_at_the_entry_price() -> None:
    desk = _on_tst(trailing_percent="10")
    desk.fill(1, BUY, "100.00", "1.000")
    assert _fired_at(desk.walk(["95.00", "90.00", "85.51", "85.50"])) == [3]  # 95 × 0.9 = 85.50


def test_a_fractional_trailing_percent_is_exact() -> None:
    desk = _on_tst(trailing_percent="0.1")
    desk.fill(1, BUY, "100.00", "1.000")
    assert _fired_at(desk.walk(["100.00", "99.91", "99.90"])) == [2]


# --------------------------------------------------------------------------------------- take profit
@pytest.mark.parametrize(
    ("side", "marks", "exit_side"),
    [(BUY, ["102.99", "103.00"], LONG_EXIT), (SELL, ["97.01", "97.00"], SHORT_EXIT)],
)
def test_a_take_profit_fires_when_the_mark_reaches_entry_plus_offset_in_the_positions_favour(
    side: OrderSide, marks: list[str], exit_side: OrderSide
) -> None:
    desk = _on_tst(take_profit_offset="3")
    desk.fill(1, side, "100.00", "1.000")
    assert desk.walk(marks) == [[], [StopOrder(1, TST.id, exit_side, qty("1.000"), StopKind.TAKE_PROFIT)]]


@pytest.mark.parametrize(
    ("side", "entry", "marks", "exit_side"),
    [(BUY, "100.00", ["109.99", "110.00"], LONG_EXIT), (SELL, "120.00", ["110.01", "110.00"], SHORT_EXIT)],
)
def test_a_take_profit_price_takes_a_long_that_rises_to_it_and_a_short_that_falls_to_it(
    side: OrderSide, entry: str, marks: list[str], exit_side: OrderSide
) -> None:
    desk = _on_tst(take_profit_price="110")
    desk.fill(1, side, entry, "1.000")
    assert desk.walk(marks) == [[], [StopOrder(1, TST.id, exit_side, qty("1.000"), StopKind.TAKE_PROFIT)]]


def test_one_mark_flattens_every_strategy_whose_exit_it_reaches() -> None:
    desk = _on_tst(stop_loss_price="95")
    desk.fill(1, BUY, "100.00", "1.000")
    desk.fill(2, SELL, "90.00", "2.000")
    desk.fill(3, BUY, "100.00", "0.500")
    assert desk.walk(["95.00"]) == [
        [
            StopOrder(1, TST.id, LONG_EXIT, qty("1.000"), StopKind.STOP_LOSS),
            StopOrder(2, TST.id, SHORT_EXIT, qty("2.000"), StopKind.STOP_LOSS),
            StopOrder(3, TST.id, LONG_EXIT, qty("0.500"), StopKind.STOP_LOSS),
        ]
    ]


# ------------------------------------------------------------------------------------------ episodes
def test_an_exit_fires_once_per_episode_while_the_flattening_order_works() -> None:
    desk = _on_tst(stop_loss_offset="2")
    desk.fill(1, BUY, "100.00", "1.000")
    assert _fired_at(desk.walk(["98.00", "97.00"])) == [0]
    desk.fill(1, SELL, "97.00", "0.400")  # part of the flattening order: same side, same episode
    desk.fill(1, BUY, "97.00", "0.100")  # growing on the same side: still the same episode
    assert desk.walk(["90.00"]) == [[]]
    assert not desk.book.armed(1, TST.id)


def test_flat_then_reopened_re_arms_the_exit_and_resets_the_trail() -> None:
    desk = _on_tst(trailing_amount="5")
    desk.fill(1, BUY, "100.00", "1.000")
    assert _fired_at(desk.walk(["120.00", "115.00"])) == [1]
    desk.fill(1, SELL, "115.00", "1.000")
    assert not desk.book.armed(1, TST.id)
    desk.fill(1, BUY, "100.00", "1.000")  # flat and reopened between two marks: a new episode
    assert desk.book.armed(1, TST.id)
    # the old best (120) is gone: 100 -> level 95
    orders = desk.walk(["100.00", "95.01", "95.00"])
    assert orders == [[], [], [StopOrder(1, TST.id, LONG_EXIT, qty("1.000"), StopKind.TRAILING_STOP)]]


def test_a_flip_through_zero_is_a_new_episode_with_the_exits_mirrored() -> None:
    desk = _on_tst(stop_loss_offset="2")
    desk.fill(1, BUY, "100.00", "1.000")
    assert _fired_at(desk.walk(["98.00"])) == [0]
    desk.fill(1, SELL, "98.00", "1.500")  # long 1 -> short 0.5 at 98.00: level 100.00
    orders = desk.walk(["99.99", "100.00"])
    assert orders == [[], [StopOrder(1, TST.id, SHORT_EXIT, qty("0.500"), StopKind.STOP_LOSS)]]


def test_the_order_flattens_the_size_held_when_the_mark_comes() -> None:
    desk = _on_tst(stop_loss_offset="2")
    desk.fill(1, BUY, "100.00", "1.000")
    desk.fill(1, BUY, "100.00", "0.250")
    assert desk.walk(["98.00"]) == [[StopOrder(1, TST.id, LONG_EXIT, qty("1.250"), StopKind.STOP_LOSS)]]


def test_rearm_fires_again_on_the_next_mark_beyond_the_level() -> None:
    desk = _on_tst(stop_loss_offset="2")
    desk.fill(1, BUY, "100.00", "1.000")
    assert _fired_at(desk.walk(["98.00", "97.00"])) == [0]
    desk.book.rearm(1, TST.id)  # say the flattening order was rejected
    assert desk.walk(["97.50"]) == [[StopOrder(1, TST.id, LONG_EXIT, qty("1.000"), StopKind.STOP_LOSS)]]
    desk.book.rearm(2, TST.id)  # no position: nothing to arm
    assert not desk.book.armed(2, TST.id)


def test_when_several_exits_are_reached_on_one_mark_one_order_goes_out_named_by_precedence() -> None:
    desk = _on_tst(stop_loss_offset="2", trailing_amount="1")
    desk.fill(1, BUY, "100.00", "1.000")
    orders = desk.walk(["100.00", "97.00"])
    assert orders == [[], [StopOrder(1, TST.id, LONG_EXIT, qty("1.000"), StopKind.STOP_LOSS)]]


# ------------------------------------------------------------------------------------- configuration
def test_a_strategy_gets_its_instruments_exits_and_its_own_and_the_first_reached_flattens() -> None:
    desk = Desk(
        by_instrument={TST.id: StopSettings(stop_loss_offset="5")},
        by_strategy={7: StopSettings(trailing_percent="1")},
    )
    desk.fill(7, BUY, "100.00", "1.000")
    desk.fill(8, BUY, "100.00", "1.000")
    desk.fill(7, BUY, "1.0000", "10.0", ALT)  # ALT has no instrument exits: only strategy 7's trail
    desk.fill(8, BUY, "1.0000", "10.0", ALT)
    assert [len(desk.book.exits(s, i)) for s in (7, 8) for i in (TST.id, ALT.id)] == [2, 1, 1, 0]
    orders = desk.walk(["100.00", "99.00", "95.00"])
    assert [[(o.strategy_id, o.kind) for o in found] for found in orders] == [
        [],
        [(7, StopKind.TRAILING_STOP)],
        [(8, StopKind.STOP_LOSS)],
    ]
    alt = desk.walk(["1.0000", "0.9900"], ALT)
    assert alt == [[], [StopOrder(7, ALT.id, LONG_EXIT, qty("10.0", ALT), StopKind.TRAILING_STOP)]]
    assert not desk.book.armed(8, ALT.id)


def test_a_position_without_exits_or_in_an_unknown_instrument_is_not_watched() -> None:
    book = StopBook([TST])
    book.position(1, TST.id, qty("1.000"), price("100.00") * qty("1.000"))
    book.position(1, 99, 5, 500)
    assert (book.mark(TST.id, 1), book.mark(99, 1), book.armed(1, TST.id)) == ([], [], False)


@pytest.mark.parametrize(
    ("settings", "field", "reason"),
    [
        ({"stop_loss_offset": 2}, "stop_loss_offset", 'must be a decimal string such as "1.5", got 2'),
        ({"stop_loss_price": "1e3"}, "stop_loss_price", 'must be a decimal string such as "1.5", got \'1e3\''),
        ({"trailing_amount": "-1"}, "trailing_amount", 'must be a decimal string such as "1.5", got \'-1\''),
        ({"take_profit_offset": "0.00"}, "take_profit_offset", "must be > 0, got 0.00"),
        ({"trailing_percent": "100"}, "trailing_percent", "must be < 100, got 100"),
        ({"stop_loss_price": "90", "stop_loss_offset": "2"}, "stop_loss_offset",
         "give stop_loss_price or stop_loss_offset, not both"),
        ({"trailing_percent": "1", "trailing_amount": "2"}, "trailing_amount",
         "give trailing_percent or trailing_amount, not both"),
        ({"take_profit_price": "1", "take_profit_offset": "2"}, "take_profit_offset",
         "give take_profit_price or take_profit_offset, not both"),
    ],
)  # fmt: skip
def test_each_stop_settings_mistake_is_a_config_error_naming_its_field(
    settings: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        StopSettings(**settings)
    assert (caught.value.key, caught.value.reason) == (field, reason)


def test_a_level_finer_than_an_instruments_price_scale_is_a_config_error_when_the_book_is_built() -> None:
    with pytest.raises(ConfigError) as caught:
        StopBook([TST, ALT], by_strategy={3: StopSettings(trailing_amount="0.001")})
    assert (caught.value.key, caught.value.reason) == (
        "trailing_amount",
        "0.001 has more decimals than TSTUSDT's price scale (2)",
    )
    with pytest.raises(ValueError, match="instrument id 99"):
        StopBook([TST], by_instrument={99: StopSettings()})


def test_settings_resolve_to_exits_at_the_instruments_scale_in_precedence_order() -> None:
    settings = StopSettings(take_profit_price="110.5", trailing_percent="1.25", stop_loss_offset="2")
    assert settings.exits(TST) == (
        StopLoss(offset=price("2")),
        TrailingStop(percent=Decimal("1.25")),
        TakeProfit(price=price("110.5")),
    )
    assert settings.exits(ALT)[0] == StopLoss(offset=price("2", ALT))
    assert StopSettings().exits(TST) == ()


@pytest.mark.parametrize(
    ("exit_class", "given", "message"),
    [
        (StopLoss, {}, "exactly one"),
        (StopLoss, {"price": 1, "offset": 1}, "exactly one"),
        (TakeProfit, {"offset": 0}, "must be > 0"),
        (TrailingStop, {}, "exactly one"),
        (TrailingStop, {"percent": Decimal("100")}, r"in \(0, 100\)"),
        (TrailingStop, {"percent": Decimal("NaN")}, r"in \(0, 100\)"),
        (TrailingStop, {"amount": -1}, "must be > 0"),
    ],
)
def test_an_exit_built_in_code_refuses_an_impossible_level(
    exit_class: Any, given: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        exit_class(**given)
