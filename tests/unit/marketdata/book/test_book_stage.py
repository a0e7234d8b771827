"""The book stage over real rings, stepped by hand: feed records in, BBO/DEPTH/bars out.

The Binance capture is replayed through the adapter into the feed -> book ring
by the feed's own RingSink; the book stage's published books must equal the
books the adapter's events build directly (stages.marketdata.capture.books_sink).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from hftpipe.runtime import AgentInvoker, StageContext
from hftpipe.runtime.config import PipelineConfig, parse_config
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.marketdata import BAR_DTYPE, BBO_DTYPE, DEPTH_DTYPE, BarKind, BookState, ControlKind
from hftpipe.schema.records import RecordType
from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.ring import Ring
from stages.marketdata.book.stage import BookStage
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import EventKind
from stages.marketdata.capture.replay import snapshot_symbol
from stages.marketdata.feed.ring_sink import RingSink
from stages.marketdata.venues.binance.adapter import BinanceAdapter
from tests.captures import capture


def _config(name: str, book_params: dict[str, Any]) -> PipelineConfig:
    return parse_config(
        {
            "pipeline": {"name": name},
            "stages": {
                "feed": {"class": "stages.probe:ProbeSource"},  # the producer end is driven by the test
                "book": {"class": "stages.marketdata.book.stage:BookStage", "params": book_params},
                "out": {"class": "stages.probe:ProbeSink"},
            },
            "rings": [
                {"from": "feed", "to": "book", "capacity": 8192, "slot_size": 128},
                {"from": "book", "to": "out", "capacity": 8192, "slot_size": 768},
            ],
        },
        source="test",
        allowed_cpus={0, 1},
    )


class Harness:
    def __init__(self, name: str, book_params: dict[str, Any]) -> None:
        self.config = _config(name, book_params)
        self.owned: OwnedObjects = create_pipeline_objects(self.config)
        control: ControlFile = self.owned.control
        self.feed_ctx: StageContext = open_stage_context(self.config, control, "feed")
        self.book_ctx: StageContext = open_stage_context(self.config, control, "book")
        self.out_ctx: StageContext = open_stage_context(self.config, control, "out")
        self.sink = RingSink(self.feed_ctx.output_port())
        self.stage = BookStage(self.book_ctx)
        self.invoker = AgentInvoker(self.stage)
        self.invoker.start()
        self.out: Ring = self.out_ctx.the_input().ring
        self.records: list[np.ndarray[Any, Any]] = []
        self._buffer = np.zeros(512, dtype=np.dtype((np.void, 768)))

    def step(self) -> None:
        while self.invoker.invoke():
            self.drain()
        self.drain()

    def drain(self) -> None:
        while n := self.out.poll_into(self._buffer):
            self.records.extend(self._buffer[:n].copy())

    def of_type(self, rtype: RecordType, dtype: np.dtype[Any]) -> list[Any]:
        found = []
        for raw in self.records:
            if int.from_bytes(bytes(raw)[:2], "little") == rtype:
                found.append(np.frombuffer(bytes(raw)[: dtype.itemsize], dtype=dtype)[0])
        return found

    def close(self) -> None:
        self.invoker.close()
        for ctx in (self.feed_ctx, self.book_ctx, self.out_ctx):
            ctx.close()
        self.owned.destroy()


@pytest.fixture
def harness(pipeline_name: str) -> Iterator[Any]:
    made: list[Harness] = []

    def make(**book_params: Any) -> Harness:
        made.append(Harness(pipeline_name, book_params))
        return made[-1]

    yield make
    for h in made:
        h.close()


def _replay_spot(h: Harness) -> tuple[BinanceAdapter, BooksSink, InstrumentRegistry]:
    """The capture through one adapter into the ring, and through another into in-process books."""
    ws, http = capture("BINANCE.ws.1.0"), capture("BINANCE.http.0.0")
    registry, reference_registry = InstrumentRegistry(), InstrumentRegistry()
    adapter = BinanceAdapter(h.sink, registry)
    reference = BooksSink()
    reference_adapter = BinanceAdapter(reference, reference_registry)
    snapshots = {snapshot_symbol(e.url): e for e in http}
    for event in sorted([*ws, *http], key=lambda e: e.time):
        for target in (adapter, reference_adapter):
            if event.kind is EventKind.RECEIVED:
                target.on_message(event.payload, event.time_ns)
            elif event.kind is EventKind.HTTP:
                symbol = snapshot_symbol(event.url)
                assert symbol is not None
                target.take_snapshot_requests()
                target.on_snapshot(symbol, snapshots[symbol].payload, event.time_ns)
        h.step()
    return adapter, reference, reference_registry


def test_should_publish_the_same_top_of_book_as_the_adapter_builds(harness: Any) -> None:
    h: Harness = harness(depth=10)
    adapter, reference, registry = _replay_spot(h)
    depth = {int(r["instrument"]): r for r in h.of_type(RecordType.DEPTH, DEPTH_DTYPE)}
    bbo = {int(r["instrument"]): r for r in h.of_type(RecordType.BBO, BBO_DTYPE) if not r["flags"] & 0x8}
    assert len(depth) == 4
    for instrument in registry:
        book = reference.books[instrument.id]
        last = depth[instrument.id]
        bids, asks = book.bids(10), book.asks(10)
        assert int(last["levels"]) == max(len(bids), len(asks))
        assert [int(p) for p in last["bid_price"][: len(bids)]] == [p for p, _ in bids]
        assert [int(q) for q in last["bid_qty"][: len(bids)]] == [q for _, q in bids]
        assert [int(p) for p in last["ask_price"][: len(asks)]] == [p for p, _ in asks]
        assert [int(q) for q in last["ask_qty"][: len(asks)]] == [q for _, q in asks]
        assert int(last["update_id"]) == adapter.update_ids[instrument.symbol]
        assert int(last["book_state"]) == BookState.SYNCED
        top = bbo[instrument.id]
        assert (int(top["bid_price"]), int(top["bid_qty"])) == bids[0]
        assert (int(top["ask_price"]), int(top["ask_qty"])) == asks[0]
    assert h.stage.ctx.counters.add("crossed_books").value == 0


def test_should_forward_trades_and_book_states_with_contiguous_sequence_numbers(harness: Any) -> None:
    h: Harness = harness(depth=5, publish_depth=False)
    _replay_spot(h)
    seqs = [int.from_bytes(bytes(r)[8:16], "little") for r in h.records]
    assert seqs == list(range(len(seqs)))
    types = {int.from_bytes(bytes(r)[:2], "little") for r in h.records}
    assert types == {RecordType.BBO, RecordType.TRADE, RecordType.CONTROL}
    states = [r for r in h.records if int.from_bytes(bytes(r)[:2], "little") == RecordType.CONTROL]
    assert {int.from_bytes(bytes(s)[64:66], "little") for s in states} == {ControlKind.BOOK_STATE}


def test_should_publish_tick_bars_built_from_forwarded_trades(harness: Any) -> None:
    h: Harness = harness(tick_bar_trades=1)
    _replay_spot(h)
    trades = h.of_type(RecordType.TRADE, np.dtype((np.void, 128)))
    bars = h.of_type(RecordType.BAR, BAR_DTYPE)
    assert len(bars) == len(trades) > 0
    assert {int(b["kind"]) for b in bars} == {BarKind.TICK}
    assert all(int(b["open"]) == int(b["close"]) == int(b["vwap"]) for b in bars)


def test_should_carry_the_feed_stamps_add_its_own_and_measure_the_feed_hop(harness: Any) -> None:
    h: Harness = harness(depth=5, tick_bar_trades=1)
    _replay_spot(h)
    header = np.dtype([("ts_origin", "<i8"), ("ts_hop", "<i8", (4,))])
    stamps = np.array([np.frombuffer(bytes(r)[24:64], dtype=header)[0] for r in h.records])
    assert len(stamps) > 0 and (stamps["ts_origin"] > 0).all()
    feed_hop, own_hop = stamps["ts_hop"][:, 0], stamps["ts_hop"][:, 1]
    assert (feed_hop > 0).all()
    assert (own_hop >= feed_hop).all()  # taken in after the feed published it
    assert (stamps["ts_hop"][:, 2:] == 0).all()
    control = h.owned.control
    counters = control.read_counters(control.stage_index("book"))
    assert counters["messages_out"] == len(h.records)
    feed_published = control.read_counters(control.stage_index("feed"))["messages_out"]
    assert control.read_hop_histogram(0).count == counters["messages_in"] == feed_published
    assert control.read_hop_histogram(0).max_value >= int((own_hop - feed_hop).max())


def test_should_mark_a_crossed_book_resyncing_downstream(harness: Any) -> None:
    h: Harness = harness(depth=5)
    h.sink.book_clear(7, 1, 0, 0)
    h.sink.book_level(7, 0, 1000, 5, 1, 0, 0, False, True)
    h.sink.book_level(7, 1, 1001, 5, 1, 0, 0, True, True)
    h.sink.book_state(7, BookState.SYNCED, 0)
    h.sink.book_level(7, 0, 1002, 1, 2, 0, 0, True, False)  # bid above the ask
    h.step()
    assert h.stage.states[7] is BookState.RESYNCING
    controls = [r for r in h.records if int.from_bytes(bytes(r)[:2], "little") == RecordType.CONTROL]
    assert int.from_bytes(bytes(controls[-1])[66:68], "little") == BookState.RESYNCING
    assert h.stage.ctx.counters.add("crossed_books").value == 1


def test_should_refuse_an_output_ring_too_small_for_depth_records(pipeline_name: str) -> None:
    config = parse_config(
        {
            "pipeline": {"name": pipeline_name},
            "stages": {
                "feed": {"class": "stages.probe:ProbeSource"},
                "book": {"class": "stages.marketdata.book.stage:BookStage"},
                "out": {"class": "stages.probe:ProbeSink"},
            },
            "rings": [{"from": "feed", "to": "book"}, {"from": "book", "to": "out", "slot_size": 128}],
        },
        source="test",
        allowed_cpus={0, 1},
    )
    owned = create_pipeline_objects(config)
    ctx = open_stage_context(config, owned.control, "book")
    try:
        with pytest.raises(ValueError, match=r"DEPTH records need slot_size >= 768, it has 128"):
            BookStage(ctx)
    finally:
        ctx.close()
        owned.destroy()
