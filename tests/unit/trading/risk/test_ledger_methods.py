"""FIFO, LIFO and average cost, worked by hand: the same ten fills, each row's realized PnL, position and lots.

TSTUSDT: price scale 2, qty scale 3, so money is at 5 decimals. The fills
build a long in three lots (one a partial fill), close it across lots, flip
it short through zero, add to the short, cover it across lots, flip long
through zero, and close flat.
"""

from __future__ import annotations

from typing import Final

import pytest

from hftpipe.schema.instruments import Instrument
from stages.trading.risk.ledger import PositionLedger
from stages.trading.risk.lots import CostMethod
from tests.unit.trading.risk.worked import SIDES, TST, lots, money, price, qty

Row = tuple[str, str, str, str, str, list[tuple[str, str]]]

# fmt: off
FIFO: Final[list[Row]] = [
    # side    price     qty      realized    position  open lots, oldest first
    ("BUY",  "100.00", "1.000",  "0",       "1.000",  [("100.00", "1.000")]),
    ("BUY",  "102.00", "0.500",  "0",       "1.500",  [("100.00", "1.000"), ("102.00", "0.500")]),
    ("BUY",  "101.00", "0.250",  "0",       "1.750",  [("100.00", "1.000"), ("102.00", "0.500"), ("101.00", "0.250")]),
    # 0.4 of the 100.00 lot: (103 − 100) × 0.4
    ("SELL", "103.00", "0.400",  "1.2",     "1.350",  [("100.00", "0.600"), ("102.00", "0.500"), ("101.00", "0.250")]),
    # the rest of the 100.00 lot and 0.3 of the 102.00 one: −0.5 × 0.6 − 2.5 × 0.3
    ("SELL", "99.50",  "0.900",  "-1.05",   "0.450",  [("102.00", "0.200"), ("101.00", "0.250")]),
    # long → short: 2 × 0.2 + 3 × 0.25 realized, the other 0.55 opens short at 104.00
    ("SELL", "104.00", "1.000",  "1.15",    "-0.550", [("104.00", "0.550")]),
    ("SELL", "105.00", "0.200",  "0",       "-0.750", [("104.00", "0.550"), ("105.00", "0.200")]),
    # covers the 104.00 lot, then 0.05 of the 105.00 one: 0.5 × 0.55 + 1.5 × 0.05
    ("BUY",  "103.50", "0.600",  "0.35",    "-0.150", [("105.00", "0.150")]),
    # short → long: 5 × 0.15 realized, the other 0.25 opens long at 100.00
    ("BUY",  "100.00", "0.400",  "0.75",    "0.250",  [("100.00", "0.250")]),
    ("SELL", "100.00", "0.250",  "0",       "0",      []),
]

LIFO: Final[list[Row]] = [
    # side    price     qty      realized    position  open lots, oldest first
    ("BUY",  "100.00", "1.000",  "0",       "1.000",  [("100.00", "1.000")]),
    ("BUY",  "102.00", "0.500",  "0",       "1.500",  [("100.00", "1.000"), ("102.00", "0.500")]),
    ("BUY",  "101.00", "0.250",  "0",       "1.750",  [("100.00", "1.000"), ("102.00", "0.500"), ("101.00", "0.250")]),
    # the newest lot, 101.00, then 0.15 of the 102.00 one: 2 × 0.25 + 1 × 0.15
    ("SELL", "103.00", "0.400",  "0.65",    "1.350",  [("100.00", "1.000"), ("102.00", "0.350")]),
    # the rest of the 102.00 lot, then 0.55 of the 100.00 one: −2.5 × 0.35 − 0.5 × 0.55
    ("SELL", "99.50",  "0.900",  "-1.15",   "0.450",  [("100.00", "0.450")]),
    # long → short: 4 × 0.45 realized, the other 0.55 opens short at 104.00
    ("SELL", "104.00", "1.000",  "1.8",     "-0.550", [("104.00", "0.550")]),
    ("SELL", "105.00", "0.200",  "0",       "-0.750", [("104.00", "0.550"), ("105.00", "0.200")]),
    # covers the newest, 105.00, then 0.4 of the 104.00 lot: 1.5 × 0.2 + 0.5 × 0.4
    ("BUY",  "103.50", "0.600",  "0.5",     "-0.150", [("104.00", "0.150")]),
    # short → long: 4 × 0.15 realized, the other 0.25 opens long at 100.00
    ("BUY",  "100.00", "0.400",  "0.6",     "0.250",  [("100.00", "0.250")]),
    ("SELL", "100.00", "0.250",  "0",       "0",      []),
]

AVERAGE: Final[list[tuple[str, str, str, str, str, str]]] = [
    # side    price     qty      realized    position  entry cost (signed like the position)
    ("BUY",  "100.00", "1.000",  "0",       "1.000",  "100"),
    ("BUY",  "102.00", "0.500",  "0",       "1.500",  "151"),
    ("BUY",  "101.00", "0.250",  "0",       "1.750",  "176.25"),
    # share closed: 176.25 × 0.4 / 1.75 = 40.2857142…, truncated to 40.28571; 41.2 − 40.28571
    ("SELL", "103.00", "0.400",  "0.91429", "1.350",  "135.96429"),
    # share: 135.96429 × 0.9 / 1.35 = 90.64286 exactly; 89.55 − 90.64286
    ("SELL", "99.50",  "0.900",  "-1.09286", "0.450", "45.32143"),
    # long → short: the whole 45.32143 closes against 104 × 0.45 = 46.8; 0.55 opens short at 104.00
    ("SELL", "104.00", "1.000",  "1.47857", "-0.550", "-57.2"),
    ("SELL", "105.00", "0.200",  "0",       "-0.750", "-78.2"),
    # share: 78.2 × 0.6 / 0.75 = 62.56; a short gains what it sold above the buy: 62.56 − 103.5 × 0.6
    ("BUY",  "103.50", "0.600",  "0.46",    "-0.150", "-15.64"),
    # short → long: 15.64 − 100 × 0.15 realized, 0.25 opens long at 100.00
    ("BUY",  "100.00", "0.400",  "0.64",    "0.250",  "25"),
    ("SELL", "100.00", "0.250",  "0",       "0",      "0"),
]
# fmt: on


def _play_lots(method: CostMethod, table: list[Row]) -> PositionLedger:
    position = PositionLedger(TST, method)
    for n, (side, px, size, realized, after, open_lots) in enumerate(table, 1):
        got = position.apply_fill(SIDES[side], price(px), qty(size))
        assert (got, position.qty, position.lots) == (money(realized), qty(after), lots(open_lots)), f"row {n}"
    return position


def test_fifo_closes_the_oldest_lots_first_and_flips_through_zero_both_ways() -> None:
    position = _play_lots(CostMethod.FIFO, FIFO)
    assert position.realized == money("2.4")


def test_lifo_closes_the_newest_lots_first_and_flips_through_zero_both_ways() -> None:
    position = _play_lots(CostMethod.LIFO, LIFO)
    assert position.realized == money("2.4")


def test_average_cost_closes_at_the_running_average_truncating_only_the_share_of_a_partial_close() -> None:
    position = PositionLedger(TST, CostMethod.AVERAGE)
    for n, (side, px, size, realized, after, cost) in enumerate(AVERAGE, 1):
        got = position.apply_fill(SIDES[side], price(px), qty(size))
        assert (got, position.qty, position.cost, position.lots) == (money(realized), qty(after), money(cost), ()), (
            f"row {n}"
        )
    assert position.realized == money("2.4")


@pytest.mark.parametrize("method", list(CostMethod))
def test_a_round_trip_back_to_flat_realizes_sells_minus_buys_under_every_method(method: CostMethod) -> None:
    position = PositionLedger(TST, method)
    for side, px, size, *_ in FIFO:
        position.apply_fill(SIDES[side], price(px), qty(size))
    # Σ sells − Σ buys: 41.2 + 89.55 + 104 + 21 + 25 − (100 + 51 + 25.25 + 62.1 + 40)
    assert (position.qty, position.cost, position.realized) == (0, 0, money("2.4"))
    assert (position.volume, position.fills, position.fees) == (qty("5.500"), 10, 0)


@pytest.mark.parametrize(
    ("method", "cost", "entry"),
    [(CostMethod.FIFO, "176.25", 100.71428571428571), (CostMethod.AVERAGE, "176.25", 100.71428571428571)],
)
def test_the_open_size_carries_its_entry_cost_and_unrealized_pnl_at_a_mark(
    method: CostMethod, cost: str, entry: float
) -> None:
    position = PositionLedger(TST, method)
    for side, px, size, *_ in FIFO[:3]:
        position.apply_fill(SIDES[side], price(px), qty(size))
    assert position.cost == money(cost)
    assert position.avg_entry == pytest.approx(entry)
    # 1.75 × 101.50 − 176.25
    assert position.unrealized(price("101.50")) == money("1.375")
    assert position.pnl(price("101.50")) == money("1.375")


def test_a_short_gains_unrealized_pnl_when_the_mark_falls() -> None:
    position = PositionLedger(TST, CostMethod.LIFO)
    position.apply_fill(SIDES["SELL"], price("104.00"), qty("0.550"))
    position.apply_fill(SIDES["SELL"], price("105.00"), qty("0.200"))
    assert (position.qty, position.cost) == (qty("-0.750"), money("-78.2"))
    assert position.avg_entry == pytest.approx(104.26666666666667)
    # 78.2 − 0.75 × 100.00
    assert position.unrealized(price("100.00")) == money("3.2")


def test_a_flat_position_has_no_entry_and_no_unrealized_pnl() -> None:
    position = PositionLedger(TST)
    assert (position.qty, position.cost, position.avg_entry, position.unrealized(price("100.00"))) == (0, 0, 0.0, 0)


def test_the_cost_method_may_be_named_by_its_config_string() -> None:
    assert PositionLedger(TST, CostMethod("lifo")).method is CostMethod.LIFO
    assert PositionLedger(TST, "average").method is CostMethod.AVERAGE  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("side", "px", "size", "message"),
    [
        (0, 0, 1, "positive price"),
        (0, 1, 0, "positive price"),
        (1, 1, -5, "positive price"),
        (2, 1, 1, "not an order side"),
    ],
)
def test_a_fill_with_no_price_no_quantity_or_no_side_is_refused(side: int, px: int, size: int, message: str) -> None:
    position = PositionLedger(TST)
    with pytest.raises(ValueError, match=message):
        position.apply_fill(side, px, size)  # type: ignore[arg-type]
    assert (position.qty, position.fills) == (0, 0)


def test_a_record_side_as_a_raw_integer_books_like_the_enum() -> None:
    position = PositionLedger(Instrument(id=9, venue="test", symbol="RAW", price_scale=0, qty_scale=0))
    position.apply_fill(0, 10, 3)  # type: ignore[arg-type]
    assert position.apply_fill(1, 12, 3) == 6  # type: ignore[arg-type]
