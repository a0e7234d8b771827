"""The public strategy API: subclass :class:`Strategy`, read books and positions, send orders.

``from hftpipe.strategy import Strategy, BookView`` is all a strategy needs;
indicators are in :mod:`hftpipe.strategy.indicators`.
"""

from hftpipe.schema.trading import ExecType, OrderSide, OrderType, RejectReason, TimeInForce, Trigger
from hftpipe.strategy.book import BookView
from hftpipe.strategy.events import Bar, OrderReport, Trade
from hftpipe.strategy.host import StrategyHost
from hftpipe.strategy.orders import Order, OrderState
from hftpipe.strategy.position import Position
from hftpipe.strategy.pricing import Refused, Rounding
from hftpipe.strategy.slippage import SlippageEstimate, WalkStatus, estimate_from_depth, estimate_slippage
from hftpipe.strategy.strategy import NANOS_PER_SECOND, Strategy
from hftpipe.strategy.synthetic import Leg

__all__ = [
    "NANOS_PER_SECOND",
    "Bar",
    "BookView",
    "ExecType",
    "Leg",
    "Order",
    "OrderReport",
    "OrderSide",
    "OrderState",
    "OrderType",
    "Position",
    "Refused",
    "RejectReason",
    "Rounding",
    "SlippageEstimate",
    "Strategy",
    "StrategyHost",
    "TimeInForce",
    "Trade",
    "Trigger",
    "WalkStatus",
    "estimate_from_depth",
    "estimate_slippage",
]
