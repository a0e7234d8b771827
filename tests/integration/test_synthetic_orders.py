"""Synthesized orders end to end: the strategy's API → risk → the execution stage's book → released through risk.

Each type is walked along a scripted price path (:mod:`tests.integration.synthetic_desk`):
one tick short of its level it is still HELD, at the level it triggers, its
child passes risk's checks again and fills on the paper venue; the strategy
and risk's ledger end with the same position.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hftpipe.schema.trading import ExecType, OrderSide, RejectReason, Trigger
from hftpipe.strategy import Leg, OrderState
from tests.integration.synthetic_desk import AAA, Q, SyntheticDesk

BUY, SELL = OrderSide.BUY, OrderSide.SELL
HELD, TRIGGERED = OrderState.HELD, OrderState.TRIGGERED


@pytest.fixture
def desk(pipeline_name: str) -> Iterator[Callable[..., SyntheticDesk]]:
    made: list[SyntheticDesk] = []

    def make(**risk: Any) -> SyntheticDesk:
        made.append(SyntheticDesk(f"{pipeline_name}{len(made)}", risk))
        return made[-1]

    yield make
    for d in made:
        d.close()


def test_should_release_a_sell_stop_market_at_its_level_and_not_a_tick_before(desk: Any) -> None:
    d: SyntheticDesk = desk()
    d.book(10_000, 10_002)
    stop = d.strategy.stop_market(AAA, SELL, 2 * Q, 9_950)
    assert stop is not None
    d.step()
    assert stop.state is HELD
    d.book(9_949, 9_952)
    d.trade(9_951)  # one tick above the level: nothing
    assert stop.state is HELD
    approved = d.counters("risk")["approved"]
    d.trade(9_950)
    assert stop.state is OrderState.FILLED
    assert d.strategy.states(stop) == [ExecType.HELD, ExecType.TRIGGERED, ExecType.ACK, ExecType.FILL]
    assert d.counters("risk")["approved"] == approved + 1  # the child passed risk's checks again
    assert stop.avg_price == 9_949  # a market sell at the bid
    assert d.position() == (-2 * Q, -2 * Q)


def test_should_release_a_buy_stop_limit_when_the_ask_reaches_its_level(desk: Any) -> None:
    d: SyntheticDesk = desk()
    d.book(10_000, 10_002)
    stop = d.strategy.stop_limit(AAA, BUY, Q, 10_010, 10_012, trigger=Trigger.BID_ASK)
    assert stop is not None
    d.step()
    d.trade(10_050)  # the last trade is not what it watches
    d.book(10_007, 10_009)
    assert stop.state is HELD
    d.book(10_008, 10_010)
    assert stop.state is OrderState.FILLED
    assert stop.avg_price == 10_010  # its limit 100.12 took the ask, 100.10
    assert d.position() == (Q, Q)


def test_should_release_a_take_profit_when_the_price_rises_to_it(desk: Any) -> None:
    d: SyntheticDesk = desk()
    d.book(10_000, 10_002)
    take = d.strategy.take_profit(AAA, SELL, Q, 10_100)
    assert take is not None
    d.step()
    d.book(10_098, 10_101)
    d.trade(10_099)
    assert take.state is HELD
    d.trade(10_100)
    assert take.state is OrderState.FILLED and take.avg_price == 10_098
    assert d.position() == (-Q, -Q)


def test_should_trail_the_high_by_an_absolute_offset_and_fire_only_on_the_retreat(desk: Any) -> None:
    d: SyntheticDesk = desk()
    d.book(10_000, 10_002)
    trail = d.strategy.trailing_stop(AAA, SELL, Q, trail=100)  # 1.00 behind the best price
    assert trail is not None
    d.step()
    for price in (10_000, 10_100, 10_050, 10_001):  # best 101.00: the level moved up to 100.00
        d.trade(price)
    assert trail.state is HELD
    d.book(9_999, 10_001)
    d.trade(10_000)
    assert trail.state is OrderState.FILLED and trail.avg_price == 9_999
    assert d.position() == (-Q, -Q)


def test_should_trail_the_low_by_basis_points(desk: Any) -> None:
    d: SyntheticDesk = desk()
    d.book(10_000, 10_002)
    trail = d.strategy.trailing_stop(AAA, BUY, Q, bps=100)  # 1 % above the lowest price
    assert trail is not None
    d.step()
    for price in (10_000, 9_900, 9_998):  # best 99.00: level 99.99
        d.trade(price)
    assert trail.state is HELD
    d.trade(9_999)
    assert trail.state is OrderState.FILLED and trail.avg_price == 10_002
    assert d.position() == (Q, Q)


def test_should_fill_an_oco_leg_and_cancel_the_other(desk: Any) -> None:
    d: SyntheticDesk = desk()
    d.book(10_000, 10_002)
    legs = d.strategy.oco(AAA, Leg.limit(SELL, Q, 10_000), Leg.stop(SELL, Q, 9_900))  # the limit takes the bid
    assert legs is not None
    d.step()
    limit, stop = legs
    assert limit.state is OrderState.FILLED and stop.state is OrderState.CANCELED
    d.book(9_800, 9_802)
    d.trade(9_850)  # through the stop's level: it is gone
    assert stop.state is OrderState.CANCELED and d.position() == (-Q, -Q)


def test_should_cancel_an_oco_leg_when_the_other_triggers(desk: Any) -> None:
    d: SyntheticDesk = desk()
    d.book(10_000, 10_002)
    legs = d.strategy.oco(AAA, Leg.take_profit(SELL, Q, 10_100), Leg.stop(SELL, Q, 9_900))
    assert legs is not None
    d.step()
    take, stop = legs
    assert (take.state, stop.state) == (HELD, HELD)
    d.book(9_899, 9_901)
    d.trade(9_900)
    assert stop.state is OrderState.FILLED and take.state is OrderState.CANCELED
    d.book(10_100, 10_102)
    d.trade(10_150)
    assert take.state is OrderState.CANCELED and d.position() == (-Q, -Q)


def test_should_arm_a_brackets_exits_on_the_entry_fill_and_cancel_the_stop_when_the_target_fills(desk: Any) -> None:
    d: SyntheticDesk = desk()
    d.book(10_000, 10_002)
    legs = d.strategy.bracket(AAA, Leg.market(BUY, Q), Leg.stop(SELL, Q, 9_900), Leg.take_profit(SELL, Q, 10_100))
    assert legs is not None
    d.step()
    entry, stop, take = legs
    assert entry.state is OrderState.FILLED and entry.avg_price == 10_002
    assert (stop.state, take.state) == (HELD, HELD)
    d.book(10_098, 10_101)
    d.trade(10_099)
    assert (stop.state, take.state) == (HELD, HELD)
    d.trade(10_100)
    assert take.state is OrderState.FILLED and stop.state is OrderState.CANCELED
    assert d.position() == (0, 0)


def test_should_hold_an_otos_child_until_the_parent_fills(desk: Any) -> None:
    d: SyntheticDesk = desk()
    d.book(10_000, 10_002)
    legs = d.strategy.oto(AAA, Leg.limit(BUY, Q, 9_990), Leg.take_profit(SELL, Q, 10_050))
    assert legs is not None
    d.step()
    parent, child = legs
    assert parent.state is OrderState.OPEN and child.state is HELD
    d.book(10_049, 10_051)
    d.trade(10_060)  # beyond the child's level, but the parent has not filled: nothing
    assert child.state is HELD and d.position() == (0, 0)
    d.book(9_980, 9_990)  # the ask comes down to the parent's price
    d.trade(9_985, aggressor=1)
    assert parent.state is OrderState.FILLED
    assert child.state is HELD  # armed now, sized by the fill
    d.book(10_049, 10_051)
    d.trade(10_050)
    assert child.state is OrderState.FILLED and d.position() == (0, 0)


def test_should_tell_the_strategy_why_risk_refused_a_release(desk: Any) -> None:
    d: SyntheticDesk = desk(max_order_notional="100.50")
    d.book(10_000, 10_002)
    stop = d.strategy.stop_market(AAA, BUY, Q, 10_010)  # 100.10 × 1: within the limit when placed
    assert stop is not None
    d.step()
    assert stop.state is HELD
    refused = d.counters("risk").get("rejects.max_order_notional", 0)
    d.book(10_100, 10_200)  # the market gaps: a market buy now costs 102.00
    d.trade(10_150)
    assert stop.state is OrderState.REJECTED
    assert stop.reason == RejectReason.MAX_ORDER_NOTIONAL
    assert d.strategy.reports[-1][1:] == (ExecType.REJECTED, OrderState.REJECTED, RejectReason.MAX_ORDER_NOTIONAL)
    assert d.counters("risk")["rejects.max_order_notional"] == refused + 1
    assert d.position() == (0, 0) and len(d.execution.synthetic) == 0


def _working(d: SyntheticDesk) -> list[int]:
    """Prices of the orders open at the paper venue."""
    return sorted(order.price for order in d.execution.oms.open_orders())


def test_should_reprice_a_peg_to_mid_minus_its_offset_no_faster_than_its_replace_rate(desk: Any) -> None:
    d: SyntheticDesk = desk()
    d.book(10_000, 10_002)
    peg = d.strategy.peg_mid(AAA, BUY, Q, offset_ticks=1, max_replaces_per_s=2)
    assert peg is not None
    d.step()
    assert peg.state is OrderState.OPEN and _working(d) == [10_000]  # mid 100.01, one tick under: 100.00
    released = d.counters("execution")["synthetic.released"]
    start = time.monotonic_ns()
    for up in range(1, 6):  # five book changes, each moving the target a tick
        d.book(10_000 + up, 10_002 + up)
    elapsed = time.monotonic_ns() - start
    replaces = d.counters("execution")["synthetic.released"] - released
    assert 2 <= replaces <= 2 * (1 + elapsed // 1_000_000_000)  # at most 2 in any second of the stage's clock
    if elapsed < 1_000_000_000:
        assert replaces == 2 and _working(d) == [10_002]  # the third move onwards waits
    while time.monotonic_ns() - start < 1_100_000_000:  # let the window pass: the next change re-prices
        time.sleep(0.05)
    d.book(10_010, 10_012)
    assert _working(d) == [10_010] and peg.state is OrderState.OPEN
    assert d.counters("risk")["approved"] == 1 + 1 + replaces + 1  # the peg, its child, every re-price


def test_should_refuse_a_whole_bracket_when_risk_refuses_one_leg(desk: Any) -> None:
    d: SyntheticDesk = desk(max_open_orders=2)
    d.book(10_000, 10_002)
    legs = d.strategy.bracket(AAA, Leg.market(BUY, Q), Leg.stop(SELL, Q, 9_900), Leg.take_profit(SELL, Q, 10_100))
    assert legs is not None
    d.step()
    entry, stop, take = legs
    assert take.state is OrderState.REJECTED and take.reason == RejectReason.MAX_OPEN_ORDERS
    assert entry.state is OrderState.CANCELED and stop.state is OrderState.CANCELED  # approved, never placed
    assert d.position() == (0, 0) and not d.execution.oms.open_orders() and len(d.risk.checks.orders) == 0


def test_should_refuse_the_rest_of_a_group_after_its_first_leg(desk: Any) -> None:
    d: SyntheticDesk = desk(max_order_qty="1")
    d.book(10_000, 10_002)
    legs = d.strategy.oco(AAA, Leg.take_profit(SELL, 2 * Q, 10_100), Leg.stop(SELL, 2 * Q, 9_900))
    assert legs is not None
    d.step()
    first, second = legs
    assert (first.state, first.reason) == (OrderState.REJECTED, RejectReason.MAX_ORDER_QTY)
    assert (second.state, second.reason) == (OrderState.REJECTED, RejectReason.GROUP_REFUSED)
    assert len(d.execution.synthetic) == 0


def test_should_cancel_a_held_order_for_good_and_not_one_that_is_done(desk: Any) -> None:
    d: SyntheticDesk = desk()
    d.book(10_000, 10_002)
    held = d.strategy.trailing_stop(AAA, SELL, Q, trail=50)
    done = d.strategy.stop_market(AAA, BUY, Q, 10_002, trigger=Trigger.BID_ASK)  # the ask is there: it fires at once
    assert held is not None and done is not None
    d.step()
    assert held.state is HELD and done.state is OrderState.FILLED
    assert d.strategy.cancel(held) and not d.strategy.cancel(done)
    d.step()
    assert held.state is OrderState.CANCELED and len(d.execution.synthetic) == 0
    d.trade(9_000)
    assert d.position() == (Q, Q) and d.counters("risk")["approved"] == 4  # two orders, a child, the cancel
    assert len(d.risk.checks.orders) == 0
