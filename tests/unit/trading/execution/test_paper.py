"""paper.py: queue position worked by hand, latency races, IOC / FOK / post-only, and a run over the real captures.

The hand-worked book (prices and sizes in raw fixed-point units)::

    bids 1000 x 10, 990 x 20   |   asks 1010 x 5, 1020 x 10
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from hftpipe.schema.trading import ExecType, OrderSide, OrderType, RejectReason, TimeInForce
from stages.trading.execution.paper import NEW_ORDER_REJECTED, NO_LATENCY, Latency, PaperReport, PaperVenue
from tests.unit.trading.execution.tape import Depth, Print, tape

BUY, SELL = OrderSide.BUY, OrderSide.SELL
LIMIT, MARKET, MAKER = OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
ACK, PARTIAL, FILL = ExecType.ACK, ExecType.PARTIAL_FILL, ExecType.FILL
CANCELED, EXPIRED, REJECTED = ExecType.CANCELED, ExecType.EXPIRED, ExecType.REJECTED
CANCEL_REJECTED, REPLACED = ExecType.CANCEL_REJECTED, ExecType.REPLACED
BUYER, SELLER = 0, 1
"""A trade's aggressor: a buyer took asks, a seller took bids."""

Row = tuple[ExecType, int, int, int, int, int]
"""``(exec_type, order_id, last_price, last_qty, cum_qty, leaves_qty)``."""


def rows(reports: Sequence[PaperReport]) -> list[Row]:
    return [(r.exec_type, r.order_id, r.last_price, r.last_qty, r.cum_qty, r.leaves_qty) for r in reports]


def book(
    venue: PaperVenue, now: int = 0, bids: Sequence[tuple[int, int]] = (), asks: Sequence[tuple[int, int]] = ()
) -> list[PaperReport]:
    bids = bids or [(1000, 10), (990, 20)]
    asks = asks or [(1010, 5), (1020, 10)]
    return venue.on_depth([p for p, _ in bids], [q for _, q in bids], [p for p, _ in asks], [q for _, q in asks], now)


def venue_with_book(latency: Latency = NO_LATENCY, tick: int = 1, lot: int = 1) -> PaperVenue:
    venue = PaperVenue(latency, tick, lot)
    book(venue)
    return venue


def rest(venue: PaperVenue, order_id: int, side: OrderSide, price: int, qty: int, now: int = 0) -> None:
    venue.submit(order_id, side, LIMIT, GTC, price, qty, now)
    assert rows(venue.advance(now + venue.latency.entry_ns)) == [(ACK, order_id, 0, 0, 0, qty)]


# -- latency -------------------------------------------------------------------------------------
def test_should_do_nothing_with_an_order_until_its_entry_latency_has_passed() -> None:
    venue = venue_with_book(Latency(entry_ns=5))
    venue.submit(1, BUY, LIMIT, GTC, 1000, 3, 100)
    assert venue.advance(104) == []
    assert venue.pending == 1
    [ack] = venue.advance(105)
    assert (ack.ts_ns, ack.exec_type, ack.venue_order_id, ack.leaves_qty) == (105, ACK, 1, 3)


def test_should_let_requests_due_at_a_time_happen_before_that_times_market_data() -> None:
    venue = venue_with_book(Latency(entry_ns=5))
    venue.submit(1, BUY, LIMIT, GTC, 1005, 3, 0)  # inside the spread: nothing ahead
    reports = venue.on_trade(1005, 2, SELLER, 5)
    assert rows(reports) == [(ACK, 1, 0, 0, 0, 3), (PARTIAL, 1, 1005, 2, 2, 1)]


def test_should_fill_between_a_cancels_sending_and_its_effect_then_refuse_the_cancel() -> None:
    venue = venue_with_book(Latency(cancel_ns=10))
    rest(venue, 1, BUY, 1005, 3)
    venue.cancel(1, 100)
    assert rows(venue.on_trade(1005, 3, SELLER, 105)) == [(FILL, 1, 1005, 3, 3, 0)]
    [refused] = venue.advance(110)
    assert (refused.ts_ns, refused.exec_type, refused.order_id, refused.reason) == (
        110,
        CANCEL_REJECTED,
        1,
        RejectReason.UNKNOWN_ORDER,
    )
    assert refused.side is BUY


def test_should_cancel_what_is_left_when_a_fill_races_the_cancel() -> None:
    venue = venue_with_book(Latency(cancel_ns=10))
    rest(venue, 1, BUY, 1005, 3)
    venue.cancel(1, 100)
    assert rows(venue.on_trade(1005, 1, SELLER, 109)) == [(PARTIAL, 1, 1005, 1, 1, 2)]
    assert rows(venue.advance(110)) == [(CANCELED, 1, 0, 0, 1, 2)]
    assert venue.on_trade(1005, 5, SELLER, 111) == []


def test_should_fill_nothing_after_a_cancel_took_effect() -> None:
    venue = venue_with_book(Latency(cancel_ns=10))
    rest(venue, 1, BUY, 1005, 3)
    venue.cancel(1, 100)
    assert rows(venue.on_trade(1005, 3, SELLER, 110)) == [(CANCELED, 1, 0, 0, 0, 3)]
    assert venue.open_orders() == []


def test_should_never_let_a_cancel_overtake_the_order_it_cancels() -> None:
    """One connection: a cancel sent after an order takes effect after it, however short its own latency."""
    venue = venue_with_book(Latency(entry_ns=10, cancel_ns=1))
    venue.submit(1, BUY, LIMIT, GTC, 1000, 3, 0)
    venue.cancel(1, 2)
    reports = venue.advance(10)
    assert rows(reports) == [(ACK, 1, 0, 0, 0, 3), (CANCELED, 1, 0, 0, 0, 3)]
    assert [r.ts_ns for r in reports] == [10, 10]


def test_should_refuse_a_cancel_of_an_order_it_never_saw() -> None:
    venue = venue_with_book()
    venue.cancel(77, 0)
    [refused] = venue.advance(0)
    assert (refused.exec_type, refused.order_id, refused.venue_order_id, refused.reason) == (
        CANCEL_REJECTED,
        77,
        0,
        RejectReason.UNKNOWN_ORDER,
    )


# -- queue position ------------------------------------------------------------------------------
def test_should_fill_only_after_the_quantity_ahead_has_traded() -> None:
    venue = venue_with_book()
    rest(venue, 1, BUY, 1000, 3)
    assert venue.queue_ahead(1) == 10  # the level's size when it arrived
    steps = [
        # (trade qty at 1000, reports, ahead after)
        (4, [], 6),
        (7, [(PARTIAL, 1, 1000, 1, 1, 2)], 0),  # 6 consume the queue, 1 reaches us
        (5, [(FILL, 1, 1000, 2, 3, 0)], None),
    ]
    for qty, expected, ahead in steps:
        assert rows(venue.on_trade(1000, qty, SELLER, 1)) == expected
        assert venue.queue_ahead(1) == ahead
    assert venue.open_orders() == []


def test_should_fill_as_maker_at_its_own_price_with_a_trade_id_per_fill() -> None:
    venue = venue_with_book()
    rest(venue, 1, BUY, 1005, 4)
    first, second = venue.on_trade(1005, 1, SELLER, 1) + venue.on_trade(1005, 9, SELLER, 2)
    assert (first.is_maker, first.last_price, first.trade_id, first.venue_order_id) == (True, 1005, 1, 1)
    assert (second.is_maker, second.last_qty, second.trade_id, second.ts_ns) == (True, 3, 2, 2)


def test_should_advance_in_the_queue_when_the_level_shrinks_below_what_is_ahead() -> None:
    venue = venue_with_book()
    rest(venue, 1, BUY, 1000, 3)
    book(venue, 1, bids=[(1000, 4), (990, 20)])  # 6 canceled: at least 6 of them were ahead of us
    assert venue.queue_ahead(1) == 4
    assert rows(venue.on_trade(1000, 5, SELLER, 2)) == [(PARTIAL, 1, 1000, 1, 1, 2)]


def test_should_not_move_back_in_the_queue_when_the_level_grows() -> None:
    venue = venue_with_book()
    rest(venue, 1, BUY, 1000, 3)
    book(venue, 1, bids=[(1000, 4), (990, 20)])
    book(venue, 2, bids=[(1000, 40), (990, 20)])  # joined behind us
    assert venue.queue_ahead(1) == 4


def test_should_not_count_a_trade_twice_when_the_level_shrinks_by_it_later() -> None:
    """Shrinkage counts only after trades: the book showing a traded level smaller moves nothing."""
    venue = venue_with_book()
    rest(venue, 1, BUY, 1000, 3)
    assert venue.on_trade(1000, 4, SELLER, 1) == []
    book(venue, 2, bids=[(1000, 6), (990, 20)])  # the same 4, as the 100 ms depth shows them
    assert venue.queue_ahead(1) == 6
    assert venue.on_trade(1000, 6, SELLER, 3) == []
    assert rows(venue.on_trade(1000, 1, SELLER, 4)) == [(PARTIAL, 1, 1000, 1, 1, 2)]


def test_should_have_nothing_ahead_when_the_level_empties() -> None:
    venue = venue_with_book()
    rest(venue, 1, BUY, 1000, 3)
    book(venue, 1, bids=[(995, 7), (990, 20)])  # 1000 is gone: inside the visible book, so empty
    assert venue.queue_ahead(1) == 0
    assert rows(venue.on_trade(1000, 2, SELLER, 2)) == [(PARTIAL, 1, 1000, 2, 2, 1)]


def test_should_fill_from_a_trade_through_its_price_whatever_was_ahead() -> None:
    venue = venue_with_book()
    rest(venue, 1, BUY, 1000, 5)
    assert rows(venue.on_trade(990, 3, SELLER, 1)) == [(PARTIAL, 1, 1000, 3, 3, 2)]  # at our price, as maker
    assert venue.queue_ahead(1) == 0


@pytest.mark.parametrize(
    ("price", "aggressor"),
    [
        (1000, BUYER),  # a buyer lifting asks never reaches a resting buy
        (1005, SELLER),  # a seller hitting above our price: not at or through it
    ],
)
def test_should_not_fill_from_a_trade_that_does_not_reach_it(price: int, aggressor: int) -> None:
    venue = venue_with_book()
    rest(venue, 1, BUY, 1000, 5)
    book(venue, 1, bids=[(1000, 1), (990, 20)])  # 1 ahead: any trade that reached it would fill it
    assert venue.on_trade(price, 50, aggressor, 2) == []


def test_should_fill_resting_sells_from_buyers_symmetrically() -> None:
    venue = venue_with_book()
    rest(venue, 1, SELL, 1010, 3)
    assert venue.queue_ahead(1) == 5
    assert venue.on_trade(1010, 5, BUYER, 1) == []
    assert rows(venue.on_trade(1010, 1, BUYER, 2)) == [(PARTIAL, 1, 1010, 1, 1, 2)]
    assert rows(venue.on_trade(1011, 9, BUYER, 3)) == [(FILL, 1, 1010, 2, 3, 0)]  # through: above our price


def test_should_queue_two_paper_orders_at_one_price_one_behind_the_other() -> None:
    """The later order's queue counts only real size; the trade that fills the first is not there for it."""
    venue = venue_with_book()
    rest(venue, 1, BUY, 1000, 3)
    rest(venue, 2, BUY, 1000, 3)
    assert (venue.queue_ahead(1), venue.queue_ahead(2)) == (10, 10)
    # 12: 10 real ahead of both, then 2 of order 1; order 2 sees the 10 it waited for
    assert rows(venue.on_trade(1000, 12, SELLER, 1)) == [(PARTIAL, 1, 1000, 2, 2, 1)]
    assert venue.queue_ahead(2) == 0
    assert rows(venue.on_trade(1000, 2, SELLER, 2)) == [(FILL, 1, 1000, 1, 3, 0), (PARTIAL, 2, 1000, 1, 1, 2)]


def test_should_serve_the_better_price_first_and_never_fill_more_than_the_trade() -> None:
    venue = venue_with_book()
    rest(venue, 1, BUY, 990, 4)
    rest(venue, 2, BUY, 1005, 4)
    rest(venue, 3, BUY, 1000, 4)
    # a seller sweeps to 990 with 6: through 1005 and 1000 (4 + 2), nothing left for 990's queue
    reports = venue.on_trade(990, 6, SELLER, 1)
    assert rows(reports) == [(FILL, 2, 1005, 4, 4, 0), (PARTIAL, 3, 1000, 2, 2, 2)]
    assert sum(r.last_qty for r in reports) <= 6
    # the 6 went to our better orders: 990's queue moves only once the book shows the level smaller
    assert venue.queue_ahead(1) == 20
    book(venue, 2, bids=[(1000, 10), (990, 14)])
    assert venue.queue_ahead(1) == 14


def test_should_not_know_the_queue_of_a_price_beyond_the_visible_depth_until_it_shows() -> None:
    venue = venue_with_book()  # both sides full: 2 of 2 levels
    rest(venue, 1, BUY, 980, 3)
    assert venue.queue_ahead(1) is None
    assert venue.on_trade(980, 50, SELLER, 1) == []  # at its price, queue unknown: it waits
    book(venue, 2, bids=[(990, 20), (980, 7)])
    assert venue.queue_ahead(1) == 7
    assert rows(venue.on_trade(975, 2, SELLER, 3)) == [(PARTIAL, 1, 980, 2, 2, 1)]  # through it: fills


@pytest.mark.parametrize(
    ("price", "bid_prices", "bid_qtys"),
    [
        (995, [1000, 990], [10, 20]),  # between two visible levels
        (1005, [1000, 990], [10, 20]),  # inside the spread
        (980, [1000, 0], [10, 0]),  # below a side that is not full (1 level of 2): there is no level there
    ],
)
def test_should_have_nothing_ahead_at_a_visible_price_with_no_level(
    price: int, bid_prices: list[int], bid_qtys: list[int]
) -> None:
    venue = PaperVenue()
    venue.on_depth(bid_prices, bid_qtys, [1010, 1020], [5, 10], 0)
    rest(venue, 1, BUY, price, 3)
    assert venue.queue_ahead(1) == 0


def test_should_not_know_the_queue_before_any_book() -> None:
    venue = PaperVenue()
    rest(venue, 1, BUY, 1000, 3)
    assert venue.queue_ahead(1) is None
    book(venue, 1)
    assert venue.queue_ahead(1) == 10


def test_should_fill_nothing_when_the_book_crosses_a_resting_order_without_a_trade() -> None:
    """Pessimistic on purpose: a crossing ask may not have met us."""
    venue = venue_with_book()
    rest(venue, 1, BUY, 1005, 3)
    assert book(venue, 1, asks=[(1003, 9), (1020, 10)]) == []
    assert venue.on_trade(1003, 9, BUYER, 2) == []
    assert venue.open_orders() == [(1, 0, 3)]


# -- marketable orders ---------------------------------------------------------------------------
def test_should_walk_the_book_and_rest_the_remainder_of_a_gtc_limit() -> None:
    venue = venue_with_book()
    venue.submit(1, BUY, LIMIT, GTC, 1010, 8, 0)
    reports = venue.advance(0)
    assert rows(reports) == [(ACK, 1, 0, 0, 0, 8), (PARTIAL, 1, 1010, 5, 5, 3)]
    assert reports[1].is_maker is False
    assert venue.open_orders() == [(1, 5, 3)]
    assert venue.queue_ahead(1) == 0  # no bid at 1010


def test_should_take_one_fill_per_level_at_each_levels_price() -> None:
    venue = venue_with_book()
    venue.submit(1, BUY, LIMIT, GTC, 1020, 8, 0)
    assert rows(venue.advance(0)) == [(ACK, 1, 0, 0, 0, 8), (PARTIAL, 1, 1010, 5, 5, 3), (FILL, 1, 1020, 3, 8, 0)]


def test_should_not_take_the_same_liquidity_twice_before_the_next_book() -> None:
    venue = venue_with_book()
    venue.submit(1, BUY, LIMIT, IOC, 1010, 4, 0)
    venue.submit(2, BUY, LIMIT, IOC, 1010, 4, 0)
    assert rows(venue.advance(0)) == [
        (ACK, 1, 0, 0, 0, 4),
        (FILL, 1, 1010, 4, 4, 0),
        (ACK, 2, 0, 0, 0, 4),
        (PARTIAL, 2, 1010, 1, 1, 3),
        (EXPIRED, 2, 0, 0, 1, 3),
    ]
    book(venue, 1)  # the venue's book again: 5 at 1010
    venue.submit(3, BUY, LIMIT, IOC, 1010, 4, 1)
    assert rows(venue.advance(1))[1] == (FILL, 3, 1010, 4, 4, 0)


def test_should_expire_what_an_ioc_cannot_fill() -> None:
    venue = venue_with_book()
    venue.submit(1, BUY, LIMIT, IOC, 1020, 20, 0)
    assert rows(venue.advance(0)) == [
        (ACK, 1, 0, 0, 0, 20),
        (PARTIAL, 1, 1010, 5, 5, 15),
        (PARTIAL, 1, 1020, 10, 15, 5),
        (EXPIRED, 1, 0, 0, 15, 5),
    ]
    assert venue.open_orders() == []


def test_should_expire_an_ioc_that_does_not_cross_untouched() -> None:
    venue = venue_with_book()
    venue.submit(1, SELL, LIMIT, IOC, 1001, 5, 0)
    assert rows(venue.advance(0)) == [(ACK, 1, 0, 0, 0, 5), (EXPIRED, 1, 0, 0, 0, 5)]


@pytest.mark.parametrize(
    ("qty", "limit", "expected"),
    [
        (20, 1020, [(ACK, 1, 0, 0, 0, 20), (EXPIRED, 1, 0, 0, 0, 20)]),  # 15 visible within 1020: all or nothing
        (6, 1010, [(ACK, 1, 0, 0, 0, 6), (EXPIRED, 1, 0, 0, 0, 6)]),  # 5 within its limit
        (15, 1020, [(ACK, 1, 0, 0, 0, 15), (PARTIAL, 1, 1010, 5, 5, 10), (FILL, 1, 1020, 10, 15, 0)]),
        (5, 1010, [(ACK, 1, 0, 0, 0, 5), (FILL, 1, 1010, 5, 5, 0)]),
    ],
)
def test_should_fill_a_fok_entirely_or_not_at_all(qty: int, limit: int, expected: list[Row]) -> None:
    venue = venue_with_book()
    venue.submit(1, BUY, LIMIT, FOK, limit, qty, 0)
    assert rows(venue.advance(0)) == expected


def test_should_refuse_a_post_only_order_that_would_cross_and_rest_one_that_would_not() -> None:
    venue = venue_with_book()
    venue.submit(1, BUY, MAKER, GTC, 1010, 3, 0)
    venue.submit(2, SELL, MAKER, GTC, 1000, 3, 0)
    venue.submit(3, BUY, MAKER, GTC, 1005, 3, 0)
    reports = venue.advance(0)
    assert rows(reports) == [(REJECTED, 1, 0, 0, 0, 0), (REJECTED, 2, 0, 0, 0, 0), (ACK, 3, 0, 0, 0, 3)]
    assert {r.reason for r in reports[:2]} == {RejectReason.WOULD_CROSS}
    assert reports[0].venue_order_id == 0
    assert venue.open_orders() == [(3, 0, 3)]


def test_should_fill_a_market_order_from_the_visible_levels_and_expire_the_rest() -> None:
    venue = venue_with_book()
    venue.submit(1, SELL, MARKET, GTC, 0, 35, 0)
    assert rows(venue.advance(0)) == [
        (ACK, 1, 0, 0, 0, 35),
        (PARTIAL, 1, 1000, 10, 10, 25),
        (PARTIAL, 1, 990, 20, 30, 5),
        (EXPIRED, 1, 0, 0, 30, 5),
    ]


def test_should_refuse_a_market_order_with_nothing_to_trade_against() -> None:
    venue = PaperVenue()
    venue.on_depth([1000], [10], [], [], 0)
    venue.submit(1, BUY, MARKET, GTC, 0, 1, 0)
    [refused] = venue.advance(0)
    assert (refused.exec_type, refused.reason, refused.venue_code) == (REJECTED, RejectReason.VENUE, NEW_ORDER_REJECTED)


@pytest.mark.parametrize(
    ("order_type", "price", "qty", "reason"),
    [
        (LIMIT, 1000, 0, RejectReason.QTY_BELOW_LOT),
        (LIMIT, 1000, 15, RejectReason.QTY_NOT_ON_LOT),
        (LIMIT, 0, 10, RejectReason.PRICE_NOT_POSITIVE),
        (LIMIT, 1003, 10, RejectReason.PRICE_NOT_ON_TICK),
        (OrderType.STOP_LIMIT, 1000, 10, RejectReason.VENUE),
        (OrderType.STOP_MARKET, 0, 10, RejectReason.VENUE),
    ],
)
def test_should_refuse_what_the_venue_would_refuse_whatever_the_book(
    order_type: OrderType, price: int, qty: int, reason: RejectReason
) -> None:
    venue = venue_with_book(tick=5, lot=10)
    venue.submit(1, BUY, order_type, GTC, price, qty, 0)
    [refused] = venue.advance(0)
    assert (refused.exec_type, refused.order_id, refused.reason) == (REJECTED, 1, reason)


def test_should_refuse_an_order_id_that_is_already_open() -> None:
    venue = venue_with_book()
    rest(venue, 1, BUY, 1000, 3)
    venue.submit(1, SELL, LIMIT, GTC, 1020, 3, 1)
    [refused] = venue.advance(1)
    assert (refused.exec_type, refused.reason, refused.side) == (REJECTED, RejectReason.DUPLICATE_ORDER, SELL)


# -- replace -------------------------------------------------------------------------------------
def test_should_replace_an_open_order_with_a_new_one_at_the_back_of_the_queue() -> None:
    venue = venue_with_book(Latency(cancel_ns=3))
    rest(venue, 1, BUY, 1000, 3)
    venue.on_trade(1000, 8, SELLER, 1)
    assert venue.queue_ahead(1) == 2
    venue.replace(1, 2, BUY, LIMIT, GTC, 1000, 5, 2)
    assert venue.advance(4) == []
    [replaced] = venue.advance(5)
    assert (replaced.ts_ns, replaced.exec_type, replaced.order_id, replaced.venue_order_id) == (5, REPLACED, 2, 2)
    assert replaced.leaves_qty == 5
    assert venue.open_orders() == [(2, 0, 5)]
    assert venue.queue_ahead(2) == 10  # the level as the book shows it now: the old place is lost


def test_should_refuse_to_replace_an_order_that_filled_in_flight() -> None:
    venue = venue_with_book(Latency(cancel_ns=3))
    rest(venue, 1, BUY, 1005, 3)
    venue.replace(1, 2, BUY, LIMIT, GTC, 1001, 3, 10)
    reports = venue.on_trade(1005, 3, SELLER, 12) + venue.advance(13)
    assert rows(reports) == [(FILL, 1, 1005, 3, 3, 0), (REJECTED, 2, 0, 0, 0, 0)]
    assert reports[1].reason is RejectReason.UNKNOWN_ORDER
    assert venue.open_orders() == []


def test_should_keep_the_old_order_when_the_new_one_fails_the_static_checks() -> None:
    venue = venue_with_book(lot=10)
    rest(venue, 1, BUY, 1000, 30)
    venue.replace(1, 2, BUY, LIMIT, GTC, 1000, 15, 1)
    [refused] = venue.advance(1)
    assert (refused.exec_type, refused.order_id, refused.reason) == (REJECTED, 2, RejectReason.QTY_NOT_ON_LOT)
    assert venue.open_orders() == [(1, 0, 30)]


def test_should_cancel_the_old_order_and_refuse_a_new_post_only_that_would_cross() -> None:
    venue = venue_with_book()
    rest(venue, 1, BUY, 1000, 3)
    venue.replace(1, 2, BUY, MAKER, GTC, 1010, 3, 1)
    assert rows(venue.advance(1)) == [(CANCELED, 1, 0, 0, 0, 3), (REJECTED, 2, 0, 0, 0, 0)]
    assert venue.open_orders() == []


def test_should_let_a_replacement_take_liquidity_when_it_crosses() -> None:
    venue = venue_with_book()
    rest(venue, 1, BUY, 1000, 3)
    venue.replace(1, 2, BUY, LIMIT, IOC, 1010, 7, 1)
    assert rows(venue.advance(1)) == [(REPLACED, 2, 0, 0, 0, 7), (PARTIAL, 2, 1010, 5, 5, 2), (EXPIRED, 2, 0, 0, 5, 2)]


# -- inputs --------------------------------------------------------------------------------------
def test_should_take_depth_records_arrays_and_stop_at_unused_levels() -> None:
    bid_p, bid_q, ask_p, ask_q = (np.zeros(20, np.int64) for _ in range(4))
    bid_p[:2], bid_q[:2], ask_p[:2], ask_q[:2] = [1000, 990], [10, 20], [1010, 1020], [5, 10]
    venue = PaperVenue()
    venue.on_depth(bid_p, bid_q, ask_p, ask_q, 0)
    bid_q[0] = 999  # the caller's arrays change under us: the venue kept a copy
    rest(venue, 1, BUY, 1000, 3)
    rest(venue, 2, BUY, 980, 3)
    assert (venue.queue_ahead(1), venue.queue_ahead(2)) == (10, 0)  # 18 zero levels: the side is not full


def test_should_ignore_a_trade_whose_aggressor_is_not_known() -> None:
    venue = venue_with_book()
    rest(venue, 1, BUY, 1005, 3)
    assert venue.on_trade(1005, 3, 255, 1) == []


def test_should_give_the_same_reports_for_the_same_inputs() -> None:
    def run() -> list[PaperReport]:
        venue = venue_with_book(Latency(entry_ns=2, cancel_ns=3))
        out: list[PaperReport] = []
        venue.submit(1, BUY, LIMIT, GTC, 1000, 5, 0)
        venue.submit(2, SELL, LIMIT, GTC, 1015, 5, 0)
        venue.submit(3, BUY, LIMIT, IOC, 1020, 7, 1)
        out += venue.advance(3)
        out += venue.on_trade(1000, 12, SELLER, 4)
        venue.cancel(1, 5)
        out += venue.on_trade(1015, 9, BUYER, 7)
        out += venue.advance(9)
        return out

    assert run() == run()


# -- the real captures ---------------------------------------------------------------------------
@dataclass
class Track:
    """What the checker knows of one order, from the tape and the reports alone."""

    side: OrderSide
    price: int
    qty: int
    live: bool = False
    ahead_bound: float = math.inf
    """``min(size at arrival, smallest size shown since)``; inf while the level was never visible."""
    at_price: int = 0
    """Trades on its side at its price since it went live."""
    through: int = 0
    """Trades on its side through its price since it went live."""
    cum: int = 0
    maker_fills: list[int] = field(default_factory=list)


def visible(depth: Depth, side: OrderSide, price: int) -> int | None:
    """The checker's own reading of a level's size in a DEPTH: None where the book does not say."""
    prices, qtys = (depth.bid_prices, depth.bid_qtys) if side is BUY else (depth.ask_prices, depth.ask_qtys)
    levels = [(p, q) for p, q in zip(prices, qtys, strict=True) if q > 0]
    sizes = dict(levels)
    if price in sizes:
        return sizes[price]
    if not levels:
        return 0
    worst = levels[-1][0]
    beyond = price < worst if side is BUY else price > worst
    return None if beyond and len(levels) == len(prices) else 0


def run_capture(name: str) -> tuple[list[PaperReport], dict[tuple[int, int], Track], int]:
    """Every instrument of the capture gets a paper venue and a few resting orders, re-placed at the touch now and
    then; every invariant of the queue model is checked on the way. Returns the reports, the tracks, the trades."""
    events, registry = tape(name)
    venues = {i.id: PaperVenue(Latency(entry_ns=2_000_000, cancel_ns=2_000_000)) for i in registry}
    tracks: dict[tuple[int, int], Track] = {}
    books: dict[int, Depth] = {}
    depths_seen: dict[int, int] = {}
    joiners: dict[int, list[int]] = {}
    next_id = [1]
    all_reports: list[PaperReport] = []
    trades = 0

    def place(instrument: int, side: OrderSide, price: int, qty: int, now: int) -> int:
        order_id = next_id[0]
        next_id[0] += 1
        tracks[(instrument, order_id)] = Track(side, price, qty)
        venues[instrument].submit(order_id, side, LIMIT, GTC, price, qty, now)
        return order_id

    def take(instrument: int, reports: list[PaperReport], trade: Print | None) -> None:
        all_reports.extend(reports)
        for report in reports:
            track = tracks[(instrument, report.order_id)]
            assert report.cum_qty + report.leaves_qty == track.qty or report.exec_type in (REJECTED, CANCEL_REJECTED)
            if report.exec_type in (ACK, REPLACED):
                assert trade is None  # arrivals happen in advance(), before the market data
                track.live = True
                size = visible(books[instrument], track.side, track.price)
                track.ahead_bound = math.inf if size is None else size
            elif report.exec_type in (PARTIAL, FILL):
                assert track.live and report.is_maker and report.last_price == track.price
                assert trade is not None  # a resting order fills only from a trade
                track.cum += report.last_qty
                track.maker_fills.append(report.last_qty)
                assert report.cum_qty == track.cum
                # never more than traded at or through its price since it went live
                assert track.cum <= track.at_price + track.through
                # never before the queue ahead of it (as the book showed it) had traded
                if not track.through:
                    assert track.cum <= max(0, track.at_price - track.ahead_bound)
                if report.leaves_qty and trade.price == track.price:
                    assert venues[instrument].queue_ahead(report.order_id) == 0
            if report.exec_type in (FILL, CANCELED, EXPIRED, REJECTED):
                track.live = False
        if trade is not None:
            assert sum(r.last_qty for r in reports) <= trade.qty

    for event in events:
        venue, instrument = venues[event.instrument], event.instrument
        take(instrument, venue.advance(event.now), None)
        if isinstance(event, Depth):
            reports = venue.on_depth(event.bid_prices, event.bid_qtys, event.ask_prices, event.ask_qtys, event.now)
            books[instrument] = event
            for (inst, _), track in tracks.items():
                if inst == instrument and track.live:
                    size = visible(event, track.side, track.price)
                    if size is not None:
                        track.ahead_bound = min(track.ahead_bound, size)
            take(instrument, reports, None)
            seen = depths_seen[instrument] = depths_seen.get(instrument, 0) + 1
            bid, ask = event.bid_prices[0], event.ask_prices[0]
            if not bid or not ask:
                continue
            qty = max(1, min(event.bid_qtys[0], event.ask_qtys[0]) // 3)
            if seen == 1:
                inside = (ask - bid) // 2
                orders = [(BUY, bid), (SELL, ask), (BUY, event.bid_prices[2]), (SELL, event.ask_prices[2])]
                if inside:
                    orders += [(BUY, bid + inside), (SELL, ask - inside)]
                joiners[instrument] = [place(instrument, side, price, qty, event.now) for side, price in orders[:2]]
                for side, price in orders[2:]:
                    place(instrument, side, price, qty, event.now)
            elif seen % 15 == 0:  # re-join the touch: cancel-replace if still open, else a new order
                for k, (side, price) in enumerate(((BUY, bid), (SELL, ask))):
                    old = joiners[instrument][k]
                    if tracks[(instrument, old)].live:
                        new = next_id[0]
                        next_id[0] += 1
                        tracks[(instrument, new)] = Track(side, price, qty)
                        venue.replace(old, new, side, LIMIT, GTC, price, qty, event.now)
                    else:
                        new = place(instrument, side, price, qty, event.now)
                    joiners[instrument][k] = new
        else:
            trades += 1
            for (inst, _), track in tracks.items():
                if inst != instrument or not track.live:
                    continue
                reached = event.aggressor == (SELL if track.side is BUY else BUY)
                if reached and event.price == track.price:
                    track.at_price += event.qty
                elif reached and (event.price < track.price if track.side is BUY else event.price > track.price):
                    track.through += event.qty
            take(instrument, venue.on_trade(event.price, event.qty, event.aggressor, event.now), event)
    for instrument, venue in venues.items():
        for order_id, cum, leaves in venue.open_orders():
            track = tracks[(instrument, order_id)]
            assert track.live and (cum, cum + leaves) == (track.cum, track.qty)
    return all_reports, tracks, trades


def test_should_keep_the_queue_models_invariants_over_the_spot_capture() -> None:
    reports, tracks, trades = run_capture("spot")
    assert trades == 2
    assert sum(1 for r in reports if r.exec_type is ACK) >= 16  # 4 instruments, 4 to 6 orders each
    assert any(r.exec_type is REPLACED for r in reports)
    # the two prints (buyers at the ask) reach only the sells at or below their price: the inside ones
    filled = {k for k, t in tracks.items() if t.cum}
    assert filled and all(tracks[k].side is SELL for k in filled)


def test_should_keep_the_queue_models_invariants_over_the_futures_capture() -> None:
    reports, tracks, trades = run_capture("futures")
    assert trades > 50
    fills = [r for r in reports if r.exec_type in (PARTIAL, FILL)]
    assert len(fills) > 5
    assert any(r.exec_type is FILL for r in fills) and any(r.exec_type is PARTIAL for r in fills)
    assert any(t.cum and t.at_price and not t.through for t in tracks.values())  # a fill that waited in the queue


def test_should_give_the_same_reports_for_the_same_capture() -> None:
    assert run_capture("futures")[0] == run_capture("futures")[0]
