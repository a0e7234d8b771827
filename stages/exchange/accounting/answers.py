"""The EX_EVENT records accounting answers the gateway with, built as struct item lists and sent at once.

Every answer record carries the command's request id, instrument and seq (0
for queries) and its ``ts_venue``/``ts_origin``; the stage's output port adds
this stage's hop stamp when it publishes the record. An
answer ends with exactly one record flagged END_OF_UPDATE: a DONE (after one
BALANCE per changed (account, asset), for a sequenced command).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from hftpipe.schema.exchange import Event, OrderStatus
from hftpipe.schema.exchange_codec import (
    C_ACCOUNT,
    C_CLIENT_ORDER_ID,
    C_ORDER_TYPE,
    C_ORIG_CLIENT_ORDER_ID,
    C_REQUEST_ID,
    C_SIDE,
    E_ACCOUNT,
    E_CLIENT_ORDER_ID,
    E_COMMISSION,
    E_COMMISSION_ASSET,
    E_CUM_QTY,
    E_CUM_QUOTE,
    E_IS_MAKER,
    E_LAST_PRICE,
    E_LAST_QTY,
    E_ORDER_ID,
    E_ORDER_TYPE,
    E_ORIG_CLIENT_ORDER_ID,
    E_PRICE,
    E_QTY,
    E_QUOTE_QTY,
    E_REJECT_CODE,
    E_REJECT_REASON,
    E_SIDE,
    E_STATUS,
    E_STP_MODE,
    E_TIF,
    E_TRADE_ID,
    END,
    FLAGS,
    INSTRUMENT,
    SEQ,
    TS_ORIGIN,
    TS_VENUE,
    blank_event,
    pack_event,
)
from hftpipe.schema.exchange_errors import RejectReason, reject_reason
from stages.exchange.accounting.inflight import InFlight
from stages.exchange.accounting.ledger import Ledger
from stages.exchange.accounting.orders import Order

_REJECTED: Final = int(OrderStatus.REJECTED)
_FILL_FIELDS: Final = (
    INSTRUMENT, TS_VENUE, E_ACCOUNT, E_ORDER_ID, E_CLIENT_ORDER_ID, E_SIDE, E_ORDER_TYPE, E_PRICE, E_QTY,
    E_LAST_PRICE, E_LAST_QTY, E_CUM_QTY, E_CUM_QUOTE, E_TRADE_ID, E_COMMISSION, E_COMMISSION_ASSET, E_IS_MAKER,
)  # fmt: skip
"""What a stored fill keeps of its TRADE record when it answers ``myTrades``."""


class Answers:
    """Builds answer records and hands each, packed, to ``send`` (the stage's way to the gateway)."""

    def __init__(self, send: Callable[[bytes], None], ledger: Ledger) -> None:
        self._send = send
        self._ledger = ledger
        self.rejected = 0
        """Commands refused here (accounting's own checks), since this stage started."""

    def reply(self, event: Event, fields: list[Any]) -> list[Any]:
        """An answer to a gateway command, correlated by its request id."""
        record = blank_event(event, fields[INSTRUMENT], fields[SEQ], fields[C_REQUEST_ID], fields[C_ACCOUNT])
        record[TS_VENUE] = fields[TS_VENUE]
        record[TS_ORIGIN] = fields[TS_ORIGIN]
        return record

    def of_entry(self, event: Event, entry: InFlight) -> list[Any]:
        """An answer record for a sequenced command."""
        record = blank_event(event, entry.symbol, entry.seq, entry.request_id, entry.account)
        record[TS_VENUE] = entry.ts_venue
        record[TS_ORIGIN] = entry.ts_origin
        return record

    def done(self, fields: list[Any], status: int = 0) -> None:
        """The closing DONE (END_OF_UPDATE) of a query's answer."""
        record = self.reply(Event.DONE, fields)
        record[FLAGS] = END
        record[E_STATUS] = status
        self._send(pack_event(*record))

    def reject(self, fields: list[Any], reason: RejectReason) -> None:
        """The command is refused: one REJECTED, then DONE."""
        self.rejected += 1
        record = self.reply(Event.REJECTED, fields)
        record[E_REJECT_CODE] = reason.code
        record[E_REJECT_REASON] = reject_reason(reason.message)
        record[E_STATUS] = _REJECTED
        record[E_SIDE] = fields[C_SIDE]
        record[E_ORDER_TYPE] = fields[C_ORDER_TYPE]
        record[E_CLIENT_ORDER_ID] = fields[C_CLIENT_ORDER_ID]
        record[E_ORIG_CLIENT_ORDER_ID] = fields[C_ORIG_CLIENT_ORDER_ID]
        self._send(pack_event(*record))
        self.done(fields)

    def order(self, fields: list[Any], order: Order) -> None:
        """One ORDER record: ``order`` as order.status / openOrders.status show it."""
        record = self.reply(Event.ORDER, fields)
        record[INSTRUMENT] = order.symbol
        record[TS_VENUE] = order.time_ns
        record[E_ACCOUNT] = order.account
        record[E_ORDER_ID] = order.order_id
        record[E_CLIENT_ORDER_ID] = order.client_id
        record[E_SIDE] = order.side
        record[E_ORDER_TYPE] = order.order_type
        record[E_TIF] = order.tif
        record[E_STATUS] = order.status
        record[E_STP_MODE] = order.stp_mode
        record[E_PRICE] = order.price
        record[E_QTY] = order.qty
        record[E_QUOTE_QTY] = order.quote_qty
        record[E_CUM_QTY] = order.cum_qty
        record[E_CUM_QUOTE] = order.cum_quote
        self._send(pack_event(*record))

    def fill(self, fields: list[Any], trade: tuple[Any, ...]) -> None:
        """One stored TRADE record (``myTrades``), re-addressed to this query."""
        record = self.reply(Event.TRADE, fields)
        for index in _FILL_FIELDS:
            record[index] = trade[index]
        self._send(pack_event(*record))

    def balances(self, fields: list[Any], accounts: list[int], status: int) -> None:
        """Every balance of ``accounts`` (one BALANCE per asset), then DONE with ``status``."""
        for account in accounts:
            updated_ns = self._ledger.updated_ns.get(account, 0)
            for asset, free, locked in self._ledger.iter_balances(account):
                record = self.reply(Event.BALANCE, fields)
                record[TS_VENUE] = updated_ns  # when the account last changed: account.status's updateTime
                self._balance(record, account, asset, free, locked)
        self.done(fields, status)

    def close(self, entry: InFlight) -> None:
        """After a sequenced command's events: one BALANCE per changed (account, asset), then DONE (END)."""
        for account, asset in sorted(entry.changed):
            self._balance(self.of_entry(Event.BALANCE, entry), account, asset, *self._ledger.get(account, asset))
        done = self.of_entry(Event.DONE, entry)
        done[FLAGS] = END
        self._send(pack_event(*done))

    def _balance(self, record: list[Any], account: int, asset: int, free: int, locked: int) -> None:
        """A BALANCE record: asset in ``commission_asset``, free in ``qty``, locked in ``quote_qty``."""
        record[E_ACCOUNT] = account
        record[E_COMMISSION_ASSET] = asset
        record[E_QTY] = free
        record[E_QUOTE_QTY] = locked
        self._send(pack_event(*record))
