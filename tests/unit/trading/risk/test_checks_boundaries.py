"""checks.py: each check at its boundary: just inside is approved, just outside refused with the exact reason.

Prices are XYZ's (2 decimals, tick 0.05: 10000 is 100.00), quantities whole
units in lots of 10; the default book is 99.95 / 100.05 (see desk.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from hftpipe.schema.marketdata import BookState
from hftpipe.schema.trading import ExecType, IntentFlag
from hftpipe.schema.trading import RejectReason as R
from tests.unit.trading.risk.desk import (
    ABC,
    BUY,
    LIMIT,
    LIMIT_MAKER,
    MARKET,
    MS,
    NONE,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    Desk,
)

SYNCED, RESYNCING, STALE = BookState.SYNCED, BookState.RESYNCING, BookState.STALE
REDUCE_ONLY, FLATTEN = int(IntentFlag.REDUCE_ONLY), int(IntentFlag.FLATTEN)
CANCELED = ExecType.CANCELED


# ---------------------------------------------------------------------------------------------- book
@pytest.mark.parametrize(
    ("state", "bid", "ask", "age_ns", "expected"),
    [
        (SYNCED, 9995, 10005, 2000 * MS, NONE),  # exactly max_data_age_ms old
        (SYNCED, 9995, 10005, 2000 * MS + 1, R.DATA_STALE),
        (RESYNCING, 9995, 10005, 0, R.BOOK_NOT_SYNCED),
        (STALE, 9995, 10005, 0, R.BOOK_NOT_SYNCED),
        (SYNCED, 0, 10005, 0, R.BOOK_NOT_SYNCED),  # one-sided: no band, no mark
        (SYNCED, 9995, 0, 0, R.BOOK_NOT_SYNCED),
    ],
)
def test_book_check_at_its_boundary(state: BookState, bid: int, ask: int, age_ns: int, expected: R) -> None:
    desk = Desk({"account": {"max_data_age_ms": 2000}}, book=False)
    desk.book(bid, ask, state=state)
    desk.now += age_ns
    assert desk.buy(10000, 10) == expected
    assert desk.buy(0, 10, order_type=MARKET) == expected  # a market order needs a fresh touch too


def test_book_check_refuses_before_the_first_book_and_for_an_unknown_instrument() -> None:
    desk = Desk(book=False)
    assert desk.buy(10000, 10) == R.BOOK_NOT_SYNCED
    assert desk.buy(10000, 10, instrument=99) == R.UNKNOWN_INSTRUMENT


def test_book_check_takes_any_age_without_max_data_age() -> None:
    desk = Desk()
    desk.now += 3600 * 1000 * MS
    assert desk.buy(10000, 10) == NONE


# ---------------------------------------------------------------------------------------------- tick / lot
@pytest.mark.parametrize(
    ("order_type", "price", "qty", "stop", "expected"),
    [
        (LIMIT, 10000, 10, 0, NONE),
        (LIMIT, 10005, 20, 0, NONE),
        (LIMIT, 10001, 10, 0, R.PRICE_NOT_ON_TICK),
        (LIMIT, 10004, 10, 0, R.PRICE_NOT_ON_TICK),
        (LIMIT, 0, 10, 0, R.PRICE_NOT_POSITIVE),
        (LIMIT, -5, 10, 0, R.PRICE_NOT_POSITIVE),
        (LIMIT, 10000, 9, 0, R.QTY_BELOW_LOT),
        (LIMIT, 10000, 0, 0, R.QTY_BELOW_LOT),
        (LIMIT, 10000, -10, 0, R.QTY_BELOW_LOT),
        (LIMIT, 10000, 15, 0, R.QTY_NOT_ON_LOT),
        (LIMIT_MAKER, 10001, 10, 0, R.PRICE_NOT_ON_TICK),
        (MARKET, 0, 10, 0, NONE),
        (MARKET, 12345, 10, 0, NONE),  # a market order's price is not read
        (MARKET, 0, 11, 0, R.QTY_NOT_ON_LOT),
        (STOP_MARKET, 0, 10, 10100, NONE),
        (STOP_MARKET, 0, 10, 10101, R.PRICE_NOT_ON_TICK),
        (STOP_MARKET, 0, 10, 0, R.PRICE_NOT_POSITIVE),
        (STOP_LIMIT, 10100, 10, 10100, NONE),
        (STOP_LIMIT, 10101, 10, 10100, R.PRICE_NOT_ON_TICK),
        (STOP_LIMIT, 10100, 10, 10102, R.PRICE_NOT_ON_TICK),
        (STOP_LIMIT, 10100, 10, 0, R.PRICE_NOT_POSITIVE),
    ],
)
def test_tick_and_lot_check_at_its_boundary(order_type: int, price: int, qty: int, stop: int, expected: R) -> None:
    assert Desk().buy(price, qty, order_type=order_type, stop=stop) == expected


# ---------------------------------------------------------------------------------------------- size, notional
@pytest.mark.parametrize(
    ("limits", "side", "order_type", "price", "qty", "expected"),
    [
        ({"max_order_qty": "100"}, BUY, LIMIT, 1000, 100, NONE),
        ({"max_order_qty": "100"}, BUY, LIMIT, 1000, 110, R.MAX_ORDER_QTY),
        ({"max_order_qty": "109.99"}, SELL, LIMIT, 11000, 100, NONE),  # whole units: <= 109.99 is <= 109
        ({"max_order_qty": "109.99"}, SELL, LIMIT, 11000, 110, R.MAX_ORDER_QTY),
        ({"max_order_notional": "10000"}, BUY, LIMIT, 10000, 100, NONE),  # 100.00 x 100 = 10000.00
        ({"max_order_notional": "10000"}, BUY, LIMIT, 10005, 100, R.MAX_ORDER_NOTIONAL),  # 10005.00
        ({"max_order_notional": "10004.99"}, BUY, LIMIT, 10005, 100, R.MAX_ORDER_NOTIONAL),
        ({"max_order_notional": "10000"}, BUY, MARKET, 0, 100, R.MAX_ORDER_NOTIONAL),  # at the ask, 100.05
        ({"max_order_notional": "10000"}, SELL, MARKET, 0, 100, NONE),  # at the bid, 99.95
        ({"max_order_notional": "10100"}, BUY, STOP_MARKET, 0, 100, NONE),  # at the stop, 101.00
        ({"max_order_notional": "10099.99"}, BUY, STOP_MARKET, 0, 100, R.MAX_ORDER_NOTIONAL),
        ({"min_notional": "1000"}, BUY, LIMIT, 10000, 10, NONE),  # 1000.00
        ({"min_notional": "1000"}, BUY, LIMIT, 9995, 10, R.MIN_NOTIONAL),  # 999.50
        ({"min_notional": "999.50"}, BUY, LIMIT, 9995, 10, NONE),
        ({"min_notional": "999.51"}, BUY, LIMIT, 9995, 10, R.MIN_NOTIONAL),
        ({"min_notional": "1000"}, SELL, MARKET, 0, 10, R.MIN_NOTIONAL),  # at the bid: 999.50
        ({"min_notional": "1000"}, BUY, MARKET, 0, 10, NONE),  # at the ask: 1000.50
        # Quantity is checked before notional, notional before the minimum.
        ({"max_order_qty": "10", "max_order_notional": "1"}, BUY, LIMIT, 10000, 20, R.MAX_ORDER_QTY),
        ({"max_order_notional": "1", "min_notional": "0.5"}, BUY, LIMIT, 10000, 20, R.MAX_ORDER_NOTIONAL),
    ],
)
def test_size_and_notional_checks_at_their_boundaries(
    limits: dict[str, Any], side: int, order_type: int, price: int, qty: int, expected: R
) -> None:
    assert Desk({"account": limits}).send(side, price, qty, order_type=order_type, stop=10100) == expected


# ---------------------------------------------------------------------------------------------- price band
@pytest.mark.parametrize(
    ("bid", "ask", "side", "order_type", "price", "stop", "expected"),
    [
        (9995, 10000, BUY, LIMIT, 10050, 0, NONE),  # ask 100.00 x 1.005 = 100.50
        (9995, 10000, BUY, LIMIT, 10055, 0, R.PRICE_BAND),
        (9995, 10005, BUY, LIMIT, 10055, 0, NONE),  # 100.05 x 1.005 = 100.55025
        (9995, 10005, BUY, LIMIT, 10060, 0, R.PRICE_BAND),
        (9995, 10000, BUY, LIMIT_MAKER, 10055, 0, R.PRICE_BAND),
        (10000, 10005, SELL, LIMIT, 9950, 0, NONE),  # bid 100.00 x 0.995 = 99.50
        (10000, 10005, SELL, LIMIT, 9945, 0, R.PRICE_BAND),
        (9995, 10005, SELL, LIMIT, 9950, 0, NONE),  # 99.95 x 0.995 = 99.45025
        (9995, 10005, SELL, LIMIT, 9945, 0, R.PRICE_BAND),
        (9995, 10005, BUY, LIMIT, 5000, 0, NONE),  # far from the touch on the passive side: no risk
        (9995, 10005, SELL, LIMIT, 20000, 0, NONE),
        (9995, 10005, BUY, STOP_LIMIT, 10150, 10100, NONE),  # against the stop: 101.00 x 1.005 = 101.505
        (9995, 10005, BUY, STOP_LIMIT, 10155, 10100, R.PRICE_BAND),
        (9995, 10005, SELL, STOP_LIMIT, 9950, 10000, NONE),  # 100.00 x 0.995
        (9995, 10005, SELL, STOP_LIMIT, 9945, 10000, R.PRICE_BAND),
        (9995, 10005, BUY, MARKET, 0, 0, NONE),  # no price: only the freshness check applies
        (9995, 10005, SELL, STOP_MARKET, 0, 5000, NONE),
    ],
)
def test_price_band_at_its_boundary(
    bid: int, ask: int, side: int, order_type: int, price: int, stop: int, expected: R
) -> None:
    desk = Desk({"account": {"price_band_bps": 50}}, book=False)
    desk.book(bid, ask)
    assert desk.send(side, price, 10, order_type=order_type, stop=stop) == expected


def test_price_band_of_zero_is_no_band_and_a_band_of_100_percent_takes_any_sell() -> None:
    assert Desk().buy(20000, 10) == NONE
    assert Desk({"account": {"price_band_bps": 10_000}}).sell(5, 10) == NONE


# ---------------------------------------------------------------------------------------------- reduce-only
@pytest.mark.parametrize(
    ("position", "open_sell", "side", "qty", "flags", "expected"),
    [
        (20, 0, SELL, 20, REDUCE_ONLY, NONE),  # down to flat
        (20, 0, SELL, 30, REDUCE_ONLY, R.REDUCE_ONLY),  # would flip short
        (20, 10, SELL, 10, REDUCE_ONLY, NONE),  # with the open sell: 20 - 10 - 10 = 0
        (20, 10, SELL, 20, REDUCE_ONLY, R.REDUCE_ONLY),
        (20, 0, BUY, 10, REDUCE_ONLY, R.REDUCE_ONLY),  # grows the long
        (0, 0, SELL, 10, REDUCE_ONLY, R.REDUCE_ONLY),  # nothing to reduce
        (-20, 0, BUY, 20, REDUCE_ONLY, NONE),
        (-20, 0, BUY, 30, REDUCE_ONLY, R.REDUCE_ONLY),
        (20, 0, SELL, 20, FLATTEN, NONE),  # FLATTEN promises the same
        (20, 0, SELL, 30, FLATTEN, R.REDUCE_ONLY),
        (0, 0, BUY, 10, 0, NONE),  # unflagged: not this check's business
    ],
)
def test_reduce_only_check_at_its_boundary(
    position: int, open_sell: int, side: int, qty: int, flags: int, expected: R
) -> None:
    desk = Desk()
    desk.hold(position)
    if open_sell:
        assert desk.sell(11000, open_sell) == NONE
    assert desk.send(side, 11000 if side == SELL else 9000, qty, flags=flags) == expected


def test_reduce_only_reads_the_strategys_position_not_the_accounts() -> None:
    desk = Desk()
    desk.hold(20, strategy=2)  # the account is long 20, strategy 1 flat
    assert desk.sell(11000, 10, flags=REDUCE_ONLY) == R.REDUCE_ONLY
    assert desk.sell(11000, 10, flags=REDUCE_ONLY, strategy=2) == NONE


# ---------------------------------------------------------------------------------------------- max position
@pytest.mark.parametrize(
    ("position", "prior", "side", "qty", "expected"),
    [
        (0, None, BUY, 100, NONE),
        (0, None, BUY, 110, R.MAX_POSITION),
        (0, None, SELL, 100, NONE),
        (0, None, SELL, 110, R.MAX_POSITION),
        (50, (BUY, 30), BUY, 20, NONE),  # 50 + 30 open + 20 = 100
        (50, (BUY, 30), BUY, 30, R.MAX_POSITION),
        (50, (SELL, 100), SELL, 50, NONE),  # 50 - 100 open - 50 = -100
        (50, (SELL, 100), SELL, 60, R.MAX_POSITION),
        (50, (SELL, 100), BUY, 50, NONE),  # the other side's orders do not count: 50 + 50 = 100
        (150, None, SELL, 10, NONE),  # beyond a lowered limit: reducing still passes
        (150, None, BUY, 10, R.MAX_POSITION),
        (-150, None, BUY, 10, NONE),
        (-150, None, SELL, 10, R.MAX_POSITION),
    ],
)
def test_max_position_worst_case_at_its_boundary(
    position: int, prior: tuple[int, int] | None, side: int, qty: int, expected: R
) -> None:
    desk = Desk({"strategies": {"1": {"max_position": "100"}}})
    desk.hold(position)
    price = {BUY: 9000, SELL: 11000}
    if prior is not None:
        assert desk.send(prior[0], price[prior[0]], prior[1]) == NONE
    assert desk.send(side, price[side], qty) == expected


def test_max_position_of_the_account_adds_every_strategys_position_and_open_orders() -> None:
    desk = Desk({"instruments": {"XYZUSDT": {"max_position": "150"}}})
    desk.hold(100, strategy=1)
    assert desk.buy(9000, 60, strategy=2) == R.MAX_POSITION  # 100 + 60
    assert desk.buy(9000, 40, strategy=2) == NONE  # 140 with its open buy
    assert desk.buy(9000, 20, strategy=1) == R.MAX_POSITION  # 160
    assert desk.buy(9000, 10, strategy=1) == NONE  # 150
    assert desk.buy(9000, 10, strategy=3) == R.MAX_POSITION  # a strategy with no table: the account's applies


def test_max_position_counts_a_partly_filled_order_by_its_leaves() -> None:
    desk = Desk({"strategies": {"1": {"max_position": "100"}}})
    assert desk.buy(9000, 100) == NONE
    first = desk.seq
    desk.fill(first, 40, leaves=60)  # position 40, leaves 60: still 100 in the worst case
    assert desk.buy(9000, 10) == R.MAX_POSITION
    desk.report(first, CANCELED)  # the 60 left will not fill
    assert desk.buy(9000, 60) == NONE
    assert desk.buy(9000, 10) == R.MAX_POSITION


# ---------------------------------------------------------------------------------------------- exposure
@pytest.mark.parametrize(
    ("limits", "held", "side", "order_type", "price", "qty", "expected"),
    [
        # Position 10 at the mark 100.00 (the mid of 99.95 / 100.05) is worth 1000.00.
        ({"max_gross_exposure": "3000"}, 10, BUY, LIMIT, 10000, 20, NONE),  # 1000 + 2000
        ({"max_gross_exposure": "3000"}, 10, BUY, LIMIT, 10005, 20, R.MAX_GROSS_EXPOSURE),  # 3001
        ({"max_gross_exposure": "3000"}, 10, SELL, LIMIT, 10000, 40, NONE),  # 1000 - 4000: |-3000|
        ({"max_gross_exposure": "3000"}, 10, SELL, LIMIT, 10005, 40, R.MAX_GROSS_EXPOSURE),  # |-3002|
        ({"max_gross_exposure": "3000"}, 10, BUY, MARKET, 0, 20, R.MAX_GROSS_EXPOSURE),  # at the ask: 3001
        ({"max_gross_exposure": "3000"}, 40, SELL, LIMIT, 11000, 10, NONE),  # over the limit, but a hedge
        ({"max_gross_exposure": "3000"}, 40, BUY, LIMIT, 9000, 10, R.MAX_GROSS_EXPOSURE),
        ({"max_net_exposure": "2000"}, 10, BUY, LIMIT, 10000, 10, NONE),  # 1000 + 1000
        ({"max_net_exposure": "2000"}, 10, BUY, LIMIT, 10005, 10, R.MAX_NET_EXPOSURE),  # 2000.50
        ({"max_net_exposure": "2000"}, -10, SELL, LIMIT, 10000, 10, NONE),  # -1000 - 1000
        ({"max_net_exposure": "2000"}, -10, SELL, LIMIT, 10005, 10, R.MAX_NET_EXPOSURE),
        ({"max_net_exposure": "2000"}, 30, SELL, LIMIT, 11000, 10, NONE),  # over the limit, but a hedge
        # Gross is checked before net.
        ({"max_gross_exposure": "1", "max_net_exposure": "1"}, 10, BUY, LIMIT, 9000, 10, R.MAX_GROSS_EXPOSURE),
    ],
)
def test_exposure_checks_at_their_boundaries(
    limits: dict[str, Any], held: int, side: int, order_type: int, price: int, qty: int, expected: R
) -> None:
    desk = Desk({"account": limits})
    desk.hold(held)
    assert desk.send(side, price, qty, order_type=order_type) == expected


def test_exposure_adds_instruments_at_their_own_scales() -> None:
    # ABC: prices at 2 decimals, quantities at 3. Short 20.000 ABC at 50.00 is -1000.00; long 10 XYZ is +1000.00.
    desk = Desk({"account": {"max_gross_exposure": "3000", "max_net_exposure": "500"}})
    desk.book(4999, 5001, instrument=ABC.id)
    desk.hold(-20_000, instrument=ABC.id)
    desk.hold(10)
    assert desk.buy(5000, 10) == NONE  # net 0 + 500.00; gross 1000 + 1500 = 2500
    assert desk.buy(5, 10) == R.MAX_NET_EXPOSURE  # net 500.05
    assert desk.sell(5000, 10_000, instrument=ABC.id) == NONE  # ABC short worst case -1500: gross 3000, net -500
    assert desk.sell(1, 1, instrument=ABC.id) == R.MAX_GROSS_EXPOSURE  # 0.00001 over


def test_exposure_follows_the_mark() -> None:
    desk = Desk({"account": {"max_gross_exposure": "3000"}})
    desk.hold(20)  # 2000.00 at 100.00
    assert desk.buy(10000, 10) == NONE  # 3000
    desk.book(10995, 11005)  # the mark moves to 110.00: the position alone is 2200, the open buy 1000
    assert desk.sell(12000, 10) == NONE  # a hedge
    assert desk.buy(5000, 10) == R.MAX_GROSS_EXPOSURE


# ---------------------------------------------------------------------------------------------- open orders
def test_max_open_orders_of_a_strategy_at_its_boundary() -> None:
    desk = Desk({"strategies": {"1": {"max_open_orders": 2}}})
    assert desk.buy(9000, 10) == NONE
    first = desk.seq
    assert desk.buy(9000, 10) == NONE
    assert desk.buy(9000, 10) == R.MAX_OPEN_ORDERS
    desk.book(4999, 5001, instrument=ABC.id)
    assert desk.buy(4000, 10, instrument=ABC.id) == NONE  # counted per instrument
    assert desk.buy(9000, 10, strategy=2) == NONE  # another strategy's own count
    assert desk.replace(first, BUY, 9005, 10) == NONE  # a replace does not add one
    desk.report(first, CANCELED)
    assert desk.buy(9000, 10) == R.MAX_OPEN_ORDERS  # the replace's order took its place
    desk.report(desk.seq - 1, CANCELED)  # the replace's order canceled too
    assert desk.buy(9000, 10) == NONE


def test_max_open_orders_of_the_account_counts_every_strategy() -> None:
    desk = Desk({"instruments": {"XYZUSDT": {"max_open_orders": 3}}})
    assert desk.buy(9000, 10, strategy=1) == NONE
    assert desk.buy(9000, 10, strategy=1) == NONE
    assert desk.buy(9000, 10, strategy=2) == NONE
    assert desk.buy(9000, 10, strategy=2) == R.MAX_OPEN_ORDERS
    desk.book(4999, 5001, instrument=ABC.id)
    assert desk.buy(4000, 10, instrument=ABC.id) == NONE  # ABC has no such limit


# ---------------------------------------------------------------------------------------------- rates
def test_order_rate_of_a_strategy_at_its_boundaries() -> None:
    desk = Desk({"strategies": {"1": {"orders_per_second": 2, "orders_per_10s": 3}}})
    assert desk.buy(9000, 10) == NONE
    assert desk.buy(9000, 10) == NONE
    assert desk.buy(9000, 10) == R.ORDER_RATE
    assert desk.buy(9000, 10, strategy=2) == NONE  # not its bucket
    desk.now = 1000 * MS - 1
    assert desk.buy(9000, 10) == R.ORDER_RATE
    desk.now = 1000 * MS
    assert desk.buy(9000, 10) == NONE  # a token back from t=0
    desk.now = 2000 * MS
    assert desk.buy(9000, 10) == R.ORDER_RATE  # the per-second bucket has two, the 10 s bucket none
    desk.now = 10_000 * MS
    assert desk.buy(9000, 10) == NONE


def test_order_rate_spends_nothing_on_a_refused_order() -> None:
    desk = Desk({"strategies": {"1": {"orders_per_second": 1}}})
    assert desk.buy(9001, 10) == R.PRICE_NOT_ON_TICK
    assert desk.buy(9000, 10) == NONE
    assert desk.buy(9000, 10) == R.ORDER_RATE


def test_order_rate_of_the_account_counts_every_strategy_and_replaces() -> None:
    desk = Desk({"account": {"orders_per_second": 3}})
    assert desk.buy(9000, 10, strategy=1) == NONE
    first = desk.seq
    assert desk.buy(9000, 10, strategy=2) == NONE
    assert desk.replace(first, BUY, 9005, 10) == NONE
    assert desk.buy(9000, 10, strategy=3) == R.ORDER_RATE
    assert desk.cancel(first) == NONE  # cancels have their own bucket (none here)


def test_cancel_rate_at_its_boundary() -> None:
    desk = Desk({"account": {"cancels_per_second": 2, "orders_per_second": 10}, "strategies": {"2": {}}})
    orders = []
    for _ in range(3):
        assert desk.buy(9000, 10) == NONE
        orders.append(desk.seq)
    assert desk.cancel(orders[0]) == NONE
    assert desk.cancel_all() == NONE
    assert desk.cancel(orders[1]) == R.CANCEL_RATE
    assert desk.buy(9000, 10) == NONE  # orders have their own bucket
    desk.now = 1000 * MS
    assert desk.cancel(orders[1]) == NONE


def test_cancel_rate_of_a_strategy_leaves_the_others_alone() -> None:
    desk = Desk({"strategies": {"1": {"cancels_per_second": 1}}})
    assert desk.buy(9000, 10) == NONE
    first = desk.seq
    assert desk.buy(9000, 10, strategy=2) == NONE
    second = desk.seq
    assert desk.cancel(first) == NONE
    assert desk.cancel_all() == R.CANCEL_RATE
    assert desk.cancel(second, strategy=2) == NONE
