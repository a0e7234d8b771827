"""Strategy stage overhead per book update, built-in market maker: plain Python vs the API vs the stage.

The three variants take the same DEPTH records, decide the same quotes and
are timed per update, interleaved, in one run:

``plain``
    The market maker's quoting decision written as a plain function on ints
    (:class:`PlainMarketMaker`): one ``struct.unpack_from`` of state, best
    bid/ask and their sizes from the record bytes, the fair mid and the two
    targets in ticks (floor/ceil, clamped off the book), compared with the
    two quotes it holds; "sending" appends a tuple to a list. No API, no
    rings: the floor.
``api``
    The real :class:`~stages.trading.strategy.builtin.market_maker.MarketMaker`
    hosted by a real :class:`~stages.trading.strategy.runner.StrategyRunner`
    whose ``emit`` appends a tuple: per update ``view.take_depth(record, 0, 0)``
    then ``runner.on_book(view)``, i.e. what the stage does per record minus
    the rings. Orders, their states, client ids, counters and the strategy's
    own bookkeeping are all in.
``stage``
    The real :class:`~stages.trading.strategy.stage.StrategyStage` over real
    shared-memory rings of the production shapes (``configs/strategy-dryrun.toml``:
    a broadcast ``md`` ring of 16,384 x 768 B, SPSC ``intents`` of 4,096 x 128 B
    and ``reports`` of 4,096 x 192 B), the stage's default ``clock = "live"`` and
    ``conflate = true``, stepped by an ``AgentInvoker`` in this process. Per
    update the record is offered to the md ring (untimed) and one
    ``invoker.invoke()`` is timed: the duty cycle polls both input rings,
    copies the record into the book view, runs the strategy and packs and
    commits its intents on the intent ring (tick-to-intent histogram,
    counters and hop stamps included). Ring transit between processes (the
    producer's ``offer``, the cache-line transfer, the consumer noticing) is
    **not** included: see ``hftpipe bench ring`` for that. Each fresh
    pipeline first runs one lap of filler records (type 0, which the stage
    ignores) through every ring: a first lap page-faults about once per five
    DEPTH records, which a stage that has been running does not.
``api-nop``, ``stage-nop``
    ``api`` and ``stage`` hosting the API's base ``Strategy``, whose handlers
    do nothing: the fixed cost of the book view + runner, and of the stage
    around them. They decide nothing and only serve the breakdown.

Between timed updates, untimed, every intent of the update is answered as a
venue with nobody to trade with would (ACK a new order, REPLACED a replace,
CANCELED a cancel): the API variant through ``runner.on_report``, the stage
variant through the reports ring and one more ``invoke()``. So every update
finds both quotes OPEN and the market maker requotes as it would live; the
plain variant needs no answers (it holds the prices it sent).

**Checked every run** (the benchmark is also a test of equivalence): the
three variants decided the same intents, update for update (action, side,
price, qty), and every API and stage intent carries the ``book_update_id`` of
the record that caused it.

**Input**: a seeded random walk (:func:`book_walk`) of one instrument (tick
0.01, lot 0.1, scales 8/8) around 100.00, 10 levels a side, all SYNCED,
packed before timing. Per update both sides shift together by 0 ticks
(p 0.60), ±1 (0.17 each) or ±2 (0.03 each); the spread (1..3 ticks) widens
or narrows by a tick with p 0.05 each, moving only the ask, never by more
than 2 ticks in all; the best level's size is redrawn every update and each
deeper level's with p 0.3 (0.1 .. 50 units). Market maker params: qty "1",
spread_ticks 2, requote_ticks 1, max_inventory "100" (never reached: no
fills), fair = mid.

**Timing**: ``time.perf_counter_ns`` around each update (the pair costs
~50-100 ns here and is in every figure; measured and reported as
``clock_ns``). Each repetition runs every variant over all the updates from
a fresh state (a fresh market maker, a fresh pipeline), the variants in a
rotating order; before the first, one untimed warm-up pass per variant. A
variant's figures pool every timed update of every repetition: the median,
the mean, the p99, the median over updates that sent nothing ("quiet") and
over updates that sent intents ("requote"). About 43 % of the updates
requote, so the median of all updates lies where the two kinds meet and
moves between them from run to run; the per-kind medians are the stable
figures. Ratios are given for each (quiet, requote, mean, median). The
garbage collector stays on, as in a stage process.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from bench.clock import clock_ns, us
from hftpipe.runtime import AgentInvoker, StageContext
from hftpipe.runtime.config import PipelineConfig, parse_config
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.schema import SPECS
from hftpipe.schema.marketdata import DEPTH_DTYPE, DEPTH_LEVELS, BookState
from hftpipe.schema.records import RecordType
from hftpipe.schema.trading import (
    NO_SLIPPAGE,
    NO_TERMS,
    ExecType,
    IntentAction,
    IntentFlag,
    OrderSide,
    OrderType,
    RejectReason,
    SynthTerms,
    TimeInForce,
)
from hftpipe.strategy import BookView
from hftpipe.substrate.ring import Ring
from stages.trading.strategy.runner import StrategyCounters, StrategyRunner
from stages.trading.strategy.settings import StrategyStageParams
from stages.trading.strategy.stage import StrategyStage

SEED: Final = 2026
UPDATES: Final = 5_000
REPETITIONS: Final = 5
WARMUP: Final = 500
"""Untimed updates per variant before the first repetition."""
LEVELS: Final = 10
TICK: Final = 1_000_000
"""0.01 at price scale 8."""
LOT: Final = 10_000_000
"""0.1 at qty scale 8."""
START_BID: Final = 10_000 * TICK
"""100.00."""
INSTRUMENT: Final = {
    "venue": "binance", "symbol": "AAAUSDT", "price_scale": 8, "qty_scale": 8, "tick": "0.01", "lot": "0.1",
}  # fmt: skip
STRATEGY_ID: Final = 1
EPOCH: Final = 1_765_000_000_000
MARKET_MAKER: Final = "stages.trading.strategy.builtin.market_maker:MarketMaker"
PARAMS: Final = {"qty": "1", "spread_ticks": 2, "requote_ticks": 1, "max_inventory": "100"}
VARIANTS: Final = ("plain", "api", "stage")
"""The three that must decide alike."""
NOP_VARIANTS: Final = ("api-nop", "stage-nop")
"""For the breakdown: ``api`` and ``stage`` hosting a strategy whose handlers do nothing (the fixed costs)."""
NOP: Final = "hftpipe.strategy:Strategy"
"""The API's base class: every handler does nothing."""
TARGET_NS: Final = 3_000
"""The requirement: the stage's median per book update in the stage logic."""

_DEPTH: Final = SPECS[RecordType.DEPTH]
_INTENT_FIELDS: Final = SPECS[RecordType.ORDER_INTENT].packer.unpack_from
_PACK_REPORT: Final = SPECS[RecordType.EXEC_REPORT].packer.pack
_REPORT_SIZE: Final = SPECS[RecordType.EXEC_REPORT].itemsize
_INTENT_SIZE: Final = SPECS[RecordType.ORDER_INTENT].itemsize

Intent = tuple[int, int, int, int]
"""What a variant sent: ``(action, side, price, qty)``."""
Decision = tuple[int, int, int, int, int]
"""``(update index, action, side, price, qty)``: what the three variants must agree on."""


# -- the input -------------------------------------------------------------------------
def book_walk(n: int = UPDATES, seed: int = SEED) -> list[bytes]:
    """``n`` SYNCED DEPTH records of one instrument (id 1), a seeded random walk (see the module docstring)."""
    rng = np.random.default_rng(seed)
    shifts = rng.choice([-2, -1, 0, 1, 2], size=n, p=[0.03, 0.17, 0.60, 0.17, 0.03]).tolist()
    widen = rng.choice([-1, 0, 1], size=n, p=[0.05, 0.90, 0.05]).tolist()
    sizes = rng.integers(1, 501, size=(n, 2, LEVELS)) * LOT
    redraw = rng.random(size=(n, 2, LEVELS)) < 0.3
    pad = [0] * (DEPTH_LEVELS - LEVELS)
    bid, spread = START_BID, 1
    bid_qty, ask_qty = sizes[0, 0].tolist(), sizes[0, 1].tolist()
    records = []
    for i in range(n):
        if i:
            shift, new_spread = shifts[i], spread + widen[i]
            if 1 <= new_spread <= 3 and abs(shift + new_spread - spread) <= 2:
                spread = new_spread
            bid += shift * TICK
            for side, qtys in enumerate((bid_qty, ask_qty)):
                for level in range(LEVELS):
                    if level == 0 or redraw[i, side, level]:
                        qtys[level] = int(sizes[i, side, level])
        ask = bid + spread * TICK
        origin = 1_000_000_000 + i * 100_000
        header = (RecordType.DEPTH, 0, 1, i + 1, origin + 5, origin, 0, 0, 0, 0, i + 1, LEVELS, BookState.SYNCED)
        bids = [bid - k * TICK for k in range(LEVELS)]
        asks = [ask + k * TICK for k in range(LEVELS)]
        records.append(_DEPTH.packer.pack(*header, *bids, *pad, *bid_qty, *pad, *asks, *pad, *ask_qty, *pad))
    return records


def config(name: str, strategy: str = MARKET_MAKER, params: dict[str, Any] | None = None) -> PipelineConfig:
    """md (a probe source driven from here) → strategy → venue (a probe sink answering through ``reports``).

    The strategy stage hosts ``strategy`` with ``params`` (default: the market maker with :data:`PARAMS`).
    """
    return parse_config(
        {
            "pipeline": {"name": name},
            "instruments": [INSTRUMENT],
            "stages": {
                "md": {"class": "stages.probe:ProbeSource"},
                "strategy": {
                    "class": "stages.trading.strategy.stage:StrategyStage",
                    "params": {
                        "id": STRATEGY_ID,
                        "name": "mm",
                        "class": strategy,
                        "params": PARAMS if params is None else params,
                        "epoch": EPOCH,
                    },
                },
                "venue": {"class": "stages.probe:ProbeSink"},
            },
            "rings": [
                {
                    "name": "md",
                    "kind": "broadcast",
                    "from": "md",
                    "to": ["strategy"],
                    "capacity": 16384,
                    "slot_size": 768,
                },
                {"name": "intents", "from": "strategy", "to": "venue", "capacity": 4096, "slot_size": _INTENT_SIZE},
                {"name": "reports", "from": "venue", "to": "strategy", "capacity": 4096, "slot_size": _REPORT_SIZE},
            ],
        },
        source="bench",
        allowed_cpus=set(os.sched_getaffinity(0)),
    )


# -- plain: the floor ------------------------------------------------------------------
def _offset(name: str) -> int:
    fields = DEPTH_DTYPE.fields
    assert fields is not None
    return int(fields[name][1])


def _top_of_book() -> struct.Struct:
    """state, best bid, its size, best ask, its size: one unpack from the DEPTH record's bytes."""
    state = _offset("update_id") + 10  # after update_id (u8) and levels (u2)
    bid, bid_qty, ask, ask_qty = (_offset(f) for f in ("bid_price", "bid_qty", "ask_price", "ask_qty"))
    return struct.Struct(
        f"<{state}xB{bid - state - 1}xq{bid_qty - bid - 8}xq{ask - bid_qty - 8}xq{ask_qty - ask - 8}xq"
    )


_TOP: Final = _top_of_book()
_SYNCED: Final = int(BookState.SYNCED)
_NEW: Final = int(IntentAction.NEW)
_REPLACE: Final = int(IntentAction.REPLACE)
_CANCEL: Final = int(IntentAction.CANCEL)
_CANCEL_ALL: Final = int(IntentAction.CANCEL_ALL)
_BUY: Final = int(OrderSide.BUY)
_SELL: Final = int(OrderSide.SELL)


class PlainMarketMaker:
    """The market maker's decision with no API: the quotes it holds are two ints (0: none)."""

    __slots__ = ("_half", "_limit", "_position", "_qty", "_requote", "_tick", "ask", "bid", "sent")

    def __init__(self, tick: int, qty: int, spread_ticks: int, requote_ticks: int, limit: int) -> None:
        self.bid = 0
        self.ask = 0
        self.sent: list[Intent] = []
        self._tick = tick
        self._qty = qty
        self._half = 2 * spread_ticks * tick
        """The spread either side of the mid, in the units of bid + ask (twice the price)."""
        self._requote = requote_ticks * tick
        self._limit = limit
        self._position = 0  # nothing fills here

    def on_depth(self, record: bytes | memoryview) -> None:
        state, bid, bid_qty, ask, ask_qty = _TOP.unpack_from(record, 0)
        send = self.sent.append
        if state != _SYNCED or bid_qty <= 0 or ask_qty <= 0:
            if self.bid or self.ask:
                send((_CANCEL_ALL, _BUY, 0, 0))
                self.bid = self.ask = 0
            return
        tick, twice = self._tick, 2 * self._tick
        two = bid + ask  # 2 x the fair mid: floor/ceil in whole ticks, exactly
        bid_target = (two - self._half) // twice * tick
        ask_target = -((-two - self._half) // twice) * tick
        if bid_target > ask - tick:  # noqa: PLR1730 - an if is cheaper than min() here
            bid_target = ask - tick
        if ask_target < bid + tick:  # noqa: PLR1730
            ask_target = bid + tick
        qty = self._qty
        held = self.bid
        if self._position + qty > self._limit or bid_target <= 0:
            if held:
                send((_CANCEL, _BUY, held, qty))
                self.bid = 0
        elif not held:
            send((_NEW, _BUY, bid_target, qty))
            self.bid = bid_target
        elif abs(bid_target - held) >= self._requote:
            send((_REPLACE, _BUY, bid_target, qty))
            self.bid = bid_target
        held = self.ask
        if self._position - qty < -self._limit or ask_target <= 0:
            if held:
                send((_CANCEL, _SELL, held, qty))
                self.ask = 0
        elif not held:
            send((_NEW, _SELL, ask_target, qty))
            self.ask = ask_target
        elif abs(ask_target - held) >= self._requote:
            send((_REPLACE, _SELL, ask_target, qty))
            self.ask = ask_target


# -- the three variants ----------------------------------------------------------------
class Variant:
    """One way of handling a book update: ``prepare`` (untimed), ``step`` (timed), ``answer`` (untimed)."""

    name = ""
    takes_record = True
    """``step(record)``; False: ``step()`` (the record waits in a ring)."""

    def prepare(self, record: bytes) -> None:
        """Untimed, before the timed step."""

    def step(self, record: bytes) -> Any:
        raise NotImplementedError

    def answer(self, update_id: int) -> list[Intent]:
        """Untimed, after the step: what it sent, answered as a venue would."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class Plain(Variant):
    name = "plain"

    def __init__(self, cfg: PipelineConfig) -> None:
        stage_params: StrategyStageParams = cfg.stage("strategy").params
        p = stage_params.strategies[0].params  # the MarketMaker's own Params, as the API variant gets them
        instrument = cfg.instruments[0]
        qty = instrument.qty(p.qty) // instrument.lot * instrument.lot  # down to the lot
        limit = instrument.qty(p.max_inventory)
        self.quoter = PlainMarketMaker(instrument.tick, qty, p.spread_ticks, p.requote_ticks, limit)
        self.step = self.quoter.on_depth  # type: ignore[method-assign]
        self._seen = 0

    def answer(self, update_id: int) -> list[Intent]:
        sent = self.quoter.sent
        new = sent[self._seen :]
        self._seen = len(sent)
        return new


class _Counter:
    __slots__ = ("value",)

    def __init__(self, _name: str = "") -> None:
        self.value = 0

    def add(self, delta: int = 1) -> None:
        self.value += delta


def _report(seq: int, kind: ExecType, side: int, instrument: int) -> bytes:
    return _PACK_REPORT(
        RecordType.EXEC_REPORT, 0, instrument, 0, 0, 0, 0, 0, 0, 0, seq, 900 + seq, 0, 0, 0, 0, 0, kind, side,
        RejectReason.NONE, 0, STRATEGY_ID, *NO_SLIPPAGE,
    )  # fmt: skip


def _answers(
    intents: list[tuple[int, int, int, int]], open_seqs: Callable[[], list[int]]
) -> list[tuple[int, ExecType, int]]:
    """What a venue with nobody to trade with says to ``(action, side, order_seq, orig_seq)``: ``(seq, exec, side)``."""
    out = []
    for action, side, seq, orig in intents:
        if action == _NEW:
            out.append((seq, ExecType.ACK, side))
        elif action == _REPLACE:
            out.append((seq, ExecType.REPLACED, side))
        elif action == _CANCEL:
            out.append((orig, ExecType.CANCELED, side))
        else:
            out.extend((s, ExecType.CANCELED, _BUY) for s in open_seqs())
    return out


class Api(Variant):
    name = "api"

    def __init__(self, cfg: PipelineConfig) -> None:
        params: StrategyStageParams = cfg.stage("strategy").params
        settings = params.strategies[0]
        instrument = cfg.instruments[0]
        self.instrument = instrument
        self.view = view = BookView(instrument)
        self._sent: list[tuple[int, int, int, int, int, int, int]] = []
        self._seen = 0
        self.runner = StrategyRunner(
            settings, {instrument.id: instrument}, {instrument.id: view}, self._emit,
            StrategyCounters(settings.name, _Counter), EPOCH, logging.getLogger("bench.strategy"),
        )  # fmt: skip
        self.runner.start(0)
        take, on_book = view.take_depth, self.runner.on_book

        def step(record: bytes) -> None:
            take(record, 0, 0)
            on_book(view)

        self.step = step  # type: ignore[method-assign]

    def _emit(
        self, cause: bytes | memoryview, taken_ns: int, measured: bool, instrument: int, action: IntentAction,
        side: OrderSide, order_type: OrderType, tif: TimeInForce, flags: IntentFlag, price: int, qty: int,
        order_seq: int, orig_order_seq: int, book_update_id: int, strategy_id: int, epoch: int, now: int,
        stop_price: int = 0, terms: SynthTerms = NO_TERMS,
    ) -> None:  # fmt: skip
        self._sent.append((action, side, price, qty, order_seq, orig_order_seq, book_update_id))

    def answer(self, update_id: int) -> list[Intent]:
        new = self._sent[self._seen :]
        self._seen = len(self._sent)
        for intent in new:
            assert intent[6] == update_id, f"api: intent {intent} not decided on book update {update_id}"
        runner = self.runner
        iid = self.instrument.id
        header = bytes(64)
        for seq, kind, side in _answers([(a, s, q, o) for a, s, _, _, q, o, _ in new],
                                        lambda: sorted(o.seq for o in runner.open_orders(iid))):  # fmt: skip
            fields = (int(RecordType.EXEC_REPORT), 0, iid, 0, 0, 0, 0, 0, 0, 0, seq, 900 + seq, 0, 0, 0, 0, 0,
                      int(kind), side, 0, 0, STRATEGY_ID, *NO_SLIPPAGE)  # fmt: skip
            runner.on_report(fields, header, 0)
        return [(a, s, p, q) for a, s, p, q, _, _, _ in new]


class Stage(Variant):
    name = "stage"
    takes_record = False

    def __init__(self, cfg: PipelineConfig) -> None:
        self.owned: OwnedObjects = create_pipeline_objects(cfg)
        self.contexts: list[StageContext] = []
        self.invoker: AgentInvoker | None = None
        try:
            for name in ("md", "strategy", "venue"):
                self.contexts.append(open_stage_context(cfg, self.owned.control, name))
            self.stage = StrategyStage(self.contexts[1])
            self.invoker = AgentInvoker(self.stage)
            self.invoker.start()
        except BaseException:
            self.close()
            raise
        self.instrument = cfg.instruments[0].id
        self._md = self.contexts[0].output_port().offer
        self._reports = self.contexts[2].output_port().offer
        intents = self.contexts[2].input_port().ring
        assert isinstance(intents, Ring)
        self._intents = intents
        self.step = self.invoker.invoke  # type: ignore[assignment]
        self._got: list[tuple[int, ...]] = []
        self._warm()

    def _warm(self) -> None:
        """One lap of every ring with records the stage ignores (type 0), as a running pipeline has them.

        A fresh ring's first lap page-faults in each process that maps it (about one fault per five
        DEPTH records here); a stage that has been running for a while has every page mapped.
        """
        assert self.invoker is not None
        invoke = self.invoker.invoke
        md, reports, intents = (self.contexts[0].output_port(), self.contexts[2].output_port(),
                                self.contexts[1].output_port())  # fmt: skip
        for port, size in ((md, 768), (reports, _REPORT_SIZE), (intents, 128)):
            filler = bytes(size)
            for _ in range(port.ring.capacity // 256):
                for _ in range(256):
                    if not port.offer(filler, 0):
                        raise RuntimeError("stage: a ring filled up while warming")
                while invoke():
                    pass
                if self._drain() and port is not intents:
                    raise RuntimeError("stage: the strategy answered a filler record")

    def prepare(self, record: bytes) -> None:
        if not self._md(record, time.monotonic_ns()):
            raise RuntimeError("stage: the md ring is full")

    def _take(self, buf: memoryview, offset: int) -> None:
        self._got.append(_INTENT_FIELDS(buf, offset))

    def _drain(self) -> list[tuple[int, ...]]:
        """Every intent on the intent ring, unpacked."""
        self._got = []
        self._intents.poll(self._take, 1 << 16)
        return self._got

    def answer(self, update_id: int) -> list[Intent]:
        new = self._drain()
        runner = self.stage.runners[0]
        for f in new:
            assert f[22] == update_id, f"stage: intent {f} not decided on book update {update_id}"
        answers = _answers([(f[17], f[18], f[10], f[11]) for f in new],
                           lambda: sorted(o.seq for o in runner.open_orders(self.instrument)))  # fmt: skip
        if answers:
            now = time.monotonic_ns()
            for seq, kind, side in answers:
                if not self._reports(_report(seq, kind, side, self.instrument), now):
                    raise RuntimeError("stage: the reports ring is full")
            assert self.invoker is not None
            if self.invoker.invoke() != len(answers):
                raise RuntimeError("stage: the answers were not taken in one duty cycle")
            caused = self._drain()
            if caused:
                raise RuntimeError(f"stage: answers caused intents: {caused}")
        return [(f[17], f[18], f[12], f[13]) for f in new]

    def idle_cycle_ns(self, n: int) -> float:
        """Median ns of ``invoke()`` with nothing to read (both input rings polled empty)."""
        assert self.invoker is not None
        invoke, clock = self.invoker.invoke, time.perf_counter_ns
        samples = []
        for _ in range(n):
            t0 = clock()
            invoke()
            samples.append(clock() - t0)
        return float(np.median(samples))

    def close(self) -> None:
        if self.invoker is not None:
            self.invoker.close()
            self.invoker = None
        for ctx in self.contexts:
            ctx.close()
        self.contexts.clear()
        self.owned.destroy()


def make_variant(name: str, pipeline: str) -> Variant:
    """A fresh variant ``name`` (of :data:`VARIANTS` and :data:`NOP_VARIANTS`), a stage's objects under ``pipeline``."""
    kind, _, nop = name.partition("-")
    cfg = config(pipeline, NOP, {}) if nop == "nop" else config(pipeline)
    made: Variant
    if name == "plain":
        made = Plain(cfg)
    elif kind == "api":
        made = Api(cfg)
    elif kind == "stage":
        made = Stage(cfg)
    else:
        raise ValueError(f"unknown variant {name!r} (variants: {', '.join((*VARIANTS, *NOP_VARIANTS))})")
    made.name = name
    return made


@contextmanager
def variant(name: str, pipeline: str) -> Iterator[Variant]:
    made = make_variant(name, pipeline)
    try:
        yield made
    finally:
        made.close()


# -- timing ----------------------------------------------------------------------------
def timed_pass(v: Variant, records: list[bytes], times: list[int] | None) -> list[Decision]:
    """Feed every record through ``v``, each step timed into ``times[i]`` (None: untimed); its decisions."""
    clock = time.perf_counter_ns
    prepare, step, answer = v.prepare, v.step, v.answer
    decisions: list[Decision] = []
    with_record = v.takes_record
    for i, record in enumerate(records):
        prepare(record)
        if with_record:
            t0 = clock()
            step(record)
            t1 = clock()
        else:
            t0 = clock()
            step()  # type: ignore[call-arg]
            t1 = clock()
        if times is not None:
            times[i] = t1 - t0
        for action, side, price, qty in answer(i + 1):
            decisions.append((i, action, side, price, qty))
    return decisions


def decisions_of(name: str, records: list[bytes], pipeline: str) -> list[Decision]:
    with variant(name, pipeline) as v:
        return timed_pass(v, records, None)


def _medianus(ns: npt.NDArray[np.int64]) -> float | None:
    return us(float(np.median(ns))) if ns.size else None


@dataclass
class Samples:
    times: list[int]
    rep_medians: list[float]


def first_difference(a: list[Decision], b: list[Decision]) -> str:
    """Where two decision lists part (for the error message)."""
    for x, y in zip(a, b, strict=False):
        if x != y:
            return f"{x} vs {y}"
    return f"{len(a)} vs {len(b)} decisions"


def run(updates: int = UPDATES, repetitions: int = REPETITIONS, name: str | None = None) -> dict[str, Any]:
    """Every figure of the module docstring, as one JSON-ready dict; raises when the variants decide otherwise."""
    began = time.perf_counter()
    records = book_walk(updates)
    pipeline = name or f"bench{os.getpid()}"
    timed = (*VARIANTS, *NOP_VARIANTS)
    for v_name in timed:  # warm-up: code paths, caches, the first pipeline
        with variant(v_name, pipeline) as v:
            timed_pass(v, records[: min(WARMUP, updates)], None)
    samples = {v: Samples([], []) for v in timed}
    reference: list[Decision] | None = None
    reference_from = ""
    idle: list[float] = []
    for rep in range(repetitions):
        shift = rep % len(timed)
        for v_name in timed[shift:] + timed[:shift]:
            times = [0] * updates
            with variant(v_name, pipeline) as v:
                decided = timed_pass(v, records, times)
                if isinstance(v, Stage):
                    idle.append(v.idle_cycle_ns(2_000))
            if v_name in NOP_VARIANTS:
                assert not decided, "a strategy that does nothing sent intents"
            elif reference is None:
                reference, reference_from = decided, v_name
            elif decided != reference:
                diff = first_difference(decided, reference)
                raise AssertionError(f"{v_name} decided otherwise than {reference_from}: {diff}")
            samples[v_name].times.extend(times)
            samples[v_name].rep_medians.append(float(np.median(times)))
    assert reference is not None
    requoting = sorted({d[0] for d in reference})
    active = np.zeros(updates, dtype=bool)
    active[requoting] = True
    active_all = np.tile(active, repetitions)
    actions = {a.name.lower(): sum(1 for d in reference if d[1] == a) for a in IntentAction}
    report: dict[str, Any] = {
        "setup": {
            "updates": updates,
            "repetitions": repetitions,
            "warmup_updates": min(WARMUP, updates),
            "seed": SEED,
            "levels": LEVELS,
            "instrument": INSTRUMENT,
            "strategy": {"class": MARKET_MAKER, "params": PARAMS},
            "stage": {
                "clock": "live",
                "conflate": True,
                "md_ring": "broadcast 16384 x 768",
                "intent_and_report_rings": "spsc 4096 x 128 (intents), 192 (reports)",
                "rings_warmed": True,
            },
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "machine": platform.machine(),
            "clock_ns": clock_ns(),
        },
        "requotes": {
            "updates_with_intents": len(requoting),
            "fraction": round(len(requoting) / updates, 4),
            "intents": len(reference),
            "by_action": actions,
        },
        "equivalent": True,
        "variants": {},
    }
    rows: dict[str, dict[str, Any]] = report["variants"]
    for v_name in timed:
        t = np.asarray(samples[v_name].times, dtype=np.int64)
        rows[v_name] = {
            "median_us": us(float(np.median(t))),
            "quiet_median_us": _medianus(t[~active_all]),
            "requote_median_us": _medianus(t[active_all]),
            "mean_us": us(float(t.mean())),
            "p99_us": us(float(np.percentile(t, 99))),
            "repetition_medians_us": [us(m) for m in samples[v_name].rep_medians],
        }

    def ratio(a: str, b: str, key: str = "median_us") -> float | None:
        x, y = rows[a][key], rows[b][key]
        return None if x is None or y is None else round(x / y, 2)

    pairs = (("api", "plain"), ("stage", "plain"), ("stage", "api"))
    kinds = (("quiet", "quiet_median_us"), ("requote", "requote_median_us"), ("mean", "mean_us"),
             ("median", "median_us"))  # fmt: skip
    report["ratios"] = {what: {f"{a}/{b}": ratio(a, b, key) for a, b in pairs} for what, key in kinds}

    def quiet(v: str) -> float:
        value = rows[v]["quiet_median_us"]
        return float("nan") if value is None else float(value)

    report["quiet_breakdown_us"] = {
        "plain: the decision alone": quiet("plain"),
        "api-nop: book view copy + runner + a handler doing nothing": quiet("api-nop"),
        "api - api-nop: the market maker's handler through the API": round(quiet("api") - quiet("api-nop"), 3),
        "stage-nop - api-nop: rings + duty cycle": round(quiet("stage-nop") - quiet("api-nop"), 3),
        "stage - stage-nop: the market maker, in the stage": round(quiet("stage") - quiet("stage-nop"), 3),
    }
    report["stage_idle_cycle_us"] = us(float(np.median(idle)))
    stage_median = rows["stage"]["median_us"]
    report["target"] = {
        "stage_median_us_at_most": TARGET_NS / 1000,
        "stage_median_us": stage_median,
        "met": stage_median * 1000 <= TARGET_NS,
    }
    report["took_s"] = round(time.perf_counter() - began, 1)
    return report


def format_report(report: dict[str, Any]) -> str:
    s, q = report["setup"], report["requotes"]
    by = q["by_action"]
    rows = report["variants"]
    lines = [
        f"strategy stage overhead per book update: MarketMaker {json.dumps(s['strategy']['params'])}, "
        f"{s['updates']:,} DEPTH updates ({s['levels']} levels a side, seed {s['seed']}) x {s['repetitions']} "
        f"interleaved repetitions; python {s['python']}, {s['cores']} cores; took {report['took_s']} s",
        f"requotes: {q['updates_with_intents']:,} of {s['updates']:,} updates ({100 * q['fraction']:.1f} %) sent "
        f"{q['intents']:,} intents ({by['new']} new, {by['replace']:,} replace, {by['cancel']} cancel, "
        f"{by['cancel_all']} cancel_all); plain, api and stage decided the same intents, update for update",
        f"clock pair: {s['clock_ns']:.0f} ns (in every figure)",
        "",
        f"{'variant':<10} {'median':>10} {'x plain':>8} {'quiet':>10} {'requote':>10} {'mean':>10} {'p99':>10}"
        "   repetition medians (µs)",
    ]
    plain = rows["plain"]["median_us"]
    for name, row in rows.items():
        reps = ", ".join(f"{m:.2f}" for m in row["repetition_medians_us"])
        lines.append(
            f"{name:<10} {row['median_us']:>7.2f} µs {row['median_us'] / plain:>7.2f}x "
            f"{row['quiet_median_us'] or 0:>7.2f} µs {row['requote_median_us'] or 0:>7.2f} µs "
            f"{row['mean_us']:>7.2f} µs {row['p99_us']:>7.2f} µs   {reps}"
        )
    target = report["target"]
    lines += [
        "(quiet: updates that sent nothing; requote: updates that sent intents; *-nop: hosting a strategy whose "
        "handlers do nothing; the median of all updates lies where quiet meets requote and moves between the "
        "two from run to run: the per-kind medians are the stable figures)",
        "",
        *(
            f"ratios, {what + ':':<8} " + ", ".join(f"{k} {v or 0:.2f}x" for k, v in by.items())
            for what, by in report["ratios"].items()
        ),
        "quiet update, where the time goes:",
        *(f"  {what:<62} {us:>6.2f} µs" for what, us in report["quiet_breakdown_us"].items()),
        f"stage, one duty cycle with nothing to read: {report['stage_idle_cycle_us']:.2f} µs",
        f"target: stage median <= {target['stage_median_us_at_most']:.0f} µs per book update (the stage logic: "
        "record in the md ring -> handler -> intent committed on the intent ring; ring transit between processes "
        f"not included): {target['stage_median_us']:.2f} µs, {'met' if target['met'] else 'missed'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m bench.strategy_bench", description=doc.splitlines()[0])
    parser.add_argument("--updates", type=int, default=UPDATES, help=f"book updates per pass (default {UPDATES})")
    parser.add_argument("--repetitions", type=int, default=REPETITIONS, help=f"default {REPETITIONS}")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = parser.parse_args(argv)
    report = run(args.updates, args.repetitions)
    print(json.dumps(report) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
