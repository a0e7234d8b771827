"""Synthesized orders end to end: the strategy's API → risk → the execution stage's book → released through risk.

Each type is walked along a scripted price path (:mod:`tests.integration.synthetic_desk`):
one tick short of its level it is still HELD, at the level it triggers, its
child passes risk's checks again and fills on the paper venue; the strategy
and risk's ledger end with the same position.
"""

from __future__ import annotations

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
