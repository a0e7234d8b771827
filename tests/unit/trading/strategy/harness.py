"""The strategy stage over real rings, stepped by hand with ``AgentInvoker``.

``md`` (a probe source the test writes through) → ``strategy`` → ``venue`` (a
probe sink the test reads intents from and answers through the ``reports`` ring).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from hftpipe.runtime import AgentInvoker, StageContext
from hftpipe.runtime.config import PipelineConfig, parse_config
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.schema import SPECS
from hftpipe.schema.records import RecordType
from hftpipe.substrate.control import ControlFile
from stages.trading.strategy.stage import StrategyStage

INSTRUMENTS: Final = [
    {"venue": "binance", "symbol": "AAAUSDT", "price_scale": 8, "qty_scale": 8, "tick": "0.01", "lot": "0.1"},
    {"venue": "binance", "symbol": "BBBUSDT", "price_scale": 8, "qty_scale": 8, "tick": "0.0001", "lot": "1"},
]
AAA: Final = 1
BBB: Final = 2
EPOCH: Final = 1_765_000_000_000
INTENT = SPECS[RecordType.ORDER_INTENT]


def config(name: str, strategy: dict[str, Any], **stage: Any) -> PipelineConfig:
    return parse_config(
        {
            "pipeline": {"name": name},
            "instruments": INSTRUMENTS,
            "stages": {
                "md": {"class": "stages.probe:ProbeSource"},
                "strategy": {
                    "class": "stages.trading.strategy.stage:StrategyStage",
                    "params": {"epoch": EPOCH, "clock": "records", **stage, **strategy},
                },
                "venue": {"class": "stages.probe:ProbeSink"},
            },
            "rings": [
                {"name": "md", "from": "md", "to": "strategy", "capacity": 1024, "slot_size": 768},
                {"name": "intents", "from": "strategy", "to": "venue", "capacity": 256, "slot_size": 192},
                {"name": "reports", "from": "venue", "to": "strategy", "capacity": 256, "slot_size": 192},
            ],
        },
        source="test",
        allowed_cpus={0, 1},
    )


class Harness:
    def __init__(self, name: str, strategy: dict[str, Any], **stage: Any) -> None:
        self.config = config(name, strategy, **stage)
        self.owned: OwnedObjects = create_pipeline_objects(self.config)
        control: ControlFile = self.owned.control
        self.md_ctx: StageContext = open_stage_context(self.config, control, "md")
        self.ctx: StageContext = open_stage_context(self.config, control, "strategy")
        self.venue_ctx: StageContext = open_stage_context(self.config, control, "venue")
        try:
            self.stage = StrategyStage(self.ctx)
        except BaseException:
            for ctx in (self.md_ctx, self.ctx, self.venue_ctx):
                ctx.close()
            self.owned.destroy()
            raise
        self.invoker = AgentInvoker(self.stage)
        self.invoker.start()
        self._md = self.md_ctx.output_port()
        self._reports = self.venue_ctx.output_port()
        self._intents = self.venue_ctx.input_port().ring
        self._rows = np.zeros(256, dtype=np.dtype((np.void, 192)))
        self.intents: list[bytes] = []

    @property
    def strategy(self) -> Any:
        return self.stage.runners[0].strategy

    @property
    def runner(self) -> Any:
        return self.stage.runners[0]

    def send(self, *records: bytes) -> None:
        for record in records:
            assert self._md.offer(record, 33)

    def answer(self, *records: bytes) -> None:
        for record in records:
            assert self._reports.offer(record, 44)

    def step(self) -> list[bytes]:
        """Run duty cycles until idle; the intents they published."""
        while self.invoker.invoke():
            pass
        new = []
        while n := self._intents.poll_into(self._rows):
            new.extend(bytes(r) for r in self._rows[:n])
        self.intents.extend(new)
        return new

    def counters(self) -> dict[str, int]:
        return self.owned.control.read_counters(self.ctx.index)

    def close(self) -> None:
        self.invoker.close()
        for ctx in (self.md_ctx, self.ctx, self.venue_ctx):
            ctx.close()
        self.owned.destroy()


def fields(record: bytes) -> dict[str, Any]:
    """An intent's fields by name."""
    row = np.frombuffer(record[: INTENT.itemsize], dtype=INTENT.dtype)[0]
    assert row.dtype.names is not None
    return {name: (row[name].tolist()) for name in row.dtype.names}
