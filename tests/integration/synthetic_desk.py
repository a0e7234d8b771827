"""Strategy, risk and execution (paper mode) over real rings, stepped by hand, fed a scripted market.

``md`` (the test writes books and trades) ══md══► strategy, risk, execution;
strategy → intents → risk → approved → execution (paper) → reports → risk →
strategy-reports → strategy. The stages are the real ones, in this process:
the strategy's API calls become intents on the ring; what synthetic orders
release goes back to risk on the reports ring and comes back approved.
"""

from __future__ import annotations

from typing import Any, Final

from hftpipe.runtime import AgentInvoker, StageContext
from hftpipe.runtime.config import parse_config
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.schema.trading import ExecType, RejectReason
from hftpipe.strategy import Order, OrderReport, OrderState, Strategy
from stages.trading.execution.stage import ExecutionStage
from stages.trading.risk.stage import RiskStage
from stages.trading.strategy.stage import StrategyStage
from tests.unit.trading.strategy import records as r

INSTRUMENTS: Final = [
    {"venue": "binance", "symbol": "AAAUSDT", "price_scale": 2, "qty_scale": 3, "tick": "0.01", "lot": "0.001"},
]
AAA: Final = 1
EPOCH: Final = 1_765_000_000_000
P: Final = 1  # 0.01 at price scale 2: prices below are in ticks
Q: Final = 1000  # 1 at qty scale 3
DEPTH: Final = 50 * Q
"""Size at every level of the scripted books: a market order fills at the touch."""


class Recorder(Strategy):
    """A strategy that does nothing on its own: the test calls its API; it keeps every report it gets."""

    def on_start(self) -> None:
        self.reports: list[tuple[int, ExecType, OrderState, RejectReason]] = []

    def on_order(self, report: OrderReport) -> None:
        assert report.order is not None
        self.reports.append((report.order.seq, report.exec_type, report.order.state, report.reason))

    def states(self, order: Order) -> list[ExecType]:
        """The report types ``order`` got, in order."""
        return [kind for seq, kind, _, _ in self.reports if seq == order.seq]


class SyntheticDesk:
    """The three stages and the market's ring; :meth:`step` runs them until nothing moves."""

    def __init__(self, name: str, risk: dict[str, Any] | None = None) -> None:
        account = {"max_order_qty": "100", "max_data_age_ms": 0, **(risk or {})}
        self.config = parse_config(
            {
                "pipeline": {"name": name},
                "instruments": INSTRUMENTS,
                "stages": {
                    "md": {"class": "stages.probe:ProbeSource"},
                    "strategy": {
                        "class": "stages.trading.strategy.stage:StrategyStage",
                        "params": {
                            "epoch": EPOCH,
                            "clock": "records",
                            "id": 1,
                            "name": "s",
                            "class": "tests.integration.synthetic_desk:Recorder",
                            "instruments": ["AAAUSDT"],
                        },
                    },
                    "risk": {
                        "class": "stages.trading.risk.stage:RiskStage",
                        "params": {"execution": "execution", "watch_stages": [], "account": account},
                    },
                    "execution": {
                        "class": "stages.trading.execution.stage:ExecutionStage",
                        "params": {"mode": "paper"},
                    },
                },
                "rings": [
                    {
                        "name": "md",
                        "kind": "broadcast",
                        "from": "md",
                        "to": ["strategy", "risk", "execution"],
                        "capacity": 1024,
                        "slot_size": 768,
                    },
                    {"name": "intents", "from": "strategy", "to": "risk", "capacity": 256, "slot_size": 192},
                    {"name": "approved", "from": "risk", "to": "execution", "capacity": 256, "slot_size": 192},
                    {"name": "reports", "from": "execution", "to": "risk", "capacity": 256, "slot_size": 192},
                    {"name": "strategy-reports", "from": "risk", "to": "strategy", "capacity": 256, "slot_size": 192},
                ],
            },
            source="test",
            allowed_cpus={0, 1},
        )
        self.owned: OwnedObjects = create_pipeline_objects(self.config)
        control = self.owned.control
        self.contexts: dict[str, StageContext] = {
            n: open_stage_context(self.config, control, n) for n in ("md", "strategy", "risk", "execution")
        }
        self.invokers: list[AgentInvoker] = []
        try:
            self.strategy_stage = StrategyStage(self.contexts["strategy"])
            self.risk = RiskStage(self.contexts["risk"])
            self.execution = ExecutionStage(self.contexts["execution"])
            for stage in (self.strategy_stage, self.risk):
                invoker = AgentInvoker(stage)
                invoker.start()
                self.invokers.append(invoker)
        except BaseException:
            self.close()
            raise
        self._md = self.contexts["md"].output_port()
        self._origin = 1_000

    @property
    def strategy(self) -> Recorder:
        found = self.strategy_stage.runners[0].strategy
        assert isinstance(found, Recorder)
        return found

    def step(self) -> None:
        """Duty cycles of every stage until a whole round does nothing."""
        import time

        idle_rounds = 0
        while idle_rounds < 2:
            work = sum(invoker.invoke() for invoker in self.invokers)
            work += self.execution.step(time.monotonic_ns())
            idle_rounds = 0 if work else idle_rounds + 1

    def _next(self) -> int:
        self._origin += 1_000
        return self._origin

    def book(self, bid: int, ask: int, *, size: int = DEPTH) -> None:
        """A top of book (three levels a side) on every consumer of the market ring."""
        bids = [(bid - i * P, size) for i in range(3)]
        asks = [(ask + i * P, size) for i in range(3)]
        assert self._md.offer(r.depth(AAA, bids, asks, origin=self._next(), update_id=self._origin), 1)
        self.step()

    def trade(self, price: int, qty: int = Q, *, aggressor: int = 0) -> None:
        assert self._md.offer(r.trade(AAA, price, qty, origin=self._next(), aggressor=aggressor), 1)
        self.step()

    def counters(self, stage: str) -> dict[str, int]:
        return self.owned.control.read_counters(self.contexts[stage].index)

    def position(self) -> tuple[int, int]:
        """The strategy's position as the strategy and as risk's ledger see it."""
        return self.strategy.position(AAA).qty, self.risk.ledger.strategy_qty(1, AAA)

    def close(self) -> None:
        for invoker in self.invokers:
            invoker.close()
        for ctx in self.contexts.values():
            ctx.close()
        self.owned.destroy()
