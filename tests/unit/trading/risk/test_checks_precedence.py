"""checks.py: the most specific table wins for per-order limits; the account's totals apply to everyone."""

from __future__ import annotations

from hftpipe.schema.trading import ExecType
from hftpipe.schema.trading import RejectReason as R
from tests.unit.trading.risk.desk import ABC, NONE, Desk

PARAMS = {
    "account": {"max_order_qty": "10", "max_position": "1000"},
    "instruments": {"XYZUSDT": {"max_order_qty": "20", "max_position": "100"}},
    "strategies": {
        "1": {"max_order_qty": "30", "max_position": "500", "instruments": {"XYZUSDT": {"max_order_qty": "40"}}},
        "2": {"max_order_qty": "50"},
    },
}


def _desk() -> Desk:
    desk = Desk(PARAMS)
    desk.book(4999, 5001, instrument=ABC.id)
    return desk


def _largest_order(desk: Desk, strategy: int, instrument: int, lot: int) -> int:
    """The largest quantity (in lots, up to 60) the strategy may send in one order (each canceled at once)."""
    largest = 0
    for qty in range(lot, 61 * lot, lot):
        if desk.buy(4000, qty, strategy=strategy, instrument=instrument) != NONE:
            break
        largest = qty
        desk.report(desk.seq, ExecType.CANCELED, strategy=strategy)
    return largest


def test_per_order_limits_come_from_the_most_specific_table() -> None:
    assert _largest_order(_desk(), 1, 1, 10) == 40  # strategy 1 on XYZ
    assert _largest_order(_desk(), 1, ABC.id, 1_000) == 30_000  # strategy 1 elsewhere: 30.000 ABC
    assert _largest_order(_desk(), 2, 1, 10) == 50  # strategy 2 (everywhere) over the XYZ table
    assert _largest_order(_desk(), 3, 1, 10) == 20  # no strategy table: the XYZ table
    assert _largest_order(_desk(), 3, ABC.id, 1_000) == 10_000  # nothing specific: the account's


def test_the_accounts_position_total_binds_a_strategy_allowed_more() -> None:
    desk = _desk()
    for _ in range(2):
        assert desk.buy(4000, 40, strategy=1) == NONE
    assert desk.buy(4000, 30, strategy=1) == R.MAX_POSITION  # 110 > XYZ's account total of 100
    assert desk.buy(4000, 20, strategy=1) == NONE
    assert desk.buy(4000, 10, strategy=2) == R.MAX_POSITION  # the total is everyone's
