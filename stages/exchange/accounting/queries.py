"""The questions accounting answers from its own books, without sequencing anything.

``order.status`` (an acknowledged order, open or remembered), ``openOrders.status``, ``allOrders``,
``myTrades``,
``account.status`` and the admin's BALANCES (every account, with whether the
ledger invariant holds: DONE ``status`` 0, or 1 when it failed).
"""

from __future__ import annotations

from typing import Any

from hftpipe.schema.exchange import ALL_ACCOUNTS
from hftpipe.schema.exchange_codec import (
    C_ACCOUNT,
    C_CLIENT_ORDER_ID,
    C_ORDER_ID,
    C_ORIG_CLIENT_ORDER_ID,
    C_PRICE,
    C_QTY,
    C_QUOTE_QTY,
    C_TAG,
    INSTRUMENT,
    text_id,
)
from hftpipe.schema.exchange_errors import ORDER_DOES_NOT_EXIST
from stages.exchange.accounting.answers import Answers
from stages.exchange.accounting.fills import FillHistory
from stages.exchange.accounting.invariant import InvariantMonitor
from stages.exchange.accounting.ledger import Ledger
from stages.exchange.accounting.orders import OrderTable
from stages.exchange.protocol.settings import ExchangeSettings, SymbolSettings


class Queries:
    def __init__(
        self,
        settings: ExchangeSettings,
        ledger: Ledger,
        orders: OrderTable,
        answers: Answers,
        invariant: InvariantMonitor,
        fills: FillHistory,
    ) -> None:
        self._settings = settings
        self._ledger = ledger
        self._orders = orders
        self._answers = answers
        self._invariant = invariant
        self._fills = fills

    def order_status(self, fields: list[Any], symbol: SymbolSettings) -> None:
        client_id = text_id(fields[C_ORIG_CLIENT_ORDER_ID]) or text_id(fields[C_CLIENT_ORDER_ID])
        order = self._orders.lookup(fields[C_ACCOUNT], symbol.symbol_id, fields[C_ORDER_ID], client_id)
        if order is None:
            self._answers.reject(fields, ORDER_DOES_NOT_EXIST)
            return
        self._answers.order(fields, order)
        self._answers.done(fields)

    def open_orders(self, fields: list[Any]) -> None:
        """The account's open orders in the command's symbol (every symbol when its ``instrument`` is 0)."""
        for order in self._orders.open_orders(fields[C_ACCOUNT], fields[INSTRUMENT]):
            self._answers.order(fields, order)
        self._answers.done(fields)

    def all_orders(self, fields: list[Any]) -> None:
        """ALL_ORDERS: see :class:`~hftpipe.schema.exchange.Command`."""
        ms = 1_000_000
        orders = self._orders.all_orders(
            fields[C_ACCOUNT],
            fields[INSTRUMENT],
            fields[C_ORDER_ID],
            fields[C_PRICE] * ms,
            fields[C_QUOTE_QTY] * ms + ms - 1 if fields[C_QUOTE_QTY] else 0,
            fields[C_QTY],
        )
        for order in orders:
            self._answers.order(fields, order)
        self._answers.done(fields)

    def my_trades(self, fields: list[Any]) -> None:
        """MY_TRADES: see :class:`~hftpipe.schema.exchange.Command`."""
        ms = 1_000_000
        fills = self._fills.select(
            fields[C_ACCOUNT],
            fields[INSTRUMENT],
            fields[C_ORDER_ID],
            fields[C_TAG],
            fields[C_PRICE] * ms,
            fields[C_QUOTE_QTY] * ms + ms - 1 if fields[C_QUOTE_QTY] else 0,
            fields[C_QTY],
        )
        for fill in fills:
            self._answers.fill(fields, fill)
        self._answers.done(fields)

    def account_status(self, fields: list[Any]) -> None:
        self._answers.balances(fields, [fields[C_ACCOUNT]], 0)

    def balances(self, fields: list[Any]) -> None:
        """BALANCES: one account's or (ALL_ACCOUNTS) every account's, after a full invariant check."""
        ok = self._invariant.check_now()
        account = fields[C_ACCOUNT]
        accounts = self._all_accounts() if account == ALL_ACCOUNTS else [account]
        self._answers.balances(fields, accounts, 0 if ok else 1)

    def _all_accounts(self) -> list[int]:
        known = {0, *(a.account_id for a in self._settings.accounts), *self._ledger.account_ids()}
        return sorted(known)
