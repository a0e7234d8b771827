"""Risk and synthetic orders over real rings: held at their whole size, ended by TRIGGERED, children re-checked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hftpipe.schema import SPECS
from hftpipe.schema.records import RecordFlag, RecordType
from hftpipe.schema.trading import (
    NO_TERMS,
    ORDER_INTENT_SIZE,
    RELEASE_SEQ_BASE,
    Contingency,
    ExecType,
    IntentAction,
    IntentFlag,
    OrderSide,
    OrderType,
    RejectReason,
    SynthTerms,
    TimeInForce,
)
from tests.unit.trading.risk.stage_harness import AAA, EPOCH, P, Q, RiskHarness, bbo, fields, report

SYNTHETIC = int(IntentFlag.SYNTHETIC)
CHILD = RELEASE_SEQ_BASE + 1


def synth(seq: int, *, side: OrderSide = OrderSide.SELL, otype: OrderType = OrderType.STOP_MARKET, qty: int = Q,
          stop: int = 99 * P, price: int = 0, flags: int = SYNTHETIC, action: IntentAction = IntentAction.NEW,
          orig: int = 0, terms: SynthTerms = NO_TERMS) -> bytes:  # fmt: skip
    buf = bytearray(ORDER_INTENT_SIZE)
    SPECS[RecordType.ORDER_INTENT].packer.pack_into(
        buf, 0, RecordType.ORDER_INTENT, 0, AAA, 0, 0, 7, 0, 0, 0, 0,
        seq, orig, price, qty, stop, EPOCH, 1, action, side, otype, TimeInForce.GTC, flags, 0, *terms,
    )  # fmt: skip
    return bytes(buf)


def flagged(record: bytes, flag: RecordFlag) -> bytes:
    out = bytearray(record)
    out[2] |= int(flag)
    return bytes(out)


@pytest.fixture
def risk(pipeline_name: str) -> Iterator[Any]:
    made: list[RiskHarness] = []

    def make(**account: Any) -> RiskHarness:
        made.append(RiskHarness(f"{pipeline_name}{len(made)}", {"account": account, "watch_stages": []}))
        made[-1].market(bbo(100 * P, 101 * P))
        return made[-1]

    yield make
    for h in made:
        h.close()


def test_should_count_a_held_synthetic_order_at_its_whole_size_until_it_triggers(risk: Any) -> None:
    h: RiskHarness = risk(max_position="1")
    h.send(synth(1), synth(2))  # a second sell stop would take the worst case to -2
    (approved,) = h.to_exec()
    assert fields(approved, RecordType.ORDER_INTENT)["order_seq"] == 1
    (refused,) = (fields(x, RecordType.EXEC_REPORT) for x in h.to_strat())
    assert (refused["order_seq"], refused["reason"]) == (2, RejectReason.MAX_POSITION)
    h.answer(flagged(report(1, ExecType.HELD, side=OrderSide.SELL, leaves=Q), RecordFlag.SYNTHETIC))
    assert [fields(x, RecordType.EXEC_REPORT)["exec_type"] for x in h.to_strat()] == [ExecType.HELD]
    assert h.stage.checks.orders.strategy(1, AAA).qty[OrderSide.SELL] == Q
    # triggered: its child comes back as an order of its own and is checked again, in full
    h.answer(flagged(report(1, ExecType.TRIGGERED, side=OrderSide.SELL, leaves=Q), RecordFlag.SYNTHETIC),
             synth(CHILD, otype=OrderType.MARKET, stop=0, flags=int(IntentFlag.RELEASED),
                   terms=SynthTerms(synthetic_seq=1)))  # fmt: skip
    (child,) = h.to_exec()
    assert fields(child, RecordType.ORDER_INTENT)["order_seq"] == CHILD
    assert [x.key[2] for x in h.stage.checks.orders.orders()] == [CHILD]
    assert [fields(x, RecordType.EXEC_REPORT)["exec_type"] for x in h.to_strat()] == [ExecType.TRIGGERED]


def test_should_book_a_childs_fill_once_and_keep_the_child_from_the_strategy(risk: Any) -> None:
    h: RiskHarness = risk()
    h.send(synth(1))
    h.to_exec()
    h.answer(flagged(report(1, ExecType.TRIGGERED, side=OrderSide.SELL), RecordFlag.SYNTHETIC),
             synth(CHILD, otype=OrderType.MARKET, stop=0, flags=int(IntentFlag.RELEASED)))  # fmt: skip
    h.to_exec()
    h.to_strat()
    fill = report(CHILD, ExecType.FILL, side=OrderSide.SELL, price=100 * P, qty=Q)
    own = report(1, ExecType.FILL, side=OrderSide.SELL, price=100 * P, qty=Q)
    h.answer(flagged(fill, RecordFlag.RELEASED_CHILD), flagged(own, RecordFlag.SYNTHETIC))
    (seen,) = (fields(x, RecordType.EXEC_REPORT) for x in h.to_strat())
    assert (seen["order_seq"], seen["exec_type"]) == (1, ExecType.FILL)
    assert h.stage.ledger.strategy_qty(1, AAA) == -Q  # booked from the child's report only
    assert len(h.stage.checks.orders) == 0 and h.counters()["unrouted_reports"] == 0


def test_should_refuse_a_child_back_to_execution_flagged_as_a_child(risk: Any) -> None:
    h: RiskHarness = risk(max_order_qty="1")
    h.send(synth(1))
    h.to_exec()
    h.answer(flagged(report(1, ExecType.TRIGGERED, side=OrderSide.SELL), RecordFlag.SYNTHETIC),
             synth(CHILD, otype=OrderType.MARKET, stop=0, qty=2 * Q, flags=int(IntentFlag.RELEASED)))  # fmt: skip
    (refusal,) = h.to_exec()
    f = fields(refusal, RecordType.EXEC_REPORT)
    assert (f["rtype"], f["order_seq"], f["exec_type"], f["reason"]) == (
        RecordType.EXEC_REPORT, CHILD, ExecType.REJECTED, RejectReason.MAX_ORDER_QTY)  # fmt: skip
    assert f["flags"] & RecordFlag.RELEASED_CHILD
    assert [fields(x, RecordType.EXEC_REPORT)["exec_type"] for x in h.to_strat()] == [ExecType.TRIGGERED]
    assert h.counters()["rejects.max_order_qty"] == 1


def test_should_pass_a_synthetic_cancel_without_an_open_order_to_match(risk: Any) -> None:
    h: RiskHarness = risk()
    h.send(synth(5, action=IntentAction.CANCEL, orig=1, qty=0, stop=0))
    (cancel,) = h.to_exec()
    assert fields(cancel, RecordType.ORDER_INTENT)["orig_order_seq"] == 1


def test_should_refuse_a_groups_later_legs_and_cancel_its_earlier_ones(risk: Any) -> None:
    h: RiskHarness = risk(max_order_qty="1")
    group = {"contingency": int(Contingency.BRACKET), "link_seq": 1, "legs": 3}
    h.send(
        synth(1, otype=OrderType.MARKET, side=OrderSide.BUY, stop=0, terms=SynthTerms(**group, leg=0)),
        synth(2, qty=2 * Q, terms=SynthTerms(**group, leg=1)),
        synth(3, otype=OrderType.TAKE_PROFIT, stop=102 * P, terms=SynthTerms(**group, leg=2)),
    )
    entry, cancel = (fields(x, RecordType.ORDER_INTENT) for x in h.to_exec())
    assert entry["order_seq"] == 1
    assert (cancel["action"], cancel["orig_order_seq"], cancel["epoch"], cancel["intent_flags"]) == (
        IntentAction.CANCEL, 1, EPOCH, SYNTHETIC)  # fmt: skip
    refused = [(x["order_seq"], x["reason"]) for x in (fields(y, RecordType.EXEC_REPORT) for y in h.to_strat())]
    assert refused == [(2, RejectReason.MAX_ORDER_QTY), (3, RejectReason.GROUP_REFUSED)]
    h.send(synth(4, terms=SynthTerms(**{**group, "link_seq": 4}, leg=0)))  # a new group is judged afresh
    assert [fields(x, RecordType.ORDER_INTENT)["order_seq"] for x in h.to_exec()] == [4]
