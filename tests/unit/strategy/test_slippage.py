"""hftpipe.strategy.slippage: walking the visible depth, worked by hand (price scale 2, quantity scale 3)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import DEPTH_LEVELS
from hftpipe.schema.trading import OrderSide
from hftpipe.strategy import BookView, SlippageEstimate, WalkStatus, estimate_from_depth, estimate_slippage
from hftpipe.strategy.slippage import realized_slippage_bps
from tests.unit.trading.strategy import records as r

BUY, SELL = OrderSide.BUY, OrderSide.SELL

# bids 100.00 x 1.000, 99.50 x 2.000, 99.00 x 5.000 | asks 100.50 x 1.000, 101.00 x 2.000, 102.00 x 3.000
BID_P = [10000, 9950, 9900]
BID_Q = [1000, 2000, 5000]
ASK_P = [10050, 10100, 10200]
ASK_Q = [1000, 2000, 3000]
MID = Fraction(10025)  # 100.25


def bps(avg: Fraction, reference: Fraction, side: OrderSide) -> float:
    """The cost by hand: (avg - ref) / ref in bps, positive when worse for the side."""
    sign = 1 if side is BUY else -1
    return float(sign * (avg - reference) / reference * 10_000)


def walk(side: OrderSide, qty: int, limit: int = 0) -> SlippageEstimate:
    return estimate_slippage(side, qty, BID_P, BID_Q, ASK_P, ASK_Q, limit)


@pytest.mark.parametrize(
    ("side", "qty", "filled", "notional", "avg", "exact", "worst", "levels"),
    [
        # one level: 0.500 at 100.50
        (BUY, 500, 500, 10050 * 500, 10050, Fraction(10050), 10050, 1),
        # exactly the first level
        (BUY, 1000, 1000, 10050 * 1000, 10050, Fraction(10050), 10050, 1),
        # two levels, an exact average: 1.000 @ 100.50 + 1.000 @ 101.00 = 201.50 -> 100.75
        (BUY, 2000, 2000, 10050 * 1000 + 10100 * 1000, 10075, Fraction(10075), 10100, 2),
        # 1.000 @ 100.50 + 1.500 @ 101.00 = 252.00 -> 100.80
        (BUY, 2500, 2500, 10050 * 1000 + 10100 * 1500, 10080, Fraction(10080), 10100, 2),
        # 1.000 @ 100.50 + 2.000 @ 101.00 = 302.50 -> 100.8333..., a buy's rounds up to 100.84
        (BUY, 3000, 3000, 10050 * 1000 + 10100 * 2000, 10084, Fraction(302500, 30), 10100, 2),
        # a sell walks the bids: 1.000 @ 100.00 + 2.000 @ 99.50 = 299.00 -> 99.6666..., rounds down to 99.66
        (SELL, 3000, 3000, 10000 * 1000 + 9950 * 2000, 9966, Fraction(299000, 30), 9950, 2),
        # a sell of one level
        (SELL, 250, 250, 10000 * 250, 10000, Fraction(10000), 10000, 1),
    ],
)
def test_should_average_the_levels_an_order_walks_rounding_against_it(
    side: OrderSide, qty: int, filled: int, notional: int, avg: int, exact: Fraction, worst: int, levels: int
) -> None:
    fill = walk(side, qty)
    assert fill.status is WalkStatus.FULL and fill.complete
    assert (fill.qty, fill.filled_qty, fill.unfilled_qty) == (qty, filled, qty - filled)
    assert (fill.notional, fill.avg_price, fill.worst_price, fill.levels) == (notional, avg, worst, levels)
    assert fill.exact_avg_price == exact
    touch = Fraction(ASK_P[0] if side is BUY else BID_P[0])
    assert fill.touch_bps == bps(exact, touch, side)
    assert fill.mid_bps == bps(exact, MID, side)


def test_should_price_one_level_at_the_touch_as_no_cost_against_it_and_half_the_spread_against_the_mid() -> None:
    fill = walk(BUY, 500)
    assert fill.touch_bps == 0.0
    assert fill.mid_bps == pytest.approx(0.25 / 100.25 * 10_000, rel=1e-15)  # 24.94 bps
    sell = walk(SELL, 500)
    assert sell.touch_bps == 0.0
    assert sell.mid_bps == pytest.approx(0.25 / 100.25 * 10_000, rel=1e-15)  # a cost for the sell too


def test_should_say_what_lies_beyond_the_visible_depth() -> None:
    fill = walk(BUY, 7000)  # 6.000 visible
    assert (fill.filled_qty, fill.unfilled_qty, fill.levels, fill.worst_price) == (6000, 1000, 3, 10200)
    assert fill.status is WalkStatus.SHORT and not fill.complete
    # 100.50 + 202.00 + 306.00 = 608.50 over 6.000 -> 101.41666..., rounded up
    assert fill.notional == 10050 * 1000 + 10100 * 2000 + 10200 * 3000 == 60_850_000
    assert fill.avg_price == 10142
    assert fill.mid_bps == bps(Fraction(60850000, 6000), MID, BUY)
    sell = walk(SELL, 9000)  # 8.000 visible
    assert (sell.filled_qty, sell.unfilled_qty, sell.worst_price) == (8000, 1000, 9900)


def test_should_stop_at_the_limit_price() -> None:
    within = walk(BUY, 3000, limit=10100)
    assert (within.filled_qty, within.unfilled_qty) == (3000, 0)
    assert within.status is WalkStatus.FULL
    short = walk(BUY, 4000, limit=10100)
    assert (short.filled_qty, short.unfilled_qty, short.worst_price) == (3000, 1000, 10100)
    assert short.status is WalkStatus.LIMITED
    sell = walk(SELL, 4000, limit=9950)
    assert (sell.filled_qty, sell.unfilled_qty) == (3000, 1000)


def test_should_fill_nothing_and_say_nan_when_the_limit_is_not_reached() -> None:
    fill = walk(BUY, 1000, limit=10000)
    assert fill.status is WalkStatus.LIMITED
    assert (fill.filled_qty, fill.unfilled_qty, fill.notional, fill.avg_price, fill.levels) == (0, 1000, 0, 0, 0)
    assert math.isnan(fill.mid_bps) and math.isnan(fill.touch_bps)
    assert fill.exact_avg_price == 0


def test_should_fill_nothing_against_an_empty_side() -> None:
    fill = estimate_slippage(BUY, 1000, BID_P, BID_Q, [], [])
    assert (fill.status, fill.filled_qty, fill.unfilled_qty) == (WalkStatus.EMPTY, 0, 1000)
    assert math.isnan(fill.touch_bps) and not fill.exceeds_touch_bps(0)
    empty = estimate_slippage(SELL, 1000, [0] * 5, [0] * 5, [0] * 5, [0] * 5)  # a DEPTH record with no level set
    assert empty.status is WalkStatus.EMPTY


@pytest.mark.parametrize(("bid", "ask"), [(10050, 10050), (10100, 10050)])
def test_should_refuse_to_estimate_on_a_crossed_or_locked_book(bid: int, ask: int) -> None:
    for side in (BUY, SELL):
        fill = estimate_slippage(side, 500, [bid, 9900], [1000, 1000], [ask, 10200], [1000, 1000])
        assert (fill.status, fill.filled_qty, fill.notional, fill.avg_price) == (WalkStatus.CROSSED, 0, 0, 0)
        assert (fill.bid, fill.ask) == (bid, ask)
        assert math.isnan(fill.mid_bps) and math.isnan(fill.touch_bps)
        assert not fill.exceeds_touch_bps(0) and not fill.exceeds_mid_bps(0)


def test_should_have_no_mid_in_a_one_sided_book() -> None:
    fill = estimate_slippage(BUY, 1500, [], [], ASK_P, ASK_Q)
    assert (fill.status, fill.filled_qty, fill.bid, fill.ask) == (WalkStatus.FULL, 1500, 0, 10050)
    assert math.isnan(fill.mid_bps) and not fill.exceeds_mid_bps(0)
    assert fill.touch_bps == bps(Fraction(10050 * 1000 + 10100 * 500, 1500), Fraction(10050), BUY)


def test_should_read_a_depth_records_arrays_in_place_and_stop_at_the_unused_levels() -> None:
    """The book stage's DEPTH: 20 slots per side, the unused ones zero; numpy int64 views."""
    bid_p, bid_q, ask_p, ask_q = (np.zeros(DEPTH_LEVELS, np.int64) for _ in range(4))
    bid_p[:3], bid_q[:3], ask_p[:3], ask_q[:3] = BID_P, BID_Q, ASK_P, ASK_Q
    fill = estimate_slippage(BUY, 7000, bid_p, bid_q, ask_p, ask_q)
    assert fill == walk(BUY, 7000)
    assert type(fill.notional) is int and type(fill.avg_price) is int


def test_should_keep_the_notional_exact_where_int64_would_overflow() -> None:
    # 50 000.00000000 x 100.00000000 at scales 8 and 8: 5e22, past int64
    price, qty = 50_000 * 10**8, 100 * 10**8
    fill = estimate_slippage(
        BUY, qty, [price - 10**8], [qty], np.array([price, price + 10**8]), np.array([qty // 2, qty])
    )
    assert fill.notional == price * (qty // 2) + (price + 10**8) * (qty // 2)
    assert fill.notional > 2**63
    assert fill.avg_price == price + 10**8 // 2


def test_should_refuse_a_quantity_that_is_not_positive() -> None:
    with pytest.raises(ValueError):
        walk(BUY, 0)


# -- exact bounds --------------------------------------------------------------------------
def test_should_compare_a_bound_exactly_at_its_edge() -> None:
    # 1.000 @ 100.50 + 1.000 @ 101.00 -> 100.75: 25/10050 of the touch = 24.875... bps, 50/10025 of the mid = 49.875...
    fill = walk(BUY, 2000)
    assert fill.exceeds_touch_bps(24) and not fill.exceeds_touch_bps(25)
    assert fill.exceeds_touch_bps(Fraction(250_000, 10050) - Fraction(1, 10**12))
    assert not fill.exceeds_touch_bps(Fraction(250_000, 10050))  # exactly the cost: not above it
    assert fill.exceeds_mid_bps(49) and not fill.exceeds_mid_bps(50)
    assert not fill.exceeds_mid_bps(Fraction(500_000, 10025))
    sell = walk(SELL, 3000)  # 99.6666...: 0.3333/100 = 33.33 bps under the bid
    assert sell.exceeds_touch_bps(33) and not sell.exceeds_touch_bps(34)
    at_touch = walk(BUY, 500)
    assert not at_touch.exceeds_touch_bps(0) and at_touch.touch == 10050


# -- the DEPTH record and the BookView ---------------------------------------------------------
AAA = Instrument(id=3, venue="binance", symbol="AAAUSDT", price_scale=2, qty_scale=3, tick=1, lot=1)
BIDS = list(zip(BID_P, BID_Q, strict=True))
ASKS = list(zip(ASK_P, ASK_Q, strict=True))


def test_should_walk_a_depth_records_bytes_in_place() -> None:
    record = r.depth(AAA.id, BIDS, ASKS, origin=1)
    for side, qty, limit in ((BUY, 2500, 0), (SELL, 9000, 0), (BUY, 4000, 10100)):
        assert estimate_from_depth(record, side, qty, limit) == walk(side, qty, limit)
    slot = memoryview(bytearray(64) + record)
    assert estimate_from_depth(slot, SELL, 3000, offset=64) == walk(SELL, 3000)


def test_should_walk_only_the_levels_a_depth_record_says_it_carries() -> None:
    record = bytearray(r.depth(AAA.id, BIDS, ASKS, origin=1))
    record[72:74] = (1).to_bytes(2, "little")  # levels = 1: what lies beyond is not the book's
    fill = estimate_from_depth(record, BUY, 2000)
    assert (fill.status, fill.filled_qty, fill.levels) == (WalkStatus.SHORT, 1000, 1)


def test_should_estimate_on_a_book_view_from_its_depth_or_its_top() -> None:
    view = BookView(AAA)
    view.take_depth(r.depth(AAA.id, BIDS, ASKS, origin=1), 0, 0)
    assert view.estimate_slippage(BUY, 3000) == walk(BUY, 3000)
    assert view.estimate_slippage(SELL, 4000, 9950) == walk(SELL, 4000, 9950)
    top_only = BookView(AAA)
    top_only.take_bbo(r.bbo(AAA.id, 10000, 1000, 10050, 1000, origin=1), 0, 0)
    fill = top_only.estimate_slippage(BUY, 1500)
    assert (fill.status, fill.filled_qty, fill.avg_price, fill.touch_bps) == (WalkStatus.SHORT, 1000, 10050, 0.0)
    assert BookView(AAA).estimate_slippage(BUY, 1).status is WalkStatus.EMPTY  # nothing taken yet


# -- realized --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("avg", "reference", "side", "expected"),
    [
        (10080, 10025, BUY, 55 / 10025 * 10_000),  # paid 100.80 against a 100.25 mid: 54.86 bps
        (10000, 10025, BUY, -25 / 10025 * 10_000),  # bought below the mid: negative cost
        (9966, 10000, SELL, 34 / 10000 * 10_000),  # sold at 99.66 against 100.00: 34 bps
        (10100, 10000, SELL, -100 / 10000 * 10_000),
        (10000, 10000, BUY, 0.0),
    ],
)
def test_should_measure_realized_slippage_as_a_cost_in_bps(
    avg: int, reference: int, side: OrderSide, expected: float
) -> None:
    assert realized_slippage_bps(avg, reference, side) == pytest.approx(expected, rel=1e-15)


def test_should_take_an_exact_average_for_realized_slippage() -> None:
    exact = Fraction(302500, 30)  # 100.8333...
    assert realized_slippage_bps(exact, 10050, BUY) == float((exact - 10050) / 10050 * 10_000)


def test_should_take_an_exact_mid_for_realized_slippage() -> None:
    assert realized_slippage_bps(10050, Fraction(20051, 2), BUY) == float(Fraction(49, 2) / Fraction(20051, 2) * 10_000)


def test_should_refuse_a_reference_that_is_not_a_price() -> None:
    with pytest.raises(ValueError):
        realized_slippage_bps(100, 0, BUY)
