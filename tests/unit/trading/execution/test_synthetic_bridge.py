"""The synthetic bridge's races and refusals, driven call by call (the end-to-end paths are in
tests/integration/test_synthetic_orders.py)."""

from __future__ import annotations

from hftpipe.schema.trading import (
    RELEASE_SEQ_BASE,
    Contingency,
    ExecType,
    IntentAction,
    IntentFlag,
    OrderType,
    RejectReason,
    TimeInForce,
)
from stages.trading.execution.synthetic_bridge import Intent, SyntheticBridge
from tests.unit.trading.execution.synth_desk import BUY, SELL, TST, price, qty

EPOCH = 1_765_000_000_000
MS = 1_000_000
SYNTHETIC = int(IntentFlag.SYNTHETIC)


def intent(seq: int, side: int, order_type: OrderType, *, stop: str = "0", limit: str = "0", size: str = "1",
           peg_offset: int = 0, contingency: Contingency = Contingency.NONE, link: int = 0, leg: int = 0,
           legs: int = 0) -> Intent:  # fmt: skip
    return Intent(TST.id, 1, EPOCH, seq, side, int(order_type), int(TimeInForce.GTC), SYNTHETIC, price(limit),
                  qty(size), price(stop), 0, link, peg_offset, 0, 2, 1, 0, int(contingency), leg, legs)  # fmt: skip


def kinds(out: object) -> list[tuple[int, ExecType]]:
    return [(r.seq, r.exec_type) for r in out.reports]  # type: ignore[attr-defined]


def test_should_release_a_triggered_stop_after_its_triggered_report() -> None:
    bridge = SyntheticBridge([TST])
    assert kinds(bridge.place(intent(1, SELL, OrderType.STOP_MARKET, stop="99.00"), 0)) == [(1, ExecType.HELD)]
    assert bridge.on_trade(TST.id, price("99.01"), qty("1"), MS) is None
    out = bridge.on_trade(TST.id, price("99.00"), qty("1"), 2 * MS)
    assert out is not None and kinds(out) == [(1, ExecType.TRIGGERED)]
    (child,) = out.intents
    assert (child.action, child.seq, child.synthetic_seq, child.order_type, child.qty) == (
        IntentAction.NEW, RELEASE_SEQ_BASE, 1, OrderType.MARKET, qty("1"))  # fmt: skip
    assert child.flags & IntentFlag.RELEASED and child.market_caused
    assert bridge.approved(1, child.seq) == (2 * MS, True)


def test_should_not_send_a_child_whose_order_was_canceled_while_risk_checked_it() -> None:
    bridge = SyntheticBridge([TST])
    bridge.place(intent(1, SELL, OrderType.STOP_MARKET, stop="99.00"), 0)
    out = bridge.on_trade(TST.id, price("98.00"), qty("1"), MS)
    assert out is not None
    (child,) = out.intents
    canceled = bridge.cancel(TST.id, 1, EPOCH, 1, SELL, 2 * MS)
    assert kinds(canceled) == [(1, ExecType.CANCELED)] and canceled.cancels == []  # nothing at the venue yet
    assert bridge.approved(1, child.seq) == (MS, False)
    assert kinds(bridge.child_closed(1, child.seq, 3 * MS)) == []
    assert len(bridge) == 0


def test_should_end_a_release_risk_refused_with_its_reason() -> None:
    bridge = SyntheticBridge([TST])
    bridge.place(intent(1, BUY, OrderType.TAKE_PROFIT, stop="99.00"), 0)
    out = bridge.on_trade(TST.id, price("98.50"), qty("1"), MS)
    assert out is not None
    refused = bridge.refused(1, out.intents[0].seq, RejectReason.MAX_POSITION, 2 * MS)
    ((seq, kind),) = kinds(refused)
    assert (seq, kind, refused.reports[0].reason) == (1, ExecType.REJECTED, RejectReason.MAX_POSITION)
    assert len(bridge) == 0


def test_should_keep_a_pegs_old_child_working_when_the_venue_refuses_its_replace() -> None:
    bridge = SyntheticBridge([TST])
    bridge.on_book(TST.id, price("100.00"), price("100.02"), 0)
    first = bridge.place(intent(1, BUY, OrderType.PEG_MID), MS)
    (child,) = first.intents
    assert child.price == price("100.01")
    bridge.approved(1, child.seq)
    assert kinds(bridge.child_report(1, child.seq, ExecType.ACK, 0, 0, 0, RejectReason.NONE, MS)) == [
        (1, ExecType.ACK)]  # fmt: skip
    moved = bridge.on_book(TST.id, price("100.02"), price("100.04"), 2 * MS)
    assert moved is not None
    (replace,) = moved.intents
    assert (replace.action, replace.orig, replace.price) == (IntentAction.REPLACE, child.seq, price("100.03"))
    bridge.approved(1, replace.seq)
    refused = bridge.child_report(1, replace.seq, ExecType.REJECTED, 0, 0, 0, RejectReason.VENUE, 3 * MS)
    assert kinds(refused) == []  # the peg still works, at its old price
    again = bridge.on_book(TST.id, price("100.04"), price("100.06"), 4 * MS)
    assert again is not None and again.intents[0].orig == child.seq  # the next re-price replaces the old child


def test_should_reject_every_leg_of_a_group_the_book_cannot_hold() -> None:
    bridge = SyntheticBridge([TST])
    group = {"contingency": Contingency.OCO, "link": 1, "legs": 2}
    assert kinds(bridge.place(intent(1, SELL, OrderType.STOP_MARKET, stop="99", **group, leg=0), 0)) == []
    out = bridge.place(intent(2, SELL, OrderType.TAKE_PROFIT, stop="101", size="2", **group, leg=1), 0)
    refused = (ExecType.REJECTED, RejectReason.BAD_SYNTHETIC)
    assert [(r.seq, r.exec_type, r.reason) for r in out.reports] == [(1, *refused), (2, *refused)]
    assert len(bridge) == 0
