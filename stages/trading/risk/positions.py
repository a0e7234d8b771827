"""What the pre-trade checks read of positions: the ledger, seen through a two-method protocol.

The ledger (:mod:`stages.trading.risk.ledger`) owns positions and PnL; the
checks only ask for signed quantities, so they are tested with a dict and the
ledger can change its bookkeeping without touching them.
"""

from __future__ import annotations

from typing import Protocol


class Positions(Protocol):
    """Signed positions, fixed point at the instrument's qty scale (long > 0, short < 0)."""

    def strategy_qty(self, strategy_id: int, instrument_id: int) -> int:
        """The strategy's own position in the instrument (0 when it has none)."""
        ...

    def account_qty(self, instrument_id: int) -> int:
        """The account's position in the instrument: every strategy's together, and any held before them."""
        ...
