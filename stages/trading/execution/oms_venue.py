"""The venue's view of our orders, as its queries answer it, and what a reconciliation against it found.

The venue client turns ``order.status`` and ``openOrders.status`` answers
into :class:`VenueOrder` s (Binance's status strings to
:class:`~hftpipe.schema.exchange.OrderStatus`; its unused PENDING_CANCEL is
NEW), so the OMS stays free of any venue's wire format.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import NamedTuple

from hftpipe.schema.exchange import OrderStatus
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from stages.trading.execution.oms_order import OmsOrder, OrderKey
from stages.trading.execution.oms_reports import Report
from stages.trading.execution.oms_transitions import OmsState


class VenueOrder(NamedTuple):
    """One order as the venue says it is."""

    client_id: str
    venue_order_id: int
    instrument: int
    side: OrderSide
    order_type: OrderType
    tif: TimeInForce
    price: int
    qty: int
    cum_qty: int
    cum_quote: int
    """Σ price × qty of its fills at price scale + qty scale (Binance ``cummulativeQuoteQty``); -1: not known."""
    status: OrderStatus


class VenueView(NamedTuple):
    """What the venue answered, for :meth:`~stages.trading.execution.oms.Oms.reconcile`."""

    open_orders: Sequence[VenueOrder]
    """``openOrders.status``: every order open on the venue in ``instruments``."""
    instruments: Collection[int] | None
    """The instruments ``open_orders`` covers; None: all of them."""
    statuses: Mapping[OrderKey, VenueOrder | None]
    """``order.status`` answers by key; None: the venue has no such order (-2013)."""
    as_of: int
    """When the open-orders query was sent: an order sent later may be missing from its answer."""


class Reconciliation(NamedTuple):
    """What bringing the OMS to the venue's truth did."""

    reports: tuple[Report, ...]
    """Missed fills (by cumulative quantity), ends, acks and adoptions, in the order they were applied."""
    resolved: Mapping[OrderKey, OmsState]
    """The orders that were UNKNOWN and are not any more, with the state the venue's answer gave them."""
    adopted: tuple[OmsOrder, ...]
    """Open on the venue, unknown to the OMS: now kept, flagged ``adopted``."""
    to_query: tuple[OrderKey, ...]
    """Open in the OMS, missing from the venue's open orders and not in ``statuses``: ask ``order.status``."""
    conflicts: tuple[OrderKey, ...]
    """Orders whose venue state the OMS could not take (an illegal transition, counted and logged)."""
