"""The market-data publisher's hot paths: fan-out cost per subscriber, and per engine update.

* **Fan-out**: one encoded event handed to N subscribers (half raw, half
  combined, so the wrapper is built once as in production) through
  :class:`~stages.exchange.publisher.hub.StreamHub` into each
  :class:`~stages.exchange.publisher.session.ClientSession`'s bounded queue. This
  is all the ring drain pays per subscriber; the sockets are written by each
  client's own task. ``extra_info`` has the median cost per message per
  subscriber. After the timed rounds every subscriber must hold exactly the
  frames of the last round.
* **Update**: engine records (a realistic flow of limits, cancels and crossing
  orders from the real MatchingEngine) applied by
  :class:`~stages.exchange.publisher.market.SymbolMarket` with one subscriber on
  each per-event stream, the 100 ms ticks included. Afterwards the replica must
  equal the engine's book.

No timing is asserted. Quick look::

    .venv/bin/python -m pytest bench/test_publisher.py -p no:cacheprovider --benchmark-columns=min,median,rounds
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from stages.exchange.protocol.settings import ExchangeSettings
from stages.exchange.publisher import encoders
from stages.exchange.publisher.decimals import SymbolFormat
from stages.exchange.publisher.hub import StreamHub
from stages.exchange.publisher.market import SymbolMarket
from stages.exchange.publisher.session import ClientSession
from tests.unit.exchange.publisher.support import EngineFeed, exchange_table

MESSAGES_PER_ROUND = 32
STREAM = "btcusdt@trade"


class NoSocket:
    async def send(self, message: bytes, *, text: bool | None = None) -> None:  # pragma: no cover - never awaited
        raise AssertionError("the fan-out benchmark writes no socket")

    async def close(self, code: int = 1000, reason: str = "") -> None:  # pragma: no cover
        raise AssertionError("no subscriber may be dropped here")


@pytest.mark.parametrize("subscribers", [1, 10, 100, 1000])
def test_fan_out_cost_per_subscriber(benchmark: BenchmarkFixture, subscribers: int) -> None:
    hub = StreamHub()
    sessions = [
        ClientSession(NoSocket(), combined=bool(i % 2), max_queue=MESSAGES_PER_ROUND, on_slow=lambda s: None)
        for i in range(subscribers)
    ]
    for session in sessions:
        hub.subscribe(STREAM, session)
    payload = encoders.trade("BTCUSDT", SymbolFormat(2, 5), 1_700_000_000_000, 12345, 6_000_001, 150_000, 1, False)

    def setup() -> None:
        for session in sessions:
            session._queue.clear()  # what each writer does between two drain cycles

    def fan_out() -> None:
        for _ in range(MESSAGES_PER_ROUND):
            hub.publish(STREAM, payload)

    rounds = 200 if subscribers < 1000 else 50
    benchmark.pedantic(fan_out, setup=setup, rounds=rounds, iterations=1)  # type: ignore[no-untyped-call]
    assert all(s.pending == MESSAGES_PER_ROUND and not s.dropped for s in sessions)
    if benchmark.stats is not None:  # None under --benchmark-disable
        median_s = benchmark.stats.stats.median
        per_frame_ns = median_s * 1e9 / MESSAGES_PER_ROUND / subscribers
        benchmark.extra_info["ns_per_message_per_subscriber"] = round(per_frame_ns, 1)


class Sink:
    combined = False

    def __init__(self) -> None:
        self.count = 0

    def push(self, message: bytes) -> None:
        self.count += 1


def test_engine_update_cost(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    settings = ExchangeSettings.from_raw(exchange_table(tmp_path))
    symbol = settings.symbols[0]
    feed, rng = EngineFeed(symbol), random.Random(3)
    updates = [feed.random_order(rng) for _ in range(5000)]
    updates = [records for records in updates if records]
    records = [memoryview(record) for update in updates for record in update]
    streams = ["trade", "aggTrade", "bookTicker", "depth@100ms", "depth", "depth20@100ms", "ticker"]
    state: dict[str, Any] = {}

    def setup() -> None:
        hub = StreamHub()
        market = SymbolMarket(symbol, hub, lambda: 1_700_000_000_000)
        for stream in streams:
            hub.subscribe(f"btcusdt@{stream}", Sink())
        state["market"] = market

    def apply() -> None:
        market: SymbolMarket = state["market"]
        on_record = market.on_record
        for i, record in enumerate(records):
            on_record(record, 0)
            if i % 64 == 0:
                market.on_fast_tick(1_700_000_000_000)

    benchmark.pedantic(apply, setup=setup, rounds=5, iterations=1)  # type: ignore[no-untyped-call]
    market = state["market"]
    bids, asks = feed.depth()
    assert market.replica.depth(1_000_000) == (feed.update_id, bids, asks)
    assert market.updates == len(updates)
    if benchmark.stats is not None:  # None under --benchmark-disable
        median_s = benchmark.stats.stats.median
        benchmark.extra_info["updates_per_s"] = round(len(updates) / median_s)
        benchmark.extra_info["records_per_s"] = round(len(records) / median_s)
