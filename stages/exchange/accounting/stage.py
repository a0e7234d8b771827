"""The accounting stage: rings, journal and start-up around the :class:`~.accountant.Accountant`.

Rings: commands in from the gateway (``gw-acct``), out to each symbol's
engine (``cmd-<SYM>``); events in from each engine (``evt-<SYM>``), answers
and user-data events out to the gateway (``acct-gw``). What a command or an
event does is the accountant's business; this stage moves records and keeps
the order of things:

* A duty cycle retries held-back records, settles what the engines sent, then
  (live) reads a batch from the gateway, and has the ledger invariant checked.
* A gateway batch is journaled with one write before any of its commands is
  forwarded or answered, so nothing a client or an engine has seen can be lost.
* Back-pressure, never loss: a record that does not fit its output ring waits
  in a local queue, and while one waits nothing more is read from the inputs
  that feed that output.
* Start (:class:`~.replay.Phase`): the journal is replayed through the engines
  on the first ``do_work`` (commands flagged REPLAY, as fast as the command
  rings take them); their events are settled and never sent to the gateway.
  Only when every replayed command's events are back does it read the gateway
  ring; if the journal was empty it first journals the configured genesis deposits.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from hftpipe.runtime import Agent, StageContext
from hftpipe.schema.exchange import EX_RECORD_SIZE
from hftpipe.schema.exchange_codec import (
    C_COMMAND,
    COMMAND_RTYPE,
    INSTRUMENT,
    RTYPE,
    TS_HOP,
    unpack_command,
    unpack_event,
)
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.ring import Ring
from stages.exchange.accounting.accountant import ENGINE_COMMANDS, Accountant
from stages.exchange.accounting.journal import Journal
from stages.exchange.accounting.replay import REPLAY_CHUNK, JournalCursor, Phase
from stages.exchange.protocol.settings import ExchangeSettings, expect_settings
from stages.exchange.protocol.topology import ACCOUNTING_TO_GATEWAY, GATEWAY_TO_ACCOUNTING, command_ring, event_ring

logger = logging.getLogger("hftpipe.accounting")

_COMMAND_RTYPE: Final = COMMAND_RTYPE


class AccountingStage(Agent):
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        settings: ExchangeSettings
        """The parsed ``[exchange]`` table (the config expander parses it once per process)."""
        batch: int = 256
        """Records read from one input ring per duty cycle."""

        def __post_init__(self) -> None:
            expect_settings(self.settings)
            if self.batch < 1:
                raise ValueError("batch must be >= 1")

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params: AccountingStage.Params = ctx.params
        self.settings = settings = params.settings
        self._batch = params.batch
        self._gw_port = ctx.inputs[GATEWAY_TO_ACCOUNTING]
        self._gw_in = self._gw_port.ring
        self._gw_out = ctx.outputs[ACCOUNTING_TO_GATEWAY]
        self._cmd_out: dict[int, Ring] = {}
        self._evt_in: dict[int, Ring] = {}
        for s in settings.symbols:
            self._cmd_out[s.symbol_id] = ctx.outputs[command_ring(s.symbol)]
            self._evt_in[s.symbol_id] = ctx.inputs[event_ring(s.symbol)].ring
        for ring in (self._gw_in, self._gw_out, *self._cmd_out.values(), *self._evt_in.values()):
            if ring.slot_size < EX_RECORD_SIZE:
                raise ValueError(f"ring {ring.name}: slot_size {ring.slot_size} < {EX_RECORD_SIZE} (EX records)")
        self._gw_hop = self._gw_port.producer_hop
        self._record_gw_hop = self._gw_port.hop_histogram.record

        self._fwd_backlog: dict[int, deque[bytes]] = {sid: deque() for sid in self._cmd_out}
        self._gw_backlog: deque[bytes] = deque()
        self._in_batch = False
        self._batch_answers: list[bytes] = []
        self._batch_forwards: list[tuple[int, bytes]] = []

        self._received = ctx.counter(CounterKind.MESSAGES_IN)
        self._published = ctx.counter(CounterKind.MESSAGES_OUT)
        self._backpressure = ctx.counter(CounterKind.BACKPRESSURE)
        self._error_count = ctx.counter(CounterKind.ERRORS)
        self._journaled = ctx.counters.add("journal_records")
        self._replayed = ctx.counters.add("replayed_commands")
        self._rejected = ctx.counters.add("rejected")
        self._trades = ctx.counters.add("trades_settled")
        self._invariant_failures = ctx.counters.add("invariant_failures")
        self._base = (self._rejected.value, self._trades.value, self._invariant_failures.value)
        """What a previous run of this stage left in the accountant's counters (they survive a restart)."""

        self.accountant = Accountant(settings, self, ctx.hop, self._error)
        self._command = self.accountant.command
        self._handlers: dict[int, Callable[[memoryview, int], None]] = {
            sid: self._event_handler(sid) for sid in self._evt_in
        }
        self.journal = Journal(
            settings.journal_path, fsync=settings.journal_fsync == "always", warn=self.ctx.errors.record
        )
        self._replay = JournalCursor(self.journal)
        self.phase = Phase.START
        self._fatal = ""
        """Set when the journal cannot be written: the stage fails, the pipeline restarts from the journal."""

    # ================================================================== lifecycle
    def on_start(self) -> None:
        """Open and check the journal before READY: a bad journal fails the start with its reason."""
        self.journal.open()
        self._replay.total = self.journal.count
        self.accountant.next_seq = self.journal.count + 1

    def on_close(self) -> None:
        self.journal.close()

    @property
    def live(self) -> bool:
        """Replay is done and gateway commands are accepted."""
        return self.phase is Phase.LIVE

    def do_work(self) -> int:
        if self._fatal:
            raise RuntimeError(self._fatal)
        work = self._flush()
        work += self._drain_events()
        if self.phase is Phase.LIVE:
            if not self.ctx.halted and not self._gw_backlog and not any(self._fwd_backlog.values()):
                work += self._poll_gateway()
        elif not self.ctx.halted:
            work += self._advance_replay()
        accountant = self.accountant
        failures = accountant.invariant.failures
        accountant.check_invariant()
        if work or accountant.invariant.failures != failures:
            self._publish_counts()
        return work

    def _publish_counts(self) -> None:
        accountant = self.accountant
        rejected, trades, failures = self._base
        self._rejected.set(rejected + accountant.answers.rejected)
        self._trades.set(trades + accountant.settlement.trades)
        self._invariant_failures.set(failures + accountant.invariant.failures)

    def _error(self, message: str) -> None:
        self._error_count.add()
        self.ctx.errors.record(message)

    # ===================================================================== output
    def to_gateway(self, raw: bytes) -> None:
        """To the gateway: held back until the journal write while a gateway batch is open."""
        if self._in_batch:
            self._batch_answers.append(raw)
        elif not self._gw_backlog and self._gw_out.offer(raw):
            self._published.add()
        else:
            self._gw_backlog.append(raw)
            self._backpressure.add()

    def to_engine(self, symbol_id: int, raw: bytes) -> None:
        """To the symbol's engine: held back until the journal write while a gateway batch is open."""
        if self._in_batch:
            self._batch_forwards.append((symbol_id, raw))
        else:
            self._forward(symbol_id, raw)

    def _forward(self, sid: int, raw: bytes) -> None:
        queue = self._fwd_backlog[sid]
        if not queue and self._cmd_out[sid].offer(raw):
            self._published.add()
        else:
            queue.append(raw)
            self._backpressure.add()

    def _flush(self) -> int:
        """Retry records that did not fit their ring earlier, in order."""
        moved = 0
        backlog = self._gw_backlog
        while backlog and self._gw_out.offer(backlog[0]):
            backlog.popleft()
            moved += 1
        for sid, queue in self._fwd_backlog.items():
            ring = self._cmd_out[sid]
            while queue and ring.offer(queue[0]):
                queue.popleft()
                moved += 1
        if moved:
            self._published.add(moved)
        return moved

    # ===================================================================== replay
    def _advance_replay(self) -> int:
        if self.phase is Phase.START:
            self.phase = Phase.REPLAY
            if self._replay.total:
                logger.info("replaying %d journaled commands from %s", self._replay.total, self.journal.path)
        cursor = self._replay
        replay = self.accountant.replay
        fed = 0
        while not cursor.done and fed < REPLAY_CHUNK:
            fields = cursor.peek()
            sid = fields[INSTRUMENT]
            if fields[C_COMMAND] in ENGINE_COMMANDS and self._fwd_backlog.get(sid):
                break  # that engine's ring is full: wait for it (later commands must not overtake)
            replay(fields)
            cursor.advance()
            fed += 1
        if fed:
            self._replayed.add(fed)
        if cursor.done and self.accountant.idle:
            cursor.release()
            if cursor.total:
                logger.info("journal replayed: %d commands", cursor.total)
            else:
                self._begin_batch()
                self.accountant.genesis()
                self._end_batch()
            self.phase = Phase.LIVE
        return fed

    # ==================================================================== gateway
    def _poll_gateway(self) -> int:
        self._begin_batch()
        try:
            count = self._gw_in.poll(self._on_command, self._batch)
        finally:
            self._end_batch()
        if count:
            self._received.add(count)
        return count

    def _begin_batch(self) -> None:
        self._in_batch = True

    def _end_batch(self) -> None:
        """Journal the batch (one write), then forward its commands, then send its answers."""
        self._in_batch = False
        accountant = self.accountant
        journal = accountant.journal_batch
        if journal:
            try:
                self.journal.append(journal)
            except OSError as exc:
                # The batch is applied here but not durable and not forwarded: this state must not go
                # on. Failing the stage restarts the pipeline, which rebuilds it from the journal.
                self._fatal = f"journal write to {self.journal.path} failed: {exc}; stage stops"
                logger.error("%s", self._fatal)
                raise
            self._journaled.add(len(journal) // EX_RECORD_SIZE)
            accountant.journal_batch = bytearray()
        forwards, self._batch_forwards = self._batch_forwards, []
        for sid, raw in forwards:
            self._forward(sid, raw)
        answers, self._batch_answers = self._batch_answers, []
        for raw in answers:
            self.to_gateway(raw)

    def _on_command(self, buf: memoryview, offset: int) -> None:
        fields = list(unpack_command(buf, offset))
        stamp = fields[TS_HOP + self._gw_hop]
        if stamp > 0:
            self._record_gw_hop(max(time.monotonic_ns() - stamp, 0))
        if fields[RTYPE] != _COMMAND_RTYPE:
            self._error(f"gw-acct: record type {fields[RTYPE]} is not EX_COMMAND; dropped")
            return
        self._command(fields)

    # ===================================================================== events
    def _drain_events(self) -> int:
        total = 0
        mid_command = self.accountant.mid_command
        for sid, ring in self._evt_in.items():
            if self._gw_backlog:
                self._backpressure.add()
                break  # the gateway is behind: settle no more until it catches up
            handler = self._handlers[sid]
            count = ring.poll(handler, self._batch)
            # Finish a command cut by the batch limit, so the invariant sees whole commands.
            while sid in mid_command and ring.poll(handler, 1):
                count += 1
            total += count
        if total:
            self._received.add(total)
            invariant = self.accountant.invariant
            invariant.dirty = invariant.full_dirty = True
        return total

    def _event_handler(self, sid: int) -> Callable[[memoryview, int], None]:
        event = self.accountant.event

        def handle(buf: memoryview, offset: int) -> None:
            event(sid, list(unpack_event(buf, offset)))

        return handle
