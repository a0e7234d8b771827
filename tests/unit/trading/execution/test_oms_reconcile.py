"""Reconciliation: the venue's answers bring the OMS to its truth; what they leave open is to be asked, not guessed."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from hftpipe.schema.exchange import OrderStatus
from hftpipe.schema.trading import ExecType, client_order_id
from stages.trading.execution.oms import Oms
from stages.trading.execution.oms_order import FOREIGN_STRATEGY, OrderKey
from stages.trading.execution.oms_reports import Outcome, Report
from stages.trading.execution.oms_transitions import OmsState
from stages.trading.execution.oms_venue import VenueOrder, VenueView
from tests.unit.trading.execution.oms_desk import EPOCH, INSTRUMENT, PRICE, QTY, STRATEGY, foreign, key, send, venue

X = ExecType
S = OmsState


def _view(
    open_orders: Sequence[VenueOrder] = (),
    statuses: Mapping[OrderKey, VenueOrder | None] | None = None,
    instruments: Collection[int] | None = None,
    as_of: int = 1_000,
) -> VenueView:
    return VenueView(tuple(open_orders), instruments, statuses or {}, as_of)


def _fills(reports: Iterable[Report]) -> dict[int, int]:
    out: dict[int, int] = {}
    for r in reports:
        if r.exec_type in (X.PARTIAL_FILL, X.FILL):
            out[r.order.order_seq] = out.get(r.order.order_seq, 0) + r.last_qty
    return out


def test_reconcile_publishes_exactly_the_missed_fills_and_ends() -> None:
    oms = Oms()
    partial, resting, filled, canceled = (send(oms, seq) for seq in (1, 2, 3, 4))
    for order in (partial, resting, filled, canceled):
        oms.on_ack(order.key, 100 + order.order_seq)
    oms.on_trade(partial.key, 1, PRICE, 2, 2)
    view = _view(
        open_orders=[venue(partial, OrderStatus.PARTIALLY_FILLED, cum_qty=5), venue(resting, OrderStatus.NEW)],
        statuses={
            filled.key: venue(filled, OrderStatus.FILLED, cum_qty=QTY),
            canceled.key: venue(canceled, OrderStatus.CANCELED, cum_qty=1),
        },
    )
    result = oms.reconcile(view)
    assert _fills(result.reports) == {1: 3, 3: QTY, 4: 1}
    ends = [(r.order.order_seq, r.exec_type) for r in result.reports if r.exec_type not in (X.PARTIAL_FILL, X.FILL)]
    assert ends == [(4, X.CANCELED)]
    assert (partial.cum_qty, filled.state, canceled.state, resting.state) == (5, S.FILLED, S.CANCELED, S.NEW)
    assert (result.to_query, result.adopted, result.conflicts, result.resolved) == ((), (), (), {})
    assert oms.reconcile(view).reports == (), "a second pass finds nothing to change"


def test_orders_missing_from_the_open_orders_are_to_be_queried_not_guessed() -> None:
    oms = Oms()
    missing = send(oms, 1, now=500)
    oms.on_ack(missing.key, 1)
    too_new = send(oms, 2, now=2_000)  # sent after the open-orders query: its answer could not list it
    elsewhere = send(oms, 3, instrument=INSTRUMENT + 1, now=500)
    result = oms.reconcile(_view(instruments=[INSTRUMENT], as_of=1_000))
    assert result.to_query == (missing.key,)
    assert (missing.state, too_new.state, elsewhere.state, result.reports) == (S.NEW, S.PENDING_NEW, S.PENDING_NEW, ())


def test_unknown_orders_are_resolved_each_way_or_left_to_query() -> None:
    oms = Oms()
    found, gone, unanswered = (send(oms, seq) for seq in (1, 2, 3))
    for order in (found, gone, unanswered):
        oms.timed_out(order.key)
    result = oms.reconcile(_view(open_orders=[venue(found, OrderStatus.NEW)], statuses={gone.key: None}, as_of=-1))
    assert result.resolved == {found.key: S.NEW, gone.key: S.REJECTED}
    assert result.to_query == (unanswered.key,), "an UNKNOWN order is queried whatever the snapshot's time"
    assert [(r.order.order_seq, r.exec_type) for r in result.reports] == [(2, X.REJECTED), (1, X.ACK)]


def test_open_orders_unknown_to_the_oms_are_adopted_and_flagged() -> None:
    oms = Oms()
    ours_before = venue(send(Oms(), 7), OrderStatus.PARTIALLY_FILLED, cum_qty=4, venue_order_id=70)
    ours_before = ours_before._replace(client_id=client_order_id(STRATEGY, EPOCH - 1, 7))
    manual = foreign("web_6gT2", 71, cum_qty=0)
    result = oms.reconcile(_view(open_orders=[ours_before, manual]))
    assert {o.client_id for o in result.adopted} == {ours_before.client_id, "web_6gT2"}
    assert all(o.adopted and o.acked for o in result.adopted)
    assert [(r.exec_type, r.cum_qty, r.leaves_qty) for r in result.reports] == [(X.ACK, 4, 6), (X.ACK, 0, QTY)]
    assert _fills(result.reports) == {}, "fills before the adoption are not ours to publish"
    adopted = oms.find("web_6gT2")
    assert adopted is not None and adopted.key == (FOREIGN_STRATEGY, 0, 71) and oms.by_venue_id(71) is adopted
    own = oms.get((STRATEGY, EPOCH - 1, 7))
    assert own is not None and own.state is S.PARTIALLY_FILLED
    later = oms.on_trade(own.key, 5, PRICE, 2, 6)
    assert [(r.exec_type, r.last_qty) for r in later.reports] == [(X.PARTIAL_FILL, 2)]
    again = oms.reconcile(_view(open_orders=[ours_before._replace(cum_qty=6), manual]))
    assert (again.adopted, again.reports) == ((), ())
    assert oms.counts.adopted == 2


def test_a_venue_truth_the_oms_cannot_take_is_a_counted_conflict() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_ack(order.key, 5)
    oms.on_canceled(order.key)
    result = oms.reconcile(_view(open_orders=[venue(order, OrderStatus.NEW)]))
    assert (result.conflicts, order.state, result.reports) == ((order.key,), S.CANCELED, ())
    assert oms.counts.illegal == 1


def test_a_replaces_new_order_is_reconciled_first_so_its_old_order_is_replaced_not_canceled() -> None:
    oms = Oms()
    old = send(oms, 1)
    oms.on_ack(old.key, 5)
    replaced = oms.replace_request(old.key, key(2), PRICE, QTY)
    new = replaced.order
    assert new is not None
    oms.timed_out(new.key)
    statuses = {old.key: venue(old, OrderStatus.CANCELED), new.key: venue(new, OrderStatus.NEW)}
    result = oms.reconcile(_view(statuses=statuses))
    assert [(r.order.order_seq, r.exec_type) for r in result.reports] == [(2, X.REPLACED)]
    assert result.resolved == {old.key: S.REPLACED, new.key: S.NEW}


def test_adopting_a_known_or_ended_order_is_refused() -> None:
    oms = Oms()
    order = send(oms, 1)
    assert oms.adopt(venue(order, OrderStatus.NEW)).outcome is Outcome.ILLEGAL
    assert oms.adopt(foreign("x1", 5, status=OrderStatus.FILLED)).outcome is Outcome.ILLEGAL
    assert oms.find("x1") is None
