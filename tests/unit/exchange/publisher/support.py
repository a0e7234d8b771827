"""Test support for the publisher: md records from a real MatchingEngine, and the stage over real rings.

:class:`EngineFeed` stands in for the engine stage (written in parallel): it
drives :class:`~stages.exchange.core.matching.MatchingEngine` and publishes what the
spec says the engine publishes per command: TRADE records, then one BOOK_DELTA
SET per changed level (found by diffing the book before and after), update ids
+1 per BOOK_DELTA from 1, END_OF_UPDATE on the last record; and, after drops,
a SNAPSHOT (CLEAR, then SET per level, all at the current update id).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from hftpipe.runtime import InputPort, StageContext
from hftpipe.runtime.wiring import ring_segment_name
from hftpipe.schema import SPECS
from hftpipe.schema.marketdata import BookAction, BookSide
from hftpipe.schema.records import RECORD_SIZE, RecordFlag, RecordType
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from hftpipe.substrate.control import ControlFile, RingEntry
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.ring import Ring
from stages.exchange.core.matching import MatchingEngine, Trade
from stages.exchange.engine.stage import build_engine
from stages.exchange.protocol.settings import ExchangeSettings, SymbolSettings
from stages.exchange.protocol.topology import engine_stage, market_ring
from stages.exchange.publisher.stage import PublisherStage
from tests.unit.exchange.symbol_tables import symbol_tables

_DELTA = SPECS[RecordType.BOOK_DELTA].packer.pack
_TRADE = SPECS[RecordType.TRADE].packer.pack
END = int(RecordFlag.END_OF_UPDATE)
SNAPSHOT = int(RecordFlag.SNAPSHOT)
BID, ASK = int(BookSide.BID), int(BookSide.ASK)
"""Book sides: of a level, a delta, a trade's aggressor."""
BUY, SELL = int(OrderSide.BUY), int(OrderSide.SELL)
"""Order sides."""
T0_NS = 1_700_000_000_123_000_000
"""Exchange clock of the first command (2023-11-14T22:13:20.123Z)."""


def exchange_table(state_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A two-symbol ``[exchange]`` table on an ephemeral port."""
    table: dict[str, Any] = {
        "state_dir": str(state_dir),
        "market_port": 0,
        "api_port": 0,
        "symbols": symbol_tables(min_price="0.01", max_price="1000000"),
    }
    table.update(overrides)
    return table


def delta_record(
    instrument: int,
    side: int,
    price: int,
    qty: int,
    update_id: int,
    first: int,
    flags: int = 0,
    action: int = int(BookAction.SET),
    ts_ns: int = T0_NS,
) -> bytes:
    header = (int(RecordType.BOOK_DELTA), flags, instrument, 0, ts_ns, 0, 0, 0, 0, 0)
    return _DELTA(*header, price, qty, update_id, first, side, action)


def trade_record(
    instrument: int, price: int, qty: int, trade_id: int, aggressor: int, flags: int = 0, ts_ns: int = T0_NS
) -> bytes:
    return _TRADE(int(RecordType.TRADE), flags, instrument, 0, ts_ns, 0, 0, 0, 0, 0, price, qty, trade_id, aggressor)


@dataclass
class EngineFeed:
    """A MatchingEngine and the md records each of its commands causes."""

    symbol: SymbolSettings
    now_ns: int = T0_NS
    update_id: int = 0
    engine: MatchingEngine = field(init=False)
    _client_id: int = 0

    def __post_init__(self) -> None:
        self.engine = build_engine(self.symbol, history=None)

    def levels(self) -> dict[tuple[int, int], int]:
        bids, asks = self.engine.depth(1_000_000)
        return {**{(BID, p): q for p, q in bids}, **{(ASK, p): q for p, q in asks}}

    def depth(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return self.engine.depth(1_000_000)

    def _records(self, before: dict[tuple[int, int], int], events: list[Any]) -> list[bytes]:
        after = self.levels()
        instrument = self.symbol.symbol_id
        records = []
        for event in events:
            if type(event) is Trade:
                aggressor = ASK if event.is_buyer_maker else BID
                record = trade_record(instrument, event.price, event.qty, event.trade_id, aggressor, ts_ns=self.now_ns)
                records.append(record)
        changed = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
        first = self.update_id + 1
        for side, price in changed:
            self.update_id += 1
            qty = after.get((side, price), 0)
            records.append(delta_record(instrument, side, price, qty, self.update_id, first, ts_ns=self.now_ns))
        if records:
            last = bytearray(records[-1])
            last[2] |= END
            records[-1] = bytes(last)
        return records

    def order(
        self,
        side: int,
        price: int,
        qty: int,
        *,
        account: int = 1,
        order_type: int = int(OrderType.LIMIT),
        tif: int = int(TimeInForce.GTC),
        quote_qty: int = 0,
    ) -> list[bytes]:
        """Place an order; the md records it caused (empty if it changed nothing)."""
        self.now_ns += 1_000_000
        self._client_id += 1
        before = self.levels()
        events = self.engine.new_order(
            account, self._client_id, side, order_type, tif, price, qty, quote_qty, now_ns=self.now_ns
        )
        return self._records(before, events)

    def cancel(self, order_id: int, account: int = 1) -> list[bytes]:
        self.now_ns += 1_000_000
        before = self.levels()
        return self._records(before, self.engine.cancel(account, order_id, now_ns=self.now_ns))

    def snapshot(self) -> list[bytes]:
        """What the engine publishes after drops: CLEAR then every level, all SNAPSHOT, at the current id."""
        instrument, uid = self.symbol.symbol_id, self.update_id
        records = [delta_record(instrument, BID, 0, 0, uid, uid, SNAPSHOT, int(BookAction.CLEAR))]
        for (side, price), qty in sorted(self.levels().items()):
            records.append(delta_record(instrument, side, price, qty, uid, uid, SNAPSHOT))
        last = bytearray(records[-1])
        last[2] |= END
        records[-1] = bytes(last)
        return records

    def random_order(self, rng: random.Random) -> list[bytes]:
        """A limit order around the initial price; some cross and trade, some are cancels."""
        s = self.symbol
        open_orders = self.engine.open_orders()
        if open_orders and rng.random() < 0.2:
            victim = rng.choice(open_orders)
            return self.cancel(victim.order_id, account=victim.account)
        side = rng.choice((BUY, SELL))
        offset = rng.randint(-12, 12) * s.tick_size * 100
        price = s.initial_price + offset
        qty = rng.randint(1, 50) * s.step_size * 100
        return self.order(side, price, qty, account=rng.randint(1, 3))


def offer_all(ring: Ring, records: list[bytes]) -> None:
    for record in records:
        assert ring.offer(record), "md ring full in a test"


@dataclass
class Harness:
    settings: ExchangeSettings
    stage: PublisherStage
    ctx: StageContext
    producers: dict[str, Ring]
    feeds: dict[str, EngineFeed]

    def publish(self, symbol: str, records: list[bytes]) -> None:
        offer_all(self.producers[symbol], records)

    def producer_backlog(self, symbol: str) -> int:
        """Records published and not yet drained by the stage."""
        return self.producers[symbol].size()

    @property
    def base(self) -> str:
        return f"127.0.0.1:{self.stage.port}"


@contextlib.contextmanager
def publisher(pipeline_name: str, table: dict[str, Any], capacity: int = 1 << 16, **params: Any) -> Iterator[Harness]:
    """A PublisherStage over real md rings (one per symbol), producers attached for the test."""
    settings = ExchangeSettings.from_raw(table)
    names = [s.symbol for s in settings.symbols]
    stages = [engine_stage(n) for n in names] + ["publisher"]
    consumer = len(names)
    entries = [RingEntry(market_ring(n), capacity, RECORD_SIZE, i, consumer, 0) for i, n in enumerate(names)]
    with contextlib.ExitStack() as stack:
        control = ControlFile.create(pipeline_name, stages, entries)
        stack.callback(control.segment.unlink)
        stack.callback(control.close)
        owned = []
        for entry in entries:
            ring = Ring.create(ring_segment_name(pipeline_name, entry.name), entry.capacity, entry.slot_size)
            stack.callback(ring.unlink)
            stack.callback(ring.close)
            owned.append(ring)
        ctx = StageContext.of(control, "publisher", 1, PublisherStage.Params(settings=settings, **params))
        stack.callback(ctx.close)
        producers = {}
        for i, (entry, ring) in enumerate(zip(entries, owned, strict=True)):
            ctx.inputs[entry.name] = InputPort(
                Ring.attach(ring.name), control.hop_histogram(i), 0, ctx.counter(CounterKind.MESSAGES_IN)
            )
            producer = Ring.attach(ring.name)
            stack.callback(producer.close)
            producers[names[i]] = producer
        feeds = {s.symbol: EngineFeed(s) for s in settings.symbols}
        yield Harness(settings, PublisherStage(ctx), ctx, producers, feeds)


@contextlib.asynccontextmanager
async def running(harness: Harness) -> AsyncIterator[Harness]:
    """The stage's ``run`` in this loop until the block ends."""
    stopping = asyncio.Event()
    task = asyncio.create_task(harness.stage.run(stopping))
    await asyncio.wait_for(harness.stage.listening.wait(), 30)
    try:
        yield harness
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)


async def until(condition: Callable[[], bool], what: str, limit_s: float = 30.0) -> None:
    """Yield to the loop until ``condition()``; a generous limit only turns a hang into a failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    spins = 0
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        spins += 1
        await asyncio.sleep(0 if spins < 50 else 0.002)


def http_get(base: str, target: str) -> tuple[int, Any]:
    """``GET http://base/target`` -> (status, parsed JSON body); 4xx answers too."""
    try:
        with urllib.request.urlopen(f"http://{base}{target}", timeout=30) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


async def aget(base: str, target: str) -> tuple[int, Any]:
    return await asyncio.to_thread(http_get, base, target)


async def refused(base: str, target: str) -> dict[str, Any]:
    """The JSON body of a WebSocket handshake refused with HTTP 400."""
    with pytest.raises(InvalidStatus) as caught:
        async with connect(f"ws://{base}{target}"):
            pass
    assert caught.value.response.status_code == 400
    body: dict[str, Any] = orjson.loads(caught.value.response.body)
    return body
