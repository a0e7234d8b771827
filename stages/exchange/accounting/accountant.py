"""Accounting's pure core: the exchange's sequencer, ledger and order table, with no rings and no files.

The :class:`~stages.exchange.accounting.stage.AccountingStage` around it reads
the rings and the journal and hands over unpacked records (mutable item lists,
see :mod:`hftpipe.schema.exchange_codec`); what the core sends goes to the
stage's :class:`Outputs`, and the commands it sequences collect in
:attr:`Accountant.journal_batch` until the stage writes them.

What it does with a gateway command (:meth:`Accountant.command`):

* state-changing (NEW_ORDER, CANCEL, CANCEL_REPLACE, CANCEL_ALL, DEPOSIT,
  WITHDRAW): checks it (:mod:`.admission`: halted trading, duplicate client
  id, balance), places the hold, gives it the next journal ``seq``, the
  exchange clock (``ts_venue``) and, for a new order, ``tag = seq`` (the
  engine's client id) and ``cap``; adds it to the journal batch and forwards
  it. DEPOSIT and WITHDRAW have no engine: they are settled and answered at once.
* queries (ORDER_STATUS, OPEN_ORDERS, ALL_ORDERS, MY_TRADES, ACCOUNT_STATUS, BALANCES): answered here (:mod:`.queries`).
* DEPTH: forwarded with seq 0 and not journaled.

What it does with the engine's events of one command (:meth:`Accountant.event`;
they come back in command order, the last one flagged END_OF_UPDATE): settles
them (:mod:`.settlement`), forwards them to the gateway with commissions and
client ids filled in (END cleared), then one BALANCE per changed (account,
asset) and a DONE with END_OF_UPDATE (:mod:`.answers`). Every gateway request
therefore gets exactly one record with END_OF_UPDATE, the last of its answer
(for DEPTH, the engine's own DONE).

A journaled command (:meth:`Accountant.replay`) has the same effects as when
it was first sequenced (holds, orders, forwarding, flagged REPLAY), and its
events are settled but not sent to the gateway. After every batch the stage
has the ledger invariant checked (:mod:`.invariant`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Protocol

from hftpipe.schema.exchange import Command, Event, OrderStatus
from hftpipe.schema.exchange_codec import (
    C_ACCOUNT,
    C_ASSET,
    C_CAP,
    C_CLIENT_ORDER_ID,
    C_COMMAND,
    C_ORDER_TYPE,
    C_PRICE,
    C_QTY,
    C_QUOTE_QTY,
    C_SIDE,
    C_STP_MODE,
    C_TAG,
    C_TIF,
    E_ACCOUNT,
    E_CLIENT_ORDER_ID,
    E_COMMISSION_ASSET,
    E_CUM_QTY,
    E_CUM_QUOTE,
    E_EVENT,
    E_ORDER_ID,
    E_ORIG_CLIENT_ORDER_ID,
    E_QTY,
    E_STATUS,
    END,
    FLAGS,
    INSTRUMENT,
    REPLAY,
    SEQ,
    TS_VENUE,
    blank_command,
    pack_command,
    pack_event,
    text_id,
)
from hftpipe.schema.exchange_errors import INVALID_SYMBOL, ErrorCode, RejectReason
from stages.exchange.accounting.admission import (
    check_duplicate,
    check_funds,
    check_order,
    check_transfer,
    resolve_cancel,
    resolve_replace_target,
    returned_hold,
)
from stages.exchange.accounting.answers import Answers
from stages.exchange.accounting.fills import FillHistory
from stages.exchange.accounting.holds import record_hold
from stages.exchange.accounting.inflight import InFlight
from stages.exchange.accounting.invariant import InvariantMonitor
from stages.exchange.accounting.ledger import Ledger
from stages.exchange.accounting.orders import Order, OrderTable
from stages.exchange.accounting.queries import Queries
from stages.exchange.accounting.settlement import Settlement
from stages.exchange.protocol.settings import ExchangeSettings, SymbolSettings

UNKNOWN_COMMAND: Final = RejectReason(ErrorCode.ILLEGAL_CHARS, "")
"""A command accounting does not know: its code alone (the gateway shows the code's generic text)."""

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
_ALL_ORDERS: Final = int(Command.ALL_ORDERS)
_MY_TRADES: Final = int(Command.MY_TRADES)
FILLS_PER_ACCOUNT: Final = 10_000
"""Fills kept per account for ``myTrades`` (the latest)."""
ENGINE_COMMANDS: Final = frozenset((_NEW_ORDER, _CANCEL, _CANCEL_REPLACE, _CANCEL_ALL))
"""Journaled commands an engine runs (the others are settled here)."""
_ORDER_COMMANDS: Final = frozenset((_NEW_ORDER, _CANCEL_REPLACE))

_E_NEW: Final = int(Event.NEW)
_E_TRADE: Final = int(Event.TRADE)
_E_CANCELED: Final = int(Event.CANCELED)
_E_EXPIRED: Final = int(Event.EXPIRED)
_CANCELED: Final = int(OrderStatus.CANCELED)
_REJECTED: Final = int(OrderStatus.REJECTED)
_EXPIRED: Final = int(OrderStatus.EXPIRED)


class Outputs(Protocol):
    """Where the core's records go: the stage's rings (or a test's lists)."""

    def to_gateway(self, raw: bytes) -> None:
        """An EX_EVENT for the gateway."""

    def to_engine(self, symbol_id: int, raw: bytes) -> None:
        """An EX_COMMAND for the symbol's engine."""


class Accountant:
    """See the module docstring."""

    def __init__(self, settings: ExchangeSettings, outputs: Outputs, report: Callable[[str], None]) -> None:
        self.settings = settings
        self.symbols: dict[int, SymbolSettings] = {s.symbol_id: s for s in settings.symbols}
        self.ledger = Ledger(len(settings.assets))
        self.orders = OrderTable(len(settings.assets), settings.order_history)
        self.answers = Answers(outputs.to_gateway, self.ledger)
        self.settlement = Settlement(self.ledger, self.orders, settings.maker_commission, settings.taker_commission)
        self.invariant = InvariantMonitor(self.ledger, self.orders, report)
        self.fills = FillHistory(FILLS_PER_ACCOUNT)
        self.queries = Queries(settings, self.ledger, self.orders, self.answers, self.invariant, self.fills)
        self._report = report
        self._send = outputs.to_gateway
        self._forward = outputs.to_engine
        self._settle_trade = self.settlement.trade
        self._release = self.settlement.release

        self.inflight: dict[int, deque[InFlight]] = {sid: deque() for sid in self.symbols}
        """Per symbol, the sequenced commands whose events are not all back, oldest first."""
        self.mid_command: set[int] = set()
        """Symbols whose current command has some but not all of its events settled."""
        self.next_seq = 1
        """The journal sequence the next sequenced command gets (the stage sets it from the journal)."""
        self.journal_batch = bytearray()
        """Commands sequenced since the stage last wrote the journal, packed."""
        self._clock = 0
        """The last ts_venue given: the exchange clock never goes back, even if the wall clock does."""

    @property
    def idle(self) -> bool:
        """No command is waiting for engine events."""
        return not any(self.inflight.values())

    def check_invariant(self) -> None:
        """After a batch: the running check, and the full one when it is due."""
        self.invariant.check(settled=not self.mid_command)

    # ================================================================== gateway commands
    def command(self, fields: list[Any]) -> None:
        """One EX_COMMAND from the gateway: refused, answered, or sequenced and applied."""
        command = fields[C_COMMAND]
        if command == _NEW_ORDER:
            self._new_order(fields)
        elif command == _CANCEL:
            self._cancel(fields)
        elif command == _CANCEL_REPLACE:
            self._cancel_replace(fields)
        elif command == _CANCEL_ALL:
            if self._symbol(fields) is not None:
                self._sequence(fields)
        elif command == _ORDER_STATUS:
            symbol = self._symbol(fields)
            if symbol is not None:
                self.queries.order_status(fields, symbol)
        elif command == _OPEN_ORDERS:
            if not fields[INSTRUMENT] or self._symbol(fields) is not None:
                self.queries.open_orders(fields)
        elif command == _ALL_ORDERS:
            if self._symbol(fields) is not None:
                self.queries.all_orders(fields)
        elif command == _MY_TRADES:
            if self._symbol(fields) is not None:
                self.queries.my_trades(fields)
        elif command == _ACCOUNT_STATUS:
            self.queries.account_status(fields)
        elif command == _BALANCES:
            self.queries.balances(fields)
        elif command == _DEPTH:
            self._depth(fields)
        elif command in (_DEPOSIT, _WITHDRAW):
            self._refuse_or_sequence(fields, check_transfer(fields, self.ledger, len(self.settings.assets)))
        else:
            self._report(f"gw-acct: unknown command {command}")
            self.answers.reject(fields, UNKNOWN_COMMAND)

    def genesis(self) -> None:
        """An empty journal: the configured deposits, sequenced like any DEPOSIT (nobody is answered)."""
        for account in self.settings.accounts:
            for asset, amount in account.deposits:
                fields = blank_command()
                fields[C_COMMAND] = _DEPOSIT
                fields[C_ACCOUNT] = account.account_id
                fields[C_ASSET] = asset
                fields[C_QTY] = amount
                self._sequence(fields, silent=True)

    def replay(self, fields: list[Any]) -> None:
        """One journaled command, applied as when it was sequenced (flagged REPLAY, nobody answered)."""
        self._apply(fields, silent=True, replay=True)

    def _symbol(self, fields: list[Any]) -> SymbolSettings | None:
        """The command's symbol, or ``None`` after refusing the command (-1121)."""
        symbol = self.symbols.get(fields[INSTRUMENT])
        if symbol is None:
            self.answers.reject(fields, INVALID_SYMBOL)
        return symbol

    def _order_symbol(self, fields: list[Any]) -> SymbolSettings | None:
        """What NEW_ORDER and CANCEL_REPLACE share: symbol, halted trading, sane numbers."""
        symbol = self._symbol(fields)
        if symbol is None:
            return None
        reason = check_order(fields, halted=not self.invariant.ok)
        if reason is not None:
            self.answers.reject(fields, reason)
            return None
        return symbol

    def _refuse_or_sequence(self, fields: list[Any], reason: RejectReason | None) -> None:
        if reason is None:
            self._sequence(fields)
        else:
            self.answers.reject(fields, reason)

    def _new_order(self, fields: list[Any]) -> None:
        symbol = self._order_symbol(fields)
        if symbol is None:
            return
        reason = check_duplicate(fields, symbol, self.orders) or check_funds(fields, symbol, self.ledger)
        self._refuse_or_sequence(fields, reason)

    def _cancel(self, fields: list[Any]) -> None:
        symbol = self._symbol(fields)
        if symbol is None:
            return
        self._refuse_or_sequence(fields, resolve_cancel(fields, symbol, self.orders))

    def _cancel_replace(self, fields: list[Any]) -> None:
        symbol = self._order_symbol(fields)
        if symbol is None:
            return
        target = resolve_replace_target(fields, symbol, self.orders)
        reason = check_duplicate(fields, symbol, self.orders, replacing=target)
        if reason is None:
            idle = not self.inflight[symbol.symbol_id]
            extra_quote, extra_base = returned_hold(fields, symbol, target, idle)
            reason = check_funds(fields, symbol, self.ledger, extra_quote, extra_base)
        self._refuse_or_sequence(fields, reason)

    def _depth(self, fields: list[Any]) -> None:
        if self._symbol(fields) is None:
            return
        fields[SEQ] = 0
        fields[TS_VENUE] = max(time.time_ns(), self._clock)
        fields[FLAGS] = 0
        self._apply(fields, silent=False, replay=False)

    # ================================================================== sequencing
    def _sequence(self, fields: list[Any], silent: bool = False) -> None:
        """Give an accepted command its journal seq and clock, add it to the journal batch and apply it."""
        seq = self.next_seq
        self.next_seq = seq + 1
        fields[SEQ] = seq
        fields[TS_VENUE] = max(time.time_ns(), self._clock)
        fields[FLAGS] = 0
        command = fields[C_COMMAND]
        if command == _NEW_ORDER or (command == _CANCEL_REPLACE and not fields[C_TAG]):
            fields[C_TAG] = seq  # the new order's engine-side client id
        self.journal_batch += pack_command(*fields)
        self._apply(fields, silent=silent, replay=False)

    def _apply(self, fields: list[Any], *, silent: bool, replay: bool) -> None:
        """The effects of a sequenced command, the same live and in replay: holds, orders, forwarding."""
        entry = InFlight(fields, silent)
        self._clock = max(self._clock, entry.ts_venue)
        self.ledger.touched, self.ledger.stamp_ns = entry.changed, entry.ts_venue
        invariant = self.invariant
        invariant.dirty = invariant.full_dirty = True
        command = entry.command
        if command in (_DEPOSIT, _WITHDRAW):
            self._settle_transfer(entry, fields)
            return
        sid = entry.symbol
        symbol = self.symbols.get(sid)
        if symbol is None:  # only a journal from another configuration can get here
            self._report(f"journal record {entry.seq}: unknown symbol id {sid}; skipped")
            return
        if command in _ORDER_COMMANDS:
            hold = record_hold(
                symbol,
                fields[C_SIDE],
                fields[C_ORDER_TYPE],
                fields[C_PRICE],
                fields[C_QTY],
                fields[C_QUOTE_QTY],
                fields[C_CAP],
            )
            order = Order(
                entry.seq,
                sid,
                entry.account,
                text_id(fields[C_CLIENT_ORDER_ID]),
                fields[C_SIDE],
                fields[C_ORDER_TYPE],
                fields[C_TIF],
                fields[C_STP_MODE],
                fields[C_PRICE],
                fields[C_QTY],
                fields[C_QUOTE_QTY],
                entry.ts_venue,
                hold.asset,
                hold.amount,
            )
            if hold.amount:
                self.ledger.lock(entry.account, hold.asset, hold.amount)
            self.orders.add_pending(order)
            entry.order = order
        self.inflight[sid].append(entry)
        out = list(fields)
        if replay:
            out[FLAGS] = REPLAY
        self._forward(sid, pack_command(*out))

    def _settle_transfer(self, entry: InFlight, fields: list[Any]) -> None:
        asset, amount = fields[C_ASSET], fields[C_QTY]
        self.settlement.transfer(entry.command, entry.account, asset, amount)
        if entry.silent:
            return
        update = self.answers.of_entry(Event.BALANCE_UPDATE, entry)
        update[E_COMMISSION_ASSET] = asset
        update[E_QTY] = amount if entry.command == _DEPOSIT else -amount
        self._send(pack_event(*update))
        self.answers.close(entry)

    # ================================================================== engine events
    def event(self, sid: int, fields: list[Any]) -> None:
        """One EX_EVENT from the engine of symbol ``sid``: settled, and passed on unless nobody waits for it."""
        queue = self.inflight[sid]
        if not queue:
            self._report(f"evt ring of symbol {sid}: an event with no command in flight; dropped")
            return
        entry = queue[0]
        if fields[SEQ] != entry.seq:
            self._report(f"symbol {sid}: event seq {fields[SEQ]} while command seq {entry.seq} is in flight")
        self.ledger.touched, self.ledger.stamp_ns = entry.changed, entry.ts_venue
        flags = fields[FLAGS]
        event = fields[E_EVENT]
        if event == _E_TRADE:
            order = self.orders.open.get((sid, fields[E_ORDER_ID]))
            if order is None:
                self._report(f"symbol {sid}: TRADE for unknown order {fields[E_ORDER_ID]}; not settled")
            else:
                fields[E_CLIENT_ORDER_ID] = order.client_id
                problem = self._settle_trade(self.symbols[sid], order, fields)
                if problem is not None:
                    self.invariant.problem(problem)
                fields[E_ACCOUNT] = order.account
                self.fills.add(fields)
        elif event == _E_NEW:
            order = entry.order
            if order is not None and not order.order_id:
                self.orders.acknowledge(order, fields[E_ORDER_ID])
                fields[E_CLIENT_ORDER_ID] = order.client_id
            else:
                self._report(f"symbol {sid}: NEW event for seq {entry.seq}, which placed no order")
        elif event in (_E_CANCELED, _E_EXPIRED):
            order = self.orders.open.get((sid, fields[E_ORDER_ID]))
            if order is None:
                self._report(f"symbol {sid}: {Event(event).name} for unknown order {fields[E_ORDER_ID]}")
            else:
                order.cum_qty = fields[E_CUM_QTY]
                order.cum_quote = fields[E_CUM_QUOTE]
                self._release(order, fields[E_STATUS] or (_CANCELED if event == _E_CANCELED else _EXPIRED))
                if event == _E_CANCELED:
                    fields[E_CLIENT_ORDER_ID] = entry.cancel_id
                    fields[E_ORIG_CLIENT_ORDER_ID] = order.client_id
                else:
                    fields[E_CLIENT_ORDER_ID] = order.client_id
        end = flags & END
        if not (entry.silent or flags & REPLAY):
            if entry.command != _DEPTH:
                fields[FLAGS] = flags & ~END
            self._send(pack_event(*fields))
        if not end:
            self.mid_command.add(sid)
            return
        queue.popleft()
        self.mid_command.discard(sid)
        order = entry.order
        if order is not None and not order.order_id and order.status != _REJECTED:
            self._release(order, _REJECTED)  # the engine rejected it: it never got an id
        if not entry.silent and entry.command != _DEPTH:
            self.answers.close(entry)
