"""matching.py under random order streams: price-time priority, conservation, no crossed book.

Every request is checked against the book as it was just before it, read
through ``open_orders()`` only (never the engine's own level structures):

* the makers an order touched (traded with, or expired by STP), in event order,
  are a prefix of the eligible resting orders sorted by price priority then
  arrival (order id), and all but the last of them were used up;
* an IOC/MARKET remainder only expires when nothing it could take is left;
* trades happen at the maker's price, between opposite sides, never between
  one account's orders when the taker asked for STP;
* quantity is neither created nor destroyed: per order, submitted = filled +
  resting + expired + canceled; a quote order never spends more than its quote;
  base and quote moved by trades sum to zero over the accounts;
* ``check_invariants()`` holds (sorted levels, FIFO by id, no crossed book).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hftpipe.schema.exchange import ExpireReason, STPMode
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from stages.exchange.core.filters import SymbolFilters
from stages.exchange.core.matching import (
    Ack,
    Canceled,
    Event,
    Expired,
    Filled,
    MatchingEngine,
    OrderInfo,
    PartiallyFilled,
    Rejected,
    Trade,
)

LOT = 2
ACCOUNTS = st.integers(1, 3)
SIDES = st.sampled_from([OrderSide.BUY, OrderSide.SELL])
PRICES = st.integers(97, 103)
QTYS = st.integers(1, 10).map(lambda k: k * LOT)
STP = st.sampled_from(list(STPMode))

LIMITS = st.tuples(st.just("limit"), ACCOUNTS, SIDES, PRICES, QTYS, st.sampled_from(list(TimeInForce)), STP)
MAKERS = st.tuples(st.just("maker"), ACCOUNTS, SIDES, PRICES, QTYS)
MARKETS = st.tuples(st.just("market"), ACCOUNTS, SIDES, st.integers(1, 15).map(lambda k: k * LOT), STP)
QUOTES = st.tuples(st.just("quote"), ACCOUNTS, SIDES, st.integers(150, 3_000), STP)
CANCELS = st.tuples(st.just("cancel"), ACCOUNTS, st.integers(0, 10**6))
REPLACES = st.tuples(st.just("replace"), ACCOUNTS, st.integers(0, 10**6), SIDES, PRICES, QTYS)
OPS = st.lists(
    st.one_of(LIMITS, LIMITS, LIMITS, MAKERS, MARKETS, QUOTES, CANCELS, CANCELS, REPLACES), min_size=1, max_size=80
)


@dataclass
class Ledger:
    """What the events say happened to each order."""

    submitted: dict[int, int] = field(default_factory=dict)
    quote: dict[int, int] = field(default_factory=dict)
    filled: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    spent: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    gone: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    base: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    cash: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    trade_ids: list[int] = field(default_factory=list)
    order_ids: list[int] = field(default_factory=list)
    volume: int = 0

    def record(self, events: list[Event]) -> None:
        for e in events:
            kind = type(e)
            if kind is Ack:
                self.order_ids.append(e.order_id)
                self.submitted[e.order_id] = e.qty
                if e.quote_qty:
                    self.quote[e.order_id] = e.quote_qty
            elif kind is Trade:
                self.trade_ids.append(e.trade_id)
                self.volume += e.qty
                for order_id in (e.maker_order_id, e.taker_order_id):
                    self.filled[order_id] += e.qty
                    self.spent[order_id] += e.price * e.qty
                buyer, seller = (
                    (e.maker_account, e.taker_account) if e.is_buyer_maker else (e.taker_account, e.maker_account)
                )
                self.base[buyer] += e.qty
                self.base[seller] -= e.qty
                self.cash[buyer] -= e.price * e.qty
                self.cash[seller] += e.price * e.qty
            elif kind is Canceled:
                self.gone[e.order_id] += e.canceled_qty
            elif kind is Expired:
                self.gone[e.order_id] += e.expired_qty
            if kind in (Filled, PartiallyFilled):
                assert e.cum_qty == self.filled[e.order_id], e
                if e.order_id not in self.quote:
                    leaves = e.leaves_qty if kind is PartiallyFilled else 0
                    assert leaves == self.submitted[e.order_id] - e.cum_qty, e


def opposite_queue(book: dict[int, OrderInfo], side: int, limit: int | None) -> list[OrderInfo]:
    """Resting orders a taker on ``side`` could reach, in price-time priority (``limit=None``: market)."""
    if side == OrderSide.BUY:
        eligible = [o for o in book.values() if o.side == OrderSide.SELL and (limit is None or o.price <= limit)]
        return sorted(eligible, key=lambda o: (o.price, o.order_id))
    eligible = [o for o in book.values() if o.side == OrderSide.BUY and (limit is None or o.price >= limit)]
    return sorted(eligible, key=lambda o: (-o.price, o.order_id))


def check_new_order(
    engine: MatchingEngine, before: dict[int, OrderInfo], request: dict[str, Any], events: list[Event]
) -> None:
    if type(events[0]) is Rejected:
        assert len(events) == 1
        assert {o.order_id: o for o in engine.open_orders()} == before
        return
    ack = events[0]
    assert type(ack) is Ack
    taker = ack.order_id
    assert taker not in before
    side, account, stp = request["side"], request["account"], request["stp"]
    market = request["order_type"] == OrderType.MARKET
    queue = opposite_queue(before, side, None if market else request["price"])
    touched: list[int] = []
    traded: dict[int, int] = defaultdict(int)
    stp_expired: set[int] = set()
    for e in events[1:]:
        if type(e) is Trade:
            maker = before[e.maker_order_id]
            assert e.taker_order_id == taker and e.taker_account == account
            assert e.price == maker.price and e.maker_side == maker.side != side
            assert e.is_buyer_maker == (maker.side == OrderSide.BUY)
            assert e.qty > 0
            if stp != STPMode.NONE:
                assert e.maker_account != account, "self trade despite STP"
            traded[e.maker_order_id] += e.qty
            if not touched or touched[-1] != e.maker_order_id:
                touched.append(e.maker_order_id)
        elif type(e) is Expired and e.order_id != taker:
            maker = before[e.order_id]
            assert e.reason == ExpireReason.STP and maker.account == account
            assert stp in (STPMode.EXPIRE_MAKER, STPMode.EXPIRE_BOTH)
            assert e.expired_qty == maker.leaves_qty
            stp_expired.add(e.order_id)
            touched.append(e.order_id)
    # Price-time priority: the touched makers are the head of the queue, in order, each once.
    assert touched == [o.order_id for o in queue[: len(touched)]], (touched, queue)
    for order_id in touched[:-1]:
        assert order_id in stp_expired or traded[order_id] == before[order_id].leaves_qty
    reasons = [e.reason for e in events if type(e) is Expired and e.order_id == taker]
    if ExpireReason.FOK in reasons:
        assert not traded and not stp_expired
        assert {o.order_id: o for o in engine.open_orders()} == before
    if request["tif"] == TimeInForce.FOK and request["order_type"] == OrderType.LIMIT and not reasons:
        assert sum(traded.values()) == request["qty"]
    if ExpireReason.IOC in reasons or (ExpireReason.MARKET in reasons and not request["quote_qty"]):
        # It only gave up because nothing it could take was left.
        after = {o.order_id: o for o in engine.open_orders()}
        assert not opposite_queue(after, side, None if market else request["price"])


def apply(engine: MatchingEngine, op: tuple[Any, ...], ledger: Ledger, coids: dict[int, int], ids: list[int]) -> None:
    before = {o.order_id: o for o in engine.open_orders()}
    kind, account = op[0], op[1]
    coids[account] += 1
    coid = coids[account]
    if kind in ("cancel", "replace"):
        target = ids[op[2] % len(ids)] if ids else 999
        if kind == "cancel":
            events = engine.cancel(account, target)
        else:
            _, _, _, side, price, qty = op
            events = engine.cancel_replace(
                account, target, client_order_id=coid, side=side, order_type=OrderType.LIMIT,
                tif=TimeInForce.GTC, price=price, qty=qty,
            )  # fmt: skip
        first = events[0]
        victim = before.get(target)
        if victim is not None and victim.account == account:
            assert type(first) is Canceled and first.order_id == target and first.canceled_qty == victim.leaves_qty
            del before[target]
        else:
            assert type(first) is Rejected and (first.code, first.message) == (-2011, "Unknown order sent.")
        ledger.record(events)
        if kind == "replace" and type(first) is Canceled:
            request = {"account": account, "side": op[3], "order_type": OrderType.LIMIT, "tif": TimeInForce.GTC}
            request |= {"price": op[4], "qty": op[5], "quote_qty": 0, "stp": STPMode.NONE}
            check_new_order(engine, before, request, events[1:])
        else:
            assert len(events) == 1
        return
    request: dict[str, Any] = {"account": account, "side": op[2], "price": 0, "qty": 0, "quote_qty": 0}
    request |= {"order_type": OrderType.LIMIT, "tif": TimeInForce.GTC, "stp": STPMode.NONE}
    if kind == "limit":
        request |= {"price": op[3], "qty": op[4], "tif": op[5], "stp": op[6]}
    elif kind == "maker":
        request |= {"price": op[3], "qty": op[4], "order_type": OrderType.LIMIT_MAKER}
    elif kind == "market":
        request |= {"qty": op[3], "order_type": OrderType.MARKET, "stp": op[4]}
    else:
        request |= {"quote_qty": op[3], "order_type": OrderType.MARKET, "stp": op[4]}
    events = engine.new_order(
        account, coid, request["side"], request["order_type"], request["tif"], request["price"], request["qty"],
        request["quote_qty"], request["stp"],
    )  # fmt: skip
    ledger.record(events)
    check_new_order(engine, before, request, events)
    if type(events[0]) is Ack:
        ids.append(events[0].order_id)


def run_stream(ops: list[tuple[Any, ...]]) -> tuple[MatchingEngine, Ledger]:
    engine = MatchingEngine("TEST", SymbolFilters(qty_scale=0, tick_size=1, step_size=LOT), price_scale=0, qty_scale=0)
    ledger = Ledger()
    coids: dict[int, int] = defaultdict(int)
    ids: list[int] = []
    for op in ops:
        apply(engine, op, ledger, coids, ids)
        engine.check_invariants()
    return engine, ledger


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_should_keep_price_time_priority_and_conserve_quantity_on_random_streams(ops: list[tuple[Any, ...]]) -> None:
    engine, ledger = run_stream(ops)
    # Ids: one per accepted order / per trade, increasing from 1 with no gaps.
    assert ledger.order_ids == list(range(1, len(ledger.order_ids) + 1))
    assert ledger.trade_ids == list(range(1, len(ledger.trade_ids) + 1))
    resting = {o.order_id: o.leaves_qty for o in engine.open_orders()}
    for order_id, qty in ledger.submitted.items():
        if order_id in ledger.quote:
            assert order_id not in resting and ledger.gone[order_id] == 0
            assert ledger.spent[order_id] <= ledger.quote[order_id]
            assert ledger.filled[order_id] % LOT == 0
            continue
        assert qty == ledger.filled[order_id] + resting.get(order_id, 0) + ledger.gone[order_id], order_id
    # Whatever one side of a trade received, the other gave.
    assert sum(ledger.base.values()) == 0
    assert sum(ledger.cash.values()) == 0
    # Each trade fills its maker and its taker by the same quantity.
    assert sum(ledger.filled.values()) == 2 * ledger.volume
    total_submitted = sum(q for oid, q in ledger.submitted.items() if oid not in ledger.quote)
    total_quote_fills = sum(ledger.filled[oid] for oid in ledger.quote)
    total_filled_qty_orders = sum(ledger.filled.values()) - total_quote_fills
    assert total_submitted == total_filled_qty_orders + sum(resting.values()) + sum(ledger.gone.values())


@settings(max_examples=60, deadline=None)
@given(OPS)
def test_should_be_deterministic(ops: list[tuple[Any, ...]]) -> None:
    first, first_ledger = run_stream(ops)
    second, second_ledger = run_stream(ops)
    assert first.open_orders() == second.open_orders()
    assert first_ledger == second_ledger
