"""The risk stage over real rings: approve or reject each intent, book fills, halt and resume, stops."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hftpipe.schema.records import RecordFlag, RecordType
from hftpipe.schema.trading import (
    ExecType,
    IntentAction,
    IntentFlag,
    OrderSide,
    OrderType,
    RejectReason,
)
from stages.trading.risk.stage import RISK_SEQ_BASE
from tests.unit.trading.risk.stage_harness import AAA, P, Q, RiskHarness, bbo, fields, intent, report

LIMITS = {"account": {"max_order_qty": "5", "price_band_bps": 100}, "watch_stages": []}  # no stage runs here


@pytest.fixture
def risk(pipeline_name: str) -> Iterator[Any]:
    made: list[RiskHarness] = []

    def make(**params: Any) -> RiskHarness:
        made.append(RiskHarness(f"{pipeline_name}{len(made)}", {**LIMITS, **params}))
        return made[-1]

    yield make
    for h in made:
        h.close()


def test_should_pass_an_approved_intent_on_unchanged_and_reject_one_beyond_a_limit(risk: Any) -> None:
    h: RiskHarness = risk()
    h.market(bbo(100 * P, 101 * P))
    ok, big = intent(1, qty=5 * Q), intent(2, qty=5 * Q + 1)
    h.send(ok, big)
    (approved,) = h.to_exec()
    assert approved[:32] == ok[:32] and approved[64:] == ok[64:]  # the hop stamps are the rings'
    (rejected,) = (fields(r, RecordType.EXEC_REPORT) for r in h.to_strat())
    assert (rejected["order_seq"], rejected["exec_type"], rejected["reason"], rejected["strategy_id"]) == (
        2, ExecType.REJECTED, RejectReason.MAX_ORDER_QTY, 1)  # fmt: skip
    assert rejected["ts_origin"] == 7  # the intent's tick, carried back
    counters = h.counters()
    assert (counters["approved"], counters["rejected"], counters["rejects.max_order_qty"]) == (1, 1, 1)


def test_should_refuse_an_order_before_the_book_is_synced(risk: Any) -> None:
    h: RiskHarness = risk()
    h.send(intent(1))
    assert h.to_exec() == []
    assert fields(h.to_strat()[0], RecordType.EXEC_REPORT)["reason"] == RejectReason.BOOK_NOT_SYNCED
    h.market(bbo(100 * P, 101 * P, state=1))  # RESYNCING
    h.send(intent(2))
    assert fields(h.to_strat()[0], RecordType.EXEC_REPORT)["reason"] == RejectReason.BOOK_NOT_SYNCED


def test_should_book_fills_before_passing_the_report_on_and_show_the_position(risk: Any) -> None:
    h: RiskHarness = risk()
    h.market(bbo(100 * P, 101 * P))
    h.send(intent(1, price=101 * P, qty=2 * Q))
    h.to_exec()
    h.answer(report(1, ExecType.ACK, leaves=2 * Q), report(1, ExecType.FILL, price=101 * P, qty=2 * Q, fee=3))
    assert [fields(r, RecordType.EXEC_REPORT)["exec_type"] for r in h.to_strat()] == [ExecType.ACK, ExecType.FILL]
    assert h.stage.ledger.strategy_qty(1, AAA) == 2 * Q
    h.step()
    h.stage._publish()
    (position,) = h.status()["positions"]
    assert (position["strategy"], position["symbol"], position["qty"]) == (1, "AAAUSDT", "2")
    trading = h.status()["trading"]  # what the run report merges into its top-level trading object
    assert trading["positions"] == {"AAAUSDT": "2"}
    assert (trading["state"], trading["realized_pnl"]) == ("ACTIVE", "0")
    assert trading["unrealized_pnl"] == "-1"  # 2 bought at 101, marked to the mid, 100.5


def test_should_halt_on_the_operators_word_cancel_everything_and_refuse_new_orders(risk: Any) -> None:
    h: RiskHarness = risk()
    h.market(bbo(100 * P, 101 * P))
    h.send(intent(1), intent(2, side=OrderSide.SELL, price=101 * P))
    h.to_exec()
    h.answer(report(1, ExecType.ACK, leaves=Q), report(2, ExecType.ACK, side=OrderSide.SELL, leaves=Q))
    h.to_strat()
    number = h.operator("halt", "desk says so")
    (cancel_all,) = (fields(r, RecordType.ORDER_INTENT) for r in h.to_exec())
    assert (cancel_all["action"], cancel_all["strategy_id"], cancel_all["instrument"]) == (
        IntentAction.CANCEL_ALL,
        1,
        AAA,
    )
    assert cancel_all["order_seq"] > RISK_SEQ_BASE
    trading = h.status()["trading"]
    assert (trading["state"], trading["set_by"], trading["request"]) == ("HALTED", "operator", number)
    assert trading["reason"] == "desk says so (tester)"
    h.send(intent(3), intent(4, action=IntentAction.CANCEL, orig=1))
    (passed,) = (fields(r, RecordType.ORDER_INTENT) for r in h.to_exec())
    assert (passed["action"], passed["orig_order_seq"]) == (IntentAction.CANCEL, 1)  # cancels still pass
    assert fields(h.to_strat()[0], RecordType.EXEC_REPORT)["reason"] == RejectReason.HALTED
    h.operator("resume")
    h.send(intent(5))
    assert len(h.to_exec()) == 1
    assert h.status()["trading"]["state"] == "ACTIVE"


def test_should_trip_the_loss_breaker_and_wait_for_a_manual_resume(risk: Any) -> None:
    h: RiskHarness = risk(breakers={"max_loss": "10"})
    h.market(bbo(100 * P, 101 * P))
    h.send(intent(1, price=101 * P, qty=5 * Q))
    h.to_exec()
    h.answer(report(1, ExecType.FILL, price=101 * P, qty=5 * Q))
    h.market(bbo(96 * P, 97 * P))  # mark 96.50: 5 x (101 - 96.5) = 22.5 lost
    h.stage._next_housekeeping = 0
    h.step()
    trading = h.status()["trading"]
    assert (trading["state"], trading["set_by"]) == ("HALTED", "max_loss")
    h.send(intent(2, price=97 * P))
    assert fields(h.to_strat()[-1], RecordType.EXEC_REPORT)["reason"] == RejectReason.MAX_LOSS
    h.market(bbo(110 * P, 111 * P))  # the loss is gone: still halted, a loss breaker waits for a person
    h.stage._next_housekeeping = 0
    h.step()
    assert h.status()["trading"]["state"] == "HALTED"
    h.operator("resume")
    h.send(intent(3, price=111 * P))
    assert len(h.to_exec()) == 1


def test_should_flatten_a_position_when_its_stop_loss_is_reached(risk: Any) -> None:
    h: RiskHarness = risk(stops={"instruments": {"AAAUSDT": {"stop_loss_offset": "2"}}})
    h.market(bbo(100 * P, 101 * P))
    h.send(intent(1, price=101 * P, qty=3 * Q))
    h.to_exec()
    h.answer(report(1, ExecType.FILL, price=101 * P, qty=3 * Q))
    h.to_strat()
    h.market(bbo(99 * P + 1, 99 * P + 3))  # mark 99.02: above 99.00
    assert h.to_exec() == []
    h.market(bbo(98 * P, 100 * P))  # mark 99.00: the stop
    (flatten,) = (fields(r, RecordType.ORDER_INTENT) for r in h.to_exec())
    assert (flatten["side"], flatten["qty"], flatten["order_type"], flatten["strategy_id"]) == (
        OrderSide.SELL, 3 * Q, OrderType.MARKET, 1)  # fmt: skip
    assert flatten["intent_flags"] == IntentFlag.REDUCE_ONLY | IntentFlag.FLATTEN
    h.answer(report(flatten["order_seq"], ExecType.FILL, side=OrderSide.SELL, price=98 * P, qty=3 * Q))
    (to_strategy,) = h.to_strat()
    assert fields(to_strategy, RecordType.EXEC_REPORT)["flags"] & RecordFlag.FOREIGN_ORDER
    assert h.stage.ledger.strategy_qty(1, AAA) == 0
    assert h.counters()["stop_orders"] == 1


def test_should_refuse_to_start_without_a_ring_to_its_execution_stage(pipeline_name: str) -> None:
    with pytest.raises(ValueError, match=r"params\.execution: no output ring to stage 'venue'"):
        RiskHarness(pipeline_name, {"execution": "venue"})


def test_should_not_hold_trading_for_stages_the_supervisor_is_stopping(risk: Any) -> None:
    """The run's last summary shows the trading state as it was, not the shutdown's stopped stages."""
    from hftpipe.substrate.control_layout import PipelineState

    h: RiskHarness = risk(watch_stages=["exec"])  # "exec" never runs here
    h.owned.control.set_state(PipelineState.STOPPING)
    h.market(bbo(100 * P, 101 * P))
    h.stage._next_housekeeping = 0
    h.step()
    assert h.status()["trading"]["state"] == "ACTIVE"
    h.owned.control.set_state(PipelineState.RUNNING)
    h.stage._next_housekeeping = 0
    h.step()
    assert (h.status()["trading"]["state"], h.status()["trading"]["set_by"]) == ("HALTED", "stage_down")


def test_should_hold_trading_while_a_watched_stage_is_not_running(risk: Any) -> None:
    from hftpipe.substrate.control_layout import StageState

    h: RiskHarness = risk(watch_stages=["exec"])
    h.market(bbo(100 * P, 101 * P))
    h.stage._next_housekeeping = 0
    h.step()
    assert (h.status()["trading"]["state"], h.status()["trading"]["set_by"]) == ("HALTED", "stage_down")
    control = h.owned.control
    control.set_stage_state(control.stage_index("exec"), StageState.RUNNING)
    h.stage._next_housekeeping = 0
    h.step()
    assert h.status()["trading"]["state"] == "ACTIVE"  # an automatic hold goes with its cause
    h.send(intent(1))
    assert len(h.to_exec()) == 1


def test_should_refuse_to_start_with_a_ring_to_a_strategy_too_small_for_a_report(pipeline_name: str) -> None:
    from hftpipe.runtime.config import parse_config
    from hftpipe.runtime.wiring import create_pipeline_objects, open_stage_context
    from stages.trading.risk.stage import RiskStage
    from tests.unit.trading.risk.stage_harness import INSTRUMENTS

    config = parse_config(
        {
            "pipeline": {"name": pipeline_name},
            "instruments": INSTRUMENTS,
            "stages": {
                "strat": {"class": "stages.probe:ProbeSource"},
                "risk": {"class": "stages.trading.risk.stage:RiskStage", "params": {"execution": "exec"}},
                "exec": {"class": "stages.probe:ProbeSink"},
            },
            "rings": [
                {"from": "strat", "to": "risk", "capacity": 64, "slot_size": 192},
                {"name": "back", "from": "risk", "to": "strat", "capacity": 64, "slot_size": 128},
                {"from": "risk", "to": "exec", "capacity": 64, "slot_size": 192},
            ],
        },
        source="test",
        allowed_cpus={0, 1},
    )
    owned = create_pipeline_objects(config)
    ctx = open_stage_context(config, owned.control, "risk")
    try:
        with pytest.raises(ValueError, match="ring back: EXEC_REPORT records need slot_size >= 192, it has 128"):
            RiskStage(ctx)
    finally:
        ctx.close()
        owned.destroy()
