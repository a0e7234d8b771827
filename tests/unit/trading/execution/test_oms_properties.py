"""Whatever the network does to the venue's reports, a reconciliation ends at the venue's truth, never past it.

A random venue life per order (placed or not; acked; trades summing to at most
its quantity; then filled, canceled, expired or still open) gives a stream of
reports. It is delivered with drops, duplicates and any reordering, with our
timeouts mixed in, then the venue's truth is reconciled. Every order must end
with the venue's cumulative quantity and state, the fills published for it
must add up to exactly that quantity, and at no point before may they have
added up to more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from hftpipe.schema.exchange import OrderStatus
from hftpipe.schema.trading import ExecType
from stages.trading.execution.oms import Oms
from stages.trading.execution.oms_order import OmsOrder
from stages.trading.execution.oms_reports import Report, Result
from stages.trading.execution.oms_transitions import OmsState
from stages.trading.execution.oms_venue import VenueOrder, VenueView
from tests.unit.trading.execution.oms_desk import send, venue

S = OmsState
_FILLS = (ExecType.PARTIAL_FILL, ExecType.FILL)
_STATE_OF = {
    OrderStatus.FILLED: S.FILLED,
    OrderStatus.CANCELED: S.CANCELED,
    OrderStatus.EXPIRED: S.EXPIRED,
}


@dataclass
class Life:
    """One order's truth on the venue, and the reports it sent."""

    qty: int
    placed: bool
    cum_qty: int = 0
    cum_quote: int = 0
    status: OrderStatus = OrderStatus.NEW
    reports: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)


@st.composite
def lives(draw: st.DrawFn) -> list[Life]:
    out: list[Life] = []
    trade_id = 0
    for _ in range(draw(st.integers(1, 4))):
        life = Life(qty=draw(st.integers(1, 12)), placed=draw(st.booleans() | st.just(True)))
        out.append(life)
        if not life.placed:
            continue
        life.reports.append(("ack", ()))
        for drawn in draw(st.lists(st.integers(1, 6), max_size=5)):
            size = min(drawn, life.qty - life.cum_qty)
            if not size:
                break
            trade_id += 1
            price = draw(st.integers(95, 105))
            life.cum_qty += size
            life.cum_quote += price * size
            life.reports.append(("trade", (trade_id, price, size, life.cum_qty, life.cum_quote)))
        if life.cum_qty == life.qty:
            life.status = OrderStatus.FILLED
        else:
            life.status = draw(st.sampled_from([OrderStatus.NEW, OrderStatus.CANCELED, OrderStatus.EXPIRED]))
            if life.status is not OrderStatus.NEW:
                life.reports.append((life.status.name.lower(), (life.cum_qty, life.cum_quote)))
        if life.status is OrderStatus.NEW and life.cum_qty:
            life.status = OrderStatus.PARTIALLY_FILLED
    return out


def _deliver(oms: Oms, order: OmsOrder, kind: str, args: tuple[int, ...]) -> Result:
    k = order.key
    if kind == "ack":
        return oms.on_ack(k, 1000 + order.order_seq)
    if kind == "trade":
        trade_id, price, size, cum_qty, cum_quote = args
        return oms.on_trade(k, trade_id, price, size, cum_qty, fee=1, cum_quote=cum_quote)
    if kind == "timeout":
        return oms.timed_out(k)
    if kind == "canceled":
        return oms.on_canceled(k, *args)
    return oms.on_expired(k, *args)


def _truth(order: OmsOrder, life: Life) -> VenueOrder:
    vid = 1000 + order.order_seq
    return venue(order, life.status, cum_qty=life.cum_qty, cum_quote=life.cum_quote, venue_order_id=vid)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_delivery_then_reconcile_reaches_the_venue_truth_and_never_overfills(data: st.DataObject) -> None:
    truth = data.draw(lives())
    oms = Oms()
    orders = [send(oms, seq, qty=life.qty, price=100) for seq, life in enumerate(truth, 1)]
    pool = [(i, kind, args) for i, life in enumerate(truth) for kind, args in life.reports]
    pool += [(i, "timeout", ()) for i in range(len(truth))]
    picks = data.draw(st.lists(st.integers(0, len(pool) - 1), max_size=3 * len(pool)), label="delivery")
    published = [0] * len(truth)

    def publish(reports: Iterable[Report]) -> None:
        for r in reports:
            if r.exec_type in _FILLS:
                published[r.order.order_seq - 1] += r.last_qty
        for i, life in enumerate(truth):
            assert published[i] <= life.cum_qty, "a fill was published that the venue never made"

    for i, life in enumerate(truth):
        if not life.placed:  # its send never reached the venue: only a timeout says so
            publish(oms.timed_out(orders[i].key).reports)
    for pick in picks:
        i, kind, args = pool[pick]
        publish(_deliver(oms, orders[i], kind, args).reports)
    assert oms.counts.illegal == 0

    unknown = {o.key for o in oms.orders_in(S.UNKNOWN)}
    view = VenueView(
        open_orders=[_truth(o, life) for o, life in zip(orders, truth, strict=True) if life.placed and o.is_open],
        instruments=None,
        statuses={o.key: _truth(o, life) if life.placed else None for o, life in zip(orders, truth, strict=True)},
        as_of=1 << 62,
    )
    result = oms.reconcile(view)
    publish(result.reports)
    assert (result.to_query, result.adopted, result.conflicts) == ((), (), ())
    assert set(result.resolved) == unknown
    for order, life, total in zip(orders, truth, published, strict=True):
        assert order.cum_qty == life.cum_qty
        assert total == life.cum_qty, "the published fills add up to the venue's cumulative quantity"
        assert order.notional == (life.cum_quote if life.placed else 0)
        if not life.placed:
            assert order.state is S.REJECTED
        elif life.status in _STATE_OF:
            assert order.state is _STATE_OF[life.status]
        else:
            assert order.state is (S.PARTIALLY_FILLED if life.cum_qty else S.NEW)
    assert oms.counts.illegal == 0
    assert oms.reconcile(view).reports == (), "the truth reached, a second pass changes nothing"
