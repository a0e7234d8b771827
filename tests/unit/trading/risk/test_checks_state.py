"""checks.py: ACTIVE passes everything, REDUCING only cancels and reducing orders, HALTED only cancels."""

from __future__ import annotations

from hftpipe.schema.trading import RejectReason as R
from hftpipe.schema.trading import TradingState
from tests.unit.trading.risk.desk import BUY, MARKET, NONE, SELL, Desk

ACTIVE, REDUCING, HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED


def _desk_long_20_with_an_open_buy() -> tuple[Desk, int]:
    desk = Desk()
    desk.hold(20)
    assert desk.buy(9000, 10) == NONE
    return desk, desk.seq


def test_halted_refuses_every_order_and_passes_every_cancel() -> None:
    desk, open_buy = _desk_long_20_with_an_open_buy()
    desk.checks.set_state(HALTED)
    assert desk.buy(9000, 10) == R.HALTED
    assert desk.sell(11000, 10) == R.HALTED  # even one that reduces
    assert desk.sell(0, 10, order_type=MARKET) == R.HALTED
    assert desk.replace(open_buy, BUY, 8000, 10) == R.HALTED
    assert desk.cancel(open_buy) == NONE
    assert desk.cancel_all() == NONE


def test_reducing_passes_reducing_orders_and_cancels_only() -> None:
    desk, open_buy = _desk_long_20_with_an_open_buy()
    desk.checks.set_state(REDUCING)
    assert desk.buy(9000, 10) == R.REDUCE_ONLY
    assert desk.sell(11000, 20) == NONE  # long 20 -> flat
    assert desk.sell(11000, 10) == R.REDUCE_ONLY  # with the open sell of 20 it would flip short
    assert desk.replace(open_buy, BUY, 8000, 10) == R.REDUCE_ONLY
    assert desk.cancel(open_buy) == NONE


def test_reducing_counts_the_open_orders_on_the_orders_side() -> None:
    desk = Desk()
    desk.hold(20)
    assert desk.sell(11000, 10) == NONE
    desk.checks.set_state(REDUCING)
    assert desk.sell(11000, 20) == R.REDUCE_ONLY  # 20 - 10 open - 20 < 0
    assert desk.sell(11000, 10) == NONE


def test_a_state_set_with_a_reason_refuses_with_that_reason() -> None:
    desk, _ = _desk_long_20_with_an_open_buy()
    desk.checks.set_state(REDUCING, reason=R.MAX_LOSS)
    assert desk.buy(9000, 10) == R.MAX_LOSS
    desk.checks.set_state(HALTED, reason=R.MAX_LOSS)
    assert desk.sell(11000, 10) == R.MAX_LOSS


def test_a_strategys_state_applies_to_it_alone() -> None:
    desk = Desk()
    desk.checks.set_state(HALTED, strategy_id=2)
    assert desk.buy(9000, 10, strategy=2) == R.HALTED
    assert desk.buy(9000, 10, strategy=1) == NONE
    assert desk.checks.state(2) == HALTED
    assert desk.checks.state(1) == ACTIVE
    desk.checks.set_state(ACTIVE, strategy_id=2)
    assert desk.buy(9000, 10, strategy=2) == NONE


def test_the_more_severe_of_account_and_strategy_state_applies() -> None:
    desk = Desk()
    desk.hold(20, strategy=2)
    desk.checks.set_state(REDUCING)
    desk.checks.set_state(HALTED, strategy_id=1)
    assert desk.checks.state(1) == HALTED
    assert desk.checks.state(2) == REDUCING
    assert desk.checks.state() == REDUCING
    assert desk.sell(11000, 10, strategy=1) == R.HALTED
    assert desk.sell(11000, 10, strategy=2) == NONE  # reduces strategy 2's long
    assert desk.buy(9000, 10, strategy=2) == R.REDUCE_ONLY
    desk.checks.set_state(ACTIVE)
    assert desk.buy(9000, 10, strategy=2) == NONE
    assert desk.buy(9000, 10, strategy=1) == R.HALTED


def test_state_is_checked_first() -> None:
    desk = Desk({"account": {"max_order_qty": "10"}})
    desk.checks.set_state(HALTED)
    assert desk.buy(9001, 1_000) == R.HALTED  # off tick and too big, but halted says it first
    desk.checks.set_state(ACTIVE)
    assert desk.buy(9000, 10, seq=desk.seq) == NONE  # refused before the id check: the id was not used


def test_a_reducing_order_still_meets_every_other_limit() -> None:
    desk = Desk({"account": {"max_order_qty": "10"}})
    desk.hold(20)
    desk.checks.set_state(REDUCING)
    assert desk.sell(11000, 20) == R.MAX_ORDER_QTY
    assert desk.send(SELL, 11000, 10) == NONE
