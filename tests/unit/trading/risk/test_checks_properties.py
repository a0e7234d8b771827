"""checks.py under a misbehaving strategy: storms of intents approve nothing beyond a limit.

Two strategies send random intents (fat-finger prices, oversized and
off-lot quantities, replaces of any order) while the book jumps, goes
RESYNCING or STALE and ages, and the venue fills, cancels and confirms
replaces at random. The test keeps its own model of what was approved, and
checks every approval against the limits and the book of the moment, and
after every step that the worst case (every open order assumed filled)
never passes a position limit, nor the rate limits, nor the open-order limit.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hftpipe.schema.marketdata import BookState
from hftpipe.schema.trading import ExecType, IntentFlag
from hftpipe.schema.trading import RejectReason as R
from tests.unit.trading.risk.desk import BUY, LIMIT, LIMIT_MAKER, MARKET, MS, NONE, SECOND, SELL, XYZ, Desk

PARAMS: dict[str, Any] = {
    "account": {
        "max_order_qty": "100",
        "max_order_notional": "15000",
        "min_notional": "100",
        "price_band_bps": 100,
        "max_data_age_ms": 1000,
        "max_open_orders": 12,
        "orders_per_second": 8,
    },
    "instruments": {"XYZUSDT": {"max_position": "300"}},
    "strategies": {"1": {"max_position": "200", "orders_per_second": 4}, "2": {"max_position": "250"}},
}
OWN_LIMIT = {1: 200, 2: 250}
ACCOUNT_LIMIT = 300
RATE = {1: 4}
ACCOUNT_RATE = 8
MAX_QTY, MIN_NOTIONAL, MAX_NOTIONAL = 100, 100 * 100, 15000 * 100  # notional at price scale 2
MAX_AGE_NS = 1000 * MS
MAX_OPEN = 12


@dataclass
class _Order:
    strategy: int
    side: int
    leaves: int
    replaces: int | None = None


@dataclass
class _Model:
    """What the test itself knows was approved and what the venue did with it."""

    bid: int = 0
    ask: int = 0
    state: int = int(BookState.RESYNCING)
    book_time: int = 0
    open: dict[int, _Order] = field(default_factory=dict)
    approvals: dict[int, list[int]] = field(default_factory=lambda: {1: [], 2: []})


_books = st.tuples(
    st.just("book"),
    st.integers(-100, 100),  # the bid, in ticks from 100.00
    st.integers(1, 4),  # the spread, in ticks
    st.sampled_from([BookState.SYNCED] * 4 + [BookState.RESYNCING, BookState.STALE]),
    st.integers(0, 600),  # ms since the last step
)
_prices = st.one_of(
    st.tuples(st.just("near"), st.integers(-6, 6)),  # ticks from the touch
    st.tuples(st.just("fat"), st.sampled_from([0.1, 0.5, 0.9, 1.02, 1.1, 2.0, 10.0])),
    st.tuples(st.just("raw"), st.sampled_from([0, -5, 1, 10001, 10**12])),
)
_qtys = st.one_of(st.integers(1, 12).map(lambda lots: 10 * lots), st.sampled_from([0, -10, 5, 15, 10**6, 10**15]))
_orders = st.tuples(
    st.just("order"),
    st.sampled_from([1, 2]),
    st.sampled_from([BUY, SELL]),
    st.sampled_from([LIMIT, LIMIT, LIMIT_MAKER, MARKET]),
    _prices,
    _qtys,
    st.sampled_from([0, 0, 0, int(IntentFlag.REDUCE_ONLY)]),
)
_replaces = st.tuples(st.just("replace"), st.integers(0, 50), _prices, _qtys)
_venue = st.tuples(st.sampled_from(["fill", "cancel", "replaced"]), st.integers(0, 50), st.integers(1, 10))
_waits = st.tuples(st.just("wait"), st.integers(0, 1500))
_steps = st.lists(st.one_of(_books, _orders, _orders, _orders, _replaces, _venue, _waits), max_size=80)


def _price(model: _Model, side: int, how: tuple[str, Any]) -> int:
    kind, value = how
    touch = model.ask if side == BUY else model.bid
    if kind == "near":
        return int(touch + 5 * value)
    if kind == "fat":
        return int(touch * value) // 5 * 5
    return int(value)


def _check_approval(model: _Model, now: int, side: int, order_type: int, price: int, qty: int) -> None:
    """Everything an approved order must be, against the book of the moment."""
    assert model.state == BookState.SYNCED and model.bid > 0 and model.ask > 0
    assert now - model.book_time <= MAX_AGE_NS
    assert 0 < qty <= MAX_QTY and qty % XYZ.lot == 0
    if order_type == MARKET:
        value = model.ask if side == BUY else model.bid
    else:
        value = price
        assert price > 0 and price % XYZ.tick == 0
        if side == BUY:
            assert price * 10_000 <= model.ask * 10_100
        else:
            assert price * 10_000 >= model.bid * 9_900
    assert MIN_NOTIONAL <= value * qty <= MAX_NOTIONAL


def _check_worst_case(desk: Desk, model: _Model) -> None:
    """Every open order filled, no position passes its limit; rates and open orders within theirs."""
    for strategy, limit in OWN_LIMIT.items():
        position = desk.positions.strategy_qty(strategy, XYZ.id)
        buys = sum(o.leaves for o in model.open.values() if o.strategy == strategy and o.side == BUY)
        sells = sum(o.leaves for o in model.open.values() if o.strategy == strategy and o.side == SELL)
        assert position + buys <= limit and position - sells >= -limit
    position = desk.positions.account_qty(XYZ.id)
    buys = sum(o.leaves for o in model.open.values() if o.side == BUY)
    sells = sum(o.leaves for o in model.open.values() if o.side == SELL)
    assert position + buys <= ACCOUNT_LIMIT and position - sells >= -ACCOUNT_LIMIT
    every = sorted(t for times in model.approvals.values() for t in times)
    assert _most_in_a_second(every) <= ACCOUNT_RATE
    for strategy, rate in RATE.items():
        assert _most_in_a_second(model.approvals[strategy]) <= rate


def _most_in_a_second(times: list[int]) -> int:
    return max((sum(1 for t in times if start <= t < start + SECOND) for start in times), default=0)


def _venue_step(desk: Desk, model: _Model, what: str, pick: int, tenths: int) -> None:
    if not model.open:
        return
    seq = sorted(model.open)[pick % len(model.open)]
    order = model.open[seq]
    if what == "fill":
        qty = max(order.leaves * tenths // 10 // XYZ.lot * XYZ.lot, XYZ.lot)
        order.leaves -= qty
        desk.fill(seq, qty, leaves=order.leaves, strategy=order.strategy)
        if not order.leaves:
            del model.open[seq]
    elif what == "cancel":
        desk.report(seq, ExecType.CANCELED, strategy=order.strategy)
        del model.open[seq]
    elif order.replaces is not None:  # the venue confirms a replace: the old order is gone
        desk.report(seq, ExecType.REPLACED, order.leaves, strategy=order.strategy)
        model.open.pop(order.replaces, None)
        order.replaces = None


def _run(steps: list[tuple[Any, ...]]) -> Counter[R]:
    """Play ``steps``, checking every approval and the worst case after each step; the verdicts, counted."""
    desk = Desk(PARAMS, book=False)
    model = _Model()
    verdicts: Counter[R] = Counter()
    for step in steps:
        kind = step[0]
        if kind == "book":
            _, ticks, spread, state, wait_ms = step
            desk.now += wait_ms * MS
            model.bid, model.ask = 10000 + 5 * ticks, 10000 + 5 * (ticks + spread)
            model.state, model.book_time = int(state), desk.now
            desk.book(model.bid, model.ask, state=state)
        elif kind == "wait":
            desk.now += step[1] * MS
        elif kind == "order":
            _, strategy, side, order_type, how, qty, flags = step
            price = _price(model, side, how)
            reason = desk.send(side, price, qty, strategy=strategy, order_type=order_type, flags=flags)
            verdicts[reason] += 1
            if reason == NONE:
                _check_approval(model, desk.now, side, order_type, price, qty)
                model.open[desk.seq] = _Order(strategy, side, qty)
                model.approvals[strategy].append(desk.now)
        elif kind == "replace":
            _, pick, how, qty = step
            if not model.open:
                continue
            old = sorted(model.open)[pick % len(model.open)]
            strategy, side = model.open[old].strategy, model.open[old].side
            price = _price(model, side, how)
            reason = desk.replace(old, side, price, qty, strategy=strategy)
            verdicts[reason] += 1
            if reason == NONE:
                _check_approval(model, desk.now, side, LIMIT, price, qty)
                model.open[desk.seq] = _Order(strategy, side, qty, replaces=old)
                model.approvals[strategy].append(desk.now)
        else:
            _venue_step(desk, model, *step)
        _check_worst_case(desk, model)
        replacing = sum(1 for o in model.open.values() if o.replaces is not None)
        assert desk.checks.orders.instrument(XYZ.id).count == len(model.open) <= MAX_OPEN + replacing
    return verdicts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_steps)
def test_a_misbehaving_strategy_gets_nothing_beyond_the_limits_approved(steps: list[tuple[Any, ...]]) -> None:
    _run(steps)


def test_a_long_seeded_storm_meets_every_kind_of_refusal_and_still_trades() -> None:
    # The same checks over one long storm: the limits are reached (not only approached) and orders still pass.
    rng = random.Random(20250101)
    steps = [_random_step(rng) for _ in range(4_000)]
    verdicts = _run(steps)
    assert verdicts[NONE] > 100
    for reason in (
        R.BOOK_NOT_SYNCED,
        R.DATA_STALE,
        R.PRICE_NOT_ON_TICK,
        R.QTY_NOT_ON_LOT,
        R.MAX_ORDER_QTY,
        R.MAX_ORDER_NOTIONAL,
        R.MIN_NOTIONAL,
        R.PRICE_BAND,
        R.REDUCE_ONLY,
        R.MAX_POSITION,
        R.MAX_OPEN_ORDERS,
        R.ORDER_RATE,
        R.SELF_CROSS,
    ):
        assert verdicts[reason] > 0, reason


def _random_step(rng: random.Random) -> tuple[Any, ...]:
    """One step as the Hypothesis strategies draw them, from a seeded generator."""
    roll = rng.random()
    if roll < 0.15:
        state = rng.choice([BookState.SYNCED] * 6 + [BookState.RESYNCING, BookState.STALE])
        return ("book", rng.randint(-100, 100), rng.randint(1, 4), state, rng.choice([0, 10, 50, 300, 1200]))
    if roll < 0.25:
        return ("wait", rng.choice([0, 100, 400, 1500]))
    if roll < 0.35:
        return (rng.choice(["fill", "cancel", "replaced"]), rng.randint(0, 50), rng.randint(1, 10))
    how = rng.choice(
        [("near", rng.randint(-6, 6))] * 3
        + [("fat", rng.choice([0.1, 0.5, 1.02, 2.0, 10.0])), ("raw", rng.choice([0, 1, 10001]))]
    )
    qty = rng.choice([10 * rng.randint(1, 12)] * 4 + [0, 15, 10**6])
    if roll < 0.42:
        return ("replace", rng.randint(0, 50), how, qty)
    order_type = rng.choice([LIMIT, LIMIT, LIMIT_MAKER, MARKET])
    flags = rng.choice([0, 0, 0, int(IntentFlag.REDUCE_ONLY)])
    return ("order", rng.choice([1, 2]), rng.choice([BUY, SELL]), order_type, how, qty, flags)
