"""A direct order: released to the venue at once, as it is.

It exists so the contingent orders can hold real orders too: the resting
limit leg of an OCO (a take-profit limit next to a synthetic stop, as
Binance's own OCO pairs them), the parent of an OTO or bracket (a limit or
market entry), or a child released when its parent fills.
"""

from __future__ import annotations

from dataclasses import dataclass

from hftpipe.schema.trading import IntentFlag, OrderSide, OrderType, TimeInForce
from stages.trading.execution.synthetic.orders import check_common

DIRECT_TYPES = (OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER)


@dataclass(frozen=True, slots=True, kw_only=True)
class Direct:
    """LIMIT or LIMIT_MAKER at ``price`` (> 0), or MARKET (``price == 0``)."""

    id: int
    strategy_id: int
    instrument_id: int
    side: OrderSide
    qty: int
    order_type: OrderType = OrderType.LIMIT
    price: int = 0
    tif: TimeInForce = TimeInForce.GTC
    flags: IntentFlag = IntentFlag.NONE

    def __post_init__(self) -> None:
        check_common("a direct order", self.qty, self.side)
        if self.order_type not in DIRECT_TYPES:
            raise ValueError(f"a direct order is LIMIT, LIMIT_MAKER or MARKET, got {self.order_type!r}")
        if (self.order_type is OrderType.MARKET) != (self.price == 0) or self.price < 0:
            raise ValueError(f"a direct order's price is > 0 for a limit and 0 for MARKET, got {self.price}")
