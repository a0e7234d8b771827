"""checks.py: no order may trade against a resting order of the same account, whichever strategy's it is."""

from __future__ import annotations

import pytest

from hftpipe.schema.trading import ExecType
from hftpipe.schema.trading import RejectReason as R
from tests.unit.trading.risk.desk import ABC, BUY, LIMIT, LIMIT_MAKER, MARKET, NONE, SELL, STOP_LIMIT, Desk

# Strategy 1 rests a sell at 100.10 and a buy at 99.90; strategy 2 sends the order under test.


def _desk() -> Desk:
    desk = Desk(book=False)
    desk.book(9995, 10005, bid_qty=30, ask_qty=30)
    assert desk.sell(10010, 10, strategy=1) == NONE
    assert desk.buy(9990, 10, strategy=1) == NONE
    return desk


@pytest.mark.parametrize(
    ("side", "order_type", "price", "qty", "expected"),
    [
        (BUY, LIMIT, 10005, 10, NONE),  # below the resting sell
        (BUY, LIMIT, 10010, 10, R.SELF_CROSS),  # at it
        (BUY, LIMIT, 10100, 10, R.SELF_CROSS),  # through it
        (BUY, LIMIT_MAKER, 10010, 10, R.SELF_CROSS),
        (SELL, LIMIT, 9995, 10, NONE),  # above the resting buy
        (SELL, LIMIT, 9990, 10, R.SELF_CROSS),
        (SELL, LIMIT, 9000, 10, R.SELF_CROSS),
        (BUY, LIMIT, 9990, 10, NONE),  # the same side never crosses
        (SELL, LIMIT, 10010, 10, NONE),
        # A market order trades at the touch when the touch's size covers it (our orders sit behind it here) ...
        (BUY, MARKET, 0, 30, NONE),
        (SELL, MARKET, 0, 30, NONE),
        # ... and may walk the book to ours when it does not.
        (BUY, MARKET, 0, 40, R.SELF_CROSS),
        (SELL, MARKET, 0, 40, R.SELF_CROSS),
        (BUY, STOP_LIMIT, 10100, 10, NONE),  # not on the book until it triggers
    ],
)
def test_self_cross_across_two_strategies_at_its_boundary(
    side: int, order_type: int, price: int, qty: int, expected: R
) -> None:
    desk = _desk()
    assert desk.send(side, price, qty, order_type=order_type, strategy=2, stop=10100) == expected


def test_self_cross_within_one_strategy() -> None:
    desk = _desk()
    assert desk.buy(10010, 10, strategy=1) == R.SELF_CROSS


def test_self_cross_with_a_market_order_at_our_own_touch() -> None:
    desk = Desk(book=False)
    desk.book(9995, 10005, bid_qty=30, ask_qty=30)
    assert desk.sell(10005, 10, strategy=1) == NONE  # ours is part of the ask
    assert desk.buy(0, 10, order_type=MARKET, strategy=2) == R.SELF_CROSS


def test_self_cross_ends_when_the_resting_order_ends() -> None:
    desk = _desk()
    resting_sell = desk.seq - 1
    desk.report(resting_sell, ExecType.ACK, 10)
    assert desk.buy(10010, 10, strategy=2) == R.SELF_CROSS
    desk.report(resting_sell, ExecType.CANCELED)
    assert desk.buy(10010, 10, strategy=2) == NONE


def test_self_cross_sees_the_next_best_when_the_best_leaves() -> None:
    desk = _desk()
    assert desk.sell(10020, 10, strategy=2) == NONE
    desk.report(desk.seq - 2, ExecType.CANCELED, strategy=1)  # strategy 1's sell at 100.10
    assert desk.buy(10015, 10, strategy=3) == NONE
    assert desk.buy(10020, 10, strategy=3) == R.SELF_CROSS  # strategy 2's at 100.20


def test_self_cross_counts_two_orders_at_one_price_until_both_leave() -> None:
    desk = _desk()
    first = desk.seq - 1
    assert desk.sell(10010, 10, strategy=2) == NONE
    second = desk.seq
    desk.report(first, ExecType.CANCELED, strategy=1)
    assert desk.buy(10010, 10, strategy=3) == R.SELF_CROSS
    desk.fill(second, 10, leaves=0, strategy=2)
    assert desk.buy(10010, 10, strategy=3) == NONE


def test_self_cross_is_per_instrument() -> None:
    desk = _desk()
    desk.book(9995, 10005, instrument=ABC.id)
    assert desk.buy(10100, 10, strategy=2, instrument=ABC.id) == NONE


def test_self_cross_ignores_the_order_a_replace_cancels() -> None:
    desk = _desk()
    resting_buy = desk.seq
    # Strategy 1 turns its buy at 99.90 into a sell at 99.90: the buy is canceled first.
    assert desk.replace(resting_buy, SELL, 9990, 10, strategy=1) == NONE
    # But a buy at 99.90 still crosses with the new sell.
    assert desk.buy(9990, 10, strategy=2) == R.SELF_CROSS


def test_self_cross_still_sees_a_second_order_at_the_price_a_replace_cancels() -> None:
    desk = _desk()
    assert desk.buy(9990, 10, strategy=2) == NONE
    assert desk.replace(desk.seq, SELL, 9990, 10, strategy=2) == R.SELF_CROSS  # strategy 1's buy is still there
