"""The engine stage over real rings, stepped by hand: EX_COMMAND records in, EX_EVENT and market data out.

A three-stage pipeline (accounting and publisher are placeholders whose ring
ends the test drives) is created under a unique name; the engine stage runs
under an :class:`~hftpipe.runtime.agent.AgentInvoker`. Commands are built by field
name; events and market-data records come back as plain dicts (and as raw
bytes, for the determinism checks: there the engine's own hop stamp, the one
clock in its output, is zeroed).
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Final

import numpy as np

from hftpipe.runtime import AgentInvoker, StageContext
from hftpipe.runtime.config import PipelineConfig, parse_config
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.schema import SPECS
from hftpipe.schema.exchange import EX_EVENT_DTYPE, EX_RECORD_SIZE, Command
from hftpipe.schema.exchange_codec import encode_id
from hftpipe.schema.marketdata import BOOK_DELTA_DTYPE, TRADE_DTYPE, BookAction
from hftpipe.schema.records import RECORD_SIZE, TS_HOP_OFFSET, RecordFlag, RecordType
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.ring import Ring
from stages.exchange.engine.stage import EngineStage
from stages.exchange.protocol.settings import ExchangeSettings
from stages.exchange.protocol.topology import command_ring, engine_stage, event_ring, market_ring

SYMBOL: Final = "BTCUSDT"
EXCHANGE: Final[dict[str, Any]] = {
    "state_dir": "/tmp/hftpipe-engine-tests-unused",
    "symbols": [
        {
            "symbol": SYMBOL,
            "base": "BTC",
            "quote": "USDT",
            "tick_size": "0.01",
            "min_price": "0.01",
            "max_price": "100000",
            "step_size": "0.001",
            "min_qty": "0.001",
            "max_qty": "1000",
            "initial_price": "100",
        }
    ],
}
"""price_scale 2, qty_scale 3: price 10000 is 100.00, qty 5000 is 5.000."""
INSTRUMENT: Final = 1
END: Final = int(RecordFlag.END_OF_UPDATE)
SNAPSHOT: Final = int(RecordFlag.SNAPSHOT)
REPLAY: Final = int(RecordFlag.REPLAY)
_ID_FIELDS: Final = ("client_order_id", "orig_client_order_id", "cancel_client_order_id")
_COMMAND_SPEC: Final = SPECS[RecordType.EX_COMMAND]


def pipeline_config(name: str, cmd_capacity: int, evt_capacity: int, md_capacity: int) -> PipelineConfig:
    engine = engine_stage(SYMBOL)

    def ring(name: str, producer: str, consumer: str, capacity: int, slot_size: int) -> dict[str, Any]:
        return {"name": name, "from": producer, "to": consumer, "capacity": capacity, "slot_size": slot_size}

    return parse_config(
        {
            "pipeline": {"name": name},
            "stages": {
                "accounting": {"class": "stages.probe:ProbeSink"},  # its ring ends are driven by the test
                engine: {
                    "class": "stages.exchange.engine.stage:EngineStage",
                    "params": {"settings": ExchangeSettings.from_raw(EXCHANGE), "symbol": SYMBOL},
                },
                "publisher": {"class": "stages.probe:ProbeSink"},
            },
            "rings": [
                ring(command_ring(SYMBOL), "accounting", engine, cmd_capacity, EX_RECORD_SIZE),
                ring(event_ring(SYMBOL), engine, "accounting", evt_capacity, EX_RECORD_SIZE),
                ring(market_ring(SYMBOL), engine, "publisher", md_capacity, RECORD_SIZE),
            ],
        },
        source="test",
        allowed_cpus={0},
    )


def command(**fields: Any) -> bytes:
    """One EX_COMMAND record; client ids may be given as str."""
    record = _COMMAND_SPEC.zeros(1)
    for name, value in fields.items():
        record[name] = encode_id(value) if name in _ID_FIELDS and isinstance(value, str) else value
    return record.tobytes()


def as_dict(raw: bytes, dtype: np.dtype[Any]) -> dict[str, Any]:
    record = np.frombuffer(raw[: dtype.itemsize], dtype=dtype)[0]
    assert dtype.names is not None
    out: dict[str, Any] = {}
    for name in dtype.names:
        value = record[name]
        out[name] = value.tolist() if isinstance(value, np.ndarray) else value.item()
    return out


class EngineHarness:
    """One engine stage, its three rings, and the test's ends of them."""

    def __init__(self, name: str, *, cmd_capacity: int = 4096, evt_capacity: int = 4096, md_capacity: int = 4096):
        self.config = pipeline_config(name, cmd_capacity, evt_capacity, md_capacity)
        self.owned: OwnedObjects = create_pipeline_objects(self.config)
        self._contexts: list[StageContext] = []
        try:
            accounting = self._open("accounting")
            self.ctx = self._open(engine_stage(SYMBOL))
            publisher = self._open("publisher")
            self.stage = EngineStage(self.ctx)
        except BaseException:
            self.close()
            raise
        self.invoker = AgentInvoker(self.stage)
        self.invoker.start()
        self.cmd: Ring = accounting.outputs[command_ring(SYMBOL)]
        self.evt: Ring = accounting.inputs[event_ring(SYMBOL)].ring
        self.md: Ring = publisher.inputs[market_ring(SYMBOL)].ring
        self.hop = self.ctx.hop
        """The engine's index into ``ts_hop`` (0: the exchange stages sit in a cycle)."""
        self._stamp = slice(TS_HOP_OFFSET + 8 * self.hop, TS_HOP_OFFSET + 8 * self.hop + 8)
        self._seq = itertools.count(1)
        self._request = itertools.count(1)
        self.ran = (0, 0)
        """When the last :meth:`run` started and ended (monotonic ns)."""
        self.event_bytes: list[bytes] = []
        self.md_bytes: list[bytes] = []

    def _open(self, stage: str) -> StageContext:
        ctx = open_stage_context(self.config, self.owned.control, stage)
        self._contexts.append(ctx)
        return ctx

    # ------------------------------------------------------------------ commands

    def send_raw(self, raw: bytes) -> None:
        assert self.cmd.offer(raw), "command ring full"

    def send(self, cmd: Command, *, journaled: bool = True, **fields: Any) -> dict[str, Any]:
        """Queue one command as accounting would: seq (journaled), tag = seq for new orders,
        ts_venue, ts_origin and hop stamps derived from seq, a request id; returns its fields."""
        seq = next(self._seq) if journaled else 0
        values: dict[str, Any] = {
            "rtype": int(RecordType.EX_COMMAND),
            "instrument": INSTRUMENT,
            "seq": seq,
            "ts_venue": 1_700_000_000_000_000_000 + 1000 * seq,
            "ts_origin": 5_000 + seq,
            "ts_hop": [11 + seq, 22, 33, 44],
            "request_id": next(self._request),
            "command": int(cmd),
        }
        if cmd in (Command.NEW_ORDER, Command.CANCEL_REPLACE):
            values["tag"] = seq
        values.update(fields)
        self.send_raw(command(**values))
        return values

    def run(self) -> int:
        """Duty cycles until the stage does no more work; returns the work done."""
        total = 0
        started = time.monotonic_ns()
        while work := self.invoker.invoke():
            total += work
        self.ran = (started, time.monotonic_ns())
        assert self.invoker.errors.consecutive == 0, self.ctx.errors
        return total

    def step(self, cmd: Command, **fields: Any) -> list[dict[str, Any]]:
        """Send one command, run the stage, return the events it caused."""
        self.send(cmd, **fields)
        self.run()
        return self.events()

    # ------------------------------------------------------------------ outputs

    def stamped(self, sent_hops: list[int], record_hops: list[int]) -> list[int]:
        """``sent_hops`` with the engine's own stamp from ``record_hops`` in its slot, checked to be a
        time during the last :meth:`run` (when the engine took the command)."""
        stamp = record_hops[self.hop]
        assert self.ran[0] <= stamp <= self.ran[1], (stamp, self.ran)
        return [stamp if i == self.hop else hop for i, hop in enumerate(sent_hops)]

    def _drain(self, ring: Ring, size: int, limit: int) -> tuple[list[bytes], list[bytes]]:
        """Up to ``limit`` records as published, and the same with the engine's own stamp zeroed."""
        got: list[bytes] = []

        def take(buf: memoryview, offset: int) -> None:
            got.append(bytes(buf[offset : offset + size]))

        while len(got) < limit and ring.poll(take, limit - len(got)):
            pass
        masked = []
        for raw in got:
            record = bytearray(raw)
            record[self._stamp] = bytes(8)
            masked.append(bytes(record))
        (self.event_bytes if ring is self.evt else self.md_bytes).extend(masked)
        return got, masked

    def drain_events(self, limit: int = 1 << 30) -> list[bytes]:
        """Event records with the engine's stamp zeroed: the same bytes for the same commands."""
        return self._drain(self.evt, EX_RECORD_SIZE, limit)[1]

    def events(self) -> list[dict[str, Any]]:
        return [as_dict(raw, EX_EVENT_DTYPE) for raw in self._drain(self.evt, EX_RECORD_SIZE, 1 << 30)[0]]

    def drain_md(self) -> list[bytes]:
        """Market-data records as published (also kept in ``md_bytes``, their engine stamp zeroed)."""
        return self._drain(self.md, RECORD_SIZE, 1 << 30)[0]

    def market_data(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.drain_md():
            rtype = int.from_bytes(raw[:2], "little")
            out.append(as_dict(raw, BOOK_DELTA_DTYPE if rtype == RecordType.BOOK_DELTA else TRADE_DTYPE))
        return out

    def counter(self, kind: CounterKind | str) -> int:
        """A standard counter by kind, or one of the stage's own by label."""
        counters = self.ctx.counters
        return (counters.standard(kind) if isinstance(kind, CounterKind) else counters.add(kind)).value

    def close(self) -> None:
        if hasattr(self, "invoker"):
            self.invoker.close()
        for ctx in self._contexts:
            ctx.close()
        self.owned.destroy()


class Replica:
    """A market-data consumer's book: applies BOOK_DELTA records as the publisher would."""

    def __init__(self) -> None:
        self.levels: dict[tuple[int, int], int] = {}
        self.update_id = 0
        self.trades: list[tuple[int, int, int, int]] = []
        self.snapshots = 0

    def apply(self, records: list[dict[str, Any]]) -> None:
        for r in records:
            if r["rtype"] == RecordType.TRADE:
                self.trades.append((r["price"], r["qty"], r["trade_id"], r["aggressor"]))
                continue
            if r["action"] == BookAction.CLEAR:
                self.levels.clear()
                self.snapshots += 1
            elif r["qty"]:
                self.levels[(r["side"], r["price"])] = r["qty"]
            else:
                self.levels.pop((r["side"], r["price"]), None)
            self.update_id = r["update_id"]

    def depth(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        bids = sorted(((p, q) for (s, p), q in self.levels.items() if s == 0), reverse=True)
        asks = sorted((p, q) for (s, p), q in self.levels.items() if s == 1)
        return bids, asks


def engine_depth(h: EngineHarness) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    return h.stage.engine.depth(1 << 30)
