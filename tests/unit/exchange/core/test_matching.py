"""matching.py: Binance spot matching semantics of one symbol, as exact event tables."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hftpipe.schema.exchange import ExpireReason, OrderStatus, ReplaceMode, STPMode
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
LIMIT, MARKET, LIMIT_MAKER = OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
NONE, EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH = (
    STPMode.NONE,
    STPMode.EXPIRE_TAKER,
    STPMode.EXPIRE_MAKER,
    STPMode.EXPIRE_BOTH,
)
TAKER = 9  # the taker's account in the tables


def engine(**filters: int) -> MatchingEngine:
    return MatchingEngine("BTCUSDT", SymbolFilters(qty_scale=3, **filters), price_scale=2, qty_scale=3)


def typed(events: Sequence[Event]) -> list[tuple[str, tuple[object, ...]]]:
    """Events as (type name, fields): NamedTuples alone compare equal across types."""
    return [(type(e).__name__, tuple(e)) for e in events]


def rest(e: MatchingEngine, book: Sequence[tuple[int, OrderSide, int, int]]) -> list[int]:
    """Place GTC limits ``(account, side, price, qty)``; returns their order ids."""
    ids = []
    for i, (account, side, price, qty) in enumerate(book, start=1000):
        events = e.new_order(account, i, side, LIMIT, GTC, price, qty)
        assert len(events) == 1 and type(events[0]) is Ack, events
        ids.append(events[0].order_id)
    return ids


def trades(events: Sequence[Event]) -> list[tuple[int, int, int]]:
    return [(t.maker_order_id, t.price, t.qty) for t in events if type(t) is Trade]


def test_should_fill_at_the_makers_price_in_time_priority() -> None:
    e = engine()
    rest(e, [(1, ASK, 10_100, 5), (2, ASK, 10_000, 3), (3, ASK, 10_000, 4)])  # ids 1, 2, 3
    events = e.new_order(TAKER, 77, BID, LIMIT, GTC, 10_100, 10, now_ns=123)
    assert typed(events) == typed(
        [
            Ack(4, 77, TAKER, BID, LIMIT, GTC, 10_100, 10, 0, 123),
            Trade(1, 10_000, 3, 2, 2, ASK, 4, TAKER, False, 123),
            Filled(2, 2, 1001, 10_000, 3, 3),
            PartiallyFilled(4, TAKER, 77, 10_000, 3, 3, 7),
            Trade(2, 10_000, 4, 3, 3, ASK, 4, TAKER, False, 123),
            Filled(3, 3, 1002, 10_000, 4, 4),
            PartiallyFilled(4, TAKER, 77, 10_000, 4, 7, 3),
            Trade(3, 10_100, 3, 1, 1, ASK, 4, TAKER, False, 123),
            PartiallyFilled(1, 1, 1000, 10_100, 3, 3, 2),
            Filled(4, TAKER, 77, 10_100, 3, 10),
        ]
    )
    assert e.depth(5) == ([], [(10_100, 2)])
    assert e.last_price == 10_100


BIDS = [(9_900, 3), (9_800, 3)]  # the table's resting bids, untouched
ASKS = [(10_000, 7), (10_100, 5)]  # the table's resting asks, untouched


@pytest.mark.parametrize(
    ("side", "order_type", "tif", "price", "qty", "want_trades", "want_tail", "want_depth"),
    [
        # Price priority, then the remainder of a GTC limit rests at its own price.
        (
            BID,
            LIMIT,
            GTC,
            10_100,
            12,
            [(1, 10_000, 5), (2, 10_000, 2), (3, 10_100, 5)],
            None,
            ([(9_900, 3), (9_800, 3)], []),
        ),
        (BID, LIMIT, GTC, 10_000, 9, [(1, 10_000, 5), (2, 10_000, 2)], None, ([(10_000, 2), *BIDS], [(10_100, 5)])),
        (BID, LIMIT, GTC, 9_900, 4, [], None, ([(9_900, 7), (9_800, 3)], ASKS)),
        # IOC: the remainder expires instead of resting.
        (BID, LIMIT, IOC, 10_000, 9, [(1, 10_000, 5), (2, 10_000, 2)], (2, ExpireReason.IOC), (BIDS, [(10_100, 5)])),
        (BID, LIMIT, IOC, 9_900, 4, [], (4, ExpireReason.IOC), (BIDS, ASKS)),
        # FOK: all or nothing.
        (BID, LIMIT, FOK, 10_100, 12, [(1, 10_000, 5), (2, 10_000, 2), (3, 10_100, 5)], None, (BIDS, [])),
        (BID, LIMIT, FOK, 10_100, 13, [], (13, ExpireReason.FOK), (BIDS, ASKS)),
        (BID, LIMIT, FOK, 10_000, 8, [], (8, ExpireReason.FOK), (BIDS, ASKS)),
        # MARKET by quantity: takes what there is, the rest expires.
        (BID, MARKET, GTC, 0, 6, [(1, 10_000, 5), (2, 10_000, 1)], None, (BIDS, [(10_000, 1), (10_100, 5)])),
        (
            BID,
            MARKET,
            GTC,
            0,
            20,
            [(1, 10_000, 5), (2, 10_000, 2), (3, 10_100, 5)],
            (8, ExpireReason.MARKET),
            (BIDS, []),
        ),
        # Sells take the bids, best (highest) first.
        (ASK, LIMIT, GTC, 9_800, 4, [(5, 9_900, 3), (4, 9_800, 1)], None, ([(9_800, 2)], ASKS)),
        (ASK, LIMIT, GTC, 9_900, 4, [(5, 9_900, 3)], None, ([(9_800, 3)], [(9_900, 1), *ASKS])),
        (ASK, MARKET, GTC, 0, 10, [(5, 9_900, 3), (4, 9_800, 3)], (4, ExpireReason.MARKET), ([], ASKS)),
    ],
)
def test_should_match_by_price_then_time_and_finish_per_time_in_force(
    side: OrderSide,
    order_type: OrderType,
    tif: TimeInForce,
    price: int,
    qty: int,
    want_trades: list[tuple[int, int, int]],
    want_tail: tuple[int, ExpireReason] | None,
    want_depth: tuple[list[tuple[int, int]], list[tuple[int, int]]],
) -> None:
    e = engine()
    # ids: 1 ask 100.00 x5, 2 ask 100.00 x2, 3 ask 101.00 x5, 4 bid 98.00 x3, 5 bid 99.00 x3
    rest(e, [(1, ASK, 10_000, 5), (2, ASK, 10_000, 2), (3, ASK, 10_100, 5), (4, BID, 9_800, 3), (5, BID, 9_900, 3)])
    events = e.new_order(TAKER, 1, side, order_type, tif, price, qty)
    assert type(events[0]) is Ack and events[0].order_id == 6
    assert trades(events) == want_trades
    assert [t.trade_id for t in events if type(t) is Trade] == list(range(1, len(want_trades) + 1))
    filled = sum(q for _, _, q in want_trades)
    if want_tail is None:
        assert type(events[-1]) is not Expired
    else:
        expired_qty, reason = want_tail
        assert typed(events[-1:]) == typed([Expired(6, TAKER, 1, filled, expired_qty, reason)])
    assert e.depth(10) == want_depth
    status = e.order_status(6)
    assert status is not None and status.cum_qty == filled
    e.check_invariants()


def test_should_report_status_updates_with_cumulative_and_leaves_quantities() -> None:
    e = engine()
    rest(e, [(1, BID, 10_000, 10)])
    first = e.new_order(2, 1, ASK, LIMIT, IOC, 10_000, 4)
    second = e.new_order(3, 1, ASK, LIMIT, IOC, 10_000, 6)
    assert typed(first[1:]) == typed(
        [
            Trade(1, 10_000, 4, 1, 1, BID, 2, 2, True, 0),
            PartiallyFilled(1, 1, 1000, 10_000, 4, 4, 6),
            Filled(2, 2, 1, 10_000, 4, 4),
        ]
    )
    assert typed(second[1:]) == typed(
        [
            Trade(2, 10_000, 6, 1, 1, BID, 3, 3, True, 0),
            Filled(1, 1, 1000, 10_000, 6, 10),
            Filled(3, 3, 1, 10_000, 6, 6),
        ]
    )
    info = e.order_status(1)
    assert info is not None and (info.status, info.cum_qty, info.leaves_qty) == (OrderStatus.FILLED, 10, 0)


def test_should_reject_a_limit_maker_that_would_cross_and_rest_one_that_would_not() -> None:
    e = engine()
    rest(e, [(1, ASK, 10_000, 5)])
    assert typed(e.new_order(2, 5, BID, LIMIT_MAKER, GTC, 10_000, 1)) == typed(
        [Rejected(2, 5, -2010, "Order would immediately match and take.")]
    )
    # Even against the account's own order, whatever the STP mode.
    assert typed(e.new_order(1, 6, BID, LIMIT_MAKER, GTC, 10_100, 1, stp_mode=EXPIRE_MAKER)) == typed(
        [Rejected(1, 6, -2010, "Order would immediately match and take.")]
    )
    assert e.next_order_id == 2  # rejected requests get no order id
    assert typed(e.new_order(2, 7, BID, LIMIT_MAKER, GTC, 9_900, 1)) == typed(
        [Ack(2, 7, 2, BID, LIMIT_MAKER, GTC, 9_900, 1, 0, 0)]
    )
    assert e.depth(5) == ([(9_900, 1)], [(10_000, 5)])


# Book for the STP table: id 1 = the taker's own ask 100.00 x5 (first in time), id 2 = account 2's ask 100.00 x5.
# The taker (account 1, id 3) buys 8 at 100.00.
@pytest.mark.parametrize(
    ("mode", "want", "want_depth"),
    [
        (
            NONE,
            [
                Trade(1, 10_000, 5, 1, 1, ASK, 3, 1, False, 0),
                Filled(1, 1, 1000, 10_000, 5, 5),
                PartiallyFilled(3, 1, 50, 10_000, 5, 5, 3),
                Trade(2, 10_000, 3, 2, 2, ASK, 3, 1, False, 0),
                PartiallyFilled(2, 2, 1001, 10_000, 3, 3, 2),
                Filled(3, 1, 50, 10_000, 3, 8),
            ],
            ([], [(10_000, 2)]),
        ),
        (
            EXPIRE_TAKER,
            [Expired(3, 1, 50, 0, 8, ExpireReason.STP)],
            ([], [(10_000, 10)]),
        ),
        (
            EXPIRE_MAKER,
            [
                Expired(1, 1, 1000, 0, 5, ExpireReason.STP),
                Trade(1, 10_000, 5, 2, 2, ASK, 3, 1, False, 0),
                Filled(2, 2, 1001, 10_000, 5, 5),
                PartiallyFilled(3, 1, 50, 10_000, 5, 5, 3),
            ],
            ([(10_000, 3)], []),  # the taker's remainder rests
        ),
        (
            EXPIRE_BOTH,
            [Expired(1, 1, 1000, 0, 5, ExpireReason.STP), Expired(3, 1, 50, 0, 8, ExpireReason.STP)],
            ([], [(10_000, 5)]),
        ),
    ],
)
def test_should_prevent_self_trades_per_the_takers_stp_mode(
    mode: STPMode, want: list[Event], want_depth: tuple[list[tuple[int, int]], list[tuple[int, int]]]
) -> None:
    e = engine()
    rest(e, [(1, ASK, 10_000, 5), (2, ASK, 10_000, 5)])
    events = e.new_order(1, 50, BID, LIMIT, GTC, 10_000, 8, stp_mode=mode)
    assert typed(events) == typed([Ack(3, 50, 1, BID, LIMIT, GTC, 10_000, 8, 0, 0), *want])
    assert e.depth(5) == want_depth
    expired = {ev.order_id for ev in events if type(ev) is Expired}
    for order_id in expired:
        info = e.order_status(order_id)
        assert info is not None and info.status == OrderStatus.EXPIRED_IN_MATCH
    e.check_invariants()


def test_should_let_a_fok_with_expire_maker_skip_its_own_orders_when_checking_liquidity() -> None:
    e = engine()
    rest(e, [(1, ASK, 10_000, 5), (2, ASK, 10_000, 5)])
    assert trades(e.new_order(1, 50, BID, LIMIT, FOK, 10_000, 6, stp_mode=EXPIRE_MAKER)) == []  # only 5 not own
    assert e.depth(5) == ([], [(10_000, 10)])  # a FOK that expires expires nobody else
    assert trades(e.new_order(1, 51, BID, LIMIT, FOK, 10_000, 5, stp_mode=EXPIRE_MAKER)) == [(2, 10_000, 5)]
    assert e.depth(5) == ([], [])  # the own order was expired on the way
    rest(e, [(2, ASK, 10_000, 5), (1, ASK, 10_000, 5), (2, ASK, 10_000, 5)])
    events = e.new_order(1, 52, BID, LIMIT, FOK, 10_000, 6, stp_mode=EXPIRE_TAKER)  # own order in the way
    assert trades(events) == [] and type(events[-1]) is Expired and events[-1].reason == ExpireReason.FOK


@pytest.mark.parametrize(
    ("filters", "order", "want"),
    [
        ({"tick_size": 5}, (BID, LIMIT, GTC, 10_001, 10, 0), (-1013, "Filter failure: PRICE_FILTER")),
        ({"min_price": 100}, (BID, LIMIT, GTC, 99, 10, 0), (-1013, "Filter failure: PRICE_FILTER")),
        ({"max_price": 100_000}, (ASK, LIMIT_MAKER, GTC, 100_001, 10, 0), (-1013, "Filter failure: PRICE_FILTER")),
        ({"step_size": 10}, (BID, LIMIT, GTC, 10_000, 15, 0), (-1013, "Filter failure: LOT_SIZE")),
        ({"min_qty": 10}, (ASK, LIMIT, IOC, 10_000, 9, 0), (-1013, "Filter failure: LOT_SIZE")),
        ({"max_qty": 100}, (ASK, MARKET, GTC, 0, 101, 0), (-1013, "Filter failure: LOT_SIZE")),
        ({"min_notional": 900}, (BID, LIMIT, GTC, 10_000, 89, 0), (-1013, "Filter failure: NOTIONAL")),
        ({"max_notional": 1_000}, (BID, LIMIT, GTC, 10_000, 101, 0), (-1013, "Filter failure: NOTIONAL")),
        ({"min_notional": 900}, (BID, MARKET, GTC, 0, 0, 899), (-1013, "Filter failure: NOTIONAL")),
    ],
)
def test_should_reject_filter_failures_with_binances_exact_reason(
    filters: dict[str, int], order: tuple[int, ...], want: tuple[int, str]
) -> None:
    e = engine(**filters)
    rest(e, [(1, ASK, 10_000, 100), (1, BID, 9_000, 100)])
    events = e.new_order(2, 42, *order)
    assert typed(events) == typed([Rejected(2, 42, *want)])
    assert e.next_order_id == 3
    assert e.depth(5) == ([(9_000, 100)], [(10_000, 100)])


def test_should_check_a_market_orders_notional_against_the_last_trade_price() -> None:
    e = engine(min_notional=1_000)  # 10.00
    rest(e, [(1, ASK, 10_000, 200), (1, BID, 9_000, 200)])
    assert type(e.new_order(2, 1, BID, MARKET, GTC, 0, 1)[0]) is Ack  # no trade yet: not checked
    assert e.last_price == 10_000
    # 100.00 x 0.099 = 9.90 < 10.00
    assert typed(e.new_order(2, 2, ASK, MARKET, GTC, 0, 99)) == typed(
        [Rejected(2, 2, -1013, "Filter failure: NOTIONAL")]
    )
    assert type(e.new_order(2, 3, ASK, MARKET, GTC, 0, 100)[0]) is Ack


@pytest.mark.parametrize(
    ("order", "want"),
    [
        ((2, BID, OrderType.STOP_MARKET, GTC, 0, 1, 0), (-2010, "Stop loss orders are not supported for this symbol.")),
        (
            (2, BID, OrderType.STOP_LIMIT, GTC, 100, 1, 0),
            (-2010, "Stop loss limit orders are not supported for this symbol."),
        ),
        (
            (2, BID, MARKET, GTC, 0, 0, 0),
            (-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"),
        ),
        ((2, BID, MARKET, GTC, 0, 5, 5), (-1106, "Parameter 'quoteOrderQty' sent when not required.")),
        ((2, BID, LIMIT, GTC, 100, 5, 5), (-1106, "Parameter 'quoteOrderQty' sent when not required.")),
        ((2, 7, LIMIT, GTC, 100, 5, 0), (-1117, "Invalid side.")),
        ((2, BID, LIMIT, 9, 100, 5, 0), (-1115, "Invalid timeInForce.")),
        ((2, BID, 42, GTC, 100, 5, 0), (-1116, "Invalid orderType.")),
        ((1, BID, LIMIT, GTC, 100, 5, 0), (-2010, "Duplicate order sent.")),  # account 1 has client id 1000 open
    ],
)
def test_should_reject_invalid_requests(order: tuple[int, ...], want: tuple[int, str]) -> None:
    e = engine()
    rest(e, [(1, ASK, 10_000, 5)])
    account, *rest_of_order = order
    client_id = 1000
    events = e.new_order(account, client_id, *rest_of_order)  # type: ignore[arg-type]
    assert typed(events) == typed([Rejected(account, client_id, *want)])


def test_should_reject_an_unknown_stp_mode() -> None:
    events = engine().new_order(1, 1, BID, LIMIT, GTC, 100, 1, stp_mode=7)
    assert typed(events) == typed(
        [Rejected(1, 1, -1013, "This symbol does not allow the specified self-trade prevention mode.")]
    )


def test_should_accept_a_client_order_id_again_once_its_order_is_closed() -> None:
    e = engine()
    rest(e, [(1, ASK, 10_000, 5)])  # account 1, client id 1000
    e.new_order(2, 1, BID, LIMIT, IOC, 10_000, 5)
    assert type(e.new_order(1, 1000, ASK, LIMIT, GTC, 10_000, 5)[0]) is Ack
    assert type(e.new_order(2, 1000, ASK, LIMIT, GTC, 10_000, 5)[0]) is Ack  # other account, same client id


# Market by quote quantity. Book: ask id 1 100.00 x 0.050, ask id 2 101.00 x 0.100; lot (step) 0.010.
@pytest.mark.parametrize(
    ("quote", "want"),
    [
        (
            # 12.00: 0.050 @ 100.00 = 5.00, then 7.00 buys floor(7.00 / 1.01) = 6 lots = 0.060 @ 101.00 = 6.06;
            # the 0.94 left cannot pay one more lot (1.01): FILLED.
            1_200,
            [
                Trade(1, 10_000, 50, 1, 1, ASK, 3, 2, False, 0),
                Filled(1, 1, 1000, 10_000, 50, 50),
                PartiallyFilled(3, 2, 7, 10_000, 50, 50, 0),
                Trade(2, 10_100, 60, 2, 1, ASK, 3, 2, False, 0),
                PartiallyFilled(2, 1, 1001, 10_100, 60, 60, 40),
                Filled(3, 2, 7, 10_100, 60, 110),
            ],
        ),
        (
            # 0.99 cannot pay one lot at 100.00 (1.00): nothing trades, the order expires.
            99,
            [Expired(3, 2, 7, 0, 0, ExpireReason.MARKET)],
        ),
        (
            # 100.00: the whole book (15.10) is not enough; the rest expires for lack of liquidity.
            10_000,
            [
                Trade(1, 10_000, 50, 1, 1, ASK, 3, 2, False, 0),
                Filled(1, 1, 1000, 10_000, 50, 50),
                PartiallyFilled(3, 2, 7, 10_000, 50, 50, 0),
                Trade(2, 10_100, 100, 2, 1, ASK, 3, 2, False, 0),
                Filled(2, 1, 1001, 10_100, 100, 100),
                PartiallyFilled(3, 2, 7, 10_100, 100, 150, 0),
                Expired(3, 2, 7, 150, 0, ExpireReason.MARKET),
            ],
        ),
        (
            # Exactly the book's value (15.10): filled, nothing left over.
            1_510,
            [
                Trade(1, 10_000, 50, 1, 1, ASK, 3, 2, False, 0),
                Filled(1, 1, 1000, 10_000, 50, 50),
                PartiallyFilled(3, 2, 7, 10_000, 50, 50, 0),
                Trade(2, 10_100, 100, 2, 1, ASK, 3, 2, False, 0),
                Filled(2, 1, 1001, 10_100, 100, 100),
                Filled(3, 2, 7, 10_100, 100, 150),
            ],
        ),
    ],
)
def test_should_spend_at_most_the_quote_quantity_in_whole_lots(quote: int, want: list[Event]) -> None:
    e = engine(step_size=10)
    rest(e, [(1, ASK, 10_000, 50), (1, ASK, 10_100, 100)])
    events = e.new_order(2, 7, BID, MARKET, GTC, 0, 0, quote)
    assert typed(events) == typed([Ack(3, 7, 2, BID, MARKET, GTC, 0, 0, quote, 0), *want])
    spent = sum(t.price * t.qty for t in events if type(t) is Trade)
    assert spent <= quote * 1000
    e.check_invariants()


def test_should_sell_by_quote_quantity_into_the_bids() -> None:
    e = engine(step_size=10)
    rest(e, [(1, BID, 10_000, 50), (1, BID, 9_000, 100)])
    # Receive up to 14.00: 0.050 @ 100.00 = 5.00, then 9.00 / 0.90 = 10 lots = 0.100 @ 90.00 = 9.00.
    events = e.new_order(2, 7, ASK, MARKET, GTC, 0, 0, 1_400)
    assert trades(events) == [(1, 10_000, 50), (2, 9_000, 100)]
    assert typed(events[-1:]) == typed([Filled(3, 2, 7, 9_000, 100, 150)])


def test_should_reject_a_quote_market_order_on_an_empty_book() -> None:
    e = engine()
    rest(e, [(1, BID, 10_000, 50)])  # only the other side
    assert typed(e.new_order(2, 7, BID, MARKET, GTC, 0, 0, 10_000)) == typed(
        [Rejected(2, 7, -2010, "Order book liquidity is less than symbol minimum quantity.")]
    )


def test_should_reject_a_quote_market_order_when_liquidity_is_below_the_lot_minimum() -> None:
    e = engine(min_qty=10)
    rest(e, [(1, ASK, 10_000, 16)])
    e.new_order(3, 1, BID, LIMIT, IOC, 10_000, 12)  # leaves 0.004 on the book, under minQty 0.010
    assert e.depth(1) == ([], [(10_000, 4)])
    assert typed(e.new_order(2, 7, BID, MARKET, GTC, 0, 0, 10_000)) == typed(
        [Rejected(2, 7, -2010, "Order book liquidity is less than LOT_SIZE filter minimum quantity.")]
    )


def test_should_cancel_by_order_id_or_client_order_id() -> None:
    e = engine()
    ids = rest(e, [(1, BID, 9_900, 5), (1, BID, 9_900, 6), (2, BID, 9_800, 7)])
    e.new_order(3, 1, ASK, LIMIT, IOC, 9_900, 2)  # partially fills id 1
    assert typed(e.cancel(1, order_id=ids[0], now_ns=5)) == typed([Canceled(1, 1, 1000, 2, 3)])
    assert typed(e.cancel(1, client_order_id=1001)) == typed([Canceled(2, 1, 1001, 0, 6)])
    assert typed(e.cancel(2, order_id=ids[2], client_order_id=1002)) == typed([Canceled(3, 2, 1002, 0, 7)])
    assert e.depth(5) == ([], [])
    assert e.order_status(ids[0]).status == OrderStatus.CANCELED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("account", "order_id", "client_order_id", "want"),
    [
        (1, 99, None, (0, -2011, "Unknown order sent.")),  # never existed
        (2, 1, None, (0, -2011, "Unknown order sent.")),  # another account's order
        (2, None, 1000, (1000, -2011, "Unknown order sent.")),  # client ids are per account
        (1, 1, 1234, (1234, -2011, "Unknown order sent.")),  # id and client id disagree
        (1, 2, None, (0, -2011, "Unknown order sent.")),  # already filled
        (1, None, None, (0, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")),
    ],
)
def test_should_reject_cancelling_an_unknown_order(
    account: int, order_id: int | None, client_order_id: int | None, want: tuple[int, int, str]
) -> None:
    e = engine()
    rest(e, [(1, BID, 9_900, 5), (1, ASK, 10_000, 5)])
    e.new_order(3, 1, BID, LIMIT, IOC, 10_000, 5)  # fills id 2
    assert typed(e.cancel(account, order_id, client_order_id)) == typed([Rejected(account, *want)])
    assert e.depth(5) == ([(9_900, 5)], [])


def test_should_cancel_replace_and_lose_time_priority() -> None:
    e = engine()
    rest(e, [(1, BID, 9_900, 5), (2, BID, 9_900, 5)])
    events = e.cancel_replace(
        1, 1, client_order_id=1000, side=BID, order_type=LIMIT, tif=GTC, price=9_900, qty=4, now_ns=9
    )
    assert typed(events) == typed([Canceled(1, 1, 1000, 0, 5), Ack(3, 1000, 1, BID, LIMIT, GTC, 9_900, 4, 0, 9)])
    fills = e.new_order(3, 1, ASK, LIMIT, IOC, 9_900, 6)
    assert trades(fills) == [(2, 9_900, 5), (3, 9_900, 1)]  # account 2's order is now first


def test_should_not_place_the_new_order_when_the_cancel_fails_under_stop_on_failure() -> None:
    e = engine()
    rest(e, [(1, BID, 9_900, 5)])
    kwargs = {"client_order_id": 7, "side": BID, "order_type": LIMIT, "tif": GTC, "price": 9_800, "qty": 1}
    events = e.cancel_replace(1, 42, **kwargs)  # type: ignore[arg-type]
    assert typed(events) == typed([Rejected(1, 0, -2011, "Unknown order sent.")])
    assert e.next_order_id == 2
    events = e.cancel_replace(1, 42, mode=ReplaceMode.ALLOW_FAILURE, **kwargs)  # type: ignore[arg-type]
    assert typed(events) == typed(
        [Rejected(1, 0, -2011, "Unknown order sent."), Ack(2, 7, 1, BID, LIMIT, GTC, 9_800, 1, 0, 0)]
    )


def test_should_cancel_nothing_when_the_new_order_fails_its_filters() -> None:
    e = engine(tick_size=100)
    rest(e, [(1, BID, 9_900, 5)])
    events = e.cancel_replace(1, 1, client_order_id=8, side=BID, order_type=LIMIT, tif=GTC, price=9_950, qty=5)
    assert typed(events) == typed([Rejected(1, 8, -1013, "Filter failure: PRICE_FILTER")])
    assert e.depth(5) == ([(9_900, 5)], [])


def test_should_report_the_cancel_when_the_replacing_limit_maker_would_cross() -> None:
    e = engine()
    rest(e, [(1, BID, 9_900, 5), (2, ASK, 10_000, 5)])
    events = e.cancel_replace(1, 1, client_order_id=8, side=BID, order_type=LIMIT_MAKER, tif=GTC, price=10_000, qty=5)
    assert typed(events) == typed(
        [Canceled(1, 1, 1000, 0, 5), Rejected(1, 8, -2010, "Order would immediately match and take.")]
    )


def test_should_answer_book_and_order_queries() -> None:
    e = engine()
    assert (e.best_bid(), e.best_ask(), e.depth(3)) == (None, None, ([], []))
    rest(
        e,
        [(1, BID, 9_900, 5), (2, BID, 9_800, 1), (1, BID, 9_900, 2), (2, ASK, 10_100, 3), (1, ASK, 10_000, 4)],
    )
    assert (e.best_bid(), e.best_ask()) == (9_900, 10_000)
    assert e.depth(1) == ([(9_900, 7)], [(10_000, 4)])
    assert e.depth(3) == ([(9_900, 7), (9_800, 1)], [(10_000, 4), (10_100, 3)])
    assert [o.order_id for o in e.open_orders(1)] == [1, 3, 5]
    assert [o.order_id for o in e.open_orders()] == [1, 2, 3, 4, 5]
    info = e.order_status(5)
    assert info is not None
    assert (info.side, info.price, info.qty, info.leaves_qty, info.status) == (ASK, 10_000, 4, 4, OrderStatus.NEW)
    e.new_order(3, 1, BID, LIMIT, GTC, 10_000, 1)
    info = e.order_status(5)
    assert info is not None and (info.cum_qty, info.leaves_qty, info.status) == (1, 3, OrderStatus.PARTIALLY_FILLED)
    assert e.order_status(99) is None


def test_should_forget_only_finished_orders_beyond_the_history() -> None:
    e = MatchingEngine("X", SymbolFilters(qty_scale=0), price_scale=0, qty_scale=0, history=10)
    e.new_order(1, 0, BID, LIMIT, GTC, 1, 1)  # stays open
    for i in range(1, 3000):
        e.new_order(1, i, ASK, LIMIT, IOC, 100, 1)  # expires at once
    assert e.order_status(1) is not None
    assert e.order_status(2) is None
    assert e.order_status(2999) is not None
    assert len(e._orders) < 1200
    e.check_invariants()


def test_should_refuse_filters_at_another_qty_scale() -> None:
    with pytest.raises(ValueError, match="qty scale"):
        MatchingEngine("X", SymbolFilters(qty_scale=8), price_scale=2, qty_scale=3)
