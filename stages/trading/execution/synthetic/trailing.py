"""Trailing stops: a stop level that follows the best price since placement, only ever in the order's favour.

A **sell** trailing stop (it protects a long) follows the highest reference
price seen since it was placed and fires when the price falls ``offset``
below it (or ``percent`` % below it); a **buy** trailing stop (it protects a
short) follows the lowest and fires ``offset`` (``percent`` %) above it.
The best price only improves, so the level only moves up for a sell and down
for a buy: a price that turns back never drags it along. It releases a
MARKET order.

The best price starts at the reference price the book last saw when the
order was armed (a price seen "since placement"); with none seen yet, at the
first one after. Levels are exact integers: ``percent`` is a
:class:`~decimal.Decimal` turned into a ratio ``num / den``, and the level is
rounded towards firing later (down for a sell, up for a buy), which is
exactly "the reference price reached ``best × (1 ∓ percent / 100)``" for
integer prices. A level never equals the best price itself, so the price
that sets a new best cannot fire the stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hftpipe.schema.trading import IntentFlag, OrderSide, TimeInForce
from stages.trading.execution.synthetic.orders import check_common
from stages.trading.execution.synthetic.trigger import Trigger


@dataclass(frozen=True, slots=True, kw_only=True)
class TrailingStop:
    """Trail the best price by ``offset`` (fixed point, price scale) or ``percent`` (0 < percent < 100), exactly one."""

    id: int
    strategy_id: int
    instrument_id: int
    side: OrderSide
    qty: int
    offset: int | None = None
    percent: Decimal | None = None
    trigger: Trigger = Trigger.LAST
    tif: TimeInForce = TimeInForce.GTC
    flags: IntentFlag = IntentFlag.NONE

    def __post_init__(self) -> None:
        check_common("a trailing stop", self.qty, self.side)
        if (self.offset is None) == (self.percent is None):
            raise ValueError("a trailing stop takes an offset or a percent, exactly one")
        if self.offset is not None and self.offset <= 0:
            raise ValueError(f"a trailing stop's offset must be > 0, got {self.offset}")
        if self.percent is not None and not (self.percent.is_finite() and 0 < self.percent < 100):
            raise ValueError(f"a trailing stop's percent must be in (0, 100), got {self.percent}")

    @property
    def up(self) -> bool:
        """Whether it fires on a rise (a buy, trailing the low) or a fall (a sell, trailing the high)."""
        return self.side is OrderSide.BUY

    def ratio(self) -> tuple[int, int]:
        """``percent / 100`` as ``(num, den)``; ``(0, 1)`` for an offset stop."""
        if self.percent is None:
            return 0, 1
        return (self.percent / 100).as_integer_ratio()


def trail_level(up: bool, best: int, offset: int, num: int, den: int) -> int:
    """The level for ``best``: ``best ∓ offset`` (``offset > 0``) or ``best × (1 ∓ num / den)`` rounded towards later.

    ``up`` (a buy): ``best + offset``, or the ceiling of ``best × (den + num) / den``;
    a sell: ``best − offset``, or the floor of ``best × (den − num) / den``.
    """
    if offset:
        return best + offset if up else best - offset
    if up:
        return -((-best * (den + num)) // den)
    return (best * (den - num)) // den
