"""Throughput of the matching engine's logic on a realistic mixed order flow, one symbol.

The flow (seeded, generated before timing): passive GTC limits a few ticks
around a drifting mid (50 %), cancels by client order id, mostly of recent orders,
some of them already filled (38 %), marketable limits GTC/IOC/FOK (8 %) and
MARKET orders by quantity (3 %) and by quote quantity (1 %), from 8 accounts, 10 % of
them with STP ``EXPIRE_MAKER``. "Orders/s" counts requests (new + cancel).

After each timed run the benchmark checks what it timed: the engine's own
invariants (sorted levels, level totals, FIFO by id, no crossed book, indexes in
step) and quantity conservation per order from the events.

The timed runs consume the events (count them) and drop them, as the gateway
stage will; keeping every event alive makes CPython's cyclic GC walk millions of
objects and roughly halves the rate, which measures the benchmark, not the
engine. The checks therefore run on an untimed replay of the same flow that
keeps every event, and each timed run must end in exactly the replay's state
(the engine is deterministic).

Quick number without pytest (5 runs of 200k requests, with the collector on and
off; hftpipe's own timed loops run with ``gc.disable()``)::

    .venv/bin/python bench/test_matching.py
"""

from __future__ import annotations

import gc
import random
import sys
import time
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from hftpipe.schema.exchange import STPMode
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

PRICE_SCALE = 2
QTY_SCALE = 3
FILTERS = SymbolFilters(
    qty_scale=QTY_SCALE, tick_size=1, min_price=1, max_price=10**9, step_size=1, min_qty=1, max_qty=10**7
)
NEW, CANCEL = 0, 1
Op = tuple[Any, ...]


def make_flow(n: int, seed: int = 20240601) -> list[Op]:
    rng = random.Random(seed)
    mid = 100_000  # 1000.00
    ops: list[Op] = []
    recent: list[tuple[int, int]] = []
    bid, ask = int(OrderSide.BUY), int(OrderSide.SELL)
    limit, market = int(OrderType.LIMIT), int(OrderType.MARKET)
    gtc, ioc, fok = int(TimeInForce.GTC), int(TimeInForce.IOC), int(TimeInForce.FOK)
    for coid in range(1, n + 1):
        if rng.random() < 0.05:
            mid += rng.choice((-1, 1))
        account = rng.randrange(1, 9)
        stp = int(STPMode.EXPIRE_MAKER) if rng.random() < 0.1 else 0
        r = rng.random()
        side = bid if rng.random() < 0.5 else ask
        sign = 1 if side == bid else -1
        if r < 0.50:
            price = mid - sign * (1 + int(rng.expovariate(0.15)))
            ops.append((NEW, account, coid, side, limit, gtc, price, rng.randrange(1, 50), 0, stp, coid))
            recent.append((account, coid))
        elif r < 0.88:
            if recent:
                # Mostly recent orders (quote updates), sometimes an old one; some are gone already.
                i = len(recent) - 1 - min(int(rng.expovariate(0.01)), len(recent) - 1)
                acct, target = recent[i]
                recent[i] = recent[-1]
                recent.pop()
                ops.append((CANCEL, acct, None, target, coid))
        elif r < 0.96:
            price = mid + sign * rng.randrange(0, 3)
            tif = rng.choice((gtc, ioc, ioc, fok))
            ops.append((NEW, account, coid, side, limit, tif, price, rng.randrange(1, 60), 0, stp, coid))
            if tif == gtc:
                recent.append((account, coid))
        elif r < 0.99:
            ops.append((NEW, account, coid, side, market, gtc, 0, rng.randrange(1, 60), 0, stp, coid))
        else:
            quote = rng.randrange(1_000, 5_000)  # 10.00 .. 50.00 quote (about 0.010 .. 0.050 base)
            ops.append((NEW, account, coid, side, market, gtc, 0, 0, quote, stp, coid))
    return ops


def run_flow(engine: MatchingEngine, ops: list[Op]) -> int:
    """Feed the flow; the events are consumed (counted) and dropped, as a gateway would."""
    new_order, cancel = engine.new_order, engine.cancel
    n = 0
    for op in ops:
        if op[0] == NEW:
            n += len(new_order(op[1], op[2], op[3], op[4], op[5], op[6], op[7], op[8], op[9], op[10]))
        else:
            n += len(cancel(op[1], op[2], op[3], op[4]))
    return n


def replay_keeping_events(ops: list[Op]) -> tuple[MatchingEngine, list[list[Event]]]:
    """The same flow, untimed, keeping every event for the checks."""
    engine = new_engine()
    out = [
        engine.new_order(op[1], op[2], op[3], op[4], op[5], op[6], op[7], op[8], op[9], op[10])
        if op[0] == NEW
        else engine.cancel(op[1], op[2], op[3], op[4])
        for op in ops
    ]
    return engine, out


def new_engine() -> MatchingEngine:
    return MatchingEngine("BTCUSDT", FILTERS, price_scale=PRICE_SCALE, qty_scale=QTY_SCALE)


def check_conservation(engine: MatchingEngine, out: list[list[Event]]) -> dict[str, int]:
    """Every accepted quantity order: qty == filled + resting + expired + canceled; trades pair up."""
    submitted: dict[int, int] = {}
    quote_orders: set[int] = set()
    filled: dict[int, int] = {}
    gone: dict[int, int] = {}
    counts = {"requests": len(out), "trades": 0, "rejected": 0, "acks": 0}
    trade_ids: list[int] = []
    for events in out:
        for e in events:
            kind = type(e)
            if kind is Ack:
                counts["acks"] += 1
                submitted[e.order_id] = e.qty
                if e.quote_qty:
                    quote_orders.add(e.order_id)
            elif kind is Trade:
                counts["trades"] += 1
                trade_ids.append(e.trade_id)
                filled[e.maker_order_id] = filled.get(e.maker_order_id, 0) + e.qty
                filled[e.taker_order_id] = filled.get(e.taker_order_id, 0) + e.qty
            elif kind is Canceled:
                gone[e.order_id] = gone.get(e.order_id, 0) + e.canceled_qty
            elif kind is Expired:
                gone[e.order_id] = gone.get(e.order_id, 0) + e.expired_qty
            elif kind is Rejected:
                counts["rejected"] += 1
            else:
                assert kind in (Filled, PartiallyFilled)
    assert trade_ids == list(range(1, len(trade_ids) + 1))
    resting = {info.order_id: info.leaves_qty for info in engine.open_orders()}
    for order_id, qty in submitted.items():
        if order_id in quote_orders:
            assert order_id not in resting and gone.get(order_id, 0) == 0
            continue
        assert qty == filled.get(order_id, 0) + resting.get(order_id, 0) + gone.get(order_id, 0), order_id
    return counts


@pytest.mark.benchmark(group="matching")
def test_mixed_flow_throughput(benchmark: BenchmarkFixture) -> None:
    ops = make_flow(50_000)
    engines: list[MatchingEngine] = []

    def setup() -> tuple[tuple[MatchingEngine, list[Op]], dict[str, Any]]:
        engines.append(new_engine())
        return (engines[-1], ops), {}

    event_count = benchmark.pedantic(run_flow, setup=setup, rounds=5, iterations=1)
    reference, out = replay_keeping_events(ops)
    reference.check_invariants()
    counts = check_conservation(reference, out)
    assert counts["trades"] > 5_000 and counts["acks"] > 25_000 and counts["rejected"] < 10_000, counts
    assert event_count == sum(len(events) for events in out)
    for engine in engines:  # every timed run did exactly what the checked replay did
        engine.check_invariants()
        assert engine.open_orders() == reference.open_orders()
        assert (engine.next_order_id, engine.next_trade_id) == (reference.next_order_id, reference.next_trade_id)
    benchmark.extra_info["requests_per_round"] = len(ops)
    benchmark.extra_info["requests_per_s_best"] = round(len(ops) / benchmark.stats.stats.min)


def main(argv: list[str]) -> None:
    n = int(argv[1]) if len(argv) > 1 else 200_000
    ops = make_flow(n)
    n = len(ops)  # a cancel is skipped while nothing has been placed yet
    news = sum(op[0] == NEW for op in ops)
    reference, out = replay_keeping_events(ops)
    reference.check_invariants()
    counts = check_conservation(reference, out)
    print(f"{n} requests ({news} new, {n - news} cancels): {counts}, {len(reference.open_orders())} left open")
    del out  # millions of live objects would slow the collector down in the timed runs
    gc.collect()
    for label, collector in (("gc enabled", True), ("gc disabled", False)):
        rates = []
        for _ in range(5):
            engine = new_engine()
            if not collector:
                gc.disable()
            t0 = time.perf_counter()
            run_flow(engine, ops)
            rates.append(n / (time.perf_counter() - t0))
            gc.enable()
            assert engine.open_orders() == reference.open_orders()
        rates.sort()
        print(f"{label:12} requests/s: best {rates[-1]:,.0f}  median {rates[2]:,.0f}  worst {rates[0]:,.0f}")


if __name__ == "__main__":
    main(sys.argv)
