"""Slippage end to end over real rings: risk bounds it on its own depth, execution reports it per fill.

``md`` ═broadcast═► risk and execution (paper); ``strat`` → risk → execution
→ risk → ``strat``. Real stages, real shared-memory rings, real DEPTH,
ORDER_INTENT and EXEC_REPORT records; the stages are stepped in this process
(the execution stage's ``step``: its paper venues fill at once, no latency).

The book (price scale 2, qty scale 3)::

    bids 100.00 x 1.000, 99.50 x 2.000 | asks 100.50 x 1.000, 101.00 x 2.000, 102.00 x 3.000

A market buy of 2.500 walks two levels: 1.000 @ 100.50 + 1.500 @ 101.00 =
100.80 on average, 29.85 bps over the touch, within ``max_slippage_bps = 50``;
a buy of 5.000 (101.30, 79.60 bps) is refused by risk.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any, Final

import numpy as np
import pytest

from hftpipe.runtime import AgentInvoker, StageContext
from hftpipe.runtime.config import parse_config
from hftpipe.runtime.report import pipeline_report
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.schema import SPECS
from hftpipe.schema.records import RecordType
from hftpipe.schema.trading import ExecType, OrderType, RejectReason
from stages.trading.execution.stage import ExecutionStage
from stages.trading.risk.stage import RiskStage
from tests.unit.trading.risk.stage_harness import AAA, INSTRUMENTS, fields, intent
from tests.unit.trading.strategy import records as r

REPORT: Final = SPECS[RecordType.EXEC_REPORT]
BIDS: Final = [(10000, 1000), (9950, 2000)]
ASKS: Final = [(10050, 1000), (10100, 2000), (10200, 3000)]
MID: Final = Fraction(20050, 2)


def bps(price: Fraction | int, reference: Fraction | int) -> float:
    """A buy's cost against ``reference``, by hand."""
    return float((Fraction(price) - reference) / Fraction(reference) * 10_000)


class Desk:
    """The trading path with risk and execution as real stages over real rings; md and strat are the test."""

    def __init__(self, name: str) -> None:
        self.config = parse_config(
            {
                "pipeline": {"name": name},
                "instruments": INSTRUMENTS,
                "stages": {
                    "md": {"class": "stages.probe:ProbeSource"},
                    "strat": {"class": "stages.probe:ProbeSource"},
                    "risk": {
                        "class": "stages.trading.risk.stage:RiskStage",
                        "params": {"execution": "exec", "account": {"max_slippage_bps": 50}, "watch_stages": []},
                    },
                    "exec": {"class": "stages.trading.execution.stage:ExecutionStage", "params": {"mode": "paper"}},
                },
                "rings": [
                    {
                        "name": "md",
                        "kind": "broadcast",
                        "from": "md",
                        "to": ["risk", "exec"],
                        "capacity": 256,
                        "slot_size": 768,
                    },
                    {"name": "intents", "from": "strat", "to": "risk", "capacity": 256, "slot_size": 192},
                    {"name": "approved", "from": "risk", "to": "exec", "capacity": 256, "slot_size": 192},
                    {"name": "reports", "from": "exec", "to": "risk", "capacity": 256, "slot_size": 192},
                    {"name": "strategy-reports", "from": "risk", "to": "strat", "capacity": 256, "slot_size": 192},
                ],
            },
            source="test",
            allowed_cpus={0, 1},
        )
        self.owned: OwnedObjects = create_pipeline_objects(self.config)
        self.contexts: dict[str, StageContext] = {
            n: open_stage_context(self.config, self.owned.control, n) for n in ("md", "strat", "risk", "exec")
        }
        try:
            self.risk = AgentInvoker(RiskStage(self.contexts["risk"]))
            self.execution = ExecutionStage(self.contexts["exec"])
        except BaseException:
            self._close_contexts()
            raise
        self.risk.start()
        self._md = self.contexts["md"].output_port()
        self._intents = self.contexts["strat"].output_port()
        self._reports = self.contexts["strat"].input_port().ring
        self._rows = np.zeros(256, dtype=np.dtype((np.void, REPORT.itemsize)))

    def step(self) -> None:
        """Both stages until neither has anything left to do (the execution stage's clock: now)."""
        while True:
            work = 0
            while self.risk.invoke():
                work += 1
            work += self.execution.step(time.monotonic_ns())
            if not work and not self.risk.invoke():
                return

    def market(self, record: bytes) -> None:
        assert self._md.offer(record, 1)
        self.step()

    def send(self, record: bytes) -> None:
        assert self._intents.offer(record, 2)
        self.step()

    def reports(self) -> list[dict[str, Any]]:
        out = []
        while n := self._reports.poll_into(self._rows):
            out.extend(fields(bytes(row), RecordType.EXEC_REPORT) for row in self._rows[:n])
        return out

    def status(self, stage: str) -> Any:
        text = self.owned.control.read_status(self.contexts[stage].index)
        return None if text is None else json.loads(text)

    def _close_contexts(self) -> None:
        for ctx in self.contexts.values():
            ctx.close()
        self.owned.destroy()

    def close(self) -> None:
        self.risk.close()
        self._close_contexts()


@pytest.fixture
def desk(pipeline_name: str) -> Iterator[Desk]:
    made = Desk(pipeline_name)
    try:
        yield made
    finally:
        made.close()


def test_should_bound_the_estimate_in_risk_and_report_realized_against_estimated_per_fill(desk: Desk) -> None:
    desk.market(r.depth(AAA, BIDS, ASKS, origin=1))
    desk.send(intent(1, otype=OrderType.MARKET, price=0, qty=5000))  # 79.60 bps: over the bound
    desk.send(intent(2, otype=OrderType.MARKET, price=0, qty=2500))  # 29.85 bps: within it
    refused, ack, first, second = desk.reports()

    assert (refused["order_seq"], refused["exec_type"], refused["reason"]) == (1, ExecType.REJECTED,
                                                                               RejectReason.MAX_SLIPPAGE)  # fmt: skip
    assert refused["est_qty"] == 0 and np.isnan(refused["est_touch_bps"])  # risk estimated nothing to report

    assert [(x["order_seq"], x["exec_type"]) for x in (ack, first, second)] == [
        (2, ExecType.ACK), (2, ExecType.PARTIAL_FILL), (2, ExecType.FILL)]  # fmt: skip
    estimate = {"est_avg_price": 10080, "est_qty": 2500, "ref_bid": 10000, "ref_ask": 10050,
                "est_touch_bps": bps(10080, 10050), "est_mid_bps": bps(10080, MID)}  # fmt: skip
    for report in (ack, first, second):
        assert {k: report[k] for k in estimate} == estimate
    assert np.isnan(ack["fill_touch_bps"]) and np.isnan(ack["fill_mid_bps"])
    assert (first["last_price"], first["last_qty"]) == (10050, 1000)
    assert (first["fill_touch_bps"], first["fill_mid_bps"]) == (0.0, bps(10050, MID))
    assert (second["last_price"], second["last_qty"]) == (10100, 1500)
    assert (second["fill_touch_bps"], second["fill_mid_bps"]) == (bps(10100, 10050), bps(10100, MID))

    desk.execution.step(time.monotonic_ns() + 2_000_000_000)  # the status is republished each second
    realized = (0.0 + bps(10100, 10050)) / 2  # the median of two fills: 24.88 bps
    expected = {
        "fills": 2,
        "unestimated_fills": 0,
        "realized_bps_p50": round(realized, 4),
        "estimated_bps_p50": round(bps(10080, 10050), 4),
        "difference_bps_p50": round(realized - bps(10080, 10050), 4),
    }
    slippage = desk.status("exec")["trading"]["slippage"]
    assert {k: slippage[k] for k in expected} == expected
    report = pipeline_report(desk.owned.control, desk.owned.rings)  # what `hftpipe stat --json` and the run print
    assert report["trading"]["slippage"] == slippage
    assert report["counters"]["risk"]["rejects.max_slippage"] == 1


def test_should_refuse_rings_too_small_for_a_report(pipeline_name: str) -> None:
    config = parse_config(
        {
            "pipeline": {"name": pipeline_name},
            "instruments": INSTRUMENTS,
            "stages": {
                "risk": {"class": "stages.probe:ProbeSource"},
                "exec": {"class": "stages.trading.execution.stage:ExecutionStage"},
                "strat": {"class": "stages.probe:ProbeSink"},
            },
            "rings": [
                {"from": "risk", "to": "exec", "capacity": 64, "slot_size": 192},
                {"name": "reports", "from": "exec", "to": "strat", "capacity": 64, "slot_size": 128},
            ],
        },
        source="test",
        allowed_cpus={0, 1},
    )
    owned = create_pipeline_objects(config)
    ctx = open_stage_context(config, owned.control, "exec")
    try:
        expected = (
            r"ring reports: it carries EXEC_REPORT records and released children \(ORDER_INTENT\): "
            r"slot_size must be >= 192, it has 128"
        )
        with pytest.raises(ValueError, match=expected):
            ExecutionStage(ctx)
    finally:
        ctx.close()
        owned.destroy()
