"""Drive one strategy through the real :class:`StrategyRunner` with record bytes, and answer its intents.

:class:`Harness` does what the strategy stage does with each record (copy
DEPTH/BBO into the instrument's :class:`BookView`, hand trades, bars and
reports to the runner, move the records clock), minus the rings: records
are packed with the schema's own packers, so the bytes are the ones a ring
would carry. Every intent the runner emits is kept with the book it was
decided on, and :class:`Harness` can answer it as a venue would (ack,
expire, fill, cancel).

:func:`capture_records` is the shipped Binance capture through the real
``BinanceAdapter`` → ``RingSink`` → book stage over real rings: the DEPTH,
BBO, TRADE and CONTROL records a strategy stage would read.
"""

from __future__ import annotations

import functools
import logging
import secrets
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hftpipe.runtime import AgentInvoker
from hftpipe.runtime.config import build_params, parse_config
from hftpipe.runtime.instruments_config import parse_instruments
from hftpipe.runtime.wiring import create_pipeline_objects, open_stage_context
from hftpipe.schema import SPECS
from hftpipe.schema.instruments import Instrument, InstrumentRegistry
from hftpipe.schema.marketdata import DEPTH_LEVELS, BarKind, BookState, ControlKind
from hftpipe.schema.records import RecordFlag, RecordType
from hftpipe.schema.trading import (
    NO_SLIPPAGE,
    ExecType,
    IntentAction,
    IntentFlag,
    OrderSide,
    OrderType,
    RejectReason,
    TimeInForce,
)
from hftpipe.strategy import BookView, Order, Strategy
from stages.trading.strategy.runner import StrategyCounters, StrategyRunner
from stages.trading.strategy.settings import StrategySettings
from tests.captures import capture
from tests.conftest import REPO, SUITE_TAG

_PACK = {t: SPECS[t].packer.pack for t in RecordType}
_UNPACK = {t: SPECS[t].packer.unpack_from for t in RecordType}


def dryrun_instruments() -> tuple[Instrument, ...]:
    """The four instruments of ``configs/strategy-dryrun.toml`` (the capture's symbols, Binance's tick and lot)."""
    with open(REPO / "configs" / "strategy-dryrun.toml", "rb") as fh:
        return parse_instruments(tomllib.load(fh)["instruments"])


# -- records ---------------------------------------------------------------------------
def depth_record(
    instrument: int,
    bids: Sequence[tuple[int, int]],
    asks: Sequence[tuple[int, int]],
    *,
    ts: int = 0,
    state: BookState = BookState.SYNCED,
    update_id: int = 0,
) -> bytes:
    def column(levels: Sequence[tuple[int, int]], i: int) -> list[int]:
        return [level[i] for level in levels] + [0] * (DEPTH_LEVELS - len(levels))

    return _PACK[RecordType.DEPTH](
        RecordType.DEPTH, 0, instrument, 0, ts, ts, 0, 0, 0, 0, update_id, max(len(bids), len(asks)), state,
        *column(bids, 0), *column(bids, 1), *column(asks, 0), *column(asks, 1),
    )  # fmt: skip


def bar_record(instrument: int, close: int, *, ts: int = 0, volume: int = 0, trades: int = 1) -> bytes:
    return _PACK[RecordType.BAR](
        RecordType.BAR, 0, instrument, 0, ts, ts, 0, 0, 0, 0, close, close, close, close, volume, close, trades,
        BarKind.TICK, trades,
    )  # fmt: skip


def state_record(instrument: int, state: BookState, *, ts: int = 0) -> bytes:
    return _PACK[RecordType.CONTROL](
        RecordType.CONTROL, 0, instrument, 0, ts, ts, 0, 0, 0, 0, ControlKind.BOOK_STATE, state, 0, 0, 0
    )


def report_record(
    instrument: int, strategy: int, seq: int, kind: ExecType, side: OrderSide, *, price: int = 0, qty: int = 0
) -> bytes:
    return _PACK[RecordType.EXEC_REPORT](
        RecordType.EXEC_REPORT, 0, instrument, 0, 0, 0, 0, 0, 0, 0, seq, seq, price, qty, 0, 0, 0, kind, side,
        RejectReason.NONE, 0, strategy, *NO_SLIPPAGE,
    )  # fmt: skip


def rtype_of(record: bytes) -> int:
    return int.from_bytes(record[:2], "little")


def ts_origin(record: bytes) -> int:
    return int.from_bytes(record[24:32], "little", signed=True)


# -- the runner ------------------------------------------------------------------------
@dataclass
class Intent:
    """One intent the runner emitted, with the top of book it was decided on."""

    instrument: int
    action: IntentAction
    side: OrderSide
    order_type: OrderType
    tif: TimeInForce
    flags: IntentFlag
    price: int
    qty: int
    seq: int
    orig: int
    now: int
    best_bid: int
    best_ask: int
    answered: bool = field(default=False)


class _Counter:
    def __init__(self) -> None:
        self.value = 0

    def add(self, delta: int = 1) -> None:
        self.value += delta


class Harness:
    """A strategy in a :class:`StrategyRunner`, fed record bytes as the strategy stage feeds it."""

    STRATEGY_ID = 7

    def __init__(
        self,
        cls: type[Strategy],
        params: dict[str, Any] | None = None,
        instruments: Iterable[Instrument] | None = None,
    ) -> None:
        self.instruments = {i.id: i for i in (instruments or dryrun_instruments())}
        self.books = {i: BookView(inst) for i, inst in self.instruments.items()}
        settings = StrategySettings(
            id=self.STRATEGY_ID,
            name="s",
            class_path=f"{cls.__module__}:{cls.__name__}",
            strategy_class=cls,
            params=build_params(cls, params or {}, "params"),
        )
        self.counters: dict[str, _Counter] = {}
        self.intents: list[Intent] = []
        self.runner = StrategyRunner(
            settings,
            self.instruments,
            self.books,
            self._emit,
            StrategyCounters("s", self._counter),
            1,
            logging.getLogger("tests.strategy"),
        )
        self.strategy = self.runner.strategy
        self.runner.start(0)

    def _counter(self, name: str) -> _Counter:
        return self.counters.setdefault(name, _Counter())

    def count(self, name: str) -> int:
        counter = self.counters.get(f"s.{name}")
        return counter.value if counter else 0

    def _emit(self, cause: Any, taken: int, measured: bool, instrument: int, action: IntentAction, side: OrderSide,
              order_type: OrderType, tif: TimeInForce, flags: IntentFlag, price: int, qty: int, seq: int, orig: int,
              update_id: int, strategy_id: int, epoch: int, now: int, stop_price: int = 0,
              terms: object = None) -> None:  # fmt: skip
        book = self.books[instrument]
        self.intents.append(Intent(instrument, action, side, order_type, tif, flags, price, qty, seq, orig, now,
                                   book.bid_price, book.ask_price))  # fmt: skip

    # -- records in, as StrategyStage._on_record does (conflate = false) ---------------
    def feed(self, record: bytes) -> None:
        rtype, now = rtype_of(record), ts_origin(record)
        instrument = int.from_bytes(record[4:8], "little")
        runner = self.runner
        view = self.books.get(instrument)
        if rtype == RecordType.DEPTH and view is not None:
            view.take_depth(record, 0, now)
            runner.on_book(view)
        elif rtype == RecordType.BBO and view is not None:
            if not view.has_depth and not int.from_bytes(record[2:4], "little") & RecordFlag.VENUE:
                view.take_bbo(record, 0, now)
                runner.on_book(view)
        elif rtype == RecordType.TRADE and view is not None:
            runner.on_trade(_UNPACK[RecordType.TRADE](record), record[:64], now)
        elif rtype == RecordType.BAR and view is not None:
            runner.on_bar(_UNPACK[RecordType.BAR](record), record[:64], now)
        elif rtype == RecordType.EXEC_REPORT:
            runner.on_report(_UNPACK[RecordType.EXEC_REPORT](record), record[:64], now)
        elif rtype == RecordType.CONTROL and view is not None:
            fields = _UNPACK[RecordType.CONTROL](record)
            if fields[10] == ControlKind.BOOK_STATE and view.take_state(BookState(fields[11])):
                runner.on_book(view)
        runner.advance(now)

    # -- a venue's answers -------------------------------------------------------------
    def report(self, order: Order, kind: ExecType, *, price: int = 0, qty: int = 0) -> None:
        self.feed(report_record(order.instrument.id, self.STRATEGY_ID, order.seq, kind, order.side, price=price,
                                qty=qty))  # fmt: skip

    def fill(self, order: Order, qty: int | None = None, price: int | None = None) -> None:
        """Fill ``qty`` (default: all that is left) of ``order`` at ``price`` (default: its limit)."""
        qty = order.leaves_qty if qty is None else qty
        kind = ExecType.FILL if qty >= order.leaves_qty else ExecType.PARTIAL_FILL
        self.report(order, kind, price=order.price if price is None else price, qty=qty)

    def answer_all(self) -> None:
        """What a venue with nobody to trade with says to every intent not yet answered (like ``DryRunVenue``)."""
        for intent in self.intents:
            if intent.answered:
                continue
            intent.answered = True
            strategy, iid = self.STRATEGY_ID, intent.instrument
            if intent.action is IntentAction.NEW:
                resting = intent.order_type is not OrderType.MARKET and intent.tif is TimeInForce.GTC
                kind = ExecType.ACK if resting else ExecType.EXPIRED
                self.feed(report_record(iid, strategy, intent.seq, kind, intent.side, qty=intent.qty))
            elif intent.action is IntentAction.CANCEL:
                self.feed(report_record(iid, strategy, intent.orig, ExecType.CANCELED, intent.side))
            elif intent.action is IntentAction.REPLACE:
                self.feed(report_record(iid, strategy, intent.seq, ExecType.REPLACED, intent.side, qty=intent.qty))
            else:
                for order in sorted(self.runner.open_orders(iid), key=lambda o: o.seq):
                    self.feed(report_record(iid, strategy, order.seq, ExecType.CANCELED, order.side))

    def unanswered(self) -> list[Intent]:
        return [i for i in self.intents if not i.answered]


# -- the capture through the real feed sink and book stage -------------------------------
@functools.cache
def capture_records(depth: int = 10) -> tuple[bytes, ...]:
    """Every record the book stage publishes from the spot capture (DEPTH, BBO, TRADE, CONTROL), in order."""
    from stages.marketdata.book.stage import BookStage
    from stages.marketdata.capture.format import EventKind
    from stages.marketdata.capture.replay import snapshot_symbol
    from stages.marketdata.feed.ring_sink import RingSink
    from stages.marketdata.venues.binance.adapter import BinanceAdapter

    config = parse_config(
        {
            "pipeline": {"name": f"{SUITE_TAG}-{secrets.token_hex(4)}"},
            "stages": {
                "feed": {"class": "stages.probe:ProbeSource"},  # its producer end is driven from here
                "book": {"class": "stages.marketdata.book.stage:BookStage", "params": {"depth": depth}},
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
    owned = create_pipeline_objects(config)
    contexts = [open_stage_context(config, owned.control, name) for name in ("feed", "book", "out")]
    invoker = AgentInvoker(BookStage(contexts[1]))
    records: list[bytes] = []
    try:
        sink = RingSink(contexts[0].output_port())
        out = contexts[2].the_input().ring
        buffer = np.zeros(512, dtype=np.dtype((np.void, 768)))
        adapter = BinanceAdapter(sink, InstrumentRegistry(dryrun_instruments()))
        ws, http = capture("BINANCE.ws.1.0"), capture("BINANCE.http.0.0")
        snapshots = {snapshot_symbol(e.url): e for e in http}
        invoker.start()
        for event in sorted([*ws, *http], key=lambda e: e.time):
            if event.kind is EventKind.RECEIVED:
                adapter.on_message(event.payload, event.time_ns)
            elif event.kind is EventKind.HTTP:
                symbol = snapshot_symbol(event.url)
                assert symbol is not None
                adapter.take_snapshot_requests()
                adapter.on_snapshot(symbol, snapshots[symbol].payload, event.time_ns)
            while True:
                work = invoker.invoke()
                while n := out.poll_into(buffer):
                    records.extend(bytes(r) for r in buffer[:n])
                if not work:
                    break
    finally:
        invoker.close()
        for ctx in contexts:
            ctx.close()
        owned.destroy()
    return tuple(records)


def of_type(records: Iterable[bytes], rtype: RecordType, instrument: int | None = None) -> list[bytes]:
    return [
        r
        for r in records
        if rtype_of(r) == rtype and (instrument is None or int.from_bytes(r[4:8], "little") == instrument)
    ]
