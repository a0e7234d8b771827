"""Stop and take-profit orders: a level held here, a market or limit order released when the price reaches it.

A **stop** buys when the price rises to ``stop_price`` and sells when it
falls to it (it chases the move: a breakout entry, or a stop-loss exit); a
**take-profit** does the opposite, selling when the price rises to the level
and buying when it falls to it (it takes the move: a profit exit). Both
release a MARKET order (``limit_price == 0``: stop-market, take-profit) or a
LIMIT order at ``limit_price`` (stop-limit, take-profit-limit) with ``tif``.

Which price is watched is the order's ``trigger`` (see
:mod:`~stages.trading.execution.synthetic.trigger`); the level is inclusive.
An order placed when its level is already reached (by the last price the
book has seen for its reference) is released at once, with that price as
its trigger price: for a protective exit that is the point; a strategy that
wants "only on a move through the level" checks the price first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hftpipe.schema.trading import IntentFlag, OrderSide, OrderType, TimeInForce
from stages.trading.execution.synthetic.orders import check_common
from stages.trading.execution.synthetic.trigger import Trigger


@dataclass(frozen=True, slots=True, kw_only=True)
class _LevelOrder:
    """What a stop and a take-profit share: a level, and the order released at it.

    ``id`` is the synthetic order's id, chosen by the caller and unique in
    the book; prices at the instrument's price scale, ``qty`` at its qty scale.
    """

    what: ClassVar[str]
    """How error messages name it."""
    id: int
    strategy_id: int
    instrument_id: int
    side: OrderSide
    qty: int
    stop_price: int
    limit_price: int = 0
    trigger: Trigger = Trigger.LAST
    tif: TimeInForce = TimeInForce.GTC
    flags: IntentFlag = IntentFlag.NONE

    def __post_init__(self) -> None:
        check_common(self.what, self.qty, self.side)
        if self.stop_price <= 0 or self.limit_price < 0:
            raise ValueError(
                f"{self.what} needs stop_price > 0 and limit_price >= 0, got {self.stop_price}, {self.limit_price}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop(_LevelOrder):
    """Stop-market (``limit_price == 0``) or stop-limit: buys when the price rises to the level, sells on a fall."""

    what: ClassVar[str] = "a stop"

    @property
    def up(self) -> bool:
        """Whether it fires on a rise (a buy stop) or a fall (a sell stop)."""
        return self.side is OrderSide.BUY

    @property
    def order_type(self) -> OrderType:
        """As an intent would name it: STOP_MARKET or STOP_LIMIT."""
        return OrderType.STOP_LIMIT if self.limit_price else OrderType.STOP_MARKET


@dataclass(frozen=True, slots=True, kw_only=True)
class TakeProfit(_LevelOrder):
    """Take-profit (``limit_price == 0``: market) or take-profit-limit: sells when the price rises to ``stop_price``,
    buys when it falls to it."""

    what: ClassVar[str] = "a take-profit"

    @property
    def up(self) -> bool:
        """Whether it fires on a rise (a sell take-profit) or a fall (a buy take-profit)."""
        return self.side is OrderSide.SELL
