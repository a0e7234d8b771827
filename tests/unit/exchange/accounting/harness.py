"""Accounting over real rings, stepped by hand, with fake engines answering its command rings.

The gateway end is the test itself: it writes EX_COMMAND records into gw-acct
and reads what accounting answers on acct-gw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hftpipe.runtime import AgentInvoker, StageContext
from hftpipe.runtime.config import PipelineConfig, parse_config
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.schema import exchange_codec as codec
from hftpipe.schema.exchange import EX_EVENT_DTYPE, EX_RECORD_SIZE, Command, Event
from hftpipe.schema.exchange_codec import encode_id
from hftpipe.substrate.control_layout import PipelineState
from hftpipe.substrate.ring import Ring
from stages.exchange.accounting.stage import AccountingStage
from stages.exchange.protocol.settings import ExchangeSettings
from stages.exchange.protocol.topology import ACCOUNTING_TO_GATEWAY, GATEWAY_TO_ACCOUNTING, command_ring, event_ring
from tests.unit.exchange.accounting.fake_engine import FakeEngine
from tests.unit.exchange.symbol_tables import symbol_tables

SYMBOLS = ("BTCUSDT", "ETHUSDT")
BTC, USDT, ETH = 1, 2, 3
"""Asset ids: in order of first appearance in the symbols."""
ALICE, BOB, CAROL = 1, 2, 3
BTCUSDT, ETHUSDT = 1, 2
BUY, SELL = 0, 1
E8 = 10**8


def exchange_table(state_dir: Path, **overrides: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "state_dir": str(state_dir),
        "maker_commission": "0.001",
        "taker_commission": "0.002",
        "symbols": symbol_tables(),
        "accounts": [
            {"name": "alice", "deposits": {"USDT": "100000", "BTC": "2"}},
            {"name": "bob", "deposits": {"USDT": "50000", "BTC": "3", "ETH": "10"}},
            {"name": "carol", "deposits": {}},
        ],
    }
    table.update(overrides)
    return table


def pipeline_config(name: str, table: dict[str, Any], capacity: int, gw_capacity: int, batch: int) -> PipelineConfig:
    stages: dict[str, Any] = {
        "gateway": {"class": "stages.probe:ProbeSource"},
        "accounting": {
            "class": "stages.exchange.accounting.stage:AccountingStage",
            "params": {"settings": ExchangeSettings.from_raw(table), "batch": batch},
        },
    }
    rings = [
        {"name": GATEWAY_TO_ACCOUNTING, "from": "gateway", "to": "accounting", "capacity": gw_capacity,
         "slot_size": EX_RECORD_SIZE},
        {"name": ACCOUNTING_TO_GATEWAY, "from": "accounting", "to": "gateway", "capacity": gw_capacity,
         "slot_size": EX_RECORD_SIZE},
    ]  # fmt: skip
    for symbol in SYMBOLS:
        stages[f"engine_{symbol}"] = {"class": "stages.probe:ProbeSink"}
        rings += [
            {"name": command_ring(symbol), "from": "accounting", "to": f"engine_{symbol}", "capacity": capacity,
             "slot_size": EX_RECORD_SIZE},
            {"name": event_ring(symbol), "from": f"engine_{symbol}", "to": "accounting", "capacity": capacity,
             "slot_size": EX_RECORD_SIZE},
        ]  # fmt: skip
    return parse_config({"pipeline": {"name": name}, "stages": stages, "rings": rings}, "test", allowed_cpus={0, 1})


def decode(raw: bytes) -> dict[str, Any]:
    record = np.frombuffer(raw, dtype=EX_EVENT_DTYPE)[0]
    out: dict[str, Any] = {}
    for name in EX_EVENT_DTYPE.names or ():
        value = record[name]
        if name in ("client_order_id", "orig_client_order_id"):
            out[name] = bytes(value).rstrip(b"\0").decode()
        elif name == "ts_hop":
            continue
        else:
            out[name] = int(value)
    out["event_name"] = Event(out["event"]).name
    return out


class Harness:
    """One accounting stage, its rings, two fake engines, the test as the gateway."""

    def __init__(
        self,
        name: str,
        table: dict[str, Any],
        *,
        capacity: int = 1024,
        gw_capacity: int = 1024,
        batch: int = 256,
        start: bool = True,
    ) -> None:
        self.config = pipeline_config(name, table, capacity, gw_capacity, batch)
        self.owned: OwnedObjects = create_pipeline_objects(self.config)
        control = self.owned.control
        control.set_state(PipelineState.RUNNING)
        self.contexts: list[StageContext] = []
        gw = self._open("gateway")
        acct = self._open("accounting")
        self.errors: list[str] = []
        record = acct.errors.record

        def spy(message: str) -> None:
            self.errors.append(message)
            record(message)

        acct.errors.record = spy  # type: ignore[method-assign]
        self.ctx = acct
        self.stage = AccountingStage(acct)
        self.settings = self.stage.settings
        self.invoker = AgentInvoker(self.stage)
        self.engines: dict[int, FakeEngine] = {}
        for symbol in self.settings.symbols:
            ctx = self._open(f"engine_{symbol.symbol}")
            self.engines[symbol.symbol_id] = FakeEngine(
                symbol, ctx.input_port(command_ring(symbol.symbol)), ctx.output_port(event_ring(symbol.symbol))
            )
        self._to_acct = gw.output_port(GATEWAY_TO_ACCOUNTING)
        self.to_acct: Ring = self._to_acct.ring
        self.from_acct: Ring = gw.input_port(ACCOUNTING_TO_GATEWAY).ring
        self.received: list[dict[str, Any]] = []
        self._buffer = np.zeros(256, dtype=np.dtype((np.void, EX_RECORD_SIZE)))
        self._next_request = 1
        self.allowed_errors = 0
        if start:
            self.invoker.start()

    def _open(self, stage: str) -> StageContext:
        ctx = open_stage_context(self.config, self.owned.control, stage)
        self.contexts.append(ctx)
        return ctx

    def close(self) -> None:
        self.invoker.close()
        for ctx in self.contexts:
            ctx.close()
        self.owned.destroy()

    # ------------------------------------------------------------------ driving
    def step(self) -> int:
        """One accounting duty cycle (errors fail the test unless allowed)."""
        work = self.invoker.invoke()
        if self.invoker.errors.consecutive or len(self.errors) > self.allowed_errors:
            raise AssertionError(f"accounting reported errors: {self.errors}")
        return work

    def run(self, engines: bool = True, rounds: int = 100_000) -> None:
        """Until nothing moves: accounting, the engines and the gateway's reader."""
        for _ in range(rounds):
            work = self.step()
            if engines:
                work += sum(engine.step() for engine in self.engines.values())
            work += self.drain()
            if not work:
                return
        raise AssertionError("the exchange never went quiet")

    def drain(self) -> int:
        n = total = 0
        while n := self.from_acct.poll_into(self._buffer):
            self.received.extend(decode(bytes(raw)) for raw in self._buffer[:n])
            total += n
        return total

    def start_live(self) -> None:
        self.run()
        assert self.stage.live

    # ----------------------------------------------------------------- commands
    def send(self, command: Command, symbol: int = 0, **values: Any) -> int:
        fields = codec.blank_command()
        request_id = values.pop("request_id", None) or self._next_request
        self._next_request = max(self._next_request, request_id) + 1
        fields[codec.C_REQUEST_ID] = request_id
        fields[codec.C_COMMAND] = int(command)
        fields[codec.INSTRUMENT] = symbol
        for key, value in values.items():
            ids = ("client_order_id", "orig_client_order_id", "cancel_client_order_id")
            fields[getattr(codec, "C_" + key.upper())] = encode_id(value) if key in ids else int(value)
        assert self._to_acct.offer(codec.pack_command(*fields), time.monotonic_ns()), "gw-acct is full"
        return request_id

    def request(self, command: Command, symbol: int = 0, **values: Any) -> list[dict[str, Any]]:
        """Send, run to quiet, and return the answer: this request's records, in order."""
        request_id = self.send(command, symbol, **values)
        self.run()
        return self.answer(request_id)

    def answer(self, request_id: int) -> list[dict[str, Any]]:
        records = [r for r in self.received if r["request_id"] == request_id]
        assert records and records[-1]["flags"] & codec.END, records
        assert sum(1 for r in records if r["flags"] & codec.END) == 1, records
        return records

    def order(
        self, symbol: int, account: int, side: int, price: str | int, qty: str | int, **values: Any
    ) -> list[dict[str, Any]]:
        """A LIMIT GTC order; price and qty as decimal strings (or raw ints)."""
        s = self.settings.symbols[symbol - 1]
        return self.request(
            Command.NEW_ORDER,
            symbol,
            account=account,
            side=side,
            order_type=values.pop("order_type", 0),
            tif=values.pop("tif", 0),
            price=_fixed(price, s.price_scale),
            qty=_fixed(qty, s.qty_scale),
            **values,
        )

    # ------------------------------------------------------------------ reading
    def balance(self, account: int, asset: int) -> tuple[int, int]:
        return self.stage.accountant.ledger.get(account, asset)

    def snapshot(self) -> tuple[dict[tuple[int, int], tuple[int, int]], list[Any]]:
        ledger = self.stage.accountant.ledger
        balances = {
            (account, asset): (b.free, b.locked)
            for account, assets in ledger.accounts.items()
            for asset, b in assets.items()
            if b.free or b.locked
        }
        return balances, self.stage.accountant.orders.orders_snapshot()


MakeExchange = Callable[..., Harness]
"""The ``make_exchange`` fixture (conftest.py)."""


def _fixed(value: str | int, scale: int) -> int:
    if isinstance(value, int):
        return value
    from hftpipe.schema.fixedpoint import parse_fixed

    return parse_fixed(value, scale)


def kinds(records: list[dict[str, Any]]) -> list[str]:
    return [r["event_name"] for r in records]
