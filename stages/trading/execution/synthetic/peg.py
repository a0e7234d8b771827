"""Adaptive-mid peg: a limit order kept at mid ± offset ticks, re-priced on book changes at a bounded rate.

The target price is ``mid − offset_ticks`` ticks for a buy and ``mid +
offset_ticks`` ticks for a sell (a positive offset is passive: away from
the mid; a negative one leans in), rounded onto the tick grid away from the
other side (a buy down, a sell up), computed exactly from ``bid + ask``.
With ``post_only`` the order goes as LIMIT_MAKER and the target is held off
the other side (a buy at most one tick under the ask, a sell at least one
over the bid), so the venue does not refuse it for crossing.

The peg is released (as its first real order) on the first two-sided book
after it is armed, or at once when the book already has one. After that,
a book change re-prices it (a :class:`~stages.trading.execution.synthetic.actions.Replace`)
only when both hold:

* the target moved at least ``min_move_ticks`` ticks from the working price
  (a one-tick flicker of the mid does not churn the queue position), and
* fewer than ``max_replaces_per_s`` replaces went out in the last second
  (a sliding window of the ``now`` values the stage passes, :class:`ReplaceBudget`).

A move the rate refuses is not queued: the next book change looks again,
from the then-current target. Only book changes re-price: a quiet book
leaves a refused move in place until it changes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

from hftpipe.schema.trading import IntentFlag, OrderSide
from stages.trading.execution.synthetic.orders import check_common

WINDOW_NS: Final = 1_000_000_000
"""The replace-rate window: one second of ``now``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Peg:
    """A GTC limit order (LIMIT_MAKER with ``post_only``) pegged to the mid; ``qty`` at the qty scale."""

    id: int
    strategy_id: int
    instrument_id: int
    side: OrderSide
    qty: int
    offset_ticks: int = 0
    min_move_ticks: int = 1
    max_replaces_per_s: int = 5
    post_only: bool = False
    flags: IntentFlag = IntentFlag.NONE

    def __post_init__(self) -> None:
        check_common("a peg", self.qty, self.side)
        if self.min_move_ticks < 1:
            raise ValueError(f"a peg's min_move_ticks must be >= 1, got {self.min_move_ticks}")
        if self.max_replaces_per_s < 1:
            raise ValueError(f"a peg's max_replaces_per_s must be >= 1, got {self.max_replaces_per_s}")


def peg_price(buy: bool, bid: int, ask: int, tick: int, offset_ticks: int, post_only: bool) -> int:
    """The target for a two-sided book: on the tick grid, a buy rounded down, a sell up (may be <= 0: not sent)."""
    step = 2 * tick
    if buy:
        price = (bid + ask - offset_ticks * step) // step * tick
        return min(price, ask - tick) if post_only else price
    price = -((-(bid + ask + offset_ticks * step)) // step) * tick
    return max(price, bid + tick) if post_only else price


class ReplaceBudget:
    """At most ``per_second`` replaces in any window of :data:`WINDOW_NS`: the times of the last ones, oldest first."""

    __slots__ = ("per_second", "times")

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self.times: deque[int] = deque(maxlen=per_second)

    def take(self, now: int) -> bool:
        """Spend one replace at ``now`` if the window has room; False (nothing spent) if not."""
        times = self.times
        if len(times) == self.per_second and now - times[0] < WINDOW_NS:
            return False
        times.append(now)
        return True
