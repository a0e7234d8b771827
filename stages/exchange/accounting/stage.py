"""The accounting stage: the exchange's sequencer, journal, ledger and order table.

Rings: commands in from the gateway (``gw-acct``), out to each symbol's
engine (``cmd-<SYM>``); events in from each engine (``evt-<SYM>``), answers
and user-data events out to the gateway (``acct-gw``).

What it does with a gateway command:

* state-changing (NEW_ORDER, CANCEL, CANCEL_REPLACE, CANCEL_ALL, DEPOSIT,
  WITHDRAW): checks it (halted trading, duplicate client id, balance), places
  the hold, gives it the next journal ``seq``, the exchange clock (``ts_venue``)
  and, for a new order, ``tag = seq`` (the engine's client id) and ``cap``;
  appends the batch to the journal, and only then forwards it. DEPOSIT and
  WITHDRAW have no engine: they are settled and answered at once.
* queries (ORDER_STATUS, OPEN_ORDERS, ACCOUNT_STATUS, BALANCES): answered here.
* DEPTH: forwarded with seq 0 and not journaled.

Cancel targets: a CANCEL by ``orig_client_order_id`` gets ``tag`` = the
target's seq (its engine-side client id, known even before its NEW came
back). A CANCEL_REPLACE targets ``order_id`` (its ``tag`` is the new order's
seq), or, when the target is not acknowledged yet, ``order_id`` 0 and ``tag``
= the target's seq; a client id that names no live order becomes
``order_id`` = :data:`NO_ORDER`, so the engine answers the cancel half -2011.

What it does with the engine's events of one command (they come back in
command order, the last one flagged END_OF_UPDATE): settles them (fills move
balances and pay commissions; a finished order returns what is left of its
hold), forwards them to the gateway with commissions and client ids filled in
(END cleared), then one BALANCE per changed (account, asset) and a DONE with
END_OF_UPDATE. Every gateway request therefore gets exactly one record with
END_OF_UPDATE, the last of its answer (for DEPTH, the engine's own DONE).

Start: the journal is replayed through the engines on the first ``do_work``
(commands flagged REPLAY, as fast as the command rings take them); their
events are settled and never sent to the gateway. Only when every replayed
command's events are back does it read the gateway ring; if the journal was
empty it first journals the configured genesis deposits.

Back-pressure, never loss: a record that does not fit its output ring waits in
a local queue, and while one waits nothing more is read from the inputs that
feed that output.

The ledger invariant (deposits - withdrawals == sum of balances per asset,
sum of locked == sum of open holds) is checked from running totals after
every batch and recomputed from scratch at most every 100 ms (and for every
BALANCES query). A failure halts trading (new orders and cancelReplace are
rejected, cancels go on), is logged once with the numbers and counted.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from hftpipe.runtime import Agent, StageContext
from hftpipe.schema import exchange_codec as w
from hftpipe.schema.exchange import (
    ALL_ACCOUNTS,
    ASSET_SCALE,
    EX_RECORD_SIZE,
    Command,
    Event,
    OrderStatus,
    ReplaceMode,
)
from hftpipe.schema.exchange_errors import (
    BAD_QUANTITY,
    DUPLICATE_ORDER,
    INSUFFICIENT_BALANCE,
    INVALID_SYMBOL,
    ORDER_DOES_NOT_EXIST,
    TRADING_HALTED,
    UNKNOWN_ORDER,
    ErrorCode,
    RejectReason,
    reject_reason,
)
from hftpipe.schema.records import RecordType
from hftpipe.schema.trading import OrderSide, OrderType
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.ring import Ring
from stages.exchange.accounting.holds import entry_hold, record_hold
from stages.exchange.accounting.journal import Journal
from stages.exchange.accounting.ledger import Ledger
from stages.exchange.accounting.orders import Order, OrderTable
from stages.exchange.protocol.settings import ExchangeSettings, SymbolSettings, expect_settings
from stages.exchange.protocol.topology import ACCOUNTING_TO_GATEWAY, GATEWAY_TO_ACCOUNTING, command_ring, event_ring

logger = logging.getLogger("hftpipe.accounting")

FULL_CHECK_INTERVAL_NS: Final = 100_000_000
"""The invariant is recomputed from every balance at most this often (when anything changed;
less often when one recomputation takes more than 5 ms)."""
REPLAY_CHUNK: Final = 1024
"""Journal records read at once during replay."""

UNKNOWN_COMMAND: Final = RejectReason(ErrorCode.ILLEGAL_CHARS, "")
"""A command accounting does not know: its code alone (the gateway shows the code's generic text)."""
INT64_MAX: Final = (1 << 63) - 1
NO_ORDER: Final = INT64_MAX
"""The cancel target of a cancelReplace whose origClientOrderId names no live order: no
engine order has this id, so the engine answers the cancel half with -2011."""

_NEW_ORDER: Final = int(Command.NEW_ORDER)
_CANCEL: Final = int(Command.CANCEL)
_CANCEL_REPLACE: Final = int(Command.CANCEL_REPLACE)
_CANCEL_ALL: Final = int(Command.CANCEL_ALL)
_ORDER_STATUS: Final = int(Command.ORDER_STATUS)
_OPEN_ORDERS: Final = int(Command.OPEN_ORDERS)
_ACCOUNT_STATUS: Final = int(Command.ACCOUNT_STATUS)
_DEPTH: Final = int(Command.DEPTH)
_DEPOSIT: Final = int(Command.DEPOSIT)
_WITHDRAW: Final = int(Command.WITHDRAW)
_BALANCES: Final = int(Command.BALANCES)
_SYMBOL_COMMANDS: Final = frozenset((_NEW_ORDER, _CANCEL, _CANCEL_REPLACE, _CANCEL_ALL))
_ORDER_COMMANDS: Final = frozenset((_NEW_ORDER, _CANCEL_REPLACE))

_E_NEW: Final = int(Event.NEW)
_E_TRADE: Final = int(Event.TRADE)
_E_CANCELED: Final = int(Event.CANCELED)
_E_EXPIRED: Final = int(Event.EXPIRED)
_FILLED: Final = int(OrderStatus.FILLED)
_CANCELED: Final = int(OrderStatus.CANCELED)
_REJECTED: Final = int(OrderStatus.REJECTED)
_EXPIRED: Final = int(OrderStatus.EXPIRED)
_BUY: Final = int(OrderSide.BUY)
_MARKET: Final = int(OrderType.MARKET)
_RATE_UNIT: Final = 10**ASSET_SCALE
_EX_COMMAND: Final = int(RecordType.EX_COMMAND)


class InFlight:
    """A command forwarded to an engine whose events are not all back yet (or a settled deposit)."""

    __slots__ = (
        "account",
        "cancel_id",
        "changed",
        "command",
        "order",
        "request_id",
        "seq",
        "silent",
        "symbol",
        "ts_origin",
        "ts_venue",
    )

    def __init__(self, fields: list[Any], silent: bool) -> None:
        self.seq: int = fields[w.SEQ]
        self.symbol: int = fields[w.INSTRUMENT]
        self.request_id: int = fields[w.C_REQUEST_ID]
        self.account: int = fields[w.C_ACCOUNT]
        self.command: int = fields[w.C_COMMAND]
        self.ts_venue: int = fields[w.TS_VENUE]
        self.ts_origin: int = fields[w.TS_ORIGIN]
        self.silent = silent
        """Replayed or internal (genesis): nobody waits for an answer."""
        cancel = fields[w.C_CANCEL_CLIENT_ORDER_ID] if self.command == _CANCEL_REPLACE else fields[w.C_CLIENT_ORDER_ID]
        self.cancel_id: bytes = w.text_id(cancel)
        """The cancel's own client id (CANCELED events carry it as clientOrderId)."""
        self.order: Order | None = None
        """The order this command places (NEW_ORDER, CANCEL_REPLACE)."""
        self.changed: set[tuple[int, int]] = set()
        """(account, asset) whose balance this command changed: one BALANCE each at the end."""


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
        self._symbols: dict[int, SymbolSettings] = {s.symbol_id: s for s in settings.symbols}
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
        self._hop = ctx.hop
        self._gw_hop = self._gw_port.producer_hop
        self._record_gw_hop = self._gw_port.hop_histogram.record
        self._handlers: dict[int, Callable[[memoryview, int], None]] = {
            sid: self._event_handler(sid) for sid in self._symbols
        }

        self.ledger = Ledger(len(settings.assets))
        self.orders = OrderTable(len(settings.assets), settings.order_history)
        self.journal = Journal(
            settings.journal_path, fsync=settings.journal_fsync == "always", warn=self.ctx.errors.record
        )
        self._maker_rate = settings.maker_commission
        self._taker_rate = settings.taker_commission

        self._inflight: dict[int, deque[InFlight]] = {sid: deque() for sid in self._symbols}
        self._mid_command: set[int] = set()
        """Symbols whose current command has some but not all of its events settled."""
        self._fwd_backlog: dict[int, deque[bytes]] = {sid: deque() for sid in self._symbols}
        self._gw_backlog: deque[bytes] = deque()
        self._in_batch = False
        self._batch_journal = bytearray()
        self._batch_answers: list[bytes] = []
        self._batch_forwards: list[tuple[int, bytes]] = []

        self.phase = "start"
        """``start`` -> ``replay`` (first do_work) -> ``live`` (gateway commands accepted)."""
        self._replay_total = 0
        self._replay_pos = 0
        self._replay_chunk = b""
        self._replay_chunk_start = 0
        self._next_seq = 1

        self._clock = 0
        """The last ts_venue given: the exchange clock never goes back, even if the wall clock does."""
        self._fatal = ""
        """Set when the journal cannot be written: the stage fails, the pipeline restarts from the journal."""

        self.invariant_ok = True
        self._dirty = False
        self._full_dirty = False
        self._next_full_check = 0

        self._received = ctx.counter(CounterKind.MESSAGES_IN)
        self._published = ctx.counter(CounterKind.MESSAGES_OUT)
        self._backpressure = ctx.counter(CounterKind.BACKPRESSURE)
        self._error_count = ctx.counter(CounterKind.ERRORS)
        self._journaled = ctx.counters.add("journal_records")
        self._replayed = ctx.counters.add("replayed_commands")
        self._rejected = ctx.counters.add("rejected")
        self._trades = ctx.counters.add("trades_settled")
        self._invariant_failures = ctx.counters.add("invariant_failures")

    # ================================================================== lifecycle
    def on_start(self) -> None:
        """Open and check the journal before READY: a bad journal fails the start with its reason."""
        self.journal.open()
        self._replay_total = self.journal.count
        self._next_seq = self.journal.count + 1

    def on_close(self) -> None:
        self.journal.close()

    @property
    def live(self) -> bool:
        """Replay is done and gateway commands are accepted."""
        return self.phase == "live"

    def do_work(self) -> int:
        if self._fatal:
            raise RuntimeError(self._fatal)
        work = self._flush()
        work += self._drain_events()
        if self.phase == "live":
            if not self.ctx.halted and not self._gw_backlog and not any(self._fwd_backlog.values()):
                work += self._poll_gateway()
        elif not self.ctx.halted:
            work += self._advance_replay()
        self._check_invariant()
        return work

    # ===================================================================== output
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

    def _send(self, raw: bytes) -> None:
        """To the gateway: held back until the journal write while a gateway batch is open."""
        if self._in_batch:
            self._batch_answers.append(raw)
        elif not self._gw_backlog and self._gw_out.offer(raw):
            self._published.add()
        else:
            self._gw_backlog.append(raw)
            self._backpressure.add()

    def _forward(self, sid: int, raw: bytes) -> None:
        queue = self._fwd_backlog[sid]
        if not queue and self._cmd_out[sid].offer(raw):
            self._published.add()
        else:
            queue.append(raw)
            self._backpressure.add()

    def _stamp(self, fields: list[Any]) -> None:
        fields[w.TS_HOP + self._hop] = time.monotonic_ns()

    def _error(self, message: str) -> None:
        self._error_count.add()
        self.ctx.errors.record(message)

    # ===================================================================== replay
    def _advance_replay(self) -> int:
        if self.phase == "start":
            self.phase = "replay"
            if self._replay_total:
                logger.info("replaying %d journaled commands from %s", self._replay_total, self.journal.path)
        fed = 0
        while self._replay_pos < self._replay_total and fed < REPLAY_CHUNK:
            index = self._replay_pos - self._replay_chunk_start
            if index * EX_RECORD_SIZE >= len(self._replay_chunk):
                self._replay_chunk = self.journal.read(self._replay_pos, REPLAY_CHUNK)
                self._replay_chunk_start = self._replay_pos
                index = 0
            fields = list(w.unpack_command(self._replay_chunk, index * EX_RECORD_SIZE))
            sid = fields[w.INSTRUMENT]
            if fields[w.C_COMMAND] in _SYMBOL_COMMANDS and self._fwd_backlog.get(sid):
                break  # that engine's ring is full: wait for it (later commands must not overtake)
            self._apply(fields, silent=True, replay=True)
            self._replay_pos += 1
            fed += 1
        if fed:
            self._replayed.add(fed)
            self._dirty = self._full_dirty = True
        if self._replay_pos >= self._replay_total and not any(self._inflight.values()):
            self._replay_chunk = b""
            if self._replay_total:
                logger.info("journal replayed: %d commands", self._replay_total)
            else:
                self._genesis()
            self.phase = "live"
        return fed

    def _genesis(self) -> None:
        """An empty journal: the configured deposits, journaled like any DEPOSIT (nobody is answered)."""
        self._begin_batch()
        for account in self.settings.accounts:
            for asset, amount in account.deposits:
                fields = w.blank_command()
                fields[w.C_COMMAND] = _DEPOSIT
                fields[w.C_ACCOUNT] = account.account_id
                fields[w.C_ASSET] = asset
                fields[w.C_QTY] = amount
                self._sequence(fields, silent=True)
        self._end_batch()

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
        if self._batch_journal:
            try:
                self.journal.append(self._batch_journal)
            except OSError as exc:
                # The batch is applied here but not durable and not forwarded: this state must not go
                # on. Failing the stage restarts the pipeline, which rebuilds it from the journal.
                self._fatal = f"journal write to {self.journal.path} failed: {exc}; stage stops"
                logger.error("%s", self._fatal)
                raise
            self._journaled.add(len(self._batch_journal) // EX_RECORD_SIZE)
            self._batch_journal = bytearray()
        forwards, self._batch_forwards = self._batch_forwards, []
        for sid, raw in forwards:
            self._forward(sid, raw)
        answers, self._batch_answers = self._batch_answers, []
        for raw in answers:
            self._send(raw)

    def _on_command(self, buf: memoryview, offset: int) -> None:
        fields = list(w.unpack_command(buf, offset))
        stamp = fields[w.TS_HOP + self._gw_hop]
        if stamp > 0:
            self._record_gw_hop(max(time.monotonic_ns() - stamp, 0))
        if fields[w.RTYPE] != _EX_COMMAND:
            self._error(f"gw-acct: record type {fields[w.RTYPE]} is not EX_COMMAND; dropped")
            return
        command = fields[w.C_COMMAND]
        if command == _NEW_ORDER:
            self._new_order(fields)
        elif command == _CANCEL:
            self._cancel(fields)
        elif command == _CANCEL_REPLACE:
            self._cancel_replace(fields)
        elif command == _CANCEL_ALL:
            if self._symbol_or_reject(fields) is not None:
                self._sequence(fields)
        elif command == _ORDER_STATUS:
            self._order_status(fields)
        elif command == _OPEN_ORDERS:
            self._open_orders(fields)
        elif command == _ACCOUNT_STATUS:
            self._balances_answer(fields, [fields[w.C_ACCOUNT]], 0)
        elif command == _BALANCES:
            ok = self.check_invariant_now()
            account = fields[w.C_ACCOUNT]
            accounts = self._all_accounts() if account == ALL_ACCOUNTS else [account]
            self._balances_answer(fields, accounts, 0 if ok else 1)
        elif command == _DEPTH:
            self._depth(fields)
        elif command in (_DEPOSIT, _WITHDRAW):
            self._deposit_or_withdraw(fields)
        else:
            self._error(f"gw-acct: unknown command {command}")
            self._reject(fields, UNKNOWN_COMMAND)

    # -------------------------------------------------------------- the checks
    def _symbol_or_reject(self, fields: list[Any]) -> SymbolSettings | None:
        symbol = self._symbols.get(fields[w.INSTRUMENT])
        if symbol is None:
            self._reject(fields, INVALID_SYMBOL)
        return symbol

    def _order_checks(self, fields: list[Any]) -> SymbolSettings | None:
        """What NEW_ORDER and CANCEL_REPLACE share: symbol, halted trading, sane numbers."""
        symbol = self._symbol_or_reject(fields)
        if symbol is None:
            return None
        if not self.invariant_ok:
            self._reject(fields, TRADING_HALTED)
            return None
        if fields[w.C_PRICE] < 0 or fields[w.C_QTY] < 0 or fields[w.C_QUOTE_QTY] < 0:
            self._reject(fields, BAD_QUANTITY)
            return None
        return symbol

    def _hold_or_reject(
        self, fields: list[Any], symbol: SymbolSettings, extra_quote: int = 0, extra_base: int = 0
    ) -> bool:
        """Pick the cap (MARKET) and check the account can pay the hold."""
        account = fields[w.C_ACCOUNT]
        hold = entry_hold(
            symbol,
            fields[w.C_SIDE],
            fields[w.C_ORDER_TYPE],
            fields[w.C_PRICE],
            fields[w.C_QTY],
            fields[w.C_QUOTE_QTY],
            self.ledger.free(account, symbol.quote_asset) + extra_quote,
            self.ledger.free(account, symbol.base_asset) + extra_base,
        )
        if hold is None:
            self._reject(fields, INSUFFICIENT_BALANCE)
            return False
        fields[w.C_CAP] = hold.cap
        return True

    def _new_order(self, fields: list[Any]) -> None:
        symbol = self._order_checks(fields)
        if symbol is None:
            return
        client_id = w.text_id(fields[w.C_CLIENT_ORDER_ID])
        if client_id and self.orders.is_duplicate(fields[w.C_ACCOUNT], symbol.symbol_id, client_id):
            self._reject(fields, DUPLICATE_ORDER)
            return
        if self._hold_or_reject(fields, symbol):
            self._sequence(fields)

    def _cancel(self, fields: list[Any]) -> None:
        symbol = self._symbol_or_reject(fields)
        if symbol is None:
            return
        orig = w.text_id(fields[w.C_ORIG_CLIENT_ORDER_ID])
        if orig:
            target = self.orders.live_by_client(fields[w.C_ACCOUNT], symbol.symbol_id, orig)
            order_id = fields[w.C_ORDER_ID]
            if target is None or (order_id > 0 and target.order_id and target.order_id != order_id):
                self._reject(fields, UNKNOWN_ORDER)
                return
            fields[w.C_TAG] = target.seq  # the engine knows it by this client id, acknowledged or not
        self._sequence(fields)

    def _cancel_replace(self, fields: list[Any]) -> None:
        symbol = self._order_checks(fields)
        if symbol is None:
            return
        sid, account = symbol.symbol_id, fields[w.C_ACCOUNT]
        orig = w.text_id(fields[w.C_ORIG_CLIENT_ORDER_ID])
        order_id = fields[w.C_ORDER_ID]
        target: Order | None
        fields[w.C_TAG] = 0  # the new order's engine id unless set to a pending target's (see _sequence)
        if orig:
            target = self.orders.live_by_client(account, sid, orig)
            if target is not None and order_id > 0 and target.order_id and target.order_id != order_id:
                target = None
            if target is None:
                fields[w.C_ORDER_ID] = NO_ORDER
            elif target.order_id:
                fields[w.C_ORDER_ID] = target.order_id
            else:  # not acknowledged yet: the engine knows it by its seq
                fields[w.C_ORDER_ID] = 0
                fields[w.C_TAG] = target.seq
        else:
            target = self.orders.open.get((sid, order_id))
            if target is not None and target.account != account:
                target = None
        client_id = w.text_id(fields[w.C_CLIENT_ORDER_ID])
        if client_id and self.orders.is_duplicate(account, sid, client_id, replacing=target):
            self._reject(fields, DUPLICATE_ORDER)
            return
        extra_quote = extra_base = 0
        if (
            target is not None
            and target.order_id
            and fields[w.C_REPLACE_MODE] == int(ReplaceMode.STOP_ON_FAILURE)
            and not self._inflight[sid]
        ):
            # Nothing is in flight in this symbol, so the engine's book is what we see: the cancel
            # will succeed and return this hold before the new order can spend anything.
            if target.hold_asset == symbol.quote_asset:
                extra_quote = target.hold
            else:
                extra_base = target.hold
        if self._hold_or_reject(fields, symbol, extra_quote, extra_base):
            self._sequence(fields)

    def _deposit_or_withdraw(self, fields: list[Any]) -> None:
        account, asset, amount = fields[w.C_ACCOUNT], fields[w.C_ASSET], fields[w.C_QTY]
        if not 1 <= asset <= len(self.settings.assets):
            self._reject(fields, INVALID_SYMBOL)
            return
        if amount <= 0 or account == ALL_ACCOUNTS:
            self._reject(fields, BAD_QUANTITY)
            return
        free, locked = self.ledger.get(account, asset)
        if fields[w.C_COMMAND] == _WITHDRAW and free < amount:
            self._reject(fields, INSUFFICIENT_BALANCE)
            return
        if fields[w.C_COMMAND] == _DEPOSIT and max(free + amount, locked) > INT64_MAX:
            self._reject(fields, BAD_QUANTITY)
            return
        self._sequence(fields)

    # ------------------------------------------------------------- sequencing
    def _sequence(self, fields: list[Any], silent: bool = False) -> None:
        """Give an accepted command its journal seq and clock, journal it (this batch) and apply it."""
        seq = self._next_seq
        self._next_seq = seq + 1
        fields[w.SEQ] = seq
        fields[w.TS_VENUE] = max(time.time_ns(), self._clock)
        fields[w.FLAGS] = 0
        command = fields[w.C_COMMAND]
        if command == _NEW_ORDER or (command == _CANCEL_REPLACE and not fields[w.C_TAG]):
            fields[w.C_TAG] = seq  # the new order's engine-side client id
        self._batch_journal += w.pack_command(*fields)
        self._apply(fields, silent=silent, replay=False)

    def _apply(self, fields: list[Any], *, silent: bool, replay: bool) -> None:
        """The effects of a sequenced command, the same live and in replay: holds, orders, forwarding."""
        entry = InFlight(fields, silent)
        self._clock = max(self._clock, entry.ts_venue)
        self.ledger.touched = entry.changed
        self._dirty = self._full_dirty = True
        command = entry.command
        if command in (_DEPOSIT, _WITHDRAW):
            self._settle_transfer(entry, fields)
            return
        sid = entry.symbol
        symbol = self._symbols.get(sid)
        if symbol is None:  # only a journal from another configuration can get here
            self._error(f"journal record {entry.seq}: unknown symbol id {sid}; skipped")
            return
        if command in _ORDER_COMMANDS:
            hold = record_hold(
                symbol,
                fields[w.C_SIDE],
                fields[w.C_ORDER_TYPE],
                fields[w.C_PRICE],
                fields[w.C_QTY],
                fields[w.C_QUOTE_QTY],
                fields[w.C_CAP],
            )
            order = Order(
                entry.seq,
                sid,
                entry.account,
                w.text_id(fields[w.C_CLIENT_ORDER_ID]),
                fields[w.C_SIDE],
                fields[w.C_ORDER_TYPE],
                fields[w.C_TIF],
                fields[w.C_STP_MODE],
                fields[w.C_PRICE],
                fields[w.C_QTY],
                fields[w.C_QUOTE_QTY],
                entry.ts_venue,
                hold.asset,
                hold.amount,
            )
            if hold.amount:
                self.ledger.lock(entry.account, hold.asset, hold.amount)
            self.orders.add_pending(order)
            entry.order = order
        self._inflight[sid].append(entry)
        out = list(fields)
        if replay:
            out[w.FLAGS] = w.REPLAY
        self._stamp(out)
        raw = w.pack_command(*out)
        if self._in_batch:
            self._batch_forwards.append((sid, raw))
        else:
            self._forward(sid, raw)

    def _settle_transfer(self, entry: InFlight, fields: list[Any]) -> None:
        account, asset, amount = entry.account, fields[w.C_ASSET], fields[w.C_QTY]
        if entry.command == _DEPOSIT:
            self.ledger.deposit(account, asset, amount)
        else:
            self.ledger.withdraw(account, asset, amount)
        if entry.silent:
            return
        update = self._answer(Event.BALANCE_UPDATE, entry)
        update[w.E_COMMISSION_ASSET] = asset
        update[w.E_QTY] = amount if entry.command == _DEPOSIT else -amount
        self._send(w.pack_event(*update))
        self._close_answer(entry)

    # ---------------------------------------------------------------- queries
    def _depth(self, fields: list[Any]) -> None:
        if self._symbol_or_reject(fields) is None:
            return
        fields[w.SEQ] = 0
        fields[w.TS_VENUE] = max(time.time_ns(), self._clock)
        fields[w.FLAGS] = 0
        self._apply(fields, silent=False, replay=False)

    def _order_status(self, fields: list[Any]) -> None:
        symbol = self._symbol_or_reject(fields)
        if symbol is None:
            return
        client_id = w.text_id(fields[w.C_ORIG_CLIENT_ORDER_ID]) or w.text_id(fields[w.C_CLIENT_ORDER_ID])
        order = self.orders.lookup(fields[w.C_ACCOUNT], symbol.symbol_id, fields[w.C_ORDER_ID], client_id)
        if order is None:
            self._reject(fields, ORDER_DOES_NOT_EXIST)
            return
        self._send(self._order_record(fields, order))
        self._send(self._done(fields))

    def _open_orders(self, fields: list[Any]) -> None:
        sid = fields[w.INSTRUMENT]
        if sid and self._symbol_or_reject(fields) is None:
            return
        for order in self.orders.open_orders(fields[w.C_ACCOUNT], sid):
            self._send(self._order_record(fields, order))
        self._send(self._done(fields))

    def _balances_answer(self, fields: list[Any], accounts: list[int], status: int) -> None:
        for account in accounts:
            for asset, free, locked in self.ledger.iter_balances(account):
                record = self._reply(Event.BALANCE, fields)
                record[w.E_ACCOUNT] = account
                record[w.E_COMMISSION_ASSET] = asset
                record[w.E_QTY] = free
                record[w.E_QUOTE_QTY] = locked
                self._send(w.pack_event(*record))
        self._send(self._done(fields, status))

    def _all_accounts(self) -> list[int]:
        known = {0, *(a.account_id for a in self.settings.accounts), *self.ledger.account_ids()}
        return sorted(known)

    # ----------------------------------------------------------- answer records
    def _reply(self, event: Event, fields: list[Any]) -> list[Any]:
        """An answer to a gateway command, correlated by its request id."""
        record = w.blank_event(event, fields[w.INSTRUMENT], fields[w.SEQ], fields[w.C_REQUEST_ID], fields[w.C_ACCOUNT])
        record[w.TS_VENUE] = fields[w.TS_VENUE]
        record[w.TS_ORIGIN] = fields[w.TS_ORIGIN]
        self._stamp(record)
        return record

    def _answer(self, event: Event, entry: InFlight) -> list[Any]:
        """An answer record for a sequenced command."""
        record = w.blank_event(event, entry.symbol, entry.seq, entry.request_id, entry.account)
        record[w.TS_VENUE] = entry.ts_venue
        record[w.TS_ORIGIN] = entry.ts_origin
        self._stamp(record)
        return record

    def _done(self, fields: list[Any], status: int = 0) -> bytes:
        record = self._reply(Event.DONE, fields)
        record[w.FLAGS] = w.END
        record[w.E_STATUS] = status
        return w.pack_event(*record)

    def _reject(self, fields: list[Any], reason: RejectReason) -> None:
        self._rejected.add()
        record = self._reply(Event.REJECTED, fields)
        record[w.E_REJECT_CODE] = reason.code
        record[w.E_REJECT_REASON] = reject_reason(reason.message)
        record[w.E_STATUS] = _REJECTED
        record[w.E_SIDE] = fields[w.C_SIDE]
        record[w.E_ORDER_TYPE] = fields[w.C_ORDER_TYPE]
        record[w.E_CLIENT_ORDER_ID] = fields[w.C_CLIENT_ORDER_ID]
        record[w.E_ORIG_CLIENT_ORDER_ID] = fields[w.C_ORIG_CLIENT_ORDER_ID]
        self._send(w.pack_event(*record))
        self._send(self._done(fields))

    def _order_record(self, fields: list[Any], order: Order) -> bytes:
        record = self._reply(Event.ORDER, fields)
        record[w.INSTRUMENT] = order.symbol
        record[w.TS_VENUE] = order.time_ns
        record[w.E_ACCOUNT] = order.account
        record[w.E_ORDER_ID] = order.order_id
        record[w.E_CLIENT_ORDER_ID] = order.client_id
        record[w.E_SIDE] = order.side
        record[w.E_ORDER_TYPE] = order.order_type
        record[w.E_TIF] = order.tif
        record[w.E_STATUS] = order.status
        record[w.E_STP_MODE] = order.stp_mode
        record[w.E_PRICE] = order.price
        record[w.E_QTY] = order.qty
        record[w.E_QUOTE_QTY] = order.quote_qty
        record[w.E_CUM_QTY] = order.cum_qty
        record[w.E_CUM_QUOTE] = order.cum_quote
        return w.pack_event(*record)

    def _close_answer(self, entry: InFlight) -> None:
        """After a command's events: one BALANCE per changed (account, asset), then DONE (END)."""
        for account, asset in sorted(entry.changed):
            free, locked = self.ledger.get(account, asset)
            record = self._answer(Event.BALANCE, entry)
            record[w.E_ACCOUNT] = account
            record[w.E_COMMISSION_ASSET] = asset
            record[w.E_QTY] = free
            record[w.E_QUOTE_QTY] = locked
            self._send(w.pack_event(*record))
        done = self._answer(Event.DONE, entry)
        done[w.FLAGS] = w.END
        self._send(w.pack_event(*done))

    # ===================================================================== events
    def _drain_events(self) -> int:
        total = 0
        for sid, ring in self._evt_in.items():
            if self._gw_backlog:
                self._backpressure.add()
                break  # the gateway is behind: settle no more until it catches up
            handler = self._handlers[sid]
            count = ring.poll(handler, self._batch)
            # Finish a command cut by the batch limit, so the invariant sees whole commands.
            while sid in self._mid_command and ring.poll(handler, 1):
                count += 1
            total += count
        if total:
            self._received.add(total)
            self._dirty = self._full_dirty = True
        return total

    def _event_handler(self, sid: int) -> Callable[[memoryview, int], None]:
        def handle(buf: memoryview, offset: int) -> None:
            self._on_event(sid, list(w.unpack_event(buf, offset)))

        return handle

    def _on_event(self, sid: int, fields: list[Any]) -> None:
        queue = self._inflight[sid]
        if not queue:
            self._error(f"evt ring of symbol {sid}: an event with no command in flight; dropped")
            return
        entry = queue[0]
        if fields[w.SEQ] != entry.seq:
            self._error(f"symbol {sid}: event seq {fields[w.SEQ]} while command seq {entry.seq} is in flight")
        self.ledger.touched = entry.changed
        flags = fields[w.FLAGS]
        event = fields[w.E_EVENT]
        if event == _E_TRADE:
            self._settle_trade(sid, fields)
        elif event == _E_NEW:
            order = entry.order
            if order is not None and not order.order_id:
                self.orders.acknowledge(order, fields[w.E_ORDER_ID])
                fields[w.E_CLIENT_ORDER_ID] = order.client_id
            else:
                self._error(f"symbol {sid}: NEW event for seq {entry.seq}, which placed no order")
        elif event in (_E_CANCELED, _E_EXPIRED):
            order = self.orders.open.get((sid, fields[w.E_ORDER_ID]))
            if order is None:
                self._error(f"symbol {sid}: {Event(event).name} for unknown order {fields[w.E_ORDER_ID]}")
            else:
                order.cum_qty = fields[w.E_CUM_QTY]
                order.cum_quote = fields[w.E_CUM_QUOTE]
                self._release(order, fields[w.E_STATUS] or (_CANCELED if event == _E_CANCELED else _EXPIRED))
                if event == _E_CANCELED:
                    fields[w.E_CLIENT_ORDER_ID] = entry.cancel_id
                    fields[w.E_ORIG_CLIENT_ORDER_ID] = order.client_id
                else:
                    fields[w.E_CLIENT_ORDER_ID] = order.client_id
        end = flags & w.END
        if not (entry.silent or flags & w.REPLAY):
            if entry.command != _DEPTH:
                fields[w.FLAGS] = flags & ~w.END
            self._stamp(fields)
            self._send(w.pack_event(*fields))
        if not end:
            self._mid_command.add(sid)
            return
        queue.popleft()
        self._mid_command.discard(sid)
        order = entry.order
        if order is not None and not order.order_id and order.status != _REJECTED:
            self._release(order, _REJECTED)  # the engine rejected it: it never got an id
        if not entry.silent and entry.command != _DEPTH:
            self._close_answer(entry)

    def _settle_trade(self, sid: int, fields: list[Any]) -> None:
        order = self.orders.open.get((sid, fields[w.E_ORDER_ID]))
        if order is None:
            self._error(f"symbol {sid}: TRADE for unknown order {fields[w.E_ORDER_ID]}; not settled")
            return
        symbol = self._symbols[sid]
        qty = fields[w.E_LAST_QTY]
        base = symbol.qty_to_asset(qty)
        quote = symbol.quote_to_asset(fields[w.E_LAST_PRICE] * qty)
        rate = self._maker_rate if fields[w.E_IS_MAKER] else self._taker_rate
        if order.side == _BUY:
            commission = base * rate // _RATE_UNIT
            held = quote if order.order_type == _MARKET else symbol.quote_to_asset(order.price * qty)
            refund = held - quote if held > quote else 0  # price improvement: back to free at once
            self.orders.consume(order, quote + refund)
            self.ledger.settle_side(order.account, symbol.quote_asset, quote, symbol.base_asset, base, commission)
            if refund:
                self.ledger.unlock(order.account, symbol.quote_asset, refund)
            fields[w.E_COMMISSION_ASSET] = symbol.base_asset
        else:
            commission = quote * rate // _RATE_UNIT
            self.orders.consume(order, base)
            self.ledger.settle_side(order.account, symbol.base_asset, base, symbol.quote_asset, quote, commission)
            fields[w.E_COMMISSION_ASSET] = symbol.quote_asset
        fields[w.E_COMMISSION] = commission
        fields[w.E_CLIENT_ORDER_ID] = order.client_id
        if order.hold < 0:
            # The engine let an order spend more than accounting locked for it (a broken cap, or a
            # scale mismatch): balances could go negative, so trading stops as for a failed invariant.
            problem = (
                f"symbol {sid}: order {order.order_id} of account {order.account} spent {-order.hold} more of "
                f"asset {order.hold_asset} than was held for it"
            )
            if self.invariant_ok:
                self._invariant_failed([problem])
            else:
                self._error(problem)
        self._trades.add()
        order.cum_qty = fields[w.E_CUM_QTY]
        order.cum_quote = fields[w.E_CUM_QUOTE]
        order.status = fields[w.E_STATUS]
        if order.status == _FILLED:
            self._release(order, _FILLED)

    def _release(self, order: Order, status: int) -> None:
        """The order ended: what is left of its hold goes back to free."""
        left = self.orders.finish(order, status)
        if left:
            self.ledger.unlock(order.account, order.hold_asset, left)

    # ================================================================== invariant
    def _check_invariant(self) -> None:
        if not self.invariant_ok:
            return
        if self._dirty:
            self._dirty = False
            problems = self.ledger.check_running(self.orders.held, settled=not self._mid_command)
            if problems:
                self._invariant_failed(problems)
                return
        if self._full_dirty:
            now = time.monotonic_ns()
            if now >= self._next_full_check:
                self.check_invariant_now()
                took = time.monotonic_ns() - now
                # With very many orders a recomputation is not free: keep it under ~5 % of the time.
                self._next_full_check = now + max(FULL_CHECK_INTERVAL_NS, 20 * took)

    def check_invariant_now(self) -> bool:
        """Recompute the invariant from every balance and order (BALANCES queries, the periodic check)."""
        self._full_dirty = False
        if self.invariant_ok:
            problems = self.ledger.check_full(self.orders.recompute_held())
            if problems:
                self._invariant_failed(problems)
        return self.invariant_ok

    def _invariant_failed(self, problems: list[str]) -> None:
        self.invariant_ok = False
        self._invariant_failures.add()
        message = "ledger invariant failed, trading halted: " + "; ".join(problems)
        logger.error("%s", message)
        self._error(message)
