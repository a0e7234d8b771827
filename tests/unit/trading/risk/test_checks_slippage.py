"""checks.py, max_slippage_bps: a marketable order walks risk's own view of the depth (real DEPTH records).

XYZ (desk.py): prices at 2 decimals, whole-unit quantities, lot 10. The book::

    bids 99.95 x 100, 99.90 x 200, 99.50 x 500 | asks 100.05 x 100, 100.10 x 200, 100.50 x 500

A buy of 300 takes 100 @ 100.05 and 200 @ 100.10: 100.0833... on average,
3.33 bps above the touch; a sell of 300 gets 99.91666..., 3.34 bps under it.
"""

from __future__ import annotations

from typing import Any

import pytest

from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.marketdata import BookState
from hftpipe.schema.trading import IntentFlag, RejectReason
from stages.trading.risk.settings import RiskStageParams
from tests.unit.trading.risk.desk import KEY, LIMIT_MAKER, MARKET, NONE, XYZ, Desk
from tests.unit.trading.strategy import records as r

SLIPPAGE = RejectReason.MAX_SLIPPAGE
BIDS = [(9995, 100), (9990, 200), (9950, 500)]
ASKS = [(10005, 100), (10010, 200), (10050, 500)]


def desk(params: dict[str, Any] | None = None, *, bids: list[tuple[int, int]] = BIDS,
         asks: list[tuple[int, int]] = ASKS) -> Desk:  # fmt: skip
    """The checks fed as the risk stage feeds them: a DEPTH record's top (on_book), then its levels (on_depth)."""
    d = Desk(params, book=False)
    depth(d, bids, asks)
    return d


def depth(d: Desk, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
    record = r.depth(XYZ.id, bids, asks, origin=1)
    (bid, bid_qty), (ask, ask_qty) = (bids or [(0, 0)])[0], (asks or [(0, 0)])[0]
    d.book(bid, ask, bid_qty=bid_qty, ask_qty=ask_qty)
    d.checks.on_depth(XYZ.id, record, 0)


def bound(bps: int) -> dict[str, Any]:
    return {"account": {"max_slippage_bps": bps}}


@pytest.mark.parametrize(("bps", "expected"), [(3, SLIPPAGE), (4, NONE)])  # 3.33 bps: above 3, within 4
def test_should_bound_a_market_orders_walk_against_the_touch(bps: int, expected: RejectReason) -> None:
    assert desk(bound(bps)).buy(0, 300, order_type=MARKET) == expected
    assert desk(bound(bps)).sell(0, 300, order_type=MARKET) == expected  # 3.34 bps


def test_should_pass_an_order_at_the_touch_whatever_the_bound() -> None:
    assert desk(bound(1)).buy(0, 100, order_type=MARKET) == NONE  # one level: no cost against the touch


def test_should_refuse_a_market_order_the_visible_depth_cannot_fill() -> None:
    assert desk(bound(10_000)).buy(0, 810, order_type=MARKET) == SLIPPAGE  # 800 visible
    assert desk(bound(10_000)).buy(0, 800, order_type=MARKET) == NONE


def test_should_walk_a_marketable_limit_order_up_to_its_price() -> None:
    assert desk(bound(3)).buy(10010, 300) == SLIPPAGE
    assert desk(bound(4)).buy(10010, 300) == NONE
    # 500 at 100.10: 300 fill (3.33 bps), the rest rests: what it takes is bounded, not what it leaves
    assert desk(bound(4)).buy(10010, 500) == NONE
    assert desk(bound(3)).sell(9990, 300) == SLIPPAGE


def test_should_price_a_limit_orders_remainder_past_the_visible_depth_at_its_limit() -> None:
    # 900 at 101.00: 800 visible (80275.00) + 100 at the limit (10100.00) -> 100.4166...: 36.65 bps
    assert desk(bound(36)).buy(10100, 900) == SLIPPAGE
    assert desk(bound(37)).buy(10100, 900) == NONE


def test_should_leave_orders_that_take_nothing_now_to_the_other_checks() -> None:
    assert desk(bound(1)).buy(10000, 800) == NONE  # below the ask: rests
    assert desk(bound(1)).sell(10000, 800) == NONE  # above the bid
    assert desk(bound(1)).buy(10050, 800, order_type=LIMIT_MAKER) == NONE  # post-only: never takes


def test_should_refuse_a_marketable_order_on_a_crossed_book() -> None:
    d = desk(bound(10_000), bids=[(10010, 100)], asks=[(10005, 100)])
    assert d.buy(0, 10, order_type=MARKET) == SLIPPAGE
    assert d.sell(10010, 10) == SLIPPAGE


def test_should_walk_the_touch_alone_until_a_depth_record_shows_the_levels() -> None:
    d = Desk(bound(10_000), book=False)
    d.book(9995, 10005, bid_qty=100, ask_qty=100)  # a BBO: no levels yet
    assert d.buy(0, 200, order_type=MARKET) == SLIPPAGE
    depth(d, BIDS, ASKS)
    assert d.buy(0, 200, order_type=MARKET) == NONE
    d.book(9995, 10010, bid_qty=100, ask_qty=100)  # a newer top: the levels are stale until the next DEPTH
    assert d.buy(0, 200, order_type=MARKET) == SLIPPAGE
    depth(d, BIDS, [(10010, 300)])
    assert d.buy(0, 200, order_type=MARKET) == NONE
    d.book(9995, 10010, bid_qty=100, ask_qty=300, state=BookState.SYNCED)  # the same top again: still current
    assert d.buy(0, 200, order_type=MARKET) == NONE


def test_should_let_a_flattening_order_out_whatever_it_costs() -> None:
    d = desk(bound(1))
    d.positions.trade(1, XYZ.id, 900)
    flags = int(IntentFlag.REDUCE_ONLY | IntentFlag.FLATTEN)
    assert d.sell(0, 900, order_type=MARKET, flags=flags) == NONE  # past the visible depth: a stop gets out
    assert d.sell(0, 300, order_type=MARKET, flags=int(IntentFlag.REDUCE_ONLY)) == SLIPPAGE


def test_should_take_the_most_specific_tables_bound() -> None:
    params = {"account": {"max_slippage_bps": 100}, "instruments": {"XYZUSDT": {"max_slippage_bps": 3}}}
    assert desk(params).buy(0, 300, order_type=MARKET) == SLIPPAGE
    params["strategies"] = {"1": {"instruments": {"XYZUSDT": {"max_slippage_bps": 4}}}}
    assert desk(params).buy(0, 300, order_type=MARKET) == NONE
    assert desk({"instruments": {"ABCUSDT": {"max_slippage_bps": 1}}}).buy(0, 300, order_type=MARKET) == NONE


def test_should_keep_no_levels_without_a_bound() -> None:
    d = desk()
    assert d.buy(0, 10_000, order_type=MARKET) == NONE
    assert not any(depth.current for depth in d.checks._depths.values())


@pytest.mark.parametrize(
    ("params", "key", "reason"),
    [
        ({"account": {"max_slippage_bps": -1}}, "account.max_slippage_bps", ">= 0"),
        ({"account": {"max_slippage_bps": 2.5}}, "account.max_slippage_bps", "integer"),
        ({"instruments": {"XYZUSDT": {"max_slippage_bps": "5"}}}, "instruments.XYZUSDT.max_slippage_bps", "integer"),
    ],
)
def test_should_refuse_a_bad_bound_naming_its_key(params: dict[str, Any], key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RiskStageParams.from_config(params, KEY, base_dir=None)  # type: ignore[arg-type]
    assert caught.value.key == f"{KEY}.{key}"
    assert reason in caught.value.reason
