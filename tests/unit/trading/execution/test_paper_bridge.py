"""The paper mode's core: intents through the OMS to a paper venue, its answers back as the OMS's reports."""

from __future__ import annotations

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import ExecType, IntentAction, OrderSide, OrderType, RejectReason, TimeInForce
from stages.trading.execution.paper import Latency
from stages.trading.execution.paper_bridge import PaperBridge

INSTRUMENT = Instrument(id=7, venue="binance", symbol="NKNUSDT", price_scale=5, qty_scale=0, tick=1, lot=1)
SID, EPOCH = 3, 1_765_000_000_000
INTENT_CAUSE = (111).to_bytes(8, "little") + bytes(32)
MD_CAUSE = (222).to_bytes(8, "little") + bytes(32)


def _bridge(entry_ns: int = 100, cancel_ns: int = 50) -> PaperBridge:
    bridge = PaperBridge([INSTRUMENT], Latency(entry_ns, cancel_ns))
    bridge.depth(7, [1000, 999], [50, 40], [1002, 1003], [30, 20], MD_CAUSE, 0)
    return bridge


def _intent(bridge: PaperBridge, action: IntentAction, seq: int, orig: int = 0, *, price: int = 1000,
            qty: int = 10, side: OrderSide = OrderSide.BUY, now: int = 10,
            order_type: OrderType = OrderType.LIMIT_MAKER) -> list[tuple[ExecType, int, bytes]]:  # fmt: skip
    out = bridge.intent(7, SID, EPOCH, action, seq, orig, side, order_type, TimeInForce.GTC, price, qty,
                        INTENT_CAUSE, now)  # fmt: skip
    return [(r.exec_type, r.order.order_seq, c) for r, c in out]


def _kinds(out: list) -> list[tuple[ExecType, int]]:  # type: ignore[type-arg]
    return [(r.exec_type, r.order.order_seq) for r, _ in out]


def test_should_ack_a_new_order_once_its_entry_latency_has_passed_with_the_intents_cause() -> None:
    bridge = _bridge()
    assert _intent(bridge, IntentAction.NEW, 1) == []
    assert bridge.advance(50) == []
    out = bridge.advance(110)
    assert _kinds(out) == [(ExecType.ACK, 1)]
    report, cause = out[0]
    assert cause == INTENT_CAUSE
    assert (report.leaves_qty, report.order.strategy_id, report.order.epoch, report.order.venue_order_id) == (
        10, SID, EPOCH, 1)  # fmt: skip
    assert [o.order_seq for o in bridge.oms.open_orders(SID, 7)] == [1]


def test_should_fill_a_resting_order_from_trades_behind_its_queue_with_the_trades_cause_and_no_fee() -> None:
    bridge = _bridge()
    _intent(bridge, IntentAction.NEW, 1)
    bridge.advance(110)
    assert bridge.trade(7, 1000, 50, OrderSide.SELL, MD_CAUSE, 200) == []  # the 50 ahead of it
    out = bridge.trade(7, 1000, 4, OrderSide.SELL, MD_CAUSE, 300)
    assert _kinds(out) == [(ExecType.PARTIAL_FILL, 1)]
    report, cause = out[0]
    assert (report.last_price, report.last_qty, report.cum_qty, report.leaves_qty, report.fee) == (1000, 4, 4, 6, 0)
    assert cause == MD_CAUSE
    out = bridge.trade(7, 999, 100, OrderSide.SELL, MD_CAUSE, 400)  # through its price: the rest
    assert _kinds(out) == [(ExecType.FILL, 1)]
    assert out[0][0].cum_qty == 10 and bridge.oms.open_orders(SID, 7) == []


def test_should_cancel_after_the_cancel_latency_and_refuse_a_cancel_of_an_unknown_order() -> None:
    bridge = _bridge()
    _intent(bridge, IntentAction.NEW, 1)
    bridge.advance(110)
    assert _intent(bridge, IntentAction.CANCEL, 2, 1, now=200) == []
    assert _kinds(bridge.advance(260)) == [(ExecType.CANCELED, 1)]
    refused = bridge.intent(7, SID, EPOCH, IntentAction.CANCEL, 3, 99, OrderSide.SELL, 0, 0, 0, 0, INTENT_CAUSE, 300)
    assert _kinds(refused) == [(ExecType.CANCEL_REJECTED, 99)]  # unknown to the OMS: nothing sent, refused at once
    report, cause = refused[0]
    assert (report.reason, report.order.strategy_id, report.order.instrument, report.order.side) == (
        RejectReason.UNKNOWN_ORDER, SID, 7, OrderSide.SELL)  # fmt: skip
    assert cause == INTENT_CAUSE and bridge.oms.get((SID, EPOCH, 99)) is None
    again = bridge.intent(7, SID, EPOCH, IntentAction.CANCEL, 4, 1, OrderSide.BUY, 0, 0, 0, 0, INTENT_CAUSE, 310)
    assert _kinds(again) == [(ExecType.CANCEL_REJECTED, 1)]  # canceled already: not open, refused the same way
    assert again[0][0].reason is RejectReason.UNKNOWN_ORDER
    assert bridge.advance(400) == []


def test_should_replace_an_order_and_report_the_new_one_replaced() -> None:
    bridge = _bridge()
    _intent(bridge, IntentAction.NEW, 1)
    bridge.advance(110)
    _intent(bridge, IntentAction.REPLACE, 2, 1, price=999, now=200)
    out = bridge.advance(260)
    assert _kinds(out) == [(ExecType.REPLACED, 2)]
    assert [o.order_seq for o in bridge.oms.open_orders(SID, 7)] == [2]


def test_should_reject_a_post_only_order_that_would_cross() -> None:
    bridge = _bridge()
    _intent(bridge, IntentAction.NEW, 1, price=1002)
    out = bridge.advance(110)
    assert _kinds(out) == [(ExecType.REJECTED, 1)]
    assert out[0][0].reason == RejectReason.WOULD_CROSS


def test_should_cancel_every_open_order_of_the_strategy_on_the_instrument_on_cancel_all() -> None:
    bridge = _bridge()
    _intent(bridge, IntentAction.NEW, 1)
    _intent(bridge, IntentAction.NEW, 2, price=1003, side=OrderSide.SELL)
    bridge.advance(110)
    _intent(bridge, IntentAction.CANCEL_ALL, 0, now=200)
    assert sorted(_kinds(bridge.advance(260))) == [(ExecType.CANCELED, 1), (ExecType.CANCELED, 2)]
    assert bridge.oms.open_orders() == []


def test_should_reject_an_order_on_an_instrument_without_a_paper_venue() -> None:
    bridge = _bridge()
    out = bridge.intent(8, SID, EPOCH, IntentAction.NEW, 1, 0, OrderSide.BUY, OrderType.LIMIT, TimeInForce.GTC,
                        1000, 1, INTENT_CAUSE, 0)  # fmt: skip
    assert [r.exec_type for r, _ in out] == [ExecType.REJECTED]
