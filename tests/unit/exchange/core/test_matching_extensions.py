"""matching.py additions the engine stage relies on: MARKET ``cap``, ``cancel_all``,
``check_replacement`` and ``level_qty``, as exact tables plus one property."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftpipe.schema.exchange import ExpireReason, ReplaceMode, STPMode
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from stages.exchange.core.filters import SymbolFilters
from stages.exchange.core.matching import (
    Ack,
    Canceled,
    Event,
    Expired,
    Filled,
    MatchingEngine,
    PartiallyFilled,
    Rejected,
    Trade,
)

BID, ASK = OrderSide.BUY, OrderSide.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
GTC = TimeInForce.GTC
MARKET_EXPIRY = ExpireReason.MARKET


def engine(step: int = 1) -> MatchingEngine:
    return MatchingEngine(
        "BTCUSDT", SymbolFilters(qty_scale=3, tick_size=1, step_size=step), price_scale=2, qty_scale=3
    )


def typed(events: Sequence[Event]) -> list[tuple[str, tuple[object, ...]]]:
    return [(type(e).__name__, tuple(e)) for e in events]


def asks(e: MatchingEngine, *levels: tuple[int, int]) -> None:
    for i, (price, qty) in enumerate(levels, start=100):
        assert type(e.new_order(1, i, ASK, LIMIT, GTC, price, qty)[0]) is Ack


def bids(e: MatchingEngine, *levels: tuple[int, int]) -> None:
    for i, (price, qty) in enumerate(levels, start=200):
        assert type(e.new_order(1, i, BID, LIMIT, GTC, price, qty)[0]) is Ack


def fills(events: Sequence[Event]) -> list[tuple[int, int]]:
    return [(t.price, t.qty) for t in events if type(t) is Trade]


def test_should_cut_a_capped_market_buy_to_the_whole_lots_the_cap_pays_for() -> None:
    e = engine(step=10)
    asks(e, (1000, 100), (1100, 100))
    events = e.new_order(2, 1, BID, MARKET, GTC, 0, 200, cap=1000 * 100 + 1100 * 55)  # 55 is no whole lot of 10
    assert typed(events) == typed(
        [
            Ack(3, 1, 2, BID, MARKET, GTC, 0, 200, 0, 0),
            Trade(1, 1000, 100, 1, 1, ASK, 3, 2, False, 0),
            Filled(1, 1, 100, 1000, 100, 100),
            PartiallyFilled(3, 2, 1, 1000, 100, 100, 100),
            Trade(2, 1100, 50, 2, 1, ASK, 3, 2, False, 0),
            PartiallyFilled(2, 1, 101, 1100, 50, 50, 50),
            PartiallyFilled(3, 2, 1, 1100, 50, 150, 50),
            Expired(3, 2, 1, 150, 50, MARKET_EXPIRY),
        ]
    )
    assert e.level_qty(ASK, 1100) == 50 and e.level_qty(ASK, 1000) == 0


def test_should_cap_a_market_sell_in_base_and_leave_the_rest_of_the_book() -> None:
    e = engine()
    bids(e, (1000, 30), (990, 30))
    events = e.new_order(2, 1, ASK, MARKET, GTC, 0, 100, cap=45)
    assert fills(events) == [(1000, 30), (990, 15)]
    assert typed([events[-1]]) == typed([Expired(3, 2, 1, 45, 55, MARKET_EXPIRY)])
    assert e.depth(5) == ([(990, 15)], [])


def test_should_not_change_a_market_order_whose_cap_does_not_bind() -> None:
    capped, free = engine(), engine()
    for e in (capped, free):
        asks(e, (1000, 30), (1010, 30))
    assert typed(capped.new_order(2, 1, BID, MARKET, GTC, 0, 50, cap=10**9)) == typed(
        free.new_order(2, 1, BID, MARKET, GTC, 0, 50)
    )


def test_should_expire_a_quote_order_that_its_cap_stops_before_its_quote_runs_out() -> None:
    e = engine()
    asks(e, (1000, 500), (1000, 500))
    # quoteOrderQty 10.00 (at price scale) = 1_000_000 at price*qty scale, but only 400_000 may be spent.
    events = e.new_order(2, 1, BID, MARKET, GTC, 0, 0, quote_qty=1000, cap=400_000)
    assert fills(events) == [(1000, 400)]
    assert typed([events[-1]]) == typed([Expired(3, 2, 1, 400, 0, MARKET_EXPIRY)])
    # A SELL by quote capped in base: stops at the cap, EXPIRED.
    e = engine()
    bids(e, (1000, 50))
    events = e.new_order(2, 1, ASK, MARKET, GTC, 0, 0, quote_qty=10_000, cap=20)
    assert fills(events) == [(1000, 20)] and type(events[-1]) is Expired


def test_should_fill_a_quote_order_whose_quote_runs_out_before_its_cap() -> None:
    e = engine()
    asks(e, (1000, 500))
    events = e.new_order(2, 1, BID, MARKET, GTC, 0, 0, quote_qty=100, cap=10**9)  # 1.00 buys 0.001 x 100
    assert fills(events) == [(1000, 100)]
    assert type(events[-1]) is Filled


def test_should_still_prevent_self_trades_under_a_cap() -> None:
    e = engine()
    asks(e, (1000, 30))
    events = e.new_order(1, 1, BID, MARKET, GTC, 0, 10, stp_mode=STPMode.EXPIRE_TAKER, cap=10**9)
    assert typed(events[1:]) == typed([Expired(2, 1, 1, 0, 10, ExpireReason.STP)])


def test_should_cancel_every_open_order_of_an_account_by_order_id() -> None:
    e = engine()
    e.new_order(1, 1, ASK, LIMIT, GTC, 1010, 5)
    e.new_order(2, 1, ASK, LIMIT, GTC, 1010, 6)
    e.new_order(1, 2, BID, LIMIT, GTC, 990, 7)
    e.new_order(1, 3, ASK, LIMIT, GTC, 1005, 8)
    e.new_order(2, 2, BID, LIMIT, GTC, 1005, 3)  # fills 3 of order 4
    assert typed(e.cancel_all(1)) == typed([Canceled(1, 1, 1, 0, 5), Canceled(3, 1, 2, 0, 7), Canceled(4, 1, 3, 3, 5)])
    assert typed(e.cancel_all(1)) == typed([Rejected(1, 0, -2011, "Unknown order sent.")])
    assert e.depth(5) == ([], [(1010, 6)])
    e.check_invariants()


def test_should_check_a_replacement_like_the_first_step_of_cancel_replace() -> None:
    e = engine(step=10)
    assert e.check_replacement(BID, LIMIT, GTC, 1000, 15) == (-1013, "Filter failure: LOT_SIZE")
    assert e.check_replacement(BID, LIMIT, GTC, 1000, 10) is None
    e.new_order(1, 1, ASK, LIMIT, GTC, 1010, 10)
    events = e.cancel_replace(1, 1, client_order_id=2, side=BID, order_type=LIMIT, tif=GTC, price=1000, qty=15)
    assert typed(events) == typed([Rejected(1, 2, -1013, "Filter failure: LOT_SIZE")])
    events = e.cancel_replace(
        1, 9, client_order_id=2, side=BID, order_type=MARKET, tif=GTC, price=0, qty=10,
        mode=ReplaceMode.ALLOW_FAILURE, cap=1010 * 5,
    )  # fmt: skip
    assert [type(x).__name__ for x in events] == ["Rejected", "Ack", "Expired"]  # the cap allows no whole lot


@pytest.mark.parametrize(("side", "price", "want"), [(BID, 990, 7), (ASK, 1010, 5), (BID, 1010, 0), (ASK, 5, 0)])
def test_should_report_the_open_quantity_of_one_level(side: OrderSide, price: int, want: int) -> None:
    e = engine()
    e.new_order(1, 1, ASK, LIMIT, GTC, 1010, 5)
    e.new_order(1, 2, BID, LIMIT, GTC, 990, 4)
    e.new_order(2, 1, BID, LIMIT, GTC, 990, 3)
    assert e.level_qty(side, price) == want


@settings(max_examples=300, deadline=None)
@given(
    book=st.lists(st.tuples(st.integers(1, 3), st.integers(995, 1005), st.integers(1, 8).map(lambda k: 5 * k)),
                  max_size=12),
    side=st.sampled_from([BID, ASK]),
    qty=st.integers(0, 20).map(lambda k: 5 * k),
    quote=st.integers(0, 200_000),
    cap=st.integers(0, 120_000),
    stp=st.sampled_from(list(STPMode)),
)  # fmt: skip
def test_should_never_let_a_market_order_consume_more_than_its_cap(
    book: list[tuple[int, int, int]], side: OrderSide, qty: int, quote: int, cap: int, stp: STPMode
) -> None:
    e = engine(step=5)
    for i, (account, price, size) in enumerate(book, start=10):
        e.new_order(account, i, ASK if side == BID else BID, LIMIT, GTC, price, size)
    by_quote = quote if not qty else 0
    events = e.new_order(1, 1, side, MARKET, GTC, 0, qty, by_quote, stp, cap=cap)
    e.check_invariants()
    if type(events[0]) is Rejected:
        return
    spent = sum(t.price * t.qty for t in events if type(t) is Trade)
    base = sum(t.qty for t in events if type(t) is Trade)
    if cap:
        assert (spent if side == BID else base) <= cap
    if by_quote:
        assert spent <= by_quote * 1000
    else:
        assert base <= qty
    assert all(t.qty % 5 == 0 for t in events if type(t) is Trade)
    assert type(events[-1]) in (Filled, Expired)  # a MARKET order always finishes in the call
    assert e.order_status(events[0].order_id).leaves_qty == 0  # type: ignore[union-attr]
