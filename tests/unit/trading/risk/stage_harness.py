"""The risk stage over real rings, stepped by hand: intents, market data and reports in; what it sends out.

``strat`` (the test writes intents, reads reports) → ``risk`` → ``exec`` (the
test reads approved intents and answers with reports); ``md`` → ``risk``.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from hftpipe.runtime import AgentInvoker, StageContext
from hftpipe.runtime.config import parse_config
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.schema import SPECS
from hftpipe.schema.records import RecordType
from hftpipe.schema.trading import (
    NO_SLIPPAGE,
    NO_TERMS,
    ORDER_INTENT_SIZE,
    IntentAction,
    OrderSide,
    OrderType,
    TimeInForce,
)
from stages.trading.risk.stage import RiskStage

INSTRUMENTS: Final = [
    {"venue": "binance", "symbol": "AAAUSDT", "price_scale": 2, "qty_scale": 3, "tick": "0.01", "lot": "0.001"},
]
AAA: Final = 1
EPOCH: Final = 1_765_000_000_000
REPORT_SIZE: Final = SPECS[RecordType.EXEC_REPORT].itemsize
P: Final = 100  # 1.00 at price scale 2
Q: Final = 1000  # 1 at qty scale 3


def intent(seq: int, *, side: OrderSide = OrderSide.BUY, price: int = 100 * P, qty: int = Q, sid: int = 1,
           action: IntentAction = IntentAction.NEW, orig: int = 0, otype: OrderType = OrderType.LIMIT,
           flags: int = 0) -> bytes:  # fmt: skip
    buf = bytearray(ORDER_INTENT_SIZE)
    SPECS[RecordType.ORDER_INTENT].packer.pack_into(
        buf, 0, RecordType.ORDER_INTENT, 0, AAA, 0, 0, 7, 0, 0, 0, 0,
        seq, orig, price, qty, 0, EPOCH, sid, action, side, otype, TimeInForce.GTC, flags, 0, *NO_TERMS,
    )  # fmt: skip
    return bytes(buf)


def report(seq: int, kind: int, *, sid: int = 1, side: OrderSide = OrderSide.BUY, price: int = 0, qty: int = 0,
           leaves: int = 0, fee: int = 0, reason: int = 0) -> bytes:  # fmt: skip
    buf = bytearray(SPECS[RecordType.EXEC_REPORT].itemsize)
    SPECS[RecordType.EXEC_REPORT].packer.pack_into(
        buf, 0, RecordType.EXEC_REPORT, 0, AAA, 0, 0, 7, 0, 0, 0, 0,
        seq, 500 + seq, price, qty, 0, leaves, fee, kind, side, reason, 0, sid, *NO_SLIPPAGE,
    )  # fmt: skip
    return bytes(buf)


def bbo(bid: int, ask: int, *, state: int = 0, qty: int = 10 * Q) -> bytes:
    buf = bytearray(128)
    SPECS[RecordType.BBO].packer.pack_into(
        buf, 0, RecordType.BBO, 1, AAA, 0, 0, 7, 0, 0, 0, 0, bid, qty, ask, qty, 1, state
    )
    return bytes(buf)


def fields(record: bytes, rtype: RecordType) -> dict[str, Any]:
    spec = SPECS[rtype]
    row = np.frombuffer(record[: spec.itemsize], dtype=spec.dtype)[0]
    assert row.dtype.names is not None
    return {name: row[name].tolist() for name in row.dtype.names}


class RiskHarness:
    def __init__(self, name: str, params: dict[str, Any]) -> None:
        self.config = parse_config(
            {
                "pipeline": {"name": name},
                "instruments": INSTRUMENTS,
                "stages": {
                    "md": {"class": "stages.probe:ProbeSource"},
                    "strat": {"class": "stages.probe:ProbeSource"},
                    "risk": {"class": "stages.trading.risk.stage:RiskStage", "params": {"execution": "exec", **params}},
                    "exec": {"class": "stages.probe:ProbeSource"},
                },
                "rings": [
                    {"from": "md", "to": "risk", "capacity": 256, "slot_size": 768},
                    {"from": "strat", "to": "risk", "capacity": 256, "slot_size": ORDER_INTENT_SIZE},
                    {"from": "risk", "to": "strat", "capacity": 256, "slot_size": REPORT_SIZE},
                    {"from": "risk", "to": "exec", "capacity": 256, "slot_size": ORDER_INTENT_SIZE},
                    {"from": "exec", "to": "risk", "capacity": 256, "slot_size": REPORT_SIZE},
                ],
            },
            source="test",
            allowed_cpus={0, 1},
        )
        self.owned: OwnedObjects = create_pipeline_objects(self.config)
        control = self.owned.control
        self.contexts: dict[str, StageContext] = {
            n: open_stage_context(self.config, control, n) for n in ("md", "strat", "risk", "exec")
        }
        try:
            self.stage = RiskStage(self.contexts["risk"])
        except BaseException:
            self.close_contexts()
            raise
        self.invoker = AgentInvoker(self.stage)
        self.invoker.start()
        self._md = self.contexts["md"].output_port()
        self._strat = self.contexts["strat"].output_port()
        self._exec = self.contexts["exec"].output_port()
        self._to_strat = self.contexts["strat"].input_port().ring
        self._to_exec = self.contexts["exec"].input_port().ring
        self._intent_rows = np.zeros(256, dtype=np.dtype((np.void, ORDER_INTENT_SIZE)))
        self._report_rows = np.zeros(256, dtype=np.dtype((np.void, REPORT_SIZE)))

    def market(self, *records: bytes) -> None:
        for record in records:
            assert self._md.offer(record, 1)
        self.step()

    def send(self, *records: bytes) -> None:
        for record in records:
            assert self._strat.offer(record, 2)
        self.step()

    def answer(self, *records: bytes) -> None:
        for record in records:
            assert self._exec.offer(record, 3)
        self.step()

    def step(self) -> None:
        while self.invoker.invoke():
            pass

    def _drain(self, ring: Any, rows: np.ndarray[Any, np.dtype[np.void]]) -> list[bytes]:
        out = []
        while n := ring.poll_into(rows):
            out.extend(bytes(r) for r in rows[:n])
        return out

    def to_exec(self) -> list[bytes]:
        return self._drain(self._to_exec, self._intent_rows)

    def to_strat(self) -> list[bytes]:
        return self._drain(self._to_strat, self._report_rows)

    def counters(self) -> dict[str, int]:
        return self.owned.control.read_counters(self.contexts["risk"].index)

    def status(self) -> Any:
        import json

        text = self.owned.control.read_status(self.contexts["risk"].index)
        return None if text is None else json.loads(text)

    def operator(self, command: str, reason: str = "test") -> int:
        import json

        number = self.owned.control.post_request(
            lambda n: json.dumps({"n": n, "topic": "trading", "command": command, "reason": reason, "by": "tester"})
        )
        self.step()
        return number

    def close_contexts(self) -> None:
        for ctx in self.contexts.values():
            ctx.close()
        self.owned.destroy()

    def close(self) -> None:
        self.invoker.close()
        self.close_contexts()
