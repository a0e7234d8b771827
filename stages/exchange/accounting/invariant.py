"""The ledger invariant, checked cheaply after every batch and in full now and then; a failure halts trading.

Per asset: deposits - withdrawals == sum of free + locked (with what a half
settled match has in transit), and sum of locked == sum of the open orders'
holds. The running totals are compared after every batch that changed
anything; the full recomputation from every balance and order runs at most
every :data:`FULL_CHECK_INTERVAL_NS` (less often when one takes more than 5 %
of the time) and for every BALANCES query. A failure is logged once with the
numbers, counted, and halts trading (accounting then rejects new orders and
cancelReplace; cancels go on).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from stages.exchange.accounting.ledger import Ledger
from stages.exchange.accounting.orders import OrderTable

FULL_CHECK_INTERVAL_NS: Final = 100_000_000
"""The invariant is recomputed from every balance at most this often (when anything changed;
less often when one recomputation takes more than 5 ms)."""

logger = logging.getLogger("hftpipe.accounting")


class InvariantMonitor:
    """Whether the ledger still holds together; ``ok`` turns False for good on the first failure."""

    def __init__(self, ledger: Ledger, orders: OrderTable, report: Callable[[str], None]) -> None:
        self._ledger = ledger
        self._orders = orders
        self._report = report
        self.ok = True
        self.failures = 0
        self.dirty = False
        """Something changed since the last running check."""
        self.full_dirty = False
        """Something changed since the last full recomputation."""
        self._next_full_check = 0

    def check(self, settled: bool) -> None:
        """The running check if due, and the full one if its time has come.

        ``settled``: no command is half settled, so nothing may be in transit.
        """
        if not self.ok:
            return
        if self.dirty:
            self.dirty = False
            problems = self._ledger.check_running(self._orders.held, settled=settled)
            if problems:
                self.fail(problems)
                return
        if self.full_dirty:
            now = time.monotonic_ns()
            if now >= self._next_full_check:
                self.check_now()
                took = time.monotonic_ns() - now
                # With very many orders a recomputation is not free: keep it under ~5 % of the time.
                self._next_full_check = now + max(FULL_CHECK_INTERVAL_NS, 20 * took)

    def check_now(self) -> bool:
        """Recompute the invariant from every balance and order (BALANCES queries, the periodic check)."""
        self.full_dirty = False
        if self.ok:
            problems = self._ledger.check_full(self._orders.recompute_held())
            if problems:
                self.fail(problems)
        return self.ok

    def fail(self, problems: list[str]) -> None:
        self.ok = False
        self.failures += 1
        message = "ledger invariant failed, trading halted: " + "; ".join(problems)
        logger.error("%s", message)
        self._report(message)

    def problem(self, message: str) -> None:
        """Something that breaks the ledger's promises: the first one halts trading, later ones are reported."""
        if self.ok:
            self.fail([message])
        else:
            self._report(message)
