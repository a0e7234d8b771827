"""One order as the OMS keeps it: what was asked, what the venue answered, what was filled.

Quantities and prices are the intent's fixed point (the instrument's qty and
price scales). ``notional`` is Σ price × qty over the fills, kept as an int at
price scale + qty scale, so the average price is exact however many fills
there were; ``fees`` is Σ of the fills' fees at the report's scale.

The key is the intent's ``(strategy_id, epoch, order_seq)``, which is also the
venue's client order id (:func:`~hftpipe.schema.trading.client_order_id`). An
order adopted from the venue whose client id is not ours gets
``(0, 0, venue_order_id)``: strategy ids start at 1, so it cannot collide.
"""

from __future__ import annotations

from typing import Final

from hftpipe.schema.trading import OrderSide, OrderType, RejectReason, TimeInForce, client_order_id
from stages.trading.execution.oms_transitions import OmsState

OrderKey = tuple[int, int, int]
"""``(strategy_id, epoch, order_seq)``."""

FOREIGN_STRATEGY: Final = 0
"""The strategy id of adopted orders that are not ours (real strategies have ids 1..65535)."""


class OmsOrder:
    """One order, updated in place by :class:`~stages.trading.execution.oms.Oms` (read-only to everyone else)."""

    __slots__ = (
        "acked",
        "adopted",
        "client_id",
        "cum_qty",
        "epoch",
        "fees",
        "instrument",
        "key",
        "link_open",
        "notional",
        "order_seq",
        "order_type",
        "price",
        "qty",
        "reason",
        "replaced_by",
        "replaces",
        "requests",
        "side",
        "state",
        "stop_price",
        "strategy_id",
        "tif",
        "trade_ids",
        "ts_acked",
        "ts_origin",
        "ts_sent",
        "venue_code",
        "venue_order_id",
    )

    def __init__(
        self,
        key: OrderKey,
        instrument: int,
        side: OrderSide,
        order_type: OrderType,
        tif: TimeInForce,
        price: int,
        qty: int,
        stop_price: int = 0,
        ts_origin: int = 0,
        ts_sent: int = 0,
        client_id: str | None = None,
    ) -> None:
        self.key = key
        self.strategy_id, self.epoch, self.order_seq = key
        self.client_id = client_order_id(*key) if client_id is None else client_id
        self.instrument = instrument
        self.side = side
        self.order_type = order_type
        self.tif = tif
        self.price = price
        self.qty = qty
        self.stop_price = stop_price
        self.state = OmsState.PENDING_NEW
        self.venue_order_id = 0
        """0 until the venue names it (ack, trade or query)."""
        self.cum_qty = 0
        self.notional = 0
        """Σ price × qty of the fills applied (price scale + qty scale)."""
        self.fees = 0
        self.acked = False
        """The venue's ack (or a query that found it resting) came: a later ack is a repeat."""
        self.ts_origin = ts_origin
        """The intent's ``ts_origin``: the market-data record that caused it."""
        self.ts_sent = ts_sent
        self.ts_acked = 0
        self.trade_ids: set[int] = set()
        """The venue's trade ids applied: a repeated trade is applied once."""
        self.reason = RejectReason.NONE
        self.venue_code = 0
        """Why it was rejected: the catalogue's reason and the venue's error code."""
        self.replaces: OmsOrder | None = None
        """The order this one's replace cancels (the link stays for the record)."""
        self.replaced_by: OmsOrder | None = None
        self.link_open = False
        """This is a replace's new order whose fate is not settled yet: it decides its old order's."""
        self.requests: list[OrderKey] = []
        """Keys of the cancel requests sent for it (their client ids name it in the venue's answers)."""
        self.adopted = False
        """Found on the venue by a reconciliation, not sent by this OMS: fills before it are not ours to publish."""

    @property
    def is_open(self) -> bool:
        return self.state.is_open

    @property
    def leaves(self) -> int:
        """What may still fill: 0 once the order has ended."""
        return self.qty - self.cum_qty if self.state.is_open else 0

    @property
    def avg_price(self) -> float:
        """Average fill price in fixed-point price units (0.0 before the first fill); ``notional`` is exact."""
        return self.notional / self.cum_qty if self.cum_qty else 0.0

    def __repr__(self) -> str:
        return (
            f"OmsOrder({self.client_id} {self.state.name}, {self.side.name} {self.cum_qty}/{self.qty}"
            f" @ {self.price}, venue id {self.venue_order_id})"
        )
