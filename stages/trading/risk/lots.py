"""What the open size of a position cost: FIFO and LIFO lots, or one average cost.

A position's open size is always on one side (long or short); these classes
keep its *unsigned* size and entry cost and leave the direction to the
position (:class:`stages.trading.risk.ledger.PositionLedger`). Closing part of
the size returns the entry cost of the part closed, its *basis*; the position
turns that into realized PnL. Integers throughout:

* ``price``: fixed point at the instrument's price scale;
* ``qty`` / ``size``: fixed point at its qty scale, > 0;
* ``cost`` / basis: Σ price × size, at ``price_scale + qty_scale`` decimals
  (the notional scale), so a lot's cost is exact.

FIFO and LIFO keep every lot, so a basis is a sum of exact products: no
rounding at all. Average cost keeps one total; a partial close takes the
share ``cost × closed / size``, **truncated** to an integer at the notional
scale (at most one unit of the last decimal per close). That is the only
rounding in the ledger, and it moves value between the closes rather than
losing it: the truncated remainder stays in the open cost, and closing the
rest takes whatever cost is left, so a round trip back to flat realizes
exactly Σ sells − Σ buys, as FIFO and LIFO do.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum
from typing import Protocol


class CostMethod(StrEnum):
    """Which entry price a closing fill is matched against."""

    FIFO = "fifo"
    """The oldest open lot first."""
    LIFO = "lifo"
    """The newest open lot first."""
    AVERAGE = "average"
    """The open size's weighted average entry price (one running cost, no lots)."""


class OpenLots(Protocol):
    """The open size and its entry cost, under one :class:`CostMethod`."""

    @property
    def size(self) -> int:
        """Open size, unsigned, qty scale."""
        ...

    @property
    def cost(self) -> int:
        """Entry cost of the open size, unsigned, notional scale."""
        ...

    def open(self, price: int, size: int) -> None:
        """Add ``size`` bought (long) or sold (short) at ``price``."""
        ...

    def close(self, size: int) -> int:
        """Take ``size`` (≤ the open size) off; returns the entry cost of what was taken."""
        ...

    def lots(self) -> tuple[tuple[int, int], ...]:
        """``(price, size)`` of each open lot, oldest first; empty under average cost."""
        ...


class LotQueue:
    """FIFO or LIFO: every opening fill is a lot; a close eats lots from the front (FIFO) or the back (LIFO).

    A lot is a ``(price, size)`` tuple; a close that takes part of one lot
    puts back a smaller tuple. Adjacent lots at the same price are not merged:
    the lots read as the fills that opened them.
    """

    __slots__ = ("_fifo", "_lots", "cost", "size")

    def __init__(self, fifo: bool) -> None:
        self._fifo = fifo
        self._lots: deque[tuple[int, int]] = deque()
        self.size = 0
        self.cost = 0

    def open(self, price: int, size: int) -> None:
        self._lots.append((price, size))
        self.size += size
        self.cost += price * size

    def close(self, size: int) -> int:
        lots = self._lots
        end = 0 if self._fifo else -1
        take_whole = lots.popleft if self._fifo else lots.pop
        basis = 0
        left = size
        while left:
            price, lot = lots[end]
            if lot <= left:
                take_whole()
                basis += price * lot
                left -= lot
            else:
                lots[end] = (price, lot - left)
                basis += price * left
                left = 0
        self.size -= size
        self.cost -= basis
        return basis

    def lots(self) -> tuple[tuple[int, int], ...]:
        return tuple(self._lots)


class AverageCost:
    """Average cost: one running entry cost; a close takes its pro-rata share (truncated, see the module doc)."""

    __slots__ = ("cost", "size")

    def __init__(self) -> None:
        self.size = 0
        self.cost = 0

    def open(self, price: int, size: int) -> None:
        self.size += size
        self.cost += price * size

    def close(self, size: int) -> int:
        # cost >= 0, so floor division truncates; closing everything takes the rest exactly
        share = self.cost if size == self.size else self.cost * size // self.size
        self.size -= size
        self.cost -= share
        return share

    def lots(self) -> tuple[tuple[int, int], ...]:
        return ()


def open_lots(method: CostMethod) -> OpenLots:
    """An empty container for ``method`` (a :class:`CostMethod` or its name)."""
    method = CostMethod(method)
    if method is CostMethod.AVERAGE:
        return AverageCost()
    return LotQueue(fifo=method is CostMethod.FIFO)
