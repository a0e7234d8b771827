"""The feed's RingSink on a real ring that fills up: the event loop keeps running, no record is lost or reordered.

The sink is driven the way the feed stage drives it: events packed
synchronously, then ``await sink.drain()`` while it holds records back. The
ring is tiny and nobody reads it until the test says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from hftpipe.schema import SPECS
from hftpipe.schema.marketdata import BookAction, BookSide, BookState, ControlKind
from hftpipe.schema.records import RecordFlag, RecordType
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.ring import Ring
from stages.marketdata.feed.ring_sink import RingSink
from tests.unit.marketdata.feed.pipeline import FeedPipeline

CAPACITY = 8
INSTRUMENT = 1
BID = int(BookSide.BID)
_DELTA = SPECS[RecordType.BOOK_DELTA].packer.unpack_from
_CONTROL = SPECS[RecordType.CONTROL].packer.unpack_from

Record = tuple[Any, ...]
"""(seq, type, instrument, then per type: price, qty, update_id, END | state)."""


def _sink(pipeline: FeedPipeline, **kwargs: Any) -> RingSink:
    ctx = pipeline.feed
    return RingSink(ctx.output_port(), drops=ctx.counter(CounterKind.DROPS), **kwargs)


def _read(ring: Ring) -> list[Record]:
    """Consume every readable record."""
    records: list[Record] = []

    def take(buf: memoryview, offset: int) -> None:
        rtype = buf[offset] | (buf[offset + 1] << 8)
        if rtype == RecordType.BOOK_DELTA:
            f = _DELTA(buf, offset)
            if f[15] == BookAction.CLEAR:
                records.append((f[3], "clear", f[2], f[12]))
            else:
                records.append((f[3], "level", f[2], f[10], f[11], f[12], bool(f[1] & RecordFlag.END_OF_UPDATE)))
        else:
            f = _CONTROL(buf, offset)
            assert (f[0], f[10]) == (RecordType.CONTROL, ControlKind.BOOK_STATE)
            records.append((f[3], "state", f[2], BookState(f[11])))

    while ring.poll(take, 64):
        pass
    return records


def _updates(count: int, levels: int) -> list[list[tuple[int, int]]]:
    return [[(1000 + u * levels + k, 1 + k) for k in range(levels)] for u in range(count)]


def _emit(sink: RingSink, update_id: int, levels: list[tuple[int, int]]) -> None:
    """One atomic update, as an adapter emits it: levels, END on the last."""
    for k, (price, qty) in enumerate(levels):
        sink.book_level(INSTRUMENT, BID, price, qty, update_id, 0, 1, k == len(levels) - 1, False)


def _expected(updates: list[list[tuple[int, int]]], first_seq: int = 0) -> list[Record]:
    records: list[Record] = []
    for update_id, levels in enumerate(updates, 1):
        for k, (price, qty) in enumerate(levels):
            end = k == len(levels) - 1
            records.append((first_seq + len(records), "level", INSTRUMENT, price, qty, update_id, end))
    return records


@pytest.mark.timeout(60)  # the defect this guards against spun forever inside the event loop
def test_should_keep_the_loop_running_and_lose_nothing_while_the_ring_is_full(
    feed_pipeline: Callable[..., FeedPipeline],
) -> None:
    pipeline = feed_pipeline(capacity=CAPACITY)
    sink = _sink(pipeline)
    updates = _updates(count=40, levels=3)  # 120 records through an 8-slot ring
    ring = pipeline.feed.the_output()

    async def scenario() -> tuple[list[Record], list[str]]:
        observed: list[str] = []
        produced = asyncio.Event()

        async def feed() -> None:
            for update_id, levels in enumerate(updates, 1):
                _emit(sink, update_id, levels)
                if sink.backlogged:
                    await sink.drain()
            produced.set()

        async def other_work() -> list[Record]:
            while not sink.backlogged:  # the feed runs until the ring is full
                await asyncio.sleep(0)
            observed.append(f"ring full: {ring.size()} of {CAPACITY}, {sink.held} held")
            await asyncio.sleep(0.001)  # a timer fires: the loop is not stalled by the feed
            observed.append(f"timer ran while held: {sink.backlogged}")
            records: list[Record] = []
            while not (produced.is_set() and not ring.size()):  # now be the consumer
                records += _read(pipeline.consumer)
                await asyncio.sleep(0)
            return records

        producer = asyncio.create_task(feed())
        records = await asyncio.wait_for(other_work(), timeout=30)  # a safety bound only
        await producer
        return records, observed

    records, observed = asyncio.run(scenario())

    assert observed[0].startswith(f"ring full: {CAPACITY} of {CAPACITY}")
    assert observed[1] == "timer ran while held: True"
    assert records == _expected(updates)  # all of them, in order, END where it was
    ctx = pipeline.feed
    assert ctx.counter(CounterKind.BACKPRESSURE).value > 0
    assert ctx.counter(CounterKind.MESSAGES_OUT).value == len(records)
    assert ctx.counter(CounterKind.DROPS).value == 0
    assert sink.episodes == 1
    assert not sink.backlogged


def test_should_pack_into_the_ring_again_once_the_backlog_is_in(feed_pipeline: Callable[..., FeedPipeline]) -> None:
    pipeline = feed_pipeline(capacity=CAPACITY)
    sink = _sink(pipeline)
    updates = _updates(count=4, levels=3)
    for update_id, levels in enumerate(updates[:3], 1):
        _emit(sink, update_id, levels)
    assert (sink.backlogged, sink.held) == (True, 9 - CAPACITY)
    records = _read(pipeline.consumer)
    asyncio.run(sink.drain())
    assert not sink.backlogged
    _emit(sink, 4, updates[3])
    assert not sink.backlogged
    assert records + _read(pipeline.consumer) == _expected(updates)


def test_should_stamp_a_held_record_with_when_it_was_produced_not_when_it_reached_the_ring(
    feed_pipeline: Callable[..., FeedPipeline],
) -> None:
    pipeline = feed_pipeline(capacity=CAPACITY)
    sink = _sink(pipeline)
    _emit(sink, 1, [(1000 + k, 1) for k in range(CAPACITY)])
    before = time.monotonic_ns()
    _emit(sink, 2, [(2000, 1), (2001, 1)])
    after = time.monotonic_ns()
    assert sink.held == 2
    _read(pipeline.consumer)
    time.sleep(0.01)
    asyncio.run(sink.drain())
    hops: list[list[int]] = []
    pipeline.consumer.poll(lambda buf, offset: hops.append(list(_DELTA(buf, offset)[6:10])), 64)
    assert len(hops) == 2 and hops[0] == hops[1]  # one publish time per atomic update
    assert before <= hops[0][0] <= after and hops[0][1:] == [0, 0, 0]
    ctx = pipeline.feed
    assert ctx.counter(CounterKind.MESSAGES_OUT).value == CAPACITY + 2
    assert ctx.counter(CounterKind.BACKPRESSURE).value == 2


def test_should_drop_an_outgrown_backlog_and_mark_every_book_resyncing_until_its_next_snapshot(
    feed_pipeline: Callable[..., FeedPipeline],
) -> None:
    pipeline = feed_pipeline(capacity=CAPACITY)
    overflows: list[str] = []
    sink = _sink(pipeline, max_backlog=4, on_overflow=lambda: overflows.append("resend every book"))
    sink.book_state(INSTRUMENT, BookState.SYNCED, 1)
    updates = _updates(count=5, levels=3)  # 1 + 15 records: 7 fit, 5 held, then the overflow
    for update_id, levels in enumerate(updates, 1):
        _emit(sink, update_id, levels)
    assert overflows == []  # told once the books are marked, when the sink is drained
    in_ring = _read(pipeline.consumer)
    assert in_ring == [(0, "state", INSTRUMENT, BookState.SYNCED), *_expected(updates, first_seq=1)[: CAPACITY - 1]]

    asyncio.run(sink.drain())

    after = _read(pipeline.consumer)
    assert [r[1:] for r in after] == [("state", INSTRUMENT, BookState.RESYNCING)]
    assert after[0][0] == 16  # the sequence shows the gap: records 8..15 never reached the ring
    ctx = pipeline.feed
    assert ctx.counter(CounterKind.DROPS).value == sink.dropped == 15 - (CAPACITY - 1)
    assert overflows == ["resend every book"]  # once
    sink.book_state(INSTRUMENT, BookState.SYNCED, 2)  # not whole again: no snapshot since the gap
    assert _read(pipeline.consumer) == []
    sink.book_clear(INSTRUMENT, 9, 0, 3)
    sink.book_state(INSTRUMENT, BookState.SYNCED, 3)
    assert [r[1:] for r in _read(pipeline.consumer)] == [
        ("clear", INSTRUMENT, 9),
        ("state", INSTRUMENT, BookState.SYNCED),
    ]
