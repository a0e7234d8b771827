"""Risk stage per intent, every check enabled: the checks alone, each check alone, the stage from ring to ring.

The variants take the same seeded stream of intents, from the same opening
state, and are timed per intent, interleaved, in one run:

``checks``
    :meth:`~stages.trading.risk.checks.PreTradeChecks.check` called directly
    on a real ``PreTradeChecks`` over a real ``Ledger``, the risk stage's own
    limits table (:data:`LIMITS`, every check on): ``check(*args)`` with the
    intent's fields and the clock read before it (untimed).
``per-check``
    Each check method alone (:func:`stages.trading.risk.timing.time_checks`:
    every check as a zero-argument call with the arguments ``check`` would
    pass it, called :data:`CHECK_REPEAT` times back to back, the lambda's
    call included), on a sample of the unflagged NEW intents the checks
    approve, in the state just before each is checked. Beside them,
    ``check()`` itself on copies of the same intent, hot (each copy under an
    epoch of its own, undone by a CANCELED report): what the whole path costs
    against the sum of its checks; the rest is the commit (the open order,
    the rate tokens, the exposure) and the lookups between the checks.
``stage``
    The real :class:`~stages.trading.risk.stage.RiskStage` over real
    shared-memory rings of the production shapes (``configs/strategy-dryrun.toml``:
    a broadcast ``md`` ring of 16,384 x 768 B, SPSC ``intents`` and ``approved``
    rings of 4,096 x 128 B, ``reports`` and ``strategy-reports`` of 4,096 x 192 B), stepped by an
    ``AgentInvoker`` in this one process. Per intent the record is offered to
    the ``intents`` ring (untimed) and one ``invoker.invoke()`` is timed: the
    duty cycle polls its three input rings, reads the intent, runs the checks
    and commits the approved intent on the ``approved`` ring (a refused one:
    its REJECTED report on ``strategy-reports``), counters and hop stamps
    included. Ring transit between processes (the producer's ``offer``, the
    cache-line transfer, the consumer noticing) is **not** included: see
    ``hftpipe bench ring`` for that.
``stage-nolimits`` (the baseline), ``checks-nolimits``
    ``stage`` and ``checks`` with an empty limits table: what is left of the
    checks is the state, the ids, the book, the steps and the self-cross, so
    the stage's own I/O around them shows.
``reject``
    ``stage`` again, the stream untimed; after each stream intent one
    fat-finger NEW (priced 3 % through the far touch, under an epoch of its
    own) is offered and one ``invoke()`` timed: ring in, refused at the band
    check, REJECTED report committed on the strategy's ring.

**Between intents**, untimed: book updates (BBO records through the ``md``
ring for the stage variants, ``on_book`` for the checks) and the venue's
answer to every approved intent (ACK a NEW, REPLACED a REPLACE, CANCELED a
CANCEL's order; through the ``reports`` ring for the stage variants,
``on_report`` for the checks), so open orders stay bounded and every
REPLACE and CANCEL names an open order. An intent the stream means to be
refused (a fat finger, a quantity over the limit) that a variant without
limits approves is answered REJECTED by the venue. No fills in the stream:
the positions are opened before it (a NEW filled at once through the
``Ledger``, ``reports`` ring for the stage).

**Checked every run** (the benchmark is also a test of equivalence): every
intent gets the verdict (approved, or the reject reason) that the untimed
reference run of the same checks gave it when the stream was made, in
``checks`` and in ``stage`` alike (and in the no-limits pair against their
own reference); every approved intent arrives on the ``approved`` ring
byte-identical to what was offered except the hop stamps (bytes 32-63);
every refused one comes back to the strategy as one REJECTED or
CANCEL_REJECTED report with that reason; every fat finger is refused at
the band.

**Input**: :func:`make_stream`, seeded. Three instruments (BTCUSDT, ETHUSDT,
NKNUSDT, Binance's scales), two strategies, each holding positions in them.
Per intent, with p 0.5 first one book update of a random instrument (the
touch moves by 0, ±1 or ±2 steps, both sides together, sizes redrawn).
Then one (strategy, instrument) pair at random sends: a NEW while it has
fewer than 2 open orders, a REPLACE or a CANCEL at 8, else NEW 0.35,
REPLACE 0.45, CANCEL 0.20. Orders are LIMIT or LIMIT_MAKER, a buy 0-5
steps under the bid, a sell over the ask; 5 % of NEWs of a strategy holding
a position are REDUCE_ONLY on the side that reduces it; 1 % of NEWs are fat
fingers and 0.5 % are over ``max_order_qty`` (the stream means both to be
refused). Orders of the account that cross each other (the touch moved
under a resting order) are refused as SELF_CROSS, as they would be live.

**Timing**: ``time.perf_counter_ns`` around each timed call (the pair's own
cost is in every figure, reported as ``clock_ns``). Each repetition runs
every variant over the whole stream from a fresh state (fresh checks, a fresh
pipeline whose rings were first lapped once with filler records so no page
faults land in the figures), in a rotating order; one untimed warm-up pass
per variant comes first. A variant's figures pool every timed intent of
every repetition. The stage's status publication every 250 ms runs inside
some duty cycles, as live. The garbage collector stays on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from bench.clock import clock_ns, us
from hftpipe.runtime import AgentInvoker, StageContext
from hftpipe.runtime.config import PipelineConfig, parse_config
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.schema import SPECS
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BookState
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
    TimeInForce,
)
from hftpipe.substrate.ring import Ring
from stages.trading.risk.checks import Intent, PreTradeChecks
from stages.trading.risk.ledger import Ledger
from stages.trading.risk.limits import RiskSettings
from stages.trading.risk.stage import RiskStage
from stages.trading.risk.timing import time_checks

SEED: Final = 2026
INTENTS: Final = 20_000
MAX_INTENTS: Final = 100_000
"""Every rate bucket holds 100,000 tokens (the most a bucket may): a fresh state never runs out below this."""
REPETITIONS: Final = 5
WARMUP: Final = 2_000
"""Untimed intents per variant before the first repetition."""
CHECK_SAMPLES: Final = 400
"""Approved NEWs per repetition whose checks are timed one by one."""
CHECK_REPEAT: Final = 40
"""Calls per check per sample (time_checks' loop)."""
CHECK_COPIES: Final = 20
"""``check()`` calls per sample on copies of the intent (each spends a rate token: 8,000 a repetition)."""
EPOCH: Final = 1_765_000_000_000
FAT_EPOCH: Final = EPOCH + 1
"""The reject variant's fat fingers: ids of their own (duplicate detection keeps a floor per epoch)."""
COPY_EPOCH: Final = EPOCH + 2
"""The per-check variant's copies: ids of their own."""
STRATEGIES: Final = (1, 2)
TARGET_NS: Final = 5_000
"""The requirement: the stage's median per intent, every check, one intent from ring to ring."""

INSTRUMENTS: Final = [
    {"venue": "binance", "symbol": "BTCUSDT", "price_scale": 2, "qty_scale": 5, "tick": "0.01", "lot": "0.00001"},
    {"venue": "binance", "symbol": "ETHUSDT", "price_scale": 2, "qty_scale": 4, "tick": "0.01", "lot": "0.0001"},
    {"venue": "binance", "symbol": "NKNUSDT", "price_scale": 5, "qty_scale": 0, "tick": "0.00001", "lot": "1"},
]
BTC, ETH, NKN = 1, 2, 3
BTC_ETH_NKN: Final = (BTC, ETH, NKN)
SHIFTS: Final = (-2, -1, -1, 0, 0, 0, 0, 1, 1, 2)
"""How many moves the touch makes in one book update, equally likely."""

_RATES: Final = {"orders_per_second": 100_000, "orders_per_10s": 100_000, "cancels_per_second": 100_000}
LIMITS: Final[dict[str, Any]] = {
    "account": {
        "max_order_notional": "50000",
        "min_notional": "5",
        "price_band_bps": 100,
        "max_data_age_ms": 2000,
        "max_open_orders": 40,
        "max_gross_exposure": "1000000",
        "max_net_exposure": "500000",
        **_RATES,
    },
    "instruments": {
        "BTCUSDT": {"max_order_qty": "1", "max_position": "5"},
        "ETHUSDT": {"max_order_qty": "20", "max_position": "100"},
        "NKNUSDT": {"max_order_qty": "200000", "max_position": "1000000"},
    },
    "strategies": {
        str(sid): {
            "max_open_orders": 20,
            **_RATES,
            "instruments": {
                "BTCUSDT": {"max_position": "2"},
                "ETHUSDT": {"max_position": "30"},
                "NKNUSDT": {"max_position": "500000"},
            },
        }
        for sid in STRATEGIES
    },
}
"""Every limit the risk stage has, each bounding something in this stream (the rates and data age never bind)."""
HELD: Final = {(1, BTC): "0.5", (1, ETH): "-3", (1, NKN): "50000", (2, BTC): "-0.2", (2, ETH): "5", (2, NKN): "-20000"}
"""Positions opened before the stream, base units, by (strategy, instrument)."""


class Market(NamedTuple):
    """How one instrument's book moves and where orders go, in ticks (see the module docstring)."""

    bid: int
    """The opening best bid, price scale."""
    move: int
    """Ticks of one book step."""
    step: int
    """Ticks between the price levels orders are sent at."""
    min_qty: int
    max_qty: int
    """Order sizes, qty scale."""
    book_qty: int
    """The unit of the touch's sizes, qty scale."""


MARKETS: Final = {
    BTC: Market(bid=6_000_000, move=10, step=100, min_qty=100, max_qty=5_000, book_qty=10_000),
    ETH: Market(bid=300_000, move=1, step=10, min_qty=100, max_qty=10_000, book_qty=10_000),
    NKN: Market(bid=10_000, move=1, step=5, min_qty=100, max_qty=20_000, book_qty=5_000),
}
VARIANTS: Final = ("checks", "checks-nolimits", "stage", "stage-nolimits", "reject")
"""Timed per intent."""
PER_CHECK: Final = "per-check"
CHECK_NAMES: Final = (
    "state", "duplicate", "known", "book", "steps", "size", "min_notional", "band", "slippage", "reduce_only",
    "position", "exposure", "open_orders", "order_rate", "self_cross", "cancel_rate",
)  # fmt: skip
NEW_PATH: Final = tuple(n for n in CHECK_NAMES if n not in ("known", "reduce_only", "cancel_rate"))
"""The checks an unflagged NEW runs (a REPLACE adds ``known``, a REDUCE_ONLY order ``reduce_only``)."""

_INTENT: Final = SPECS[RecordType.ORDER_INTENT]
_REPORT: Final = SPECS[RecordType.EXEC_REPORT]
_PACK_INTENT: Final = _INTENT.packer.pack
_PACK_REPORT: Final = _REPORT.packer.pack
_UNPACK_REPORT: Final = _REPORT.packer.unpack_from
_PACK_BBO: Final = SPECS[RecordType.BBO].packer.pack
_SIZE: Final = 128
_SYNCED: Final = int(BookState.SYNCED)
_NEW, _CANCEL, _REPLACE = int(IntentAction.NEW), int(IntentAction.CANCEL), int(IntentAction.REPLACE)
_BUY, _SELL = int(OrderSide.BUY), int(OrderSide.SELL)
_LIMIT, _MAKER = int(OrderType.LIMIT), int(OrderType.LIMIT_MAKER)
_REDUCE_ONLY: Final = int(IntentFlag.REDUCE_ONLY)
_NONE: Final = int(RejectReason.NONE)
_ACTION_NAMES: Final = {_NEW: "new", _REPLACE: "replace", _CANCEL: "cancel"}

Book = tuple[int, int, int, int, int]
"""``(instrument, bid, bid_qty, ask, ask_qty)``, SYNCED."""
Answer = tuple[int, int, int, int, int, int]
"""A venue's report: ``(strategy, instrument, order_seq, exec_type, side, leaves)``."""


# -- the input ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Planned:
    """One intent of the stream and what comes with it."""

    fields: Intent
    """What :meth:`PreTradeChecks.check` takes (without the clock)."""
    record: bytes
    """The ORDER_INTENT record the strategy offers."""
    books: tuple[Book, ...]
    """Book updates just before it (untimed)."""
    book_records: tuple[bytes, ...]
    bad: bool
    """Meant to be refused (fat finger, over max_order_qty): a venue rejects it when nothing else does."""
    fat: Intent
    """The reject variant's fat finger after it."""
    fat_record: bytes


@dataclass
class Stream:
    """The opening (books, positions) and the intents, with the reference verdicts."""

    instruments: list[Instrument]
    opening_books: list[Book]
    opening: list[tuple[Intent, bytes]]
    """NEW orders filled at once: the positions of :data:`HELD`."""
    intents: list[Planned]
    expected: dict[str, list[int]] = field(default_factory=dict)
    """Per limits table ("limits", "nolimits"): each intent's verdict (0: approved, else the RejectReason)."""


def config(name: str, limits: dict[str, Any] | None = None) -> PipelineConfig:
    """md, strat (probe sources driven from here) → risk → exec (a probe source answering through ``reports``)."""
    return parse_config(
        {
            "pipeline": {"name": name},
            "instruments": INSTRUMENTS,
            "stages": {
                "md": {"class": "stages.probe:ProbeSource"},
                "strat": {"class": "stages.probe:ProbeSource"},
                "risk": {
                    "class": "stages.trading.risk.stage:RiskStage",
                    # no stage runs here, so none is watched (a watched stage that is down halts trading)
                    "params": {"execution": "exec", "watch_stages": [], **(LIMITS if limits is None else limits)},
                },
                "exec": {"class": "stages.probe:ProbeSource"},
            },
            "rings": [
                {"name": "md", "kind": "broadcast", "from": "md", "to": ["risk"], "capacity": 16384, "slot_size": 768},
                {"name": "intents", "from": "strat", "to": "risk", "capacity": 4096, "slot_size": _INTENT.itemsize},
                {"name": "approved", "from": "risk", "to": "exec", "capacity": 4096, "slot_size": _INTENT.itemsize},
                {"name": "reports", "from": "exec", "to": "risk", "capacity": 4096, "slot_size": _REPORT.itemsize},
                {
                    "name": "strategy-reports",
                    "from": "risk",
                    "to": "strat",
                    "capacity": 4096,
                    "slot_size": _REPORT.itemsize,
                },
            ],
        },
        source="bench",
        allowed_cpus=set(os.sched_getaffinity(0)),
    )


def settings(limits: dict[str, Any] | None = None) -> tuple[RiskSettings, list[Instrument]]:
    """The risk stage's limits as it parses them (default :data:`LIMITS`; ``{}``: none), and the instruments."""
    cfg = config("parse", limits)
    return cfg.stage("risk").params.limits, list(cfg.instruments)


def intent_record(i: Intent, header_seq: int) -> bytes:
    return _PACK_INTENT(
        RecordType.ORDER_INTENT, 0, i.instrument_id, header_seq, 0, 1_000 + header_seq, 0, 0, 0, 0,
        i.order_seq, i.orig_order_seq, i.price, i.qty, i.stop_price, i.epoch, i.strategy_id, i.action, i.side,
        i.order_type, TimeInForce.GTC, i.flags, header_seq, *NO_TERMS,
    )  # fmt: skip


def bbo_record(book: Book, update_id: int) -> bytes:
    iid, bid, bid_qty, ask, ask_qty = book
    return _PACK_BBO(RecordType.BBO, 0, iid, update_id, 0, 0, 0, 0, 0, 0, bid, bid_qty, ask, ask_qty, update_id,
                     _SYNCED)  # fmt: skip


def report_record(answer: Answer, reason: int = 0) -> bytes:
    sid, iid, seq, kind, side, leaves = answer
    return _PACK_REPORT(RecordType.EXEC_REPORT, 0, iid, 0, 0, 0, 0, 0, 0, 0, seq, 900 + seq, 0, 0, 0, leaves, 0,
                        kind, side, reason, 0, sid, *NO_SLIPPAGE)  # fmt: skip


def fill_record(answer: Answer, price: int, qty: int) -> bytes:
    sid, iid, seq, kind, side, leaves = answer
    return _PACK_REPORT(RecordType.EXEC_REPORT, 0, iid, 0, 0, 0, 0, 0, 0, 0, seq, 900 + seq, price, qty, qty, leaves,
                        0, kind, side, 0, 0, sid, *NO_SLIPPAGE)  # fmt: skip


def answers(p: Planned) -> list[Answer]:
    """What the venue says to an approved intent (a NEW the stream meant to be refused: REJECTED)."""
    i = p.fields
    if i.action == _CANCEL:
        return [(i.strategy_id, i.instrument_id, i.orig_order_seq, int(ExecType.CANCELED), i.side, 0)]
    if p.bad:
        return [(i.strategy_id, i.instrument_id, i.order_seq, int(ExecType.REJECTED), i.side, 0)]
    kind = ExecType.ACK if i.action == _NEW else ExecType.REPLACED
    return [(i.strategy_id, i.instrument_id, i.order_seq, int(kind), i.side, i.qty)]


def make_stream(n: int = INTENTS, seed: int = SEED) -> Stream:
    """The opening and ``n`` intents (module docstring), each with its verdict under both limits tables."""
    if not 1 <= n <= MAX_INTENTS:
        raise ValueError(f"intents must be 1..{MAX_INTENTS}, got {n}")
    rng = random.Random(seed)
    full, instruments = settings()
    by_id = {i.id: i for i in instruments}
    touch: dict[int, list[int]] = {}
    opening_books: list[Book] = []
    for iid, m in MARKETS.items():
        tick = by_id[iid].tick
        touch[iid] = [m.bid, 5 * m.book_qty, m.bid + tick, 5 * m.book_qty]
        opening_books.append((iid, m.bid, 5 * m.book_qty, m.bid + tick, 5 * m.book_qty))
    seqs = dict.fromkeys(STRATEGIES, 0)

    def next_seq(sid: int) -> int:
        seqs[sid] += 1
        return seqs[sid]

    opening: list[tuple[Intent, bytes]] = []
    for (sid, iid), held in HELD.items():
        qty = by_id[iid].qty(held)
        bid, _, ask, _ = touch[iid]
        side, price = (_BUY, ask) if qty > 0 else (_SELL, bid)
        i = Intent(iid, sid, EPOCH, next_seq(sid), 0, _NEW, side, _LIMIT, price, abs(qty), 0, 0)
        opening.append((i, intent_record(i, 0)))
    # the reference run decides which orders are open, so REPLACE and CANCEL always name one
    reference = Checks(full, instruments, clock=_counter())
    reference.open(opening_books, opening)
    open_orders: dict[tuple[int, int], dict[int, tuple[int, int]]] = {
        (sid, iid): {} for sid in STRATEGIES for iid in MARKETS
    }
    position = {key: by_id[key[1]].qty(v) for key, v in HELD.items()}
    pairs = sorted(open_orders)
    intents: list[Planned] = []
    verdicts: list[int] = []
    for k in range(n):
        books: list[Book] = []
        if rng.random() < 0.5:
            iid = rng.choice(BTC_ETH_NKN)
            m, tick = MARKETS[iid], by_id[iid].tick
            shift = rng.choice(SHIFTS) * m.move * tick
            t = touch[iid]
            t[0] += shift
            t[2] += shift
            t[1], t[3] = rng.randint(1, 50) * m.book_qty, rng.randint(1, 50) * m.book_qty
            books.append((iid, t[0], t[1], t[2], t[3]))
        sid, iid = rng.choice(pairs)
        m, inst = MARKETS[iid], by_id[iid]
        tick = inst.tick
        bid, _, ask, _ = touch[iid]
        mine = open_orders[(sid, iid)]
        count = len(mine)
        roll = rng.random()
        if count < 2:
            action = _NEW
        elif count >= 8:
            action = _REPLACE if roll < 0.7 else _CANCEL
        else:
            action = _NEW if roll < 0.35 else _REPLACE if roll < 0.8 else _CANCEL
        seq = next_seq(sid)
        orig, flags, bad = 0, 0, False
        side = rng.choice((_BUY, _SELL))
        qty = rng.randint(m.min_qty, m.max_qty) // inst.lot * inst.lot
        if action != _NEW:
            orig = min(mine) if action == _REPLACE else rng.choice(sorted(mine))  # requote the oldest
            side = mine[orig][0]
            if action == _CANCEL:
                qty = 0
        levels = rng.randint(0, 5) * m.step * tick
        price = bid - levels if side == _BUY else ask + levels
        order_type = rng.choice((_LIMIT, _MAKER))
        holding = position[(sid, iid)]
        if action == _NEW:
            roll = rng.random()
            if roll < 0.01:  # fat finger: 3 % through the far touch
                price = (ask * 103 // 100 // tick + 1) * tick if side == _BUY else bid * 97 // 100 // tick * tick
                order_type, bad = _LIMIT, True
            elif roll < 0.015:  # over max_order_qty
                limit = full.instruments[inst.symbol].max_order_qty or 0
                qty, bad = int(2 * limit * 10**inst.qty_scale), True
            elif roll < 0.065 and holding:  # reduce-only, on the side that reduces
                side = _SELL if holding > 0 else _BUY
                price = bid - levels if side == _BUY else ask + levels
                qty = min(qty, abs(holding) // 4 // inst.lot * inst.lot or inst.lot)
                flags = _REDUCE_ONLY
        if action == _CANCEL:
            price, order_type = 0, _LIMIT
        fields = Intent(iid, sid, EPOCH, seq, orig, action, side, order_type, price, qty, 0, flags)
        fat_side = _BUY if k % 2 == 0 else _SELL
        fat_price = (ask * 103 // 100 // tick + 1) * tick if fat_side == _BUY else bid * 97 // 100 // tick * tick
        fat = Intent(iid, sid, FAT_EPOCH, k + 1, 0, _NEW, fat_side, _LIMIT, fat_price, m.min_qty, 0, 0)
        planned = Planned(
            fields, intent_record(fields, k + 1), tuple(books), tuple(bbo_record(b, k + 1) for b in books), bad,
            fat, intent_record(fat, k + 1),
        )  # fmt: skip
        verdict = reference.decide(planned)
        if bad and verdict == _NONE:
            raise AssertionError(f"intent {k} was meant to be refused and was approved: {fields}")
        if verdict == _NONE:
            if action != _NEW:
                del mine[orig]
            if action != _CANCEL:
                mine[seq] = (side, qty)
        intents.append(planned)
        verdicts.append(verdict)
    stream = Stream(instruments, opening_books, opening, intents)
    stream.expected["limits"] = verdicts
    without = Checks(settings({})[0], instruments, clock=_counter())
    without.open(opening_books, opening)
    stream.expected["nolimits"] = without.run(stream, None)
    return stream


def _counter(step: int = 20_000) -> Callable[[], int]:
    """A clock for the reference runs: ``step`` ns per reading (data age and rates never bind either way)."""
    now = [10**12]

    def clock() -> int:
        now[0] += step
        return now[0]

    return clock


# -- the variants ------------------------------------------------------------------------
class Variant:
    """One way of taking the stream: ``run`` feeds it all, timing one call per intent into ``times``."""

    name = ""

    def open(self, books: list[Book], opening: list[tuple[Intent, bytes]]) -> None:
        """The opening books, then the opening orders filled at once (untimed)."""
        raise NotImplementedError

    def run(self, stream: Stream, times: list[int] | None, start: int = 0, stop: int | None = None) -> list[int]:
        """Intents ``[start, stop)``, each verdict checked by the caller; ``times[k]``: the k-th intent's ns."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class Checks(Variant):
    """``PreTradeChecks.check`` alone, over a real ``Ledger``; the venue's answers through ``on_report``."""

    name = "checks"

    def __init__(self, limits: RiskSettings, instruments: list[Instrument],
                 clock: Callable[[], int] = time.monotonic_ns) -> None:  # fmt: skip
        self.ledger = Ledger(instruments)
        self.checks = PreTradeChecks(limits, instruments, self.ledger)
        self.clock = clock

    def book(self, books: Sequence[Book]) -> None:
        on_book, clock = self.checks.on_book, self.clock
        for iid, bid, bid_qty, ask, ask_qty in books:
            on_book(iid, bid, bid_qty, ask, ask_qty, _SYNCED, clock())

    def answer(self, p: Planned) -> None:
        on_report = self.checks.on_report
        for sid, _, seq, kind, _, leaves in answers(p):
            on_report(sid, EPOCH, seq, kind, leaves)

    def open(self, books: list[Book], opening: list[tuple[Intent, bytes]]) -> None:
        self.book(books)
        for i, _ in opening:
            if self.checks.check(*i, self.clock()) is not RejectReason.NONE:
                raise AssertionError(f"checks: opening order {i} refused")
            self.ledger.apply_fill(i.strategy_id, i.instrument_id, OrderSide(i.side), i.price, i.qty)
            self.checks.on_report(i.strategy_id, EPOCH, i.order_seq, int(ExecType.FILL), 0)

    def decide(self, p: Planned) -> int:
        """One intent untimed (the reference run): its books, the check, the answer; the verdict."""
        self.book(p.books)
        verdict = int(self.checks.check(*p.fields, self.clock()))
        if verdict == _NONE:
            self.answer(p)
        return verdict

    def run(self, stream: Stream, times: list[int] | None, start: int = 0, stop: int | None = None) -> list[int]:
        check, clock, perf = self.checks.check, self.clock, time.perf_counter_ns
        book, answer = self.book, self.answer
        verdicts: list[int] = []
        for k, p in enumerate(stream.intents[start:stop]):
            if p.books:
                book(p.books)
            args = (*p.fields, clock())
            t0 = perf()
            reason = check(*args)
            t1 = perf()
            if times is not None:
                times[k] = t1 - t0
            verdicts.append(int(reason))
            if reason is RejectReason.NONE:
                answer(p)
        return verdicts


def _call_ns(repeat: int) -> float:
    """What :func:`time_checks` measures around a check that does nothing: an empty call and the loop."""

    def call() -> RejectReason:
        return RejectReason.NONE

    start = time.perf_counter_ns()
    for _ in range(repeat):
        call()
    return (time.perf_counter_ns() - start) / repeat


class PerCheck(Checks):
    """``checks``, untimed, with each check timed alone on a sample of the approved NEWs (``time_checks``).

    Per sampled intent, just before it is checked: every check :data:`CHECK_REPEAT` times back to back
    (``time_checks``), then ``check()`` itself on :data:`CHECK_COPIES` copies of the intent under an epoch
    of their own, each timed alone and undone by a CANCELED report (so the state the stream goes on from
    is the same but for ids seen and rate tokens spent): the whole path, hot, beside the sum of its parts.
    """

    name = PER_CHECK

    def __init__(self, limits: RiskSettings, instruments: list[Instrument], expected: list[int],
                 samples: int = CHECK_SAMPLES) -> None:  # fmt: skip
        super().__init__(limits, instruments)
        self.expected = expected
        self.samples = samples
        self.hot: dict[str, list[float]] = {name: [] for name in CHECK_NAMES}
        self.call: list[float] = []
        self.whole: list[float] = []
        self._copy_seq = 0

    def _whole(self, i: Intent, now: int) -> float:
        """Median ns of ``check()`` on copies of ``i`` (each approved, then canceled)."""
        check, on_report, perf = self.checks.check, self.checks.on_report, time.perf_counter_ns
        canceled = int(ExecType.CANCELED)
        sid = i.strategy_id
        samples = []
        for _ in range(CHECK_COPIES):
            self._copy_seq += 1
            args = (*i._replace(epoch=COPY_EPOCH, order_seq=self._copy_seq), now)
            t0 = perf()
            reason = check(*args)
            t1 = perf()
            if reason is not RejectReason.NONE:
                raise AssertionError(f"per-check: a copy of {i} was refused ({reason.name})")
            on_report(sid, COPY_EPOCH, self._copy_seq, canceled, 0)
            samples.append(t1 - t0)
        return float(statistics.median(samples))

    def run(self, stream: Stream, times: list[int] | None, start: int = 0, stop: int | None = None) -> list[int]:
        check, clock = self.checks.check, self.clock
        chosen = [k for k, p in enumerate(stream.intents)
                  if p.fields.action == _NEW and self.expected[k] == _NONE and not p.fields.flags]  # fmt: skip
        every = max(1, len(chosen) // self.samples)
        sampled = set(chosen[::every])
        verdicts: list[int] = []
        for k, p in enumerate(stream.intents[start:stop], start):
            self.book(p.books)
            now = clock()
            if k in sampled:
                for name, ns in time_checks(self.checks, p.fields, now, CHECK_REPEAT).items():
                    self.hot[name].append(ns)
                self.call.append(_call_ns(CHECK_REPEAT))
                self.whole.append(self._whole(p.fields, now))
            reason = check(*p.fields, now)
            verdicts.append(int(reason))
            if reason is RejectReason.NONE:
                self.answer(p)
        return verdicts


class Stage(Variant):
    """The real risk stage over real rings, stepped by hand; timed: one ``invoke()`` per intent."""

    name = "stage"

    def __init__(self, cfg: PipelineConfig) -> None:
        self.owned: OwnedObjects = create_pipeline_objects(cfg)
        self.contexts: dict[str, StageContext] = {}
        self.invoker: AgentInvoker | None = None
        try:
            for name in ("md", "strat", "risk", "exec"):
                self.contexts[name] = open_stage_context(cfg, self.owned.control, name)
            self.stage = RiskStage(self.contexts["risk"])
            self.invoker = AgentInvoker(self.stage)
            self.invoker.start()
        except BaseException:
            self.close()
            raise
        self.invoke = self.invoker.invoke
        self._md = self.contexts["md"].output_port("md").offer
        self._intents = self.contexts["strat"].output_port("intents").offer
        self._reports = self.contexts["exec"].output_port("reports").offer
        approved = self.contexts["exec"].input_port("approved").ring
        to_strategy = self.contexts["strat"].input_port("strategy-reports").ring
        assert isinstance(approved, Ring) and isinstance(to_strategy, Ring)
        self._approved, self._to_strategy = approved, to_strategy
        self._got: list[bytes] = []
        self._slot = _SIZE
        self._warm()

    def _take(self, buf: memoryview, offset: int) -> None:
        self._got.append(bytes(buf[offset : offset + self._slot]))

    def _drain(self, ring: Ring) -> list[bytes]:
        self._got = []
        self._slot = ring.slot_size
        ring.poll(self._take, 1 << 16)
        return self._got

    def _warm(self) -> None:
        """One lap of every ring with records the stage ignores (type 0), as a running pipeline has them.

        A fresh ring's first lap page-faults in each process that maps it; a stage that has been
        running for a while has every page mapped. The stage's two output rings are lapped through
        its own ports (what it publishes with) and drained by their consumers.
        """
        ctx = self.contexts
        for port, size in ((ctx["md"].output_port("md"), 768), (ctx["strat"].output_port("intents"), 128),
                           (ctx["exec"].output_port("reports"), _REPORT.itemsize)):  # fmt: skip
            filler = bytes(size)
            for _ in range(port.ring.capacity // 256):
                for _ in range(256):
                    if not port.offer(filler, 0):
                        raise RuntimeError("stage: a ring filled up while warming")
                while self.invoke():
                    pass
        for name, ring in (("approved", self._approved), ("strategy-reports", self._to_strategy)):
            port = ctx["risk"].output_port(name)
            filler = bytes(port.ring.slot_size)
            for _ in range(port.ring.capacity // 256):
                for _ in range(256):
                    if not port.offer(filler, 0):
                        raise RuntimeError("stage: a ring filled up while warming")
                if len(self._drain(ring)) != 256:
                    raise RuntimeError("stage: the fillers did not come through")

    def book(self, records: Sequence[bytes]) -> None:
        now = time.monotonic_ns()
        for record in records:
            if not self._md(record, now):
                raise RuntimeError("stage: the md ring is full")
        if self.invoke() != len(records):
            raise RuntimeError("stage: book updates not taken in one duty cycle")

    def answer(self, p: Planned) -> None:
        """The venue's reports through the ``reports`` ring, one duty cycle; they reach the strategy."""
        said = answers(p)
        now = time.monotonic_ns()
        for a in said:
            reason = int(RejectReason.VENUE) if a[3] == ExecType.REJECTED else 0
            if not self._reports(report_record(a, reason), now):
                raise RuntimeError("stage: the reports ring is full")
        if self.invoke() != len(said):
            raise RuntimeError("stage: reports not taken in one duty cycle")
        if len(self._drain(self._to_strategy)) != len(said):
            raise RuntimeError("stage: the reports did not reach the strategy")

    def offer(self, record: bytes) -> None:
        if not self._intents(record, time.monotonic_ns()):
            raise RuntimeError("stage: the intents ring is full")

    def verdict(self, i: Intent, record: bytes) -> int:
        """What the stage did with the intent just taken: 0 (it is on the approved ring, unchanged) or the reason."""
        approved, refused = self._drain(self._approved), self._drain(self._to_strategy)
        if approved:
            if len(approved) != 1 or refused:
                raise AssertionError(f"stage: one intent in, {len(approved)} approved and {len(refused)} refused out")
            out = approved[0]
            if out[:32] != record[:32] or out[64:] != record[64:]:
                raise AssertionError(f"stage: approved intent {i} changed on its way")
            return _NONE
        if len(refused) != 1:
            raise AssertionError(f"stage: intent {i} neither approved nor refused once ({len(refused)} reports)")
        f = _UNPACK_REPORT(refused[0], 0)
        cancel = i.action == _CANCEL
        kind = ExecType.CANCEL_REJECTED if cancel else ExecType.REJECTED
        seq = i.orig_order_seq if cancel else i.order_seq
        if (f[10], f[17], f[21]) != (seq, kind, i.strategy_id) or not f[19]:
            raise AssertionError(f"stage: intent {i} refused with report {f}")
        return int(f[19])

    def open(self, books: list[Book], opening: list[tuple[Intent, bytes]]) -> None:
        self.book([bbo_record(b, 0) for b in books])
        for i, record in opening:
            self.offer(record)
            self.invoke()
            if self.verdict(i, record) != _NONE:
                raise AssertionError(f"stage: opening order {i} refused")
            fill = (i.strategy_id, i.instrument_id, i.order_seq, int(ExecType.FILL), i.side, 0)
            if not self._reports(fill_record(fill, i.price, i.qty), time.monotonic_ns()):
                raise RuntimeError("stage: the reports ring is full")
            self.invoke()
            self._drain(self._to_strategy)
        for key, held in HELD.items():
            expected = self.stage.instruments[key[1]].qty(held)
            if self.stage.ledger.strategy_qty(*key) != expected:
                raise AssertionError(f"stage: position {key} is not {held}")

    def run(self, stream: Stream, times: list[int] | None, start: int = 0, stop: int | None = None) -> list[int]:
        invoke, perf, book, offer = self.invoke, time.perf_counter_ns, self.book, self.offer
        verdicts: list[int] = []
        for k, p in enumerate(stream.intents[start:stop]):
            if p.book_records:
                book(p.book_records)
            offer(p.record)
            t0 = perf()
            taken = invoke()
            t1 = perf()
            if times is not None:
                times[k] = t1 - t0
            if taken != 1:
                raise RuntimeError(f"stage: the duty cycle took {taken} records, not the one intent")
            verdict = self.verdict(p.fields, p.record)
            verdicts.append(verdict)
            if verdict == _NONE:
                self.answer(p)
        return verdicts

    def idle_cycle_ns(self, n: int) -> float:
        """Median ns of ``invoke()`` with nothing to read (three input rings polled empty)."""
        invoke, clock = self.invoke, time.perf_counter_ns
        samples = []
        for _ in range(n):
            t0 = clock()
            invoke()
            samples.append(clock() - t0)
        return float(np.median(samples))

    def counters(self) -> dict[str, int]:
        return self.owned.control.read_counters(self.contexts["risk"].index)

    def close(self) -> None:
        if self.invoker is not None:
            self.invoker.close()
            self.invoker = None
        for ctx in self.contexts.values():
            ctx.close()
        self.contexts.clear()
        self.owned.destroy()


class Reject(Stage):
    """``stage`` with the stream untimed; timed: a fat finger after each intent, refused at the band."""

    name = "reject"

    def fat(self, p: Planned) -> None:
        self.offer(p.fat_record)

    def refused_at_band(self, p: Planned) -> None:
        if self._drain(self._approved):
            raise AssertionError(f"reject: fat finger {p.fat} approved")
        reports = self._drain(self._to_strategy)
        if len(reports) != 1:
            raise AssertionError(f"reject: fat finger {p.fat} got {len(reports)} reports")
        f = _UNPACK_REPORT(reports[0], 0)
        if (f[10], f[17], f[19]) != (p.fat.order_seq, ExecType.REJECTED, RejectReason.PRICE_BAND):
            raise AssertionError(f"reject: fat finger {p.fat} answered {f}")

    def run(self, stream: Stream, times: list[int] | None, start: int = 0, stop: int | None = None) -> list[int]:
        invoke, perf, book, offer = self.invoke, time.perf_counter_ns, self.book, self.offer
        verdicts: list[int] = []
        for k, p in enumerate(stream.intents[start:stop]):
            if p.book_records:
                book(p.book_records)
            offer(p.record)
            invoke()
            verdict = self.verdict(p.fields, p.record)
            verdicts.append(verdict)
            if verdict == _NONE:
                self.answer(p)
            offer(p.fat_record)
            t0 = perf()
            taken = invoke()
            t1 = perf()
            if times is not None:
                times[k] = t1 - t0
            if taken != 1:
                raise RuntimeError(f"reject: the duty cycle took {taken} records, not the fat finger")
            self.refused_at_band(p)
        return verdicts


def make_variant(name: str, pipeline: str, stream: Stream) -> Variant:
    """A fresh variant ``name`` (:data:`VARIANTS` or :data:`PER_CHECK`) in the opening state of ``stream``."""
    kind, _, table = name.partition("-")
    limits: dict[str, Any] | None = {} if table == "nolimits" else None
    made: Variant
    if kind == "checks":
        made = Checks(settings(limits)[0], stream.instruments)
    elif name == PER_CHECK:
        made = PerCheck(settings()[0], stream.instruments, stream.expected["limits"])
    elif kind == "stage":
        made = Stage(config(pipeline, limits))
    elif name == "reject":
        made = Reject(config(pipeline))
    else:
        raise ValueError(f"unknown variant {name!r} (variants: {', '.join((*VARIANTS, PER_CHECK))})")
    made.name = name
    try:
        made.open(stream.opening_books, stream.opening)
    except BaseException:
        made.close()
        raise
    return made


@contextmanager
def variant(name: str, pipeline: str, stream: Stream) -> Iterator[Variant]:
    made = make_variant(name, pipeline, stream)
    try:
        yield made
    finally:
        made.close()


def check_counters(v: Stage, stream: Stream) -> None:
    """The stage's own counts after a whole pass: every approval and every refusal, the opening's included."""
    expected = expected_of(v.name, stream)
    approved = expected.count(_NONE) + len(stream.opening)
    refused = len(expected) - expected.count(_NONE) + (len(expected) if isinstance(v, Reject) else 0)
    counters = v.counters()
    got = (counters.get("approved", 0), counters.get("rejected", 0))
    if got != (approved, refused):
        raise AssertionError(f"{v.name}: counted {got[0]} approved and {got[1]} refused, not {approved} and {refused}")


def expected_of(name: str, stream: Stream) -> list[int]:
    return stream.expected["nolimits" if name.endswith("nolimits") else "limits"]


def check_verdicts(name: str, got: list[int], expected: list[int], start: int = 0) -> None:
    """Raise at the first intent whose verdict differs from the reference run's."""
    for k, (a, b) in enumerate(zip(got, expected[start:], strict=False)):
        if a != b:
            raise AssertionError(
                f"{name}: intent {start + k} got {RejectReason(a).name}, the reference run {RejectReason(b).name}"
            )
    if len(got) > len(expected) - start:
        raise AssertionError(f"{name}: more verdicts than intents")


# -- the run -----------------------------------------------------------------------------
def _stats(t: npt.NDArray[np.int64]) -> dict[str, float | None]:
    if not t.size:
        return {"median_us": None, "p99_us": None}
    return {"median_us": us(float(np.median(t))), "p99_us": us(float(np.percentile(t, 99)))}


def run(intents: int = INTENTS, repetitions: int = REPETITIONS, name: str | None = None) -> dict[str, Any]:
    """Every figure of the module docstring, as one JSON-ready dict; raises when a verdict differs."""
    began = time.perf_counter()
    stream = make_stream(intents)
    pipeline = name or f"bench{os.getpid()}"
    n = len(stream.intents)
    timed = (*VARIANTS, PER_CHECK)
    for v_name in timed:  # warm-up: code paths, caches, the first pipeline
        with variant(v_name, pipeline, stream) as v:
            check_verdicts(v_name, v.run(stream, None, 0, min(WARMUP, n)), expected_of(v_name, stream))
    times: dict[str, list[int]] = {v: [] for v in VARIANTS}
    rep_medians: dict[str, list[float]] = {v: [] for v in VARIANTS}
    hot: dict[str, list[float]] = {c: [] for c in CHECK_NAMES}
    call: list[float] = []
    whole: list[float] = []
    idle: list[float] = []
    counters: dict[str, int] = {}
    for rep in range(repetitions):
        shift = rep % len(timed)
        for v_name in timed[shift:] + timed[:shift]:
            pass_times = [0] * n
            with variant(v_name, pipeline, stream) as v:
                got = v.run(stream, pass_times)
                if isinstance(v, Stage):
                    check_counters(v, stream)
                    if v_name == "stage":
                        idle.append(v.idle_cycle_ns(2_000))
                        counters = v.counters()
                if isinstance(v, PerCheck):
                    for c in CHECK_NAMES:
                        hot[c].extend(v.hot[c])
                    call.extend(v.call)
                    whole.extend(v.whole)
            check_verdicts(v_name, got, expected_of(v_name, stream))
            if v_name in times:
                times[v_name].extend(pass_times)
                rep_medians[v_name].append(float(np.median(pass_times)))
    expected = np.asarray(stream.expected["limits"] * repetitions)
    nolimits = np.asarray(stream.expected["nolimits"] * repetitions)
    actions = np.asarray([p.fields.action for p in stream.intents] * repetitions)
    flagged = np.asarray([bool(p.fields.flags) for p in stream.intents] * repetitions)
    reasons, counts = np.unique(np.asarray(stream.expected["limits"]), return_counts=True)
    refused = {RejectReason(r).name.lower(): int(c) for r, c in zip(reasons, counts, strict=True) if r}
    report: dict[str, Any] = {
        "setup": {
            "intents": n,
            "repetitions": repetitions,
            "warmup_intents": min(WARMUP, n),
            "seed": SEED,
            "instruments": INSTRUMENTS,
            "limits": LIMITS,
            "held": {f"{sid}/{INSTRUMENTS[iid - 1]['symbol']}": q for (sid, iid), q in HELD.items()},
            "stage": {
                "md_ring": "broadcast 16384 x 768",
                "intent_approved_report_rings": "spsc 4096 x 128 (intents), 192 (reports)",
                "rings_warmed": True,
                "watch_stages": [],
                "breakers": "off",
            },
            "per_check": {
                "samples_per_repetition": CHECK_SAMPLES,
                "calls_per_check": CHECK_REPEAT,
                "check_copies": CHECK_COPIES,
            },
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "machine": platform.machine(),
            "clock_ns": clock_ns(),
        },
        "stream": {
            "by_action": {
                a: sum(1 for p in stream.intents if p.fields.action == code) for code, a in _ACTION_NAMES.items()
            },
            "reduce_only": sum(1 for p in stream.intents if p.fields.flags),
            "book_updates": sum(len(p.books) for p in stream.intents),
            "approved": stream.expected["limits"].count(_NONE),
            "refused": refused,
            "approved_without_limits": stream.expected["nolimits"].count(_NONE),
        },
        "equivalent": True,
        "variants": {},
    }
    rows: dict[str, dict[str, Any]] = report["variants"]
    for v_name in VARIANTS:
        t = np.asarray(times[v_name], dtype=np.int64)
        verdicts = nolimits if v_name.endswith("nolimits") else expected
        ok = verdicts == _NONE
        new = actions == _NEW
        row: dict[str, Any] = {**_stats(t), "mean_us": us(float(t.mean()))}
        if v_name != "reject":
            row["new_approved"] = _stats(t[new & ok & ~flagged])
            row["replace_approved"] = _stats(t[(actions == _REPLACE) & ok])
            row["cancel_approved"] = _stats(t[(actions == _CANCEL) & ok])
            row["refused"] = _stats(t[~ok])
        row["repetition_medians_us"] = [us(m) for m in rep_medians[v_name]]
        rows[v_name] = row

    def med(v: str, key: str = "new_approved") -> float:
        value = rows[v][key]["median_us"] if key != "all" else rows[v]["median_us"]
        return float("nan") if value is None else float(value)

    if call:
        each = {name: round(statistics.median(hot[name]), 1) for name in CHECK_NAMES}
        checks_sum = sum(each[c] for c in NEW_PATH)
        hot_check = statistics.median(whole)
        report["per_check"] = {
            "lambda_call_ns": round(statistics.median(call), 1),
            "checks_ns": each,
            "new_path": list(NEW_PATH),
            "new_path_sum_ns": round(checks_sum, 1),
            "check_hot_ns": round(hot_check, 1),
            "rest_ns": round(hot_check - checks_sum, 1),
            "check_new_approved_ns": round(1000 * med("checks"), 1),
        }
    report["ratios"] = {
        "stage/checks (approved NEW)": round(med("stage") / med("checks"), 2),
        "stage/checks (all intents)": round(med("stage", "all") / med("checks", "all"), 2),
        "stage/stage-nolimits (approved NEW)": round(med("stage") / med("stage-nolimits"), 2),
        "checks/checks-nolimits (approved NEW)": round(med("checks") / med("checks-nolimits"), 2),
        "reject/stage (approved NEW)": round(med("reject", "all") / med("stage"), 2),
    }
    around, around_bare = med("stage") - med("checks"), med("stage-nolimits") - med("checks-nolimits")
    report["breakdown_us"] = {
        "checks: check() of an approved NEW": med("checks"),
        "stage - checks: the stage around check() (duty cycle, ring in, unpack, ring out)": round(around, 3),
        "stage-nolimits - checks-nolimits: the same, no limits": round(around_bare, 3),
        "checks - checks-nolimits: what the limits add to check()": round(med("checks") - med("checks-nolimits"), 3),
    }
    report["stage_idle_cycle_us"] = us(float(np.median(idle))) if idle else None
    report["stage_counters"] = {k: v for k, v in counters.items() if k.startswith(("approved", "rejected", "rejects."))}
    stage_new = med("stage")
    report["target"] = {
        "stage_median_us_at_most": TARGET_NS / 1000,
        "stage_new_approved_median_us": stage_new,
        "stage_all_median_us": med("stage", "all"),
        "met": stage_new * 1000 <= TARGET_NS,
    }
    report["took_s"] = round(time.perf_counter() - began, 1)
    return report


def format_report(report: dict[str, Any]) -> str:
    s, st = report["setup"], report["stream"]
    rows = report["variants"]
    by = st["by_action"]
    refused = ", ".join(f"{k} {v}" for k, v in st["refused"].items())
    lines = [
        f"risk stage per intent, every check on: {s['intents']:,} intents (seed {s['seed']}) x {s['repetitions']} "
        f"interleaved repetitions; 3 instruments, 2 strategies holding positions; python {s['python']}, "
        f"{s['cores']} cores; took {report['took_s']} s",
        f"stream: {by['new']:,} new ({st['reduce_only']} reduce-only), {by['replace']:,} replace, {by['cancel']:,} "
        f"cancel, {st['book_updates']:,} book updates between them; approved {st['approved']:,}, refused {refused}; "
        f"without limits {st['approved_without_limits']:,} approved",
        "checks and stage gave every intent the reference verdict; approved intents reached the approved ring "
        "unchanged but for the hop stamps",
        f"clock pair: {s['clock_ns']:.0f} ns (in every figure)",
        "",
        f"{'variant':<16} {'approved NEW':>14} {'p99':>9} {'REPLACE':>9} {'CANCEL':>9} {'refused':>9} "
        f"{'all':>9} {'all p99':>9}   repetition medians, all (µs)",
    ]

    def cell(row: dict[str, Any], key: str, part: str = "median_us") -> str:
        value = row.get(key, {}).get(part)
        return f"{value:>6.2f} µs" if value is not None else f"{'-':>9}"

    for v_name, row in rows.items():
        reps = ", ".join(f"{m:.2f}" for m in row["repetition_medians_us"])
        lines.append(
            f"{v_name:<16} {cell(row, 'new_approved'):>14} {cell(row, 'new_approved', 'p99_us')} "
            f"{cell(row, 'replace_approved')} {cell(row, 'cancel_approved')} {cell(row, 'refused')} "
            f"{row['median_us']:>6.2f} µs {row['p99_us']:>6.2f} µs   {reps}"
        )
    lines.append("(reject: the fat finger after each intent, refused at the band through the stage; its figures "
                 "are under 'all')")  # fmt: skip
    pc = report.get("per_check")
    if pc:
        lines += [
            "",
            f"each check alone (time_checks: {s['per_check']['calls_per_check']} calls back to back on an approved "
            "NEW just before check() runs it; median ns over the samples, the lambda's call included: an empty "
            f"one costs {pc['lambda_call_ns']:.0f} ns):",
        ]
        for name, ns in pc["checks_ns"].items():
            note = "" if name in pc["new_path"] else "   (not on an unflagged NEW's path)"
            lines.append(f"  {name:<13} {ns:>6.0f} ns{note}")
        lines += [
            f"  sum of an unflagged NEW's {len(pc['new_path'])} checks: {pc['new_path_sum_ns']:.0f} ns",
            f"  check() of the same intents, hot ({s['per_check']['check_copies']} copies back to back): "
            f"{pc['check_hot_ns']:.0f} ns; the rest, {pc['rest_ns']:.0f} ns, is the commit (open order, rate "
            "tokens, exposure) and the lookups and calls between the checks",
            f"  check() of an approved NEW in the stream (the 'checks' variant): {pc['check_new_approved_ns']:.0f} ns",
        ]
    lines += [
        "",
        *(f"ratio {k}: {v:.2f}x" for k, v in report["ratios"].items()),
        "where an approved NEW's time goes:",
        *(f"  {k:<84} {v:>6.2f} µs" for k, v in report["breakdown_us"].items()),
        f"stage, one duty cycle with nothing to read: {report['stage_idle_cycle_us']:.2f} µs",
    ]
    target = report["target"]
    lines.append(
        f"target: stage median <= {target['stage_median_us_at_most']:.0f} µs per intent, every check, ring to ring "
        "(the stage logic: intent in the intents ring -> checks -> approved intent committed on the approved ring; "
        f"ring transit between processes not included): approved NEW {target['stage_new_approved_median_us']:.2f} µs, "
        f"all intents {target['stage_all_median_us']:.2f} µs, {'met' if target['met'] else 'missed'}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m bench.risk_bench", description=doc.splitlines()[0])
    parser.add_argument("--intents", type=int, default=INTENTS, help=f"intents per pass (default {INTENTS})")
    parser.add_argument("--repetitions", type=int, default=REPETITIONS, help=f"default {REPETITIONS}")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = parser.parse_args(argv)
    report = run(args.intents, args.repetitions)
    print(json.dumps(report) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
