"""The transition table is the OMS's behaviour: every (state, event) pair, legal or not, driven through the public API.

Each state is reached the way it is in production (a recipe of real calls),
acknowledged and not where both exist, and, for the events a replace's new
order sends to its old one, with the replace still in flight. Then every
event is fired: a pair in the table must land where the table says and
publish what it says; every other pair must be counted, logged and change
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

import pytest

from hftpipe.schema.exchange import OrderStatus
from hftpipe.schema.trading import ExecType
from stages.trading.execution.oms import Oms
from stages.trading.execution.oms_order import OmsOrder
from stages.trading.execution.oms_reports import Outcome, Result
from stages.trading.execution.oms_transitions import TRANSITIONS, OmsEvent, OmsState, resting_state
from tests.unit.trading.execution.oms_desk import PRICE, QTY, key, send, venue

S = OmsState
E = OmsEvent
NEXT_SEQ = 50


def _replace(oms: Oms, order: OmsOrder) -> OmsOrder:
    result = oms.replace_request(order.key, key(NEXT_SEQ), PRICE - 1, QTY)
    assert result.outcome is Outcome.APPLIED and result.order is not None
    return result.order


def _acked(oms: Oms) -> OmsOrder:
    order = send(oms, 1)
    oms.on_ack(order.key, 101)
    return order


def _partial(oms: Oms, ack: bool) -> OmsOrder:
    order = _acked(oms) if ack else send(oms, 1)
    oms.on_trade(order.key, 1, PRICE, 3, 3)
    return order


Recipe = Callable[[Oms], OmsOrder]


def _then(order: OmsOrder, call: Callable[..., object]) -> OmsOrder:
    call(order.key)
    return order


def _old(oms: Oms, order: OmsOrder) -> OmsOrder:
    _replace(oms, order)
    return order


def _replaced_settled(oms: Oms) -> OmsOrder:
    old = _acked(oms)
    new = _replace(oms, old)
    oms.on_ack(new.key, 150)
    return old


RECIPES: dict[tuple[OmsState, bool], Recipe] = {
    (S.PENDING_NEW, False): lambda oms: send(oms, 1),
    (S.NEW, True): _acked,
    (S.PARTIALLY_FILLED, True): lambda oms: _partial(oms, True),
    (S.PARTIALLY_FILLED, False): lambda oms: _partial(oms, False),
    (S.PENDING_CANCEL, True): lambda oms: _then(_acked(oms), oms.cancel_request),
    (S.PENDING_CANCEL, False): lambda oms: _then(send(oms, 1), oms.cancel_request),
    (S.PENDING_REPLACE, True): lambda oms: _old(oms, _acked(oms)),
    (S.PENDING_REPLACE, False): lambda oms: _old(oms, _partial(oms, False)),
    (S.UNKNOWN, True): lambda oms: _then(_then(_acked(oms), oms.cancel_request), oms.timed_out),
    (S.UNKNOWN, False): lambda oms: _then(send(oms, 1), oms.timed_out),
    (S.FILLED, True): lambda oms: _then(_acked(oms), lambda k: oms.on_trade(k, 9, PRICE, QTY, QTY)),
    (S.FILLED, False): lambda oms: _then(send(oms, 1), lambda k: oms.on_trade(k, 9, PRICE, QTY, QTY)),
    (S.CANCELED, True): lambda oms: _then(_acked(oms), oms.on_canceled),
    (S.CANCELED, False): lambda oms: _then(send(oms, 1), oms.on_canceled),
    (S.REPLACED, True): _replaced_settled,
    (S.REPLACED, False): lambda oms: _then(_old(oms, _partial(oms, False)), oms.on_canceled),
    (S.REJECTED, False): lambda oms: _then(send(oms, 1), oms.on_rejected),
    (S.EXPIRED, True): lambda oms: _then(_acked(oms), oms.on_expired),
    (S.EXPIRED, False): lambda oms: _then(send(oms, 1), oms.on_expired),
}
"""(state, acknowledged) -> how an order gets there."""


LINKED: dict[OmsState, Recipe] = {
    S.PENDING_REPLACE: lambda oms: _old(oms, _acked(oms)),
    S.REPLACED: lambda oms: _then(_old(oms, _acked(oms)), oms.on_canceled),
    S.NEW: lambda oms: _then(_old(oms, _acked(oms)), oms.on_cancel_rejected),
    S.PARTIALLY_FILLED: lambda oms: _then(_old(oms, _partial(oms, True)), oms.on_cancel_rejected),
    S.UNKNOWN: lambda oms: _then(_old(oms, _acked(oms)), oms.timed_out),
    S.FILLED: lambda oms: _then(_old(oms, _acked(oms)), lambda k: oms.on_trade(k, 9, PRICE, QTY, QTY)),
    S.CANCELED: lambda oms: _then(_then(_old(oms, _acked(oms)), oms.timed_out), oms.on_canceled),
    S.EXPIRED: lambda oms: _then(_old(oms, _acked(oms)), oms.on_expired),
    S.PENDING_CANCEL: lambda oms: _then(_then(_old(oms, _acked(oms)), oms.on_cancel_rejected), oms.cancel_request),
}
"""A replace's old order in each state it can be in while its new order's fate is still open.

Not here: PENDING_NEW and REJECTED (only an acknowledged order can be replaced, and a query
cannot reject an order the venue acknowledged)."""

REPLACEMENT_EVENTS = (E.REPLACEMENT_ACCEPTED, E.REPLACEMENT_REJECTED)
ORDER_EVENTS = tuple(e for e in OmsEvent if e not in REPLACEMENT_EVENTS)


def _fire(oms: Oms, order: OmsOrder, event: OmsEvent) -> Result:
    """``event`` on ``order`` through the public API (the replacement events through its new order)."""
    k = order.key
    if event is E.CANCEL_REQUEST:
        return oms.cancel_request(k)
    if event is E.REPLACE_REQUEST:
        return oms.replace_request(k, key(NEXT_SEQ + 1), PRICE - 2, QTY)
    if event is E.TIMEOUT:
        return oms.timed_out(k)
    if event is E.ACK:
        return oms.on_ack(k, 777)
    if event is E.TRADE_PARTIAL:
        return oms.on_trade(k, 1000, PRICE, 1, order.cum_qty + 1)
    if event is E.TRADE_FULL:
        return oms.on_trade(k, 1000, PRICE, QTY - order.cum_qty, QTY)
    if event is E.CANCELED:
        return oms.on_canceled(k)
    if event is E.EXPIRED:
        return oms.on_expired(k)
    if event is E.REJECTED:
        return oms.on_rejected(k)
    if event is E.CANCEL_REJECTED:
        return oms.on_cancel_rejected(k)
    if event is E.STATUS_OPEN:
        status = OrderStatus.PARTIALLY_FILLED if order.cum_qty else OrderStatus.NEW
        return oms.on_status(k, venue(order, status))
    if event is E.NOT_FOUND:
        return oms.on_status(k, None)
    assert order.replaced_by is not None
    if event is E.REPLACEMENT_ACCEPTED:
        return oms.on_ack(order.replaced_by.key, 888)
    return oms.on_rejected(order.replaced_by.key)


class Case(NamedTuple):
    state: OmsState
    acked: bool
    event: OmsEvent
    recipe: Recipe

    @property
    def id(self) -> str:
        return f"{self.state.name}-{'acked' if self.acked else 'unacked'}-{self.event.name}"


def _cases() -> list[Case]:
    cases = [
        Case(state, acked, event, recipe)
        for (state, acked), recipe in RECIPES.items()
        for event in ORDER_EVENTS
        if not (state is S.FILLED and event in (E.TRADE_PARTIAL, E.TRADE_FULL))  # a filled order's cum is final
        and not (event is E.STATUS_OPEN and not acked)  # answered as the ack first: test_oms_unknown
    ]
    cases += [Case(state, True, event, recipe) for state, recipe in LINKED.items() for event in REPLACEMENT_EVENTS]
    return cases


CASES = _cases()


def _pre_table(case: Case, order: OmsOrder) -> Outcome | None:
    """What the OMS decides before the table: a repeated ack changes nothing; a not-found can't unplace an ack."""
    if case.event is E.ACK and order.acked:
        return Outcome.UNCHANGED
    if case.event is E.NOT_FOUND and (order.acked or order.cum_qty) and (case.state, case.event) in TRANSITIONS:
        return Outcome.ILLEGAL
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_pair_moves_as_the_table_says_or_is_counted_and_not_applied(case: Case) -> None:
    oms = Oms()
    order = case.recipe(oms)
    assert (order.state, order.acked) == (case.state, case.acked), "the recipe reaches its state"
    cum, illegal = order.cum_qty, oms.counts.illegal
    early = _pre_table(case, order)
    result = _fire(oms, order, case.event)
    own = [r.exec_type for r in result.reports if r.order is order]
    edge = TRANSITIONS.get((case.state, case.event))
    if early is Outcome.UNCHANGED:
        assert (result.outcome, order.state, own) == (Outcome.UNCHANGED, case.state, [])
        return
    if edge is None or early is Outcome.ILLEGAL:
        assert oms.counts.illegal == illegal + 1
        assert (order.state, order.cum_qty, own) == (case.state, cum, [])
        if case.event not in REPLACEMENT_EVENTS:  # those are illegal for the old order, not the call's
            assert result.outcome is Outcome.ILLEGAL
        return
    assert oms.counts.illegal == illegal
    acked = order.acked
    expected = edge.state if edge.state is not None else resting_state(acked, order.cum_qty)
    assert order.state is expected
    assert own == ([] if edge.report is None else [edge.report])
    if case.event in (E.TRADE_PARTIAL, E.TRADE_FULL):
        assert [r.last_qty for r in result.reports if r.order is order] == [order.cum_qty - cum]


def test_every_legal_pair_is_exercised() -> None:
    fired = {(c.state, c.event) for c in CASES}
    assert set(TRANSITIONS) <= fired


def test_illegal_sample_is_counted_logged_and_not_applied(caplog: pytest.LogCaptureFixture) -> None:
    sample = [
        (S.FILLED, True, E.CANCELED),
        (S.FILLED, True, E.CANCEL_REQUEST),
        (S.REJECTED, False, E.ACK),
        (S.REJECTED, False, E.TRADE_PARTIAL),
        (S.CANCELED, True, E.EXPIRED),
        (S.NEW, True, E.REJECTED),
        (S.PENDING_NEW, False, E.CANCEL_REJECTED),
        (S.PENDING_NEW, False, E.REPLACE_REQUEST),
        (S.UNKNOWN, False, E.CANCEL_REQUEST),
        (S.UNKNOWN, True, E.REPLACE_REQUEST),
        (S.PENDING_REPLACE, True, E.CANCEL_REQUEST),
        (S.EXPIRED, True, E.STATUS_OPEN),
    ]
    for state, acked, event in sample:
        assert (state, event) not in TRANSITIONS
        oms = Oms()
        order = RECIPES[(state, acked)](oms)
        before = (order.state, order.cum_qty, order.acked, order.venue_order_id)
        with caplog.at_level(logging.WARNING, logger="stages.trading.execution.oms"):
            caplog.clear()
            result = _fire(oms, order, event)
        assert result.outcome is Outcome.ILLEGAL, (state, event)
        assert oms.counts.illegal == 1
        assert (order.state, order.cum_qty, order.acked, order.venue_order_id) == before
        assert result.reports == ()
        assert f"{event.name} in state {state.name}" in caplog.text


def test_no_edge_reopens_an_ended_order() -> None:
    for (state, _event), edge in TRANSITIONS.items():
        if not state.is_open:
            assert edge.state is not None and not edge.state.is_open


def test_only_our_requests_and_timeouts_move_an_order_without_publishing() -> None:
    """A move downstream cannot see is one of ours (pending states), or a replace's, published by its new order."""
    silent = {E.CANCEL_REQUEST, E.REPLACE_REQUEST, E.TIMEOUT, E.CANCELED, E.CANCEL_REJECTED, *REPLACEMENT_EVENTS}
    for (state, event), edge in TRANSITIONS.items():
        if edge.report is None and edge.state is not state and edge.state is not None:
            assert event in silent, (state, event)
            if event in (E.CANCELED, E.CANCEL_REJECTED, *REPLACEMENT_EVENTS):
                assert state in (S.PENDING_REPLACE, S.UNKNOWN), (state, event)


def test_every_state_can_time_out_without_an_illegal_move() -> None:
    assert all((state, E.TIMEOUT) in TRANSITIONS for state in OmsState)


def test_fill_reports_match_the_target() -> None:
    for (_state, event), edge in TRANSITIONS.items():
        if event is E.TRADE_FULL:
            assert (edge.state, edge.report) == (S.FILLED, ExecType.FILL)
        elif event is E.TRADE_PARTIAL:
            assert edge.report is ExecType.PARTIAL_FILL and edge.state is not S.FILLED
