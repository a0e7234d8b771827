"""Shared helpers for the OMS tests: ids, orders sent in one line, the reports a call published."""

from __future__ import annotations

from hftpipe.schema.exchange import OrderStatus
from hftpipe.schema.trading import ExecType, OrderSide, OrderType, TimeInForce, client_order_id
from stages.trading.execution.oms import Oms
from stages.trading.execution.oms_order import OmsOrder, OrderKey
from stages.trading.execution.oms_reports import Result
from stages.trading.execution.oms_venue import VenueOrder

STRATEGY = 3
EPOCH = 1765000000123
INSTRUMENT = 7
PRICE = 10_000
QTY = 10


def key(seq: int, strategy: int = STRATEGY, epoch: int = EPOCH) -> OrderKey:
    return (strategy, epoch, seq)


def send(
    oms: Oms,
    seq: int,
    qty: int = QTY,
    price: int = PRICE,
    tif: TimeInForce = TimeInForce.GTC,
    instrument: int = INSTRUMENT,
    strategy: int = STRATEGY,
    now: int = 0,
) -> OmsOrder:
    result = oms.submit(
        key(seq, strategy), instrument, OrderSide.BUY, OrderType.LIMIT, tif, price, qty, ts_origin=seq * 11, now=now
    )
    assert result.order is not None
    return result.order


def kinds(result: Result) -> list[tuple[int, ExecType]]:
    """The reports a call published, as (order_seq, exec_type)."""
    return [(r.order.order_seq, r.exec_type) for r in result.reports]


def filled(result: Result) -> int:
    """The quantity the call's fill reports published."""
    return sum(r.last_qty for r in result.reports if r.exec_type in (ExecType.PARTIAL_FILL, ExecType.FILL))


def venue(
    order: OmsOrder,
    status: OrderStatus,
    cum_qty: int | None = None,
    cum_quote: int | None = None,
    venue_order_id: int | None = None,
) -> VenueOrder:
    """What the venue would answer for ``order`` (filled at its own price unless told)."""
    cum = order.cum_qty if cum_qty is None else cum_qty
    return VenueOrder(
        order.client_id,
        order.venue_order_id or 900 + order.order_seq if venue_order_id is None else venue_order_id,
        order.instrument,
        order.side,
        order.order_type,
        order.tif,
        order.price,
        order.qty,
        cum,
        cum * order.price if cum_quote is None else cum_quote,
        status,
    )


def foreign(
    client_id: str,
    venue_order_id: int,
    qty: int = QTY,
    cum_qty: int = 0,
    status: OrderStatus = OrderStatus.NEW,
) -> VenueOrder:
    return VenueOrder(
        client_id,
        venue_order_id,
        INSTRUMENT,
        OrderSide.SELL,
        OrderType.LIMIT,
        TimeInForce.GTC,
        PRICE,
        qty,
        cum_qty,
        cum_qty * PRICE,
        status,
    )


def text(seq: int) -> str:
    return client_order_id(STRATEGY, EPOCH, seq)
