"""The matching-engine stage of one symbol: cmd-<SYMBOL> in, evt-<SYMBOL> and md-<SYMBOL> out.

Each duty cycle first publishes events still pending from a full event ring
(and takes no command until they are all out), retries a pending market-data
snapshot, then runs up to ``BATCH`` EX_COMMAND records in ring order. A
command is taken from the command ring only once it has run
(:meth:`~hftpipe.runtime.InputPort.poll_until`); if its events did not all
fit, the cycle stops right after it, so accounting's own ring fills up and
back-pressure travels upstream; nothing is lost.

The stage is a pure function of its command stream: the engine's clock is the
command's ``ts_venue`` (``now_ns``), events and market data copy the command's
header (instrument, seq, ts_venue, ts_origin, ts_hop) and REPLAY flag, and no
clock or randomness touches what they say. Replaying the journal therefore
rebuilds the same books, ids and records. The one clock in the output is the
latency measurement: the input port records the accounting -> engine hop of
every command, and every record the engine publishes carries, in its own
``ts_hop`` slot, the ``now`` at which its command was taken (a record held for
room keeps it), so the next hop's histogram covers the engine's work. The
stamp goes in with the pack: each command's header is copied once into a
list with ``now`` at the item the output ports name
(:meth:`~hftpipe.runtime.OutputPort.stamp_item`), so each record is one pack
and a plain ring commit, and ``messages_out`` gets one add per command
(:meth:`~hftpipe.runtime.OutputPort.count_sent`) instead of a store per
record. What each command yields is described in
:mod:`stages.exchange.engine.processor` and
:mod:`stages.exchange.engine.market_data`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from hftpipe.runtime import Agent, InputPort, StageContext
from hftpipe.schema.exchange import EX_RECORD_SIZE
from hftpipe.schema.exchange_codec import (
    COMMAND_RTYPE,
    END,
    EVENT_RTYPE,
    FLAGS,
    HEADER,
    INSTRUMENT,
    REPLAY,
    RTYPE,
    TS_HOP,
    pack_event_into,
    unpack_command,
)
from hftpipe.substrate.counters import CounterKind
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
        commands = self._input(ctx, command_ring(name))
        self._take = commands.poll_until
        self.processor = CommandProcessor(build_engine(self.symbol))
        self.engine = self.processor.engine
        self.events = EventWriter(ctx.output_port(event_ring(name)))
        self.market_data = MarketDataWriter(ctx.output_port(market_ring(name)), self.processor)
        events_port, md_port = self.events.port, self.market_data.port
        if events_port.hop != md_port.hop or events_port.sent.slot != md_port.sent.slot:
            raise ValueError("the engine's output ports must share its hop and its messages_out")
        self._stamp = events_port.stamp_item(TS_HOP) - INSTRUMENT
        """Where the engine's stamp goes in a header (``record[HEADER]``)."""
        self._header: list[Any] = [self.symbol.symbol_id, 0, 0, 0, 0, 0, 0, 0]
        self._flags = 0
        """Header (stamped) and flags of the last command: what a snapshot published between
        commands carries (it is that command's output)."""
        self._drops = ctx.counter(CounterKind.DROPS)
        self._md_records = ctx.counters.add("md_records")
        self._md_snapshots = ctx.counters.add("md_snapshots")
        self._errors = ctx.counter(CounterKind.ERRORS)
        self._logged_too_big = False
        self._base = (self._drops.value, self._md_records.value, self._md_snapshots.value)
        """Counter values a previous run of this stage left (counters survive a restart); the ports
        add to ``messages_in``/``messages_out``/``backpressure`` themselves."""
        self._unknown_reasons = 0
        self._run = self._runner()

    @staticmethod
    def _input(ctx: StageContext, name: str) -> InputPort:
        port = ctx.input_port(name)
        if port.ring.slot_size < EX_RECORD_SIZE:
            raise ValueError(f"ring {name}: EX_COMMAND records need slot_size >= {EX_RECORD_SIZE}")
        return port

    def do_work(self) -> int:
        events = self.events
        market_data = self.market_data
        work = 0
        if events.pending:
            work = events.flush()
            if events.pending:
                self._publish_counters()
                return work
        if market_data.dirty and market_data.try_snapshot(self._flags, self._header):
            work += 1
        try:
            taken = self._take(self._run, BATCH)
        except BaseException:
            self._publish_counters()
            raise
        if work or taken:
            self._publish_counters()
        return work + taken

    def _runner(self) -> Callable[[memoryview, int, int], bool]:
        """The command handler, its collaborators bound as closure cells (read per command, the cheapest way)."""
        execute = self.processor.execute
        processor = self.processor
        events = self.events
        queue = events.queue
        market_data = self.market_data
        try_claim = events.port.ring.try_claim
        commit = events.port.ring.commit
        count_sent = events.port.count_sent
        buf_out = events.buffer
        publish = events.publish
        publish_md = market_data.publish
        stamp = self._stamp
        touched = processor.touched  # the processor clears these lists, never replaces them
        trades = processor.trades

        def run(buf: memoryview, offset: int, now: int) -> bool:
            """One command taken at ``now``: run it, publish what it caused; True to stop (events wait)."""
            f = unpack_command(buf, offset)
            if f[RTYPE] != COMMAND_RTYPE:
                self._not_a_command(f[RTYPE])
                return False
            flags = f[FLAGS] & REPLAY
            header = [*f[HEADER]]
            header[stamp] = now
            if market_data.dirty:  # the book as the last command left it, under that command's header
                market_data.try_snapshot(self._flags, self._header)
            bodies = execute(f)
            if len(bodies) == 1 and events.free:  # most commands: events.publish inlined
                events.free -= 1
                out = try_claim()
                pack_event_into(buf_out, out, EVENT_RTYPE, flags | END, *header, *bodies[0])
                commit()
                sent = 1
            else:
                sent = publish(flags, header, bodies, now)
            if touched or trades:
                sent += publish_md(flags, header)
            if sent:
                count_sent(sent)
            self._header = header
            self._flags = flags
            return len(queue) > 0

        return run

    def _not_a_command(self, rtype: int) -> None:
        self._errors.add()
        self.ctx.errors.record(f"{self.symbol.symbol}: record type {rtype} on the command ring")

    def _publish_counters(self) -> None:
        drops, md_records, md_snapshots = self._base
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
