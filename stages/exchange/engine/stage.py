"""The matching-engine stage of one symbol: cmd-<SYMBOL> in, evt-<SYMBOL> and md-<SYMBOL> out.

Each duty cycle first publishes events still pending from a full event ring
(and takes no command until they are all out), retries a pending market-data
snapshot, then runs up to ``BATCH`` EX_COMMAND records in ring order. A
command is consumed from the command ring only once it has run; if its events
did not all fit, the cycle stops right after it, so accounting's own ring
fills up and back-pressure travels upstream; nothing is lost.

The stage is a pure function of its command stream: the engine's clock is the
command's ``ts_venue`` (``now_ns``), events and market data copy the command's
header (instrument, seq, ts_venue, ts_origin, ts_hop) and REPLAY flag, and no
clock or randomness touches the output. Replaying the journal therefore
rebuilds the same books, ids and records. What each command yields is
described in :mod:`stages.exchange.engine.processor` and
:mod:`stages.exchange.engine.market_data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from hftpipe.runtime import Agent, StageContext
from hftpipe.schema.exchange import EX_RECORD_SIZE
from hftpipe.schema.exchange_codec import (
    COMMAND_RTYPE,
    END,
    EVENT_RTYPE,
    FLAGS,
    HEADER,
    REPLAY,
    RTYPE,
    pack_event_into,
    unpack_command,
)
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.ring import Ring
from stages.exchange.core.filters import SymbolFilters
from stages.exchange.core.matching import MatchingEngine
from stages.exchange.engine.event_writer import EventWriter
from stages.exchange.engine.market_data import MarketDataWriter
from stages.exchange.engine.processor import CommandProcessor
from stages.exchange.protocol.settings import ExchangeSettings, SymbolSettings, expect_settings
from stages.exchange.protocol.topology import command_ring, event_ring, market_ring

BATCH: Final = 256
"""Commands per duty cycle at most (then counters are updated and the runner gets control back)."""


def symbol_settings(params: EngineStage.Params) -> SymbolSettings:
    """The settings of the stage's symbol; ``ValueError`` if ``[[exchange.symbols]]`` has no such symbol."""
    settings = params.settings
    symbol = settings.symbol(params.symbol)
    if symbol is None:
        known = ", ".join(s.symbol for s in settings.symbols)
        raise ValueError(f"symbol {params.symbol!r} is not in [[exchange.symbols]] ({known})")
    return symbol


def build_engine(symbol: SymbolSettings, history: int | None = 0) -> MatchingEngine:
    """The symbol's MatchingEngine with its Binance filters at the symbol's scales.

    ``history=0`` (the stage's): the engine forgets finished orders (accounting
    answers order queries), so its memory follows the open orders only; ``None``
    keeps every finished order (tests that query them).
    """
    filters = SymbolFilters(
        qty_scale=symbol.qty_scale,
        tick_size=symbol.tick_size,
        min_price=symbol.min_price,
        max_price=symbol.max_price,
        step_size=symbol.step_size,
        min_qty=symbol.min_qty,
        max_qty=symbol.max_qty,
        min_notional=symbol.min_notional,
        max_notional=symbol.max_notional,
    )
    return MatchingEngine(
        symbol.symbol, filters, price_scale=symbol.price_scale, qty_scale=symbol.qty_scale, history=history
    )


class EngineStage(Agent):
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        settings: ExchangeSettings
        """The parsed ``[exchange]`` table (the config expander parses it once per process)."""
        symbol: str

        def __post_init__(self) -> None:
            expect_settings(self.settings)
            symbol_settings(self)  # an unknown symbol fails at config time

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params: EngineStage.Params = ctx.params
        self.symbol = symbol_settings(params)
        name = self.symbol.symbol
        self._commands = self._input(ctx, command_ring(name))
        self.processor = CommandProcessor(build_engine(self.symbol))
        self.engine = self.processor.engine
        self.events = EventWriter(self._output(ctx, event_ring(name)))
        self.market_data = MarketDataWriter(self._output(ctx, market_ring(name)), self.processor)
        self._slot = self._commands.slot_size
        self._header: tuple[Any, ...] = (self.symbol.symbol_id, 0, 0, 0, 0, 0, 0, 0)
        self._flags = 0
        """Header and flags of the last command: what a snapshot published between commands carries."""
        self._received = ctx.counter(CounterKind.MESSAGES_IN)
        self._sent = ctx.counter(CounterKind.MESSAGES_OUT)
        self._backpressure = ctx.counter(CounterKind.BACKPRESSURE)
        self._drops = ctx.counter(CounterKind.DROPS)
        self._md_records = ctx.counters.add("md_records")
        self._md_snapshots = ctx.counters.add("md_snapshots")
        self._errors = ctx.counter(CounterKind.ERRORS)
        self._logged_too_big = False
        self._base = (self._received.value, self._sent.value, self._drops.value, self._md_records.value,
                      self._md_snapshots.value)  # fmt: skip
        """Counter values a previous run of this stage left (counters survive a restart)."""
        self._received_total = 0
        self._unknown_reasons = 0

    @staticmethod
    def _input(ctx: StageContext, name: str) -> Ring:
        port = ctx.inputs.get(name)
        if port is None:
            raise ValueError(f"stage {ctx.name!r} needs an input ring named {name!r}, has {sorted(ctx.inputs)}")
        if port.ring.slot_size < EX_RECORD_SIZE:
            raise ValueError(f"ring {name}: EX_COMMAND records need slot_size >= {EX_RECORD_SIZE}")
        return port.ring

    @staticmethod
    def _output(ctx: StageContext, name: str) -> Ring:
        ring = ctx.outputs.get(name)
        if ring is None:
            raise ValueError(f"stage {ctx.name!r} needs an output ring named {name!r}, has {sorted(ctx.outputs)}")
        return ring

    def do_work(self) -> int:
        events = self.events
        market_data = self.market_data
        work = 0
        if events.pending:
            work = events.flush()
            if events.pending:
                self._backpressure.add()
                self._publish_counters()
                return work
        if market_data.dirty and market_data.try_snapshot(self._flags, self._header):
            work += 1
        rows = self._commands.peek_batch(BATCH)
        n = len(rows)
        if not n:
            if work:
                self._publish_counters()
            return work
        execute = self.processor.execute
        publish = events.publish
        queue = events.queue
        ring = events.ring
        try_claim = ring.try_claim
        commit = ring.commit
        buf = events.buffer
        processor = self.processor
        slot = self._slot
        consumed = 0
        single = 0  # one-event commands written here, not by events.publish
        view = rows.data
        flat = view.cast("B")
        try:
            for i in range(n):
                consumed = i + 1  # a command that raises is consumed too: it must not run twice
                f = unpack_command(flat, i * slot)
                if f[RTYPE] != COMMAND_RTYPE:
                    self._errors.add()
                    self.ctx.errors.record(f"{self.symbol.symbol}: record type {f[RTYPE]} on the command ring")
                    continue
                flags = f[FLAGS] & REPLAY
                header = f[HEADER]
                if market_data.dirty:  # the book as the last command left it, under that command's header
                    market_data.try_snapshot(self._flags, self._header)
                bodies = execute(f)
                if len(bodies) == 1:  # most commands: events.publish inlined
                    offset = try_claim()
                    if offset >= 0:
                        pack_event_into(buf, offset, EVENT_RTYPE, flags | END, *header, *bodies[0])
                        commit()
                        single += 1
                    else:
                        publish(flags, header, bodies)
                else:
                    publish(flags, header, bodies)
                if processor.touched or processor.trades:
                    market_data.publish(flags, header)
                self._header = header
                self._flags = flags
                if queue:
                    self._backpressure.add()
                    break
        finally:
            events.published += single
            flat.release()
            view.release()
            self._commands.advance(consumed)
            self._received_total += consumed
            self._publish_counters()
        return work + consumed

    def _publish_counters(self) -> None:
        received, sent, drops, md_records, md_snapshots = self._base
        self._received.set(received + self._received_total)
        self._sent.set(sent + self.events.published)
        market_data = self.market_data
        self._drops.set(drops + market_data.drops)
        self._md_records.set(md_records + market_data.published)
        self._md_snapshots.set(md_snapshots + market_data.snapshots)
        if market_data.snapshot_too_big and not self._logged_too_big:
            self._logged_too_big = True
            self._errors.add()
            self.ctx.errors.record(
                f"{self.symbol.symbol}: the book has more levels than md ring slots; market data cannot resync"
            )
        if self.processor.unknown_reasons != self._unknown_reasons:
            self._unknown_reasons = self.processor.unknown_reasons
            self._errors.add()
            self.ctx.errors.record(f"{self.symbol.symbol}: a reject message is missing from REJECT_MESSAGES")
