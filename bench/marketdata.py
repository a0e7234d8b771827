"""Market-data benchmarks: Binance JSON -> records, book level updates, Kraken checksum, replay pipeline.

Run from the repository root (one run prints every figure)::

    .venv/bin/python -m bench.marketdata            # text report
    .venv/bin/python -m bench.marketdata --json     # one JSON object

What is measured (each figure is the median over ``repeats`` repetitions; the
machine setup is printed with them; nothing is pinned):

1. **Binance depth JSON -> records.** A :class:`BinanceAdapter` writes through
   the feed's :class:`RingSink` into a real shared-memory ring (created by
   ``create_pipeline_objects``, as a pipeline's feed -> book ring is). The
   adapter is synced by replaying the embedded capture once (REST snapshots
   included); then the synced-phase ``depthUpdate`` diffs are fed again, pass
   after pass, with ``U``/``u`` shifted by one span per pass so that every one
   of them applies. Only the ``on_message`` calls are timed; the consumer
   drains the ring in the same process between passes (timed separately,
   ``drain_ns_per_record``). Checked: ``stats.applied`` grows by exactly the
   number of messages fed, no gap/resync/drop, and the ring received exactly
   one record per level. The same messages are also timed with a null sink
   (adapter cost alone) and through ``orjson.loads`` alone (the floor).
2. **Book level updates.** (a) ``L2Book.set_level`` over the capture's level
   updates in order, each pass starting from the snapshot books (rebuilt
   untimed), the mix of updates/inserts/deletes reported; (b) the
   :class:`BookStage` driven by an :class:`AgentInvoker`, consuming the
   BOOK_DELTA records the feed wrote for one synced pass (copied once, offered
   back into its input ring untimed before each pass): timed are the
   ``invoke()`` calls, i.e. ring poll, unpack, hop-latency record, ``set_level``
   and the BBO + DEPTH records published on every END_OF_UPDATE. The output
   ring is drained between passes, untimed.
3. **Kraken checksum** per update over ``KRAKEN.ws.50.0``, with the approach of
   ``tests/unit/marketdata/venues/test_kraken_checksum.py`` (its functions are reused):
   replay the recorded snapshots/updates onto fresh replicas with no checksum,
   with the cached checksum and with the plain one; cost = (mode - none) / updates.
4. **Replay pipeline end to end.** venue (loopback replay of the Binance
   capture, pace fast, looping) -> feed -> book -> sink as processes under the
   :class:`Supervisor`, named ``mdbench<pid>``; rates and latencies are taken
   over the window after a warm-up, from the control file.
5. **cryptofeed** (only if installed): the same shifted messages through
   ``cryptofeed.exchanges.binance.Binance.message_handler`` (its own
   ``json.loads(parse_float=Decimal)``, ``_check_update_id`` and its
   ``OrderBook``), synced from the same captured REST snapshots through a stub
   HTTP connection, symbols from the captured ``exchangeInfo``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import re
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from hftpipe.runtime import AgentInvoker, StageContext
from hftpipe.runtime.config import PipelineConfig, load_config, parse_config
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.l2book import L2Book
from hftpipe.schema.marketdata import BookState
from hftpipe.schema.records import RecordFlag, RecordType
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.ring import Ring
from stages.marketdata.book.stage import BookStage
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import CaptureEvent, EventKind, read_capture
from stages.marketdata.capture.replay import replay, snapshot_symbol
from stages.marketdata.feed.ring_sink import RingSink
from stages.marketdata.venues.adapter import NullSink
from stages.marketdata.venues.binance.adapter import BinanceAdapter

ROOT = Path(__file__).resolve().parents[1]
BINANCE_WS = ROOT / "configs" / "captures" / "BINANCE.ws.1.0"
BINANCE_HTTP = ROOT / "configs" / "captures" / "BINANCE.http.0.0"
SHARED_CAPTURES = Path(os.environ.get("HFTPIPE_CAPTURES", ROOT.parent / "shared" / "data" / "captures"))
KRAKEN_CAPTURE = "KRAKEN.ws.50.0"
_IDS = re.compile(r'"U":(\d+),"u":(\d+)')
FEED_RING_SLOTS = 65536
OUT_RING_SLOTS = 65536
BINANCE_PAIRS = (("NKN", "USDT"), ("BLZ", "ETH"), ("LRC", "BTC"), ("RUNE", "EUR"))
CRYPTOFEED_SKIPPED = "cryptofeed not installed: comparison skipped"


class BenchmarkCheckError(AssertionError):
    """What a benchmark timed did not do what it should have (a message dropped, a book differing)."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchmarkCheckError(message)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def machine_setup() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = sorted(os.sched_getaffinity(0))
    return {
        "cores_available": len(cores),
        "cores": cores,
        "cpu": model,
        "pinning": "none (in-process benchmarks run on whichever core the scheduler picks; "
        "the pipeline's auto placement decides for its stages)",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "gc": "enabled",
    }


# -- the Binance capture and its synced phase ------------------------------------------------------
@dataclass
class BinanceData:
    """The embedded Binance capture, and the synced-phase diffs that each benchmark pass feeds again.

    Pass ``k`` (k >= 1) is every synced-phase diff with ``U``/``u`` shifted by
    ``k * (span + 1)`` per symbol, preceded by one *reset* diff per symbol
    (ids ``U = u`` = the id just before the pass). The reset sets every level
    the pass touches back to its snapshot size (0 where the snapshot had
    none), so each pass starts from the book the capture's own diffs started
    from. Without it, re-applying the diffs to the end-of-capture book crosses
    it (NKNUSDT's price moved during the capture), and the adapter resyncs.
    Reset diffs are fed untimed.
    """

    ws: list[CaptureEvent]
    http: list[CaptureEvent]
    snapshot_ids: dict[str, int]
    synced: list[tuple[str, str, int]]
    """The synced-phase depth diffs in capture order: (symbol, raw JSON text, receive time ns)."""
    spans: dict[str, tuple[int, int]]
    """Per symbol: (first U, last u) of its synced-phase chain."""
    levels: int
    """Level updates in one pass of the synced-phase diffs."""
    reset_levels: dict[str, tuple[list[list[str]], list[list[str]]]]
    """Per symbol: the (bids, asks) of its reset diff, as the venue's strings."""

    def _offset(self, symbol: str, k: int) -> int:
        first, last = self.spans[symbol]
        return k * (last - first + 2)

    def pass_messages(self, k: int) -> list[str]:
        """The synced-phase diffs of pass ``k`` (0 = as captured), ids shifted to follow its resets."""
        out = []
        for symbol, raw, _ in self.synced:
            offset = self._offset(symbol, k)
            out.append(_IDS.sub(lambda m, o=offset: f'"U":{int(m[1]) + o},"u":{int(m[2]) + o}', raw, count=1))
        return out

    def reset_messages(self, k: int) -> list[str]:
        """Pass ``k``'s reset diffs (k >= 1): one per symbol, id = its first shifted ``U`` - 1."""
        out = []
        for symbol, (bids, asks) in self.reset_levels.items():
            update_id = self.spans[symbol][0] + self._offset(symbol, k) - 1
            data = {"e": "depthUpdate", "E": 0, "s": symbol, "U": update_id, "u": update_id, "b": bids, "a": asks}
            out.append(orjson.dumps({"stream": f"{symbol.lower()}@depth@100ms", "data": data}).decode())
        return out

    @property
    def reset_level_count(self) -> int:
        return sum(len(b) + len(a) for b, a in self.reset_levels.values())


def load_binance() -> BinanceData:
    ws, http = list(read_capture(BINANCE_WS)), list(read_capture(BINANCE_HTTP))
    snapshot_ids = {}
    snapshot_books: dict[str, tuple[dict[Decimal, str], dict[Decimal, str]]] = {}
    for event in http:
        symbol = snapshot_symbol(event.url)
        if symbol is not None:
            body = orjson.loads(event.payload)
            snapshot_ids[symbol] = int(body["lastUpdateId"])
            snapshot_books[symbol] = (
                {Decimal(p): q for p, q in body["bids"]},
                {Decimal(p): q for p, q in body["asks"]},
            )
    synced: list[tuple[str, str, int]] = []
    spans: dict[str, tuple[int, int]] = {}
    chain_end: dict[str, int] = {}
    touched: dict[str, tuple[dict[Decimal, str], dict[Decimal, str]]] = {}
    levels = 0
    for event in ws:
        if event.kind is not EventKind.RECEIVED or '"depthUpdate"' not in event.payload:
            continue
        data = orjson.loads(event.payload)["data"]
        symbol, first, last = data["s"], int(data["U"]), int(data["u"])
        if last <= snapshot_ids[symbol]:
            continue  # buffered and dropped before the snapshot
        if symbol in chain_end:
            check(first == chain_end[symbol] + 1, f"{symbol}: diff U={first} does not follow u={chain_end[symbol]}")
        else:
            check(first <= snapshot_ids[symbol] + 1 <= last, f"{symbol}: first diff does not span the snapshot")
        chain_end[symbol] = last
        spans[symbol] = (spans.get(symbol, (first, 0))[0], last)
        check(_IDS.search(event.payload) is not None, 'a depthUpdate without "U":..,"u":.. in that order')
        synced.append((symbol, event.payload, event.time_ns))
        levels += len(data["b"]) + len(data["a"])
        bids, asks = touched.setdefault(symbol, ({}, {}))
        for side, raw_levels in ((bids, data["b"]), (asks, data["a"])):
            for price, _ in raw_levels:
                side.setdefault(Decimal(price), price)
    reset_levels = {}
    for symbol, sides in touched.items():
        reset_levels[symbol] = tuple(
            [[text, snapshot.get(price, "0.00000000")] for price, text in sorted(side.items())]
            for side, snapshot in zip(sides, snapshot_books[symbol], strict=True)
        )
    return BinanceData(ws, http, snapshot_ids, synced, spans, levels, reset_levels)  # type: ignore[arg-type]


# -- in-process rings: feed -> book -> out, as a pipeline creates them -------------------------------
def _harness_config(name: str, publish_depth: bool = True) -> PipelineConfig:
    return parse_config(
        {
            "pipeline": {"name": name},
            "stages": {
                "feed": {"class": "stages.probe:ProbeSource"},  # its end is driven here, in-process
                "book": {
                    "class": "stages.marketdata.book.stage:BookStage",
                    "params": {"depth": 10, "publish_depth": publish_depth},
                },
                "out": {"class": "stages.probe:ProbeSink"},
            },
            "rings": [
                {"from": "feed", "to": "book", "capacity": FEED_RING_SLOTS, "slot_size": 128},
                {"from": "book", "to": "out", "capacity": OUT_RING_SLOTS, "slot_size": 768},
            ],
        },
        source="bench.marketdata",
        allowed_cpus=set(os.sched_getaffinity(0)),
    )


class Rings:
    """The feed -> book and book -> out rings of an in-process pipeline ``name``, with a RingSink on the first."""

    def __init__(self, name: str, publish_depth: bool = True) -> None:
        self.config = _harness_config(name, publish_depth)
        self.owned: OwnedObjects = create_pipeline_objects(self.config)
        self.contexts: list[StageContext] = []
        try:
            self.feed_ctx = self._open("feed")
            self.book_ctx = self._open("book")
            self.out_ctx = self._open("out")
        except BaseException:
            self.close()
            raise
        self.published = self.feed_ctx.counter(CounterKind.MESSAGES_OUT)
        self.sink = RingSink(self.feed_ctx.output_port())
        self.feed_out: Ring = self.feed_ctx.the_output()
        self.book_in: Ring = self.book_ctx.the_input().ring
        self.out_in: Ring = self.out_ctx.the_input().ring

    def _open(self, stage: str) -> StageContext:
        ctx = open_stage_context(self.config, self.owned.control, stage)
        self.contexts.append(ctx)
        return ctx

    @staticmethod
    def drain(ring: Ring) -> int:
        """Consume everything readable (zero-copy peek + advance); how many records."""
        total = 0
        while True:
            n = len(ring.peek_batch(8192))
            if not n:
                return total
            ring.advance(n)
            total += n

    @staticmethod
    def take(ring: Ring) -> np.ndarray[Any, Any]:
        """Copy out everything readable, as raw slots (one ``void`` item per record)."""
        parts = []
        while True:
            rows = ring.peek_batch(8192)
            if not len(rows):
                break
            parts.append(rows.copy())
            ring.advance(len(rows))
        raw = np.concatenate(parts) if parts else np.zeros((0, ring.slot_size), np.uint8)
        return raw.view(np.dtype((np.void, ring.slot_size))).reshape(-1)

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()
        self.contexts.clear()
        self.owned.destroy()


@contextlib.contextmanager
def open_rings(name: str, publish_depth: bool = True) -> Iterator[Rings]:
    rings = Rings(name, publish_depth)
    try:
        yield rings
    finally:
        rings.close()


def synced_adapter(data: BinanceData, sink: Any) -> BinanceAdapter:
    """A Binance adapter synced by replaying the capture once (REST snapshots included)."""
    adapter = BinanceAdapter(sink, InstrumentRegistry())
    replay(adapter, data.ws, data.http)
    for symbol in data.spans:
        check(adapter.synced.get(symbol, False), f"{symbol} did not sync from the capture")
        check(adapter.update_ids[symbol] == data.spans[symbol][1], f"{symbol}: not at the end of its chain")
        stats = adapter.stats[symbol]
        check(stats.gaps == 0 and stats.resyncs == 0, f"{symbol}: gaps/resyncs while syncing: {stats}")
    return adapter


def _applied(adapter: BinanceAdapter) -> int:
    return sum(s.applied for s in adapter.stats.values())


def _check_clean(adapter: BinanceAdapter) -> None:
    for symbol, stats in adapter.stats.items():
        check(stats.gaps == 0 and stats.resyncs == 0, f"{symbol}: {stats}")
    problems = adapter.problems
    check(problems.malformed == problems.unknown == problems.rejected_values == 0, f"adapter problems: {problems}")


# -- 1. Binance depth JSON -> records --------------------------------------------------------------
def bench_binance_adapter(data: BinanceData, name: str, passes: int = 200, repeats: int = 5) -> dict[str, Any]:
    """msgs/s through ``BinanceAdapter.on_message``: RingSink into a real ring, null sink, ``orjson.loads``."""
    per_pass = len(data.synced)
    resets_per_pass = len(data.reset_levels)
    records_per_pass = data.levels + data.reset_level_count
    check(records_per_pass + 8 < FEED_RING_SLOTS, "one pass must fit in the feed ring")
    batches = [(data.reset_messages(k), data.pass_messages(k)) for k in range(1, passes * repeats + 1)]
    recv_ns = [t for _, _, t in data.synced]
    reset_ns = recv_ns[-1]
    ring_rates: list[float] = []
    null_rates: list[float] = []
    loads_rates: list[float] = []
    drain_ns: list[float] = []
    with open_rings(name) as rings:
        adapter = synced_adapter(data, rings.sink)
        Rings.drain(rings.book_in)
        null_adapter = synced_adapter(data, NullSink())
        loads = orjson.loads
        clock = time.perf_counter_ns
        for rep in range(repeats):
            mine = batches[rep * passes : (rep + 1) * passes]
            # the ring sink (the consumer drains between passes, timed apart)
            on_message = adapter.on_message
            applied, published, elapsed, drained_ns, drained = _applied(adapter), rings.published.value, 0, 0, 0
            for resets, batch in mine:
                for raw in resets:  # untimed: back to the book the capture's diffs started from
                    on_message(raw, reset_ns)
                t0 = clock()
                for raw, ts in zip(batch, recv_ns, strict=True):
                    on_message(raw, ts)
                t1 = clock()
                drained += Rings.drain(rings.book_in)
                drained_ns += clock() - t1
                elapsed += t1 - t0
            applied = _applied(adapter) - applied
            check(applied == passes * (per_pass + resets_per_pass), f"ring sink: {applied} messages applied")
            published = rings.published.value - published
            check(published == passes * records_per_pass, f"ring sink: {published} records for the level updates")
            check(drained == published, "the consumer did not get every record")
            ring_rates.append(passes * per_pass / elapsed * 1e9)
            drain_ns.append(drained_ns / drained)
            # the null sink
            on_message = null_adapter.on_message
            applied, elapsed = _applied(null_adapter), 0
            for resets, batch in mine:
                for raw in resets:
                    on_message(raw, reset_ns)
                t0 = clock()
                for raw, ts in zip(batch, recv_ns, strict=True):
                    on_message(raw, ts)
                elapsed += clock() - t0
            applied = _applied(null_adapter) - applied
            check(applied == passes * (per_pass + resets_per_pass), f"null sink: {applied} messages applied")
            null_rates.append(passes * per_pass / elapsed * 1e9)
            # orjson.loads alone
            elapsed = 0
            for _, batch in mine:
                t0 = clock()
                for raw in batch:
                    loads(raw)
                elapsed += clock() - t0
            loads_rates.append(passes * per_pass / elapsed * 1e9)
        _check_clean(adapter)
        _check_clean(null_adapter)
        for symbol in data.spans:
            check(adapter.update_ids[symbol] == null_adapter.update_ids[symbol], f"{symbol}: adapters disagree")
            iid = adapter.registry.by_symbol("binance", symbol).id
            mine_book, ref = adapter.replicas[iid], null_adapter.replicas[iid]
            check(mine_book.bids() == ref.bids() and mine_book.asks() == ref.asks(), f"{symbol}: replicas differ")
    return {
        "messages_per_pass": per_pass,
        "levels_per_pass": data.levels,
        "levels_per_message": round(data.levels / per_pass, 2),
        "passes": passes,
        "repeats": repeats,
        "ring_sink_msgs_per_s": round(median(ring_rates)),
        "ring_sink_levels_per_s": round(median(ring_rates) * data.levels / per_pass),
        "ring_sink_us_per_msg": round(1e6 / median(ring_rates), 3),
        "null_sink_msgs_per_s": round(median(null_rates)),
        "null_sink_us_per_msg": round(1e6 / median(null_rates), 3),
        "orjson_loads_msgs_per_s": round(median(loads_rates)),
        "orjson_loads_us_per_msg": round(1e6 / median(loads_rates), 3),
        "drain_ns_per_record": round(median(drain_ns), 1),
        "runs": {
            "ring_sink": [round(r) for r in ring_rates],
            "null_sink": [round(r) for r in null_rates],
            "orjson_loads": [round(r) for r in loads_rates],
        },
        "target_msgs_per_s": 150_000,
        "target_met": median(ring_rates) >= 150_000,
        "timed": f"on_message calls of the {per_pass} captured diffs per pass only; before each pass "
        f"{resets_per_pass} reset diffs ({data.reset_level_count} levels) are fed untimed; the ring is drained "
        "between passes, untimed (drain_ns_per_record: that drain, timed apart)",
    }


# -- 2a. L2Book.set_level ------------------------------------------------------------------------
def level_ops(data: BinanceData) -> tuple[dict[int, list[tuple[int, int, int]]], list[tuple[int, int, int, int]]]:
    """The snapshot levels per instrument, and every level update of one synced pass, in order."""
    sink = BooksSink()
    adapter = BinanceAdapter(sink, InstrumentRegistry())
    ops: list[tuple[int, int, int, int]] = []
    snapshots: dict[int, list[tuple[int, int, int]]] = {}
    original = sink.book_level

    def record(instrument: int, side: int, price: int, qty: int, *rest: Any) -> None:
        snapshot = rest[-1]
        if snapshot:
            snapshots.setdefault(instrument, []).append((side, price, qty))
        elif adapter.synced.get(adapter.registry.by_id(instrument).symbol):
            ops.append((instrument, side, price, qty))
        original(instrument, side, price, qty, *rest)

    sink.book_level = record  # type: ignore[method-assign]
    replay(adapter, data.ws, data.http)
    check(len(ops) == data.levels, f"{len(ops)} level updates recorded, {data.levels} expected")
    return snapshots, ops


def _fresh_books(snapshots: dict[int, list[tuple[int, int, int]]]) -> dict[int, L2Book]:
    books = {}
    for instrument, levels in snapshots.items():
        book = books[instrument] = L2Book(instrument)
        for side, price, qty in levels:
            book.set_level(side, price, qty)
    return books


def level_mix(snapshots: dict[int, list[tuple[int, int, int]]], ops: list[tuple[int, int, int, int]]) -> dict[str, int]:
    books = _fresh_books(snapshots)
    mix = {"update_existing": 0, "insert": 0, "delete": 0, "delete_absent": 0}
    for instrument, side, price, qty in ops:
        book = books[instrument]
        present = book.qty_at(side, price) != 0
        kind = ("update_existing" if present else "insert") if qty else ("delete" if present else "delete_absent")
        mix[kind] += 1
        book.set_level(side, price, qty)
    return mix


def bench_set_level(data: BinanceData, passes: int = 200, repeats: int = 5) -> dict[str, Any]:
    snapshots, ops = level_ops(data)
    reference = BooksSink()
    reference_adapter = BinanceAdapter(reference, InstrumentRegistry())
    replay(reference_adapter, data.ws, data.http)
    rates = []
    clock = time.perf_counter_ns
    for _ in range(repeats):
        elapsed = 0
        for _ in range(passes):
            books = _fresh_books(snapshots)  # untimed: every pass starts from the snapshots
            calls = [(books[i].set_level, side, price, qty) for i, side, price, qty in ops]
            t0 = clock()
            for set_level, side, price, qty in calls:
                set_level(side, price, qty)
            elapsed += clock() - t0
        for instrument, book in books.items():
            ref = reference.books[instrument]
            check(book.bids() == ref.bids() and book.asks() == ref.asks(), f"book {instrument} != the reference")
        rates.append(passes * len(ops) / elapsed * 1e9)
    return {
        "level_updates_per_pass": len(ops),
        "book_levels_at_start": {str(i): len(v) for i, v in snapshots.items()},
        "mix": level_mix(snapshots, ops),
        "passes": passes,
        "repeats": repeats,
        "level_updates_per_s": round(median(rates)),
        "ns_per_update": round(1e9 / median(rates), 1),
        "runs": [round(r) for r in rates],
        "timed": "the set_level calls (bound method pre-resolved per op); books rebuilt from the snapshots "
        "before each pass, untimed",
        "target_per_s": 1_000_000,
        "target_met": median(rates) >= 1_000_000,
    }


# -- 2b. BookStage over a real ring -------------------------------------------------------------------
def bench_book_stage(
    data: BinanceData, name: str, passes: int = 100, repeats: int = 5, publish_depth: bool = True
) -> dict[str, Any]:
    """Level updates/s through ``BookStage.do_work``; ``publish_depth=False``: BBO only on each END."""
    outputs = 2 if publish_depth else 1
    with open_rings(name, publish_depth) as rings:
        adapter = synced_adapter(data, rings.sink)
        stage = BookStage(rings.book_ctx)
        invoker = AgentInvoker(stage)
        invoker.start()
        try:
            while invoker.invoke():  # the snapshots and the first synced diffs
                Rings.drain(rings.out_in)
            Rings.drain(rings.out_in)
            for symbol in data.spans:
                instrument = adapter.registry.by_symbol("binance", symbol).id
                check(stage.states.get(instrument) is BookState.SYNCED, f"{symbol}: the stage has it unsynced")
            # one more pass through the adapter: the records the feed writes for its resets and its diffs, kept
            for raw in data.reset_messages(1):
                adapter.on_message(raw, 0)
            reset_records = Rings.take(rings.book_in)
            check(len(reset_records) == data.reset_level_count, "reset diffs: one record per level expected")
            for (_, _, ts), raw in zip(data.synced, data.pass_messages(1), strict=True):
                adapter.on_message(raw, ts)
            records = Rings.take(rings.book_in)
            check(len(records) == data.levels, f"{len(records)} records for {data.levels} level updates")
            ends = _count_end(records)
            check(ends == len(data.synced), f"{ends} END_OF_UPDATE records for {len(data.synced)} diffs")
            rates, out_per_pass = [], 0
            clock = time.perf_counter_ns
            feed = rings.feed_out
            invoke = invoker.invoke
            for _ in range(repeats):
                levels_before, elapsed = stage._levels_applied, 0
                for _ in range(passes):
                    check(feed.offer_batch(reset_records) == len(reset_records), "the feed ring refused the resets")
                    while invoke():  # untimed: back to the books the capture's diffs started from
                        pass
                    Rings.drain(rings.out_in)
                    check(feed.offer_batch(records) == len(records), "the feed ring did not take a pass")
                    t0 = clock()
                    while invoke():
                        pass
                    elapsed += clock() - t0
                    out_per_pass = Rings.drain(rings.out_in)
                applied = stage._levels_applied - levels_before
                check(applied == passes * (data.levels + len(reset_records)), f"{applied} levels applied")
                rates.append(passes * data.levels / elapsed * 1e9)
            check(out_per_pass == outputs * ends, f"{out_per_pass} records out for {ends} updates")
            check(stage.ctx.counters.add("crossed_books").value == 0, "the stage saw a crossed book")
            for symbol in data.spans:
                instrument = adapter.registry.by_symbol("binance", symbol).id
                check(stage.states.get(instrument) is BookState.SYNCED, f"{symbol}: not SYNCED at the end")
                mine, replica = stage.books[instrument], adapter.replicas[instrument]
                check(mine.bids() == replica.bids() and mine.asks() == replica.asks(), f"{symbol}: books differ")
        finally:
            invoker.close()
    return {
        "publish_depth": publish_depth,
        "records_per_pass": data.levels,
        "updates_per_pass": ends,
        "records_out_per_pass": out_per_pass,
        "passes": passes,
        "repeats": repeats,
        "level_updates_per_s": round(median(rates)),
        "ns_per_level_update": round(1e9 / median(rates), 1),
        "updates_per_s": round(median(rates) * ends / data.levels),
        "runs": [round(r) for r in rates],
        "timed": "AgentInvoker.invoke() until the input ring is empty (poll, unpack, hop histogram, set_level, "
        "BBO + DEPTH(10) per END_OF_UPDATE into the output ring); refilling the input ring (offer_batch), the "
        "reset records before each pass and draining the output ring untimed",
        "target_per_s": 1_000_000,
        "target_met": median(rates) >= 1_000_000,
    }


def _count_end(records: np.ndarray[Any, Any]) -> int:
    raw = records.view(np.uint8).reshape(len(records), -1)
    flags = raw[:, 2].astype(np.uint16) | (raw[:, 3].astype(np.uint16) << 8)
    rtype = raw[:, 0].astype(np.uint16) | (raw[:, 1].astype(np.uint16) << 8)
    check(bool((rtype == RecordType.BOOK_DELTA).all()), "a synced pass wrote something other than BOOK_DELTA")
    return int(((flags & int(RecordFlag.END_OF_UPDATE)) != 0).sum())


# -- 3. Kraken checksum --------------------------------------------------------------------------------
def bench_kraken_checksum(repeats: int = 9, path: Path | None = None) -> dict[str, Any]:
    """µs per update of the cached and the plain checksum, as ``test_kraken_checksum`` measures it."""
    path = path or SHARED_CAPTURES / KRAKEN_CAPTURE
    if not path.is_file():
        return {"skipped": f"capture {path} is not here (set HFTPIPE_CAPTURES to the captures folder)"}
    from tests.unit.marketdata.venues.test_kraken_checksum import recorded_ops, replay_ops

    ops, instruments = recorded_ops(list(read_capture(path)))
    updates = sum(1 for op in ops if op[2] is not None)
    level_updates = sum(len(op[1]) for op in ops if not op[3])
    times: dict[str, list[float]] = {"none": [], "cached": [], "plain": []}
    matched: dict[str, int] = {}
    clock = time.perf_counter_ns
    for _ in range(repeats):  # interleaved, so a noisy phase hits every mode alike
        for mode, runs in times.items():
            t0 = clock()
            matched[mode] = replay_ops(ops, instruments, mode)
            runs.append(clock() - t0)
    check(matched["cached"] == updates and matched["plain"] == updates, f"checksums ok: {matched} of {updates}")
    none = median(times["none"])
    out: dict[str, Any] = {
        "capture": KRAKEN_CAPTURE,
        "updates": updates,
        "level_updates": level_updates,
        "checksums_ok": {"cached": matched["cached"], "plain": matched["plain"]},
        "repeats": repeats,
        "apply_only_us_per_update": round(none / updates / 1e3, 3),
    }
    for mode in ("cached", "plain"):
        out[f"{mode}_us_per_update"] = round((median(times[mode]) - none) / updates / 1e3, 3)
        out[f"{mode}_us_per_update_best"] = round((min(times[mode]) - min(times["none"])) / updates / 1e3, 3)
    out["timed"] = (
        "replay_ops over every recorded snapshot/update (fresh replicas each run): median run time with the "
        "checksum minus median run time without, per update; *_best: the same from the fastest runs"
    )
    return out


# -- 4. the replay pipeline as processes --------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pipeline_toml(name: str, port: int) -> str:
    symbols = ["NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"]
    streams = "/".join(f"{s.lower()}@{kind}" for kind in ("depth@100ms", "bookTicker", "aggTrade") for s in symbols)
    venue = {
        "capture": str(BINANCE_WS),
        "snapshots": str(BINANCE_HTTP),
        "port": port,
        "pace": "fast",
        "loop": True,
    }
    feed = {
        "venue": "binance",
        "symbols": symbols,
        "url": f"ws://127.0.0.1:{port}/stream?streams={streams}",
        "rest_url": f"http://127.0.0.1:{port}",
        "replay": True,
        "reconnect_min_s": 0.001,
        "reconnect_max_s": 0.01,
        # The loopback venue replays the capture dozens of times a second, each loop a new
        # sync with 4 snapshots: Binance's per-IP weight budget would idle the benchmark.
        "rest_weight_budget": 1_000_000_000,
    }

    def inline(table: dict[str, Any]) -> str:
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in table.items()) + " }"

    return f"""# bench.marketdata: the default market-data pipeline, venue at pace "fast", looping
[pipeline]
name = "{name}"
on_failure = "stop"
heartbeat_timeout_ms = 3000

[idle]
max_spins = 10
max_yields = 5
min_park_ns = 1000
max_park_ns = 1000000
park_timeout_ns = 1000000

[stages.venue]
class = "stages.marketdata.capture.replay_venue:ReplayVenueStage"
cpu = "none"
params = {inline(venue)}

[stages.feed]
class = "stages.marketdata.feed.stage:FeedStage"
params = {inline(feed)}

[stages.book]
class = "stages.marketdata.book.stage:BookStage"
params = {{ depth = 10 }}

[stages.sink]
class = "stages.probe:ProbeSink"

[[rings]]
from = "feed"
to = "book"
capacity = 65536
slot_size = 128

[[rings]]
from = "book"
to = "sink"
capacity = 16384
slot_size = 768
"""


def bench_pipeline(name: str, duration: float = 10.0, warmup: float = 2.0) -> dict[str, Any]:
    """The replay pipeline under the supervisor: rates and latencies over ``duration`` s after ``warmup`` s."""
    from hftpipe.runtime.report import LatencySnapshot, pipeline_report
    from hftpipe.runtime.supervisor import Supervisor

    with tempfile.TemporaryDirectory(prefix="hftpipe-mdbench-") as tmp:
        path = Path(tmp) / "pipeline.toml"
        path.write_text(_pipeline_toml(name, free_port()))
        config = load_config(path)
        supervisor = Supervisor(config)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the stages inherit it: no warning per reconnect (the capture loops)
        try:
            supervisor.start()
            control = supervisor.control
            names = control.stage_names
            supervisor.run(warmup)
            before = {n: control.read_counters(i) for i, n in enumerate(names)}
            latency_before = LatencySnapshot.read(control)
            started = time.monotonic()
            supervisor.run(duration)
            window = time.monotonic() - started
            after = {n: control.read_counters(i) for i, n in enumerate(names)}
            latency = LatencySnapshot.read(control).since(latency_before).as_json()
            supervisor.stop()
            assert supervisor.objects is not None
            report = pipeline_report(control, supervisor.objects.rings)
        finally:
            supervisor.destroy()
            root.setLevel(level)
    check(supervisor.failure is None, f"pipeline {name} failed: {supervisor.failure}")

    def delta(stage: str, counter: str) -> int:
        return int(after[stage].get(counter, 0)) - int(before[stage].get(counter, 0))

    check(delta("book", "messages_in") > 0, "nothing reached the book stage")
    gaps = sum(int(c.get("sequence_gaps", 0)) for c in report["counters"].values())
    check(gaps == 0, f"the sink saw {gaps} missing sequence numbers")
    hops = {h["name"]: h for h in latency["hops"]}
    summary = {hop: {k: hops[hop][k] for k in ("count", "p50_ns", "p99_ns", "max_ns")} for hop in hops}
    return {
        "pipeline": name,
        "warmup_s": warmup,
        "window_s": round(window, 3),
        "placement": supervisor.plan.explanation if supervisor.plan else None,
        "feed_msgs_per_s": round(delta("feed", "messages_in") / window),
        "feed_records_per_s": round(delta("feed", "messages_out") / window),
        "book_records_per_s": round(delta("book", "messages_in") / window),
        "book_level_updates_per_s": round(delta("book", "level_updates") / window),
        "book_records_out_per_s": round(delta("book", "messages_out") / window),
        "sink_records_per_s": round(delta("sink", "messages_in") / window),
        "reconnects_per_s": round(delta("feed", "reconnects") / window, 1),
        "snapshots_per_s": round(delta("feed", "snapshots_fetched") / window, 1),
        "hops": summary,
        "end_to_end": {k: latency["end_to_end"][k] for k in ("count", "p50_ns", "p99_ns", "max_ns")},
        "counters": report["counters"],
        "errors": report["errors"],
        "config": "venue (replay of configs/captures/BINANCE.ws.1.0 + .http.0.0, pace fast, loop) -> feed "
        "(reconnect_min_s 0.001, no REST weight budget) -> book (depth 10) -> sink (ProbeSink); "
        "rings as configs/marketdata-replay.toml",
    }


# -- 5. cryptofeed ----------------------------------------------------------------------------------------
def cryptofeed_version() -> str | None:
    try:
        from importlib.metadata import version

        import cryptofeed  # noqa: F401

        return version("cryptofeed")
    except ImportError:
        return None


class _StubHttp:
    """cryptofeed's ``http_conn``: answers the depth snapshot requests with the captured REST bodies."""

    def __init__(self, snapshots: dict[str, str]) -> None:
        self.snapshots = snapshots
        self.requests: list[str] = []

    async def read(self, address: str, **_: Any) -> str:
        self.requests.append(address)
        symbol = snapshot_symbol(address)
        if symbol is None or symbol not in self.snapshots:
            raise KeyError(f"no captured answer for {address}")
        return self.snapshots[symbol]

    async def close(self) -> None:
        pass


def bench_cryptofeed(data: BinanceData, passes: int = 200, repeats: int = 5) -> dict[str, Any]:
    """The shifted synced-phase messages through cryptofeed's Binance ``message_handler``."""
    version = cryptofeed_version()
    if version is None:
        return {"skipped": CRYPTOFEED_SKIPPED}
    from cryptofeed.defines import L2_BOOK
    from cryptofeed.exchanges.binance import Binance
    from cryptofeed.symbols import Symbols

    snapshots = {snapshot_symbol(e.url): e.payload for e in data.http if snapshot_symbol(e.url)}
    # The embedded REST capture has no exchangeInfo: a minimal one for the 4 symbols, in its format.
    exchange_info = {
        "symbols": [
            {
                "symbol": base + quote,
                "baseAsset": base,
                "quoteAsset": quote,
                "status": "TRADING",
                "filters": [{"tickSize": "0.00000001"}],
            }
            for base, quote in BINANCE_PAIRS
        ]
    }
    mapping, symbol_info = Binance._parse_symbol_data(exchange_info)
    Symbols.set(Binance.id, mapping, symbol_info)  # no REST call for the symbol list
    to_std = {v: k for k, v in mapping.items()}
    callbacks = {"count": 0}

    async def on_book(book: Any, receipt: float) -> None:
        callbacks["count"] += 1

    feed = Binance(symbols=[to_std[s] for s in data.spans], channels=[L2_BOOK], callbacks={L2_BOOK: on_book})
    stub = _StubHttp({s: p for s, p in snapshots.items() if s is not None})
    feed.http_conn = stub
    batches = [(data.reset_messages(k), data.pass_messages(k)) for k in range(1, passes * repeats + 1)]
    recv = [t / 1e9 for _, _, t in data.synced]
    rates: list[float] = []

    async def sync() -> None:
        for event in data.ws:
            if event.kind is EventKind.RECEIVED:
                await feed.message_handler(event.payload, None, event.time)

    async def timed(batch_list: list[tuple[list[str], list[str]]]) -> int:
        handler = feed.message_handler
        clock = time.perf_counter_ns
        elapsed = 0
        for resets, batch in batch_list:
            for raw in resets:  # untimed, as for ours
                await handler(raw, None, recv[-1])
            t0 = clock()
            for raw, ts in zip(batch, recv, strict=True):
                await handler(raw, None, ts)
            elapsed += clock() - t0
        return elapsed

    resets = data.reset_messages(1)
    logging.getLogger("feedhandler").setLevel(logging.ERROR)  # a gap is caught by the checks below
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(sync())
        std = {s: to_std[s] for s in data.spans}
        for symbol, (_, last) in data.spans.items():
            check(feed.last_update_id.get(std[symbol]) == last, f"cryptofeed {symbol}: not synced to u={last}")
        for rep in range(repeats):
            count = callbacks["count"]
            elapsed = loop.run_until_complete(timed(batches[rep * passes : (rep + 1) * passes]))
            count = callbacks["count"] - count
            check(count == passes * (len(data.synced) + len(resets)), f"cryptofeed: {count} book callbacks")
            rates.append(passes * len(data.synced) / elapsed * 1e9)
        shift = passes * repeats
        for symbol, (first, last) in data.spans.items():
            expected = last + shift * (last - first + 2)
            check(feed.last_update_id[std[symbol]] == expected, f"cryptofeed {symbol}: at the wrong update id")
    finally:
        loop.close()
    # its books must equal ours after the same messages
    books = BooksSink()
    adapter = synced_adapter(data, books)
    for resets, batch in batches:
        for raw in [*resets, *batch]:
            adapter.on_message(raw, 0)
    _check_clean(adapter)
    for symbol in data.spans:
        instrument = adapter.registry.by_symbol("binance", symbol)
        theirs = feed._l2_book[to_std[symbol]].book
        ours = books.books[instrument.id]
        their_bids = [
            (instrument.price(format(p, "f")), instrument.qty(format(q, "f"))) for p, q in theirs.bids.to_list()
        ]
        their_asks = [
            (instrument.price(format(p, "f")), instrument.qty(format(q, "f"))) for p, q in theirs.asks.to_list()
        ]
        check(their_bids == ours.bids() and their_asks == ours.asks(), f"{symbol}: cryptofeed's book differs")
    return {
        "version": version,
        "messages_per_pass": len(data.synced),
        "passes": passes,
        "repeats": repeats,
        "msgs_per_s": round(median(rates)),
        "us_per_msg": round(1e6 / median(rates), 3),
        "runs": [round(r) for r in rates],
        "entry_point": "cryptofeed.exchanges.binance.Binance.message_handler (json.loads parse_float=Decimal, "
        "_book -> _check_update_id, Decimal levels into its order_book.OrderBook, book_callback -> an async no-op "
        "L2_BOOK callback), awaited in one coroutine; snapshots through a stub http_conn",
        "snapshot_requests": len(stub.requests),
    }


# -- the whole run ------------------------------------------------------------------------------------------
def run_all(
    *,
    passes: int = 200,
    repeats: int = 5,
    pipeline_s: float = 10.0,
    pipeline_warmup_s: float = 2.0,
    kraken_repeats: int = 9,
    name: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    tag = name or f"mdbench{os.getpid()}"
    data = load_binance()
    started = time.monotonic()
    result: dict[str, Any] = {"setup": machine_setup()}
    progress("1. Binance adapter")
    result["binance_adapter"] = bench_binance_adapter(data, tag, passes, repeats)
    progress("2a. L2Book.set_level")
    result["l2book_set_level"] = bench_set_level(data, passes, repeats)
    progress("2b. BookStage")
    result["book_stage"] = bench_book_stage(data, tag, passes, repeats)
    result["book_stage_bbo_only"] = bench_book_stage(data, tag, passes, repeats, publish_depth=False)
    progress("3. Kraken checksum")
    result["kraken_checksum"] = bench_kraken_checksum(kraken_repeats)
    progress("4. replay pipeline")
    result["pipeline"] = bench_pipeline(tag, pipeline_s, pipeline_warmup_s)
    progress("5. cryptofeed")
    result["cryptofeed"] = bench_cryptofeed(data, passes, repeats)
    if "msgs_per_s" in result["cryptofeed"]:
        result["cryptofeed"]["ours_over_theirs"] = round(
            result["binance_adapter"]["ring_sink_msgs_per_s"] / result["cryptofeed"]["msgs_per_s"], 2
        )
    result["took_s"] = round(time.monotonic() - started, 1)
    return result


def _ns(value: float) -> str:
    return f"{value / 1e3:.1f} µs" if value < 1e6 else f"{value / 1e6:.2f} ms"


def format_report(r: dict[str, Any]) -> str:
    s = r["setup"]
    a, lv, st, k, p, cf = (
        r["binance_adapter"],
        r["l2book_set_level"],
        r["book_stage"],
        r["kraken_checksum"],
        r["pipeline"],
        r["cryptofeed"],
    )
    sb = r["book_stage_bbo_only"]
    met = {True: "met", False: "NOT met"}
    lines = [
        f"bench.marketdata: {s['cores_available']} cores {s['cores']} ({s['cpu']}), pinning: none; "
        f"python {s['python']}; took {r['took_s']} s; medians of {a['repeats']} repetitions",
        "",
        f"1. Binance depthUpdate -> records ({a['messages_per_pass']} synced diffs x {a['passes']} passes per "
        f"repetition, {a['levels_per_message']} levels/msg)",
        f"   RingSink into a shm ring   {a['ring_sink_msgs_per_s']:>12,} msgs/s  ({a['ring_sink_us_per_msg']} µs/msg, "
        f"{a['ring_sink_levels_per_s']:,} records/s)  target 150k/s: {met[a['target_met']]}",
        f"   null sink (adapter alone)  {a['null_sink_msgs_per_s']:>12,} msgs/s  ({a['null_sink_us_per_msg']} µs/msg)",
        f"   orjson.loads alone         {a['orjson_loads_msgs_per_s']:>12,} msgs/s  "
        f"({a['orjson_loads_us_per_msg']} µs/msg)",
        f"   consumer drain (untimed above, timed apart): {a['drain_ns_per_record']} ns/record",
        "",
        f"2a. L2Book.set_level: {lv['level_updates_per_s']:>12,} level updates/s ({lv['ns_per_update']} ns each; "
        f"mix {lv['mix']})  target 1M/s: {met[lv['target_met']]}",
        f"2b. BookStage over a ring: {st['level_updates_per_s']:>12,} level updates/s ({st['ns_per_level_update']} ns "
        f"each; {st['updates_per_s']:,} venue updates/s, each publishing BBO + DEPTH)  target 1M/s: "
        f"{met[st['target_met']]}",
        f"    the same with publish_depth = false (BBO only per update): {sb['level_updates_per_s']:,} level "
        f"updates/s ({sb['ns_per_level_update']} ns each)",
        "",
    ]
    if "skipped" in k:
        lines.append(f"3. Kraken checksum: skipped ({k['skipped']})")
    else:
        lines.append(
            f"3. Kraken checksum over {k['capture']} ({k['updates']} updates, all ok): cached "
            f"{k['cached_us_per_update']} µs/update, plain {k['plain_us_per_update']} µs/update "
            f"(best runs: {k['cached_us_per_update_best']} / {k['plain_us_per_update_best']}); applying the levels "
            f"alone {k['apply_only_us_per_update']} µs/update"
        )
    lines += [
        "",
        f"4. replay pipeline {p['pipeline']} ({p['window_s']} s after {p['warmup_s']} s warm-up): feed "
        f"{p['feed_msgs_per_s']:,} msgs/s in, {p['feed_records_per_s']:,} records/s out; book "
        f"{p['book_records_per_s']:,} records/s in ({p['book_level_updates_per_s']:,} level updates/s), "
        f"{p['book_records_out_per_s']:,} records/s out; {p['reconnects_per_s']} reconnects/s, "
        f"{p['snapshots_per_s']} snapshots/s",
        f"   {p['placement']}",
    ]
    for hop, h in p["hops"].items():
        lines.append(f"   {hop:<12} p50 {_ns(h['p50_ns']):>10}  p99 {_ns(h['p99_ns']):>10}  ({h['count']:,} records)")
    e = p["end_to_end"]
    lines.append(
        f"   {'end-to-end':<12} p50 {_ns(e['p50_ns']):>10}  p99 {_ns(e['p99_ns']):>10}  ({e['count']:,} records)"
    )
    lines.append("")
    if "skipped" in cf:
        lines.append(f"5. {cf['skipped']}")
    else:
        lines.append(
            f"5. cryptofeed {cf['version']} Binance message_handler: {cf['msgs_per_s']:,} msgs/s "
            f"({cf['us_per_msg']} µs/msg); ours (RingSink) / theirs = {cf['ours_over_theirs']}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.marketdata", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
    parser.add_argument("--passes", type=int, default=200, help="passes over the synced diffs per repetition")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions (the median is reported)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds the replay pipeline is measured")
    args = parser.parse_args(argv)
    result = run_all(
        passes=args.passes,
        repeats=args.repeats,
        pipeline_s=args.duration,
        progress=lambda step: print(f"... {step}", file=sys.stderr, flush=True),
    )
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
