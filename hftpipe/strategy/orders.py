"""A strategy's own orders: what it asked for and what the venue (or risk) said since."""

from __future__ import annotations

from enum import IntEnum

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce, client_order_id


class OrderState(IntEnum):
    PENDING_NEW = 0
    """Sent; no answer yet."""
    OPEN = 1
    PARTIALLY_FILLED = 2
    PENDING_CANCEL = 3
    PENDING_REPLACE = 4
    HELD = 5
    """A synthetic order the execution stage holds (watching the market, or waiting for its OTO parent)."""
    TRIGGERED = 6
    """A synthetic order whose real order was released; the released order's states follow."""
    FILLED = 7
    CANCELED = 8
    REPLACED = 9
    REJECTED = 10
    EXPIRED = 11

    @property
    def is_open(self) -> bool:
        """Still able to trade (or still waiting for its first answer)."""
        return self < OrderState.FILLED


class Order:
    """One order of the strategy, updated in place from execution reports.

    ``price`` and ``qty`` are fixed point at the instrument's scales;
    ``avg_price`` is the average fill price as a float in fixed-point units
    (divide by ``10**price_scale`` for a price).
    """

    __slots__ = (
        "avg_price", "client_id", "cum_qty", "epoch", "fees", "instrument", "order_type", "price", "qty",
        "reason", "replaced_by", "replaces", "seq", "side", "state", "stop_price", "strategy_id", "synthetic", "tif",
        "venue_code", "venue_order_id",
    )  # fmt: skip

    def __init__(
        self,
        *,
        strategy_id: int,
        epoch: int,
        seq: int,
        instrument: Instrument,
        side: OrderSide,
        order_type: OrderType,
        tif: TimeInForce,
        price: int,
        qty: int,
        replaces: Order | None = None,
        stop_price: int = 0,
        synthetic: bool = False,
    ) -> None:
        self.strategy_id = strategy_id
        self.epoch = epoch
        self.seq = seq
        self.instrument = instrument
        self.side = side
        self.order_type = order_type
        self.tif = tif
        self.price = price
        self.qty = qty
        self.state = OrderState.PENDING_NEW
        self.cum_qty = 0
        self.avg_price = 0.0
        self.fees = 0
        self.venue_order_id = 0
        self.reason = 0
        """The :class:`~hftpipe.schema.trading.RejectReason` of a rejection (0: none)."""
        self.venue_code = 0
        self.replaces = replaces
        """The order this one replaces (a cancel-replace), until the venue confirms it."""
        self.replaced_by: Order | None = None
        self.client_id = client_order_id(strategy_id, epoch, seq)
        self.stop_price = stop_price
        """A stop's or take-profit's trigger level (0: none)."""
        self.synthetic = synthetic
        """Held by the execution stage and released when triggered (see :mod:`hftpipe.strategy.synthetic`)."""

    @property
    def leaves_qty(self) -> int:
        return self.qty - self.cum_qty if self.state.is_open else 0

    @property
    def is_open(self) -> bool:
        return self.state.is_open

    def fill(self, price: int, qty: int, fee: int) -> None:
        """Account one fill (average price kept exact enough in float: it is a convenience)."""
        total = self.cum_qty + qty
        self.avg_price = (self.avg_price * self.cum_qty + price * qty) / total if total else 0.0
        self.cum_qty = total
        self.fees += fee

    def __repr__(self) -> str:
        inst = self.instrument
        return (
            f"Order({self.client_id} {self.side.name} {inst.qty_text(self.qty)} {inst.symbol} @ "
            f"{inst.price_text(self.price)} {self.order_type.name}/{self.tif.name} {self.state.name} "
            f"filled {inst.qty_text(self.cum_qty)})"
        )
