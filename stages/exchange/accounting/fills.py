"""Each account's latest fills, for ``myTrades``: the settled TRADE records, as they went to the gateway.

Kept per account, at most ``per_account`` each (older ones are forgotten, as
the order history forgets ended orders), and rebuilt by the journal replay like
every other piece of accounting state, since settlement records them live and
in replay alike.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from hftpipe.schema.exchange_codec import E_ACCOUNT, E_ORDER_ID, E_TRADE_ID, INSTRUMENT, TS_VENUE


class FillHistory:
    def __init__(self, per_account: int) -> None:
        self.per_account = per_account
        self._fills: dict[int, deque[tuple[Any, ...]]] = {}

    def add(self, fields: list[Any]) -> None:
        """One settled TRADE record (its fields, commission included)."""
        if self.per_account <= 0:
            return
        account = fields[E_ACCOUNT]
        fills = self._fills.get(account)
        if fills is None:
            fills = self._fills[account] = deque(maxlen=self.per_account)
        fills.append(tuple(fields))

    def select(
        self, account: int, symbol: int, order_id: int, from_id: int, start_ns: int, end_ns: int, limit: int
    ) -> list[tuple[Any, ...]]:
        """``myTrades``: the account's fills in ``symbol`` by trade id; of one order when ``order_id`` > 0,
        from trade ``from_id`` on (the first ``limit``), else the latest ``limit`` within the times."""
        found = [
            fill
            for fill in self._fills.get(account, ())
            if fill[INSTRUMENT] == symbol
            and (not order_id or fill[E_ORDER_ID] == order_id)
            and fill[E_TRADE_ID] >= from_id
            and start_ns <= fill[TS_VENUE]
            and (not end_ns or fill[TS_VENUE] <= end_ns)
        ]
        found.sort(key=lambda fill: fill[E_TRADE_ID])
        return found[:limit] if from_id else found[-limit:]
