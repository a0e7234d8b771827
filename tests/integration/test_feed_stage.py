"""The feed stage in this process against the loopback replay server: handover and staleness.

The venue is real (WebSockets + HTTP on loopback, ``stages.marketdata.capture.replay_server``),
the output is a real shared-memory ring; the stage's asyncio ``run`` is driven
here, next to the server, in one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hftpipe.runtime import StageContext
from hftpipe.runtime.config import parse_config
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.schema import SPECS
from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.marketdata import BookState, ControlKind
from hftpipe.schema.records import RecordType
from hftpipe.substrate.ring_descriptor import DATA_OFFSET
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import EventKind, format_event
from stages.marketdata.capture.replay import replay
from stages.marketdata.capture.replay_server import ReplayServer
from stages.marketdata.feed.stage import FeedStage
from stages.marketdata.venues.binance.adapter import BinanceAdapter
from tests.captures import CAPTURES, capture

_CONTROL = SPECS[RecordType.CONTROL].packer


@pytest.fixture
def make_feed(pipeline_name: str) -> Iterator[Callable[..., StageContext]]:
    made: list[tuple[OwnedObjects, StageContext, StageContext]] = []

    def make(**params: object) -> StageContext:
        config = parse_config(
            {
                "pipeline": {"name": pipeline_name},
                "stages": {
                    "feed": {
                        "class": "stages.marketdata.feed.stage:FeedStage",
                        "params": {"venue": "binance", **params},
                    },
                    "out": {"class": "stages.probe:ProbeSink"},
                },
                "rings": [{"from": "feed", "to": "out", "capacity": 65536, "slot_size": 128}],
            },
            source="test",
            allowed_cpus={0, 1},
        )
        owned = create_pipeline_objects(config)
        feed_ctx = open_stage_context(config, owned.control, "feed")
        out_ctx = open_stage_context(config, owned.control, "out")
        made.append((owned, feed_ctx, out_ctx))
        return feed_ctx

    yield make
    for owned, feed_ctx, out_ctx in made:
        feed_ctx.close()
        out_ctx.close()
        owned.destroy()


def _final_update_ids() -> dict[str, int]:
    adapter = BinanceAdapter(BooksSink(), InstrumentRegistry())
    replay(adapter, capture("BINANCE.ws.1.0"), capture("BINANCE.http.0.0"))
    return dict(adapter.update_ids)


async def _run_until(stage: FeedStage, done: Callable[[], bool], timeout_s: float = 30.0) -> None:
    stopping = asyncio.Event()
    task = asyncio.create_task(stage.run(stopping))
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not done():
            if task.done():
                task.result()
            assert asyncio.get_running_loop().time() < deadline, "timed out"
            await asyncio.sleep(0.02)
    finally:
        stopping.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)


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
            await _run_until(stage, lambda: stale.value == 4)
            return stage

    stage = asyncio.run(scenario())
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
