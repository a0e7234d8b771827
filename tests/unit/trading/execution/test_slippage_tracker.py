"""slippage_tracker.py: the estimate an order went out with, each fill against it, the aggregates (by hand).

Prices at 2 decimals, quantities at 3: bids 100.00 x 1.000, 99.50 x 2.000 |
asks 100.50 x 1.000, 101.00 x 2.000, 102.00 x 3.000 (mid 100.25).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from hftpipe.schema.trading import NO_SLIPPAGE, OrderSide
from hftpipe.strategy import estimate_slippage
from stages.trading.execution.slippage_tracker import SlippageTracker

BUY, SELL = OrderSide.BUY, OrderSide.SELL
BOOK = ([10000, 9950], [1000, 2000], [10050, 10100, 10200], [1000, 2000, 3000])
KEY = (1, 1_765_000_000_000, 7)


def bps(price: Fraction | int, reference: Fraction | int, side: OrderSide = BUY) -> float:
    sign = 1 if side is BUY else -1
    return float(sign * (Fraction(price) - reference) / Fraction(reference) * 10_000)


def test_should_carry_the_estimate_on_every_report_and_what_each_fill_realized() -> None:
    tracker = SlippageTracker()
    estimate = estimate_slippage(BUY, 2500, *BOOK)  # 1.000 @ 100.50 + 1.500 @ 101.00 -> 100.80
    tracker.sent(KEY, estimate)
    ack = tracker.report_fields(KEY, 0, 0)
    assert ack[:4] == (10080, 2500, 10000, 10050)
    assert ack[4] == bps(10080, 10050) and ack[5] == bps(10080, Fraction(20050, 2))
    assert math.isnan(ack[6]) and math.isnan(ack[7])  # no fill
    first = tracker.report_fields(KEY, 10050, 1000)
    assert first[:6] == ack[:6]
    assert (first[6], first[7]) == (0.0, bps(10050, Fraction(20050, 2)))
    second = tracker.report_fields(KEY, 10100, 1500)
    assert (second[6], second[7]) == (bps(10100, 10050), bps(10100, Fraction(20050, 2)))
    summary = tracker.summary()
    estimated = bps(10080, 10050)  # 29.85 bps, per fill
    realized = [0.0, bps(10100, 10050)]  # 0 and 49.75 bps
    assert summary == {
        "fills": 2,
        "unestimated_fills": 0,
        "realized_bps_p50": round(sum(realized) / 2, 4),
        "estimated_bps_p50": round(estimated, 4),
        "difference_bps_p50": round(sum(realized) / 2 - estimated, 4),
        "realized_bps_mean": round(sum(realized) / 2, 4),
        "estimated_bps_mean": round(estimated, 4),
        "difference_bps_mean": round(sum(realized) / 2 - estimated, 4),
    }
    tracker.forget(KEY)
    assert tracker.open == 0
    assert tracker.report_fields(KEY, 10100, 1) == NO_SLIPPAGE  # an ended order's late report: none
    assert tracker.unestimated_fills == 1


def test_should_measure_a_sells_cost_below_the_references() -> None:
    tracker = SlippageTracker()
    tracker.sent(KEY, estimate_slippage(SELL, 3000, *BOOK))  # 1.000 @ 100.00 + 2.000 @ 99.50 -> 99.6666, down
    fields = tracker.report_fields(KEY, 9950, 2000)
    assert fields[:4] == (9966, 3000, 10000, 10050)
    assert fields[6] == bps(9950, 10000, SELL) == 50.0


def test_should_count_fills_of_orders_the_walk_did_not_price_apart() -> None:
    tracker = SlippageTracker()
    resting = estimate_slippage(BUY, 1000, *BOOK, limit_price=10000)  # below the ask: takes nothing
    tracker.sent(KEY, resting)
    fields = tracker.report_fields(KEY, 10000, 1000)  # filled as maker, later
    assert fields[:4] == (0, 0, 10000, 10050) and math.isnan(fields[4]) and math.isnan(fields[5])
    assert fields[6] == bps(10000, 10050) < 0  # bought below the touch it was sent against
    assert tracker.report_fields((9, 9, 9), 10000, 5) == NO_SLIPPAGE  # never sent through the tracker
    assert tracker.summary() == {"fills": 0, "unestimated_fills": 2}


@pytest.mark.parametrize("window", [1, 3])
def test_should_take_medians_over_the_latest_fills_and_means_over_all(window: int) -> None:
    tracker = SlippageTracker(window)
    for seq, price in enumerate([10050, 10100, 10200], start=1):
        key = (1, 1, seq)
        tracker.sent(key, estimate_slippage(BUY, 500, *BOOK))  # estimated 0 bps each
        tracker.report_fields(key, price, 500)
    summary = tracker.summary()
    realized = [bps(p, 10050) for p in (10050, 10100, 10200)]
    assert summary["fills"] == 3
    assert summary["realized_bps_mean"] == round(sum(realized) / 3, 4)
    assert summary["realized_bps_p50"] == round(realized[-1] if window == 1 else realized[1], 4)
