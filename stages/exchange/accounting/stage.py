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
* Latency: the stage reads and publishes through its ports, which record the
  hop of every record it takes (gateway commands, engine events) and stamp
  this stage's ``ts_hop`` slot in every record it publishes with the ``now``
  at which it took the record that caused it (a replayed command: when it was
  read from the journal). A record held back, in a journal batch or a queue,
  keeps that ``now``: it is offered with it when it goes out. The ports count
  ``messages_in``, ``messages_out`` and ``backpressure`` (each refused offer).
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

from hftpipe.runtime import Agent, InputPort, OutputPort, StageContext
from hftpipe.schema.exchange import EX_RECORD_SIZE
from hftpipe.schema.exchange_codec import C_COMMAND, COMMAND_RTYPE, INSTRUMENT, RTYPE, unpack_command, unpack_event
from hftpipe.substrate.counters import CounterKind
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
        self._gw_in = ctx.input_port(GATEWAY_TO_ACCOUNTING)
        self._gw_out = ctx.output_port(ACCOUNTING_TO_GATEWAY)
        self._cmd_out: dict[int, OutputPort] = {}
        self._evt_in: dict[int, InputPort] = {}
        for s in settings.symbols:
            self._cmd_out[s.symbol_id] = ctx.output_port(command_ring(s.symbol))
            self._evt_in[s.symbol_id] = ctx.input_port(event_ring(s.symbol))
        ports: list[InputPort | OutputPort] = [self._gw_in, self._gw_out, *self._cmd_out.values()]
        ports += self._evt_in.values()
        for port in ports:
            ring = port.ring
            if ring.slot_size < EX_RECORD_SIZE:
                raise ValueError(f"ring {ring.name}: slot_size {ring.slot_size} < {EX_RECORD_SIZE} (EX records)")

        self._now = 0
        """When the record being handled was taken in: what the records it causes are stamped with."""
        self._fwd_backlog: dict[int, deque[tuple[bytes, int]]] = {sid: deque() for sid in self._cmd_out}
        self._gw_backlog: deque[tuple[bytes, int]] = deque()
        """Records that did not fit their ring, each with its ``now``, oldest first."""
        self._in_batch = False
        self._batch_answers: list[tuple[bytes, int]] = []
        self._batch_forwards: list[tuple[int, bytes, int]] = []

        self._error_count = ctx.counter(CounterKind.ERRORS)
        self._journaled = ctx.counters.add("journal_records")
        self._replayed = ctx.counters.add("replayed_commands")
        self._rejected = ctx.counters.add("rejected")
        self._trades = ctx.counters.add("trades_settled")
        self._invariant_failures = ctx.counters.add("invariant_failures")
        self._base = (self._rejected.value, self._trades.value, self._invariant_failures.value)
        """What a previous run of this stage left in the accountant's counters (they survive a restart)."""

        self.accountant = Accountant(settings, self, self._error)
        self._command = self.accountant.command
        self._handlers: dict[int, Callable[[memoryview, int, int], None]] = {
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
            self._batch_answers.append((raw, self._now))
        else:
            self._reply(raw, self._now)

    def to_engine(self, symbol_id: int, raw: bytes) -> None:
        """To the symbol's engine: held back until the journal write while a gateway batch is open."""
        if self._in_batch:
            self._batch_forwards.append((symbol_id, raw, self._now))
        else:
            self._forward(symbol_id, raw, self._now)

    def _reply(self, raw: bytes, now: int) -> None:
        backlog = self._gw_backlog
        if backlog or not self._gw_out.offer(raw, now):
            backlog.append((raw, now))

    def _forward(self, sid: int, raw: bytes, now: int) -> None:
        queue = self._fwd_backlog[sid]
        if queue or not self._cmd_out[sid].offer(raw, now):
            queue.append((raw, now))

    def _flush(self) -> int:
        """Retry records that did not fit their ring earlier, in order, each with its own ``now``."""
        moved = self._retry(self._gw_backlog, self._gw_out)
        for sid, queue in self._fwd_backlog.items():
            moved += self._retry(queue, self._cmd_out[sid])
        return moved

    @staticmethod
    def _retry(backlog: deque[tuple[bytes, int]], port: OutputPort) -> int:
        moved = 0
        while backlog:
            raw, now = backlog[0]
            if not port.offer(raw, now):
                break
            backlog.popleft()
            moved += 1
        return moved

    # ===================================================================== replay
    def _advance_replay(self) -> int:
        if self.phase is Phase.START:
            self.phase = Phase.REPLAY
            if self._replay.total:
                logger.info("replaying %d journaled commands from %s", self._replay.total, self.journal.path)
        cursor = self._replay
        replay = self.accountant.replay
        clock = time.monotonic_ns
        fed = 0
        while not cursor.done and fed < REPLAY_CHUNK:
            fields = cursor.peek()
            sid = fields[INSTRUMENT]
            if fields[C_COMMAND] in ENGINE_COMMANDS and self._fwd_backlog.get(sid):
                break  # that engine's ring is full: wait for it (later commands must not overtake)
            self._now = clock()  # the journal is this command's input: it is taken in now
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
                self._now = time.monotonic_ns()
                self._begin_batch()
                self.accountant.genesis()
                self._end_batch()
            self.phase = Phase.LIVE
        return fed

    # ==================================================================== gateway
    def _poll_gateway(self) -> int:
        self._begin_batch()
        try:
            return self._gw_in.poll(self._on_command, self._batch)
        finally:
            self._end_batch()

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
        for sid, raw, now in forwards:
            self._forward(sid, raw, now)
        answers, self._batch_answers = self._batch_answers, []
        for raw, now in answers:
            self._reply(raw, now)

    def _on_command(self, buf: memoryview, offset: int, now: int) -> None:
        self._now = now
        fields = list(unpack_command(buf, offset))
        if fields[RTYPE] != _COMMAND_RTYPE:
            self._error(f"gw-acct: record type {fields[RTYPE]} is not EX_COMMAND; dropped")
            return
        self._command(fields)

    # ===================================================================== events
    def _drain_events(self) -> int:
        total = 0
        mid_command = self.accountant.mid_command
        for sid, port in self._evt_in.items():
            if self._gw_backlog:
                break  # the gateway is behind: settle no more until it catches up
            handler = self._handlers[sid]
            count = port.poll(handler, self._batch)
            # Finish a command cut by the batch limit, so the invariant sees whole commands.
            while sid in mid_command and port.poll(handler, 1):
                count += 1
            total += count
        if total:
            invariant = self.accountant.invariant
            invariant.dirty = invariant.full_dirty = True
        return total

    def _event_handler(self, sid: int) -> Callable[[memoryview, int, int], None]:
        event = self.accountant.event

        def handle(buf: memoryview, offset: int, now: int) -> None:
            self._now = now
            event(sid, list(unpack_event(buf, offset)))

        return handle
