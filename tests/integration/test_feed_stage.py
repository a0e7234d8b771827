"""The feed stage in this process against the loopback replay server: handover and staleness.

The venue is real (WebSockets + HTTP on loopback, ``stages.marketdata.capture.replay_server``),
the output is a real shared-memory ring; the stage's asyncio ``run`` is driven
here, next to the server, in one event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from hftpipe.runtime import StageContext
from hftpipe.schema import SPECS
from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.l2book import L2Book
from hftpipe.schema.marketdata import BookAction, BookState, ControlKind
from hftpipe.schema.records import RecordType
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.ring import Ring
from hftpipe.substrate.ring_descriptor import DATA_OFFSET
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import EventKind, format_event
from stages.marketdata.capture.replay import replay
from stages.marketdata.capture.replay_server import ReplayServer
from stages.marketdata.feed.stage import FeedStage
from stages.marketdata.venues.binance.adapter import BinanceAdapter
from stages.marketdata.venues.kraken.v1 import KrakenV1Adapter
from tests.captures import CAPTURES, capture
from tests.integration.feed_running import running, until

_CONTROL = SPECS[RecordType.CONTROL].packer
_DELTA = SPECS[RecordType.BOOK_DELTA].packer


def _final_update_ids() -> dict[str, int]:
    adapter = BinanceAdapter(BooksSink(), InstrumentRegistry())
    replay(adapter, capture("BINANCE.ws.1.0"), capture("BINANCE.http.0.0"))
    return dict(adapter.update_ids)


async def _run_until(stage: FeedStage, done: Callable[[], bool], timeout_s: float = 30.0) -> None:
    async with running(stage) as task:
        await until(task, done, timeout_s, poll_s=0.02)


def test_should_replace_an_aged_connection_without_a_gap(
    make_feed: Callable[..., StageContext], tmp_path: Path
) -> None:
    """Connection 1 carries the first 60 % of the stream, connection 2 (the replacement)
    starts at 40 %, like a live venue's new connection that overlaps the old one."""
    events = capture("BINANCE.ws.1.0")
    connect = next(e for e in events if e.kind is EventKind.CONNECT)
    received = [e for e in events if e.kind is EventKind.RECEIVED]
    first, second = received[: len(received) * 6 // 10], received[len(received) * 4 // 10 :]
    two_connections = tmp_path / "handover.ws"
    two_connections.write_text("\n".join(format_event(e) for e in [connect, *first, connect, *second]) + "\n")
    final_ids = _final_update_ids()
    synced_at_end: dict[str, bool] = {}

    async def scenario() -> FeedStage:
        async with ReplayServer(two_connections, CAPTURES / "BINANCE.http.0.0", pace="fast") as server:
            stage = FeedStage(
                make_feed(
                    url=f"{server.ws_url}/stream?streams=x",
                    rest_url=server.http_url,
                    max_connection_age_s=2.0,
                    handover_s=0.3,
                )
            )
            handovers = stage.ctx.counters.add("handovers")

            def handed_over_and_complete() -> bool:
                done = handovers.value == 1 and stage.adapter.update_ids == final_ids
                if done:  # before the stop, which disconnects (and so unsyncs) everything
                    synced_at_end.update(stage.adapter.synced)
                return done

            await _run_until(stage, handed_over_and_complete)
            return stage

    stage = asyncio.run(scenario())
    for symbol, stats in stage.adapter.stats.items():
        assert (stats.gaps, stats.resyncs) == (0, 0), symbol
        assert synced_at_end[symbol], symbol
    assert stage.ctx.counters.add("reconnects").value == 0
    assert sum(s.dropped for s in stage.adapter.stats.values()) > 0  # the overlap was dropped as repeats


def test_should_mark_silent_instruments_stale_and_say_so_downstream(make_feed: Callable[..., StageContext]) -> None:
    async def scenario() -> FeedStage:
        async with ReplayServer(CAPTURES / "BINANCE.ws.1.0", CAPTURES / "BINANCE.http.0.0", pace="fast") as server:
            stage = FeedStage(
                make_feed(url=f"{server.ws_url}/stream?streams=x", rest_url=server.http_url, stale_after_s=0.3)
            )
            stale = stage.ctx.counters.add("stale_marks")
            books_stale = stage.ctx.counters.gauge("books_stale")
            unsynced = stage.ctx.counters.gauge("books_unsynced")

            def all_stale() -> bool:
                if stale.value == 4 and books_stale.value == 4:  # the level follows the events
                    unsynced_when_stale.append(unsynced.value)
                    return True
                return False

            await _run_until(stage, all_stale)
            return stage

    unsynced_when_stale: list[int] = []
    stage = asyncio.run(scenario())
    assert unsynced_when_stale == [0]  # stale books were synced: stale, not resyncing
    assert stage.ctx.counters.gauge("books_unsynced").value == 4  # the stop disconnected every book
    ring = next(iter(stage.ctx.outputs.values()))
    states: dict[int, list[BookState]] = {}
    offset = ring.segment.buf  # read every record the stage wrote, from the producer's side
    for position in range(ring.producer_position):
        start = DATA_OFFSET + (position % ring.capacity) * ring.slot_size
        fields = _CONTROL.unpack_from(offset, start)
        if fields[0] == RecordType.CONTROL and fields[10] == ControlKind.BOOK_STATE:
            states.setdefault(fields[2], []).append(BookState(fields[11]))
    assert len(states) == 4
    for history in states.values():
        synced_at = history.index(BookState.SYNCED)
        assert BookState.STALE in history[synced_at:]
        assert history[-1] is BookState.RESYNCING  # the stop disconnected it


class BookReader:
    """The book stage's part of the ring, in the test: books and states applied, every sequence number kept."""

    def __init__(self, ring: Ring) -> None:
        self.ring = ring
        self.books: dict[int, L2Book] = {}
        self.states: dict[int, list[BookState]] = {}
        self.seqs: list[int] = []

    def read(self) -> int:
        return self.ring.poll(self._apply, 256)

    def _apply(self, buf: memoryview, offset: int) -> None:
        fields = _DELTA.unpack_from(buf, offset)
        self.seqs.append(fields[3])
        if fields[0] == RecordType.CONTROL:
            control = _CONTROL.unpack_from(buf, offset)
            if control[10] == ControlKind.BOOK_STATE:
                self.states.setdefault(control[2], []).append(BookState(control[11]))
        elif fields[0] == RecordType.BOOK_DELTA:
            book = self.books.setdefault(fields[2], L2Book(fields[2]))
            if fields[15] == BookAction.CLEAR:
                book.clear()
            else:
                book.set_level(fields[14], fields[10], fields[11])


def test_should_stop_reading_not_serving_while_nobody_reads_the_ring(make_feed: Callable[..., StageContext]) -> None:
    """A ring smaller than one snapshot, and no consumer: the stage's event loop keeps running timers
    while the feed holds records back; once the ring is read, every record arrives, in order."""
    ws, http = capture("BINANCE.ws.1.0"), capture("BINANCE.http.0.0")
    reference, reference_registry = BooksSink(), InstrumentRegistry()
    replay(BinanceAdapter(reference, reference_registry), ws, http)
    final_ids = _final_update_ids()
    observed: list[str] = []

    async def scenario() -> tuple[FeedStage, BookReader]:
        async with ReplayServer(CAPTURES / "BINANCE.ws.1.0", CAPTURES / "BINANCE.http.0.0", pace="fast") as server:
            ctx = make_feed(capacity=64, url=f"{server.ws_url}/stream?streams=x", rest_url=server.http_url)
            stage = FeedStage(ctx)
            reader = BookReader(Ring.attach(ctx.the_output().name))

            def complete() -> bool:
                reader.read()
                return stage.adapter.update_ids == final_ids and not stage.sink.backlogged and not reader.read()

            try:
                async with running(stage) as task:
                    await until(task, lambda: stage.sink.backlogged)
                    observed.append(f"ring: {reader.ring.size()} of 64")
                    await asyncio.sleep(0.01)  # a timer of the stage's loop fires while the feed is held back
                    observed.append(f"held after the timer: {stage.sink.backlogged}")
                    await until(task, complete)
            finally:
                reader.ring.close()
            return stage, reader

    stage, reader = asyncio.run(scenario())
    assert observed == ["ring: 64 of 64", "held after the timer: True"]
    assert reader.seqs == list(range(len(reader.seqs)))  # nothing lost, nothing reordered
    for instrument in reference_registry:
        mine = reader.books[stage.registry.by_symbol("binance", instrument.symbol).id]
        theirs = reference.books[instrument.id]
        assert (mine.bids(), mine.asks()) == (theirs.bids(), theirs.asks()), instrument.symbol
    for symbol, stats in stage.adapter.stats.items():
        assert (stats.gaps, stats.resyncs) == (0, 0), symbol
    assert stage.ctx.counter(CounterKind.BACKPRESSURE).value > 0
    assert stage.ctx.counter(CounterKind.DROPS).value == 0


def test_should_drop_an_outgrown_backlog_and_reconnect_so_every_book_is_resent(
    make_feed: Callable[..., StageContext], tmp_path: Path
) -> None:
    """Kraken v1, a 64-slot ring nobody reads yet, at most 1000 records held back. The first connection
    sends one 1548-level snapshot: what does not fit is dropped, the book marked RESYNCING, and the
    connection replaced. The second connection (read this time) sends the pairs whose snapshots fit:
    their books arrive whole and SYNCED."""
    events = capture("KRAKEN.ws.50.0")
    connect = events[0]
    channel = [(e, json.loads(e.payload)) for e in events if e.kind is EventKind.RECEIVED and e.payload[0] == "["]
    big = next(e for e, m in channel if m[-1] == "ADA/XBT" and "as" in m[1])
    fitting = {"GRT/ETH", "OCEAN/XBT", "ETH/CHF", "KSM/XBT", "OMG/USD", "WAVES/EUR", "XBT/CHF"}  # < 1000 levels
    second = [e for e, m in channel if m[-1] in fitting]
    segments = tmp_path / "overflow.ws"
    segments.write_text("\n".join(format_event(e) for e in [connect, big, connect, *second]) + "\n")
    reference, reference_registry = BooksSink(), InstrumentRegistry()
    reference_adapter = KrakenV1Adapter(reference, reference_registry)
    replay(reference_adapter, [connect, *second])
    states: dict[str, list[BookState]] = {}

    async def scenario() -> tuple[FeedStage, BookReader, int]:
        async with ReplayServer(segments, pace="fast") as server:
            ctx = make_feed(capacity=64, venue="kraken", url=server.ws_url, max_backlog=1000, reconnect_min_s=0.05)
            stage = FeedStage(ctx)
            resyncs = ctx.counters.add("backlog_resyncs")
            reader = BookReader(Ring.attach(ctx.the_output().name))

            def complete() -> bool:
                reader.read()
                seen = {p: s.messages for p, s in stage.adapter.stats.items() if p in fitting}
                expected = {p: s.messages for p, s in reference_adapter.stats.items()}
                return seen == expected and not stage.sink.backlogged and not reader.read()

            try:
                async with running(stage) as task:
                    await until(task, lambda: resyncs.value == 1 and not any(stage.adapter.synced.values()))
                    dropped_before_reading = ctx.counter(CounterKind.DROPS).value
                    await until(task, complete)
                    for instrument in stage.registry:  # before the stop, which marks every book RESYNCING
                        states[instrument.symbol] = reader.states.get(instrument.id, [])
            finally:
                reader.ring.close()
            return stage, reader, dropped_before_reading

    stage, reader, dropped = asyncio.run(scenario())
    assert dropped == 1 + 1548 + 1 - 64  # the snapshot's CLEAR, levels and SYNCED, less what fitted in the ring
    assert stage.ctx.counter(CounterKind.DROPS).value == dropped
    assert reader.seqs == [*range(64), *range(64 + dropped, 64 + dropped + len(reader.seqs) - 64)]  # one gap
    assert states["ADA/XBT"] == [BookState.RESYNCING, BookState.RESYNCING]  # the sink's mark, the disconnect's
    for instrument in reference_registry:
        mine = reader.books[stage.registry.by_symbol("kraken", instrument.symbol).id]
        theirs = reference.books[instrument.id]
        assert (mine.bids(), mine.asks()) == (theirs.bids(), theirs.asks()), instrument.symbol
        assert states[instrument.symbol][-1] is BookState.SYNCED, instrument.symbol
    assert stage.ctx.counters.add("reconnects").value >= 1
