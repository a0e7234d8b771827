"""What the OMS keeps per order, and the maps that find it: ids both ways, by strategy and instrument, bounded."""

from __future__ import annotations

from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from stages.trading.execution.oms import Oms
from stages.trading.execution.oms_reports import Outcome
from stages.trading.execution.oms_transitions import OmsState
from tests.unit.trading.execution.oms_desk import EPOCH, INSTRUMENT, PRICE, STRATEGY, key, send, text


def test_an_order_keeps_what_was_asked_and_its_three_numbers_and_text() -> None:
    oms = Oms()
    result = oms.submit(key(12), INSTRUMENT, OrderSide.SELL, OrderType.STOP_LIMIT, TimeInForce.IOC, 990, 4,
                        stop_price=1000, ts_origin=55, now=66)  # fmt: skip
    order = result.order
    assert order is not None and (result.before, result.after) == (None, OmsState.PENDING_NEW)
    assert (order.strategy_id, order.epoch, order.order_seq, order.client_id) == (STRATEGY, EPOCH, 12, text(12))
    assert (order.side, order.order_type, order.tif, order.price, order.stop_price, order.qty) == (
        OrderSide.SELL, OrderType.STOP_LIMIT, TimeInForce.IOC, 990, 1000, 4,
    )  # fmt: skip
    assert (order.ts_origin, order.ts_sent, order.ts_acked, order.venue_order_id) == (55, 66, 0, 0)
    oms.on_ack(order.key, 7001, now=80)
    assert (order.ts_acked, order.venue_order_id, order.leaves) == (80, 7001, 4)


def test_average_price_is_exact_and_fees_add_up() -> None:
    oms = Oms()
    order = send(oms, 1, qty=3)
    oms.on_trade(order.key, 1, 100, 1, 1, fee=2)
    oms.on_trade(order.key, 2, 101, 2, 3, fee=3)
    assert (order.notional, order.fees, order.cum_qty, order.leaves) == (302, 5, 3, 0)
    assert order.avg_price == 302 / 3


def test_client_ids_venue_ids_and_cancel_request_ids_all_find_the_order() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_ack(order.key, 4242)
    oms.cancel_request(order.key, request_seq=9)
    assert oms.find(text(1)) is order
    assert oms.find(text(9)) is order, "the venue's cancel answer carries the cancel's own client id"
    assert oms.by_venue_id(4242) is order
    assert oms.find("not-ours") is None and oms.find(text(10)) is None


def test_open_orders_by_strategy_and_instrument_follow_the_state() -> None:
    oms = Oms()
    a = send(oms, 1)
    b = send(oms, 2, instrument=INSTRUMENT + 1)
    c = send(oms, 3, strategy=STRATEGY + 1)
    assert oms.open_orders(STRATEGY, INSTRUMENT) == [a]
    assert {o.order_seq for o in oms.open_orders(STRATEGY)} == {1, 2}
    assert {o.order_seq for o in oms.open_orders(instrument=INSTRUMENT)} == {1, 3}
    oms.on_rejected(a.key)
    assert oms.open_orders(STRATEGY, INSTRUMENT) == []
    assert {o.order_seq for o in oms.open_orders()} == {b.order_seq, c.order_seq}
    assert len(oms) == 3 and a.key in oms


def test_ended_orders_are_kept_for_late_reports_up_to_the_capacity() -> None:
    oms = Oms(closed_capacity=2)
    orders = [send(oms, seq) for seq in (1, 2, 3)]
    for order in orders:
        oms.on_ack(order.key, 100 + order.order_seq)
        oms.on_canceled(order.key)
    assert oms.counts.forgotten == 1
    assert orders[0].key not in oms and oms.by_venue_id(101) is None
    late = oms.on_trade(orders[0].key, 1, PRICE, 1, 1)
    assert late.outcome is Outcome.UNKNOWN_ORDER
    assert oms.on_trade(orders[1].key, 1, PRICE, 1, 1).outcome is Outcome.APPLIED


def test_counts_say_what_happened() -> None:
    oms = Oms()
    order = send(oms, 1)
    oms.on_trade(order.key, 1, PRICE, 1, 1)
    oms.on_trade(order.key, 1, PRICE, 1, 1)
    oms.on_ack(order.key, 3)
    oms.on_ack(order.key, 3)
    counts = oms.counts.as_dict()
    assert (counts["applied"], counts["duplicates"], counts["unchanged"], counts["illegal"]) == (3, 1, 1, 0)
