"""The execution stage in live mode against ``hftpipe exchange run``: real rings, a real gateway and engines.

The rings are built here (``risk`` a probe source the test writes approved
intents through, ``sink`` a probe sink it reads the EXEC_REPORT records
from); :class:`ExecutionStage` runs in this process's event loop, logged on
with an Ed25519 key of an account of its own. The config's ``demo`` account
rests the orders it trades against.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import numpy as np

from hftpipe.runtime import StageContext
from hftpipe.runtime.config import parse_config
from hftpipe.runtime.report import LatencySnapshot, stage_status
from hftpipe.runtime.wiring import create_pipeline_objects, open_stage_context
from hftpipe.schema import SPECS
from hftpipe.schema.fixedpoint import format_fixed
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.records import RecordType
from hftpipe.schema.trading import (
    ExecType,
    IntentAction,
    OrderSide,
    OrderType,
    RejectReason,
    TimeInForce,
    client_order_id,
)
from stages.exchange.protocol.settings import ExchangeSettings
from stages.trading.execution.binance.client import BinanceWsApiClient, HmacCredentials
from stages.trading.execution.binance.messages import intent_order_params
from stages.trading.execution.stage import ExecutionStage
from tests.integration.exchange.harness import RunningExchange
from tests.integration.exchange.trading import api_url, settings_of
from tests.integration.execution.test_binance_client import _ed25519_account
from tests.unit.trading.strategy.records import depth as depth_record

STRATEGY: Final = 7
OTHER_STRATEGY: Final = 8
EPOCH: Final = 1_765_000_000_000
WAIT_S: Final = 15.0
INTENT: Final = SPECS[RecordType.ORDER_INTENT]
REPORT: Final = SPECS[RecordType.EXEC_REPORT]


class LiveStage:
    """``risk`` (probe source) → ``execution`` (live) → ``sink`` (probe sink), the stage on this loop."""

    def __init__(
        self, name: str, settings: ExchangeSettings, api_key: str, pem: Path, url: str = "", **params: object
    ) -> None:
        """``url``: the WebSocket API (default: the exchange's); ``params``: more of the stage's params."""
        symbol = next(s for s in settings.symbols if s.symbol == "BTCUSDT")
        instrument = {
            "venue": "binance",
            "symbol": symbol.symbol,
            "price_scale": symbol.price_scale,
            "qty_scale": symbol.qty_scale,
            "tick": format_fixed(symbol.tick_size, symbol.price_scale),
            "lot": format_fixed(symbol.step_size, symbol.qty_scale),
        }
        self.config = parse_config(
            {
                "pipeline": {"name": name},
                "instruments": [instrument],
                "stages": {
                    "risk": {"class": "stages.probe:ProbeSource"},
                    "execution": {
                        "class": "stages.trading.execution.stage:ExecutionStage",
                        "params": {
                            "mode": "live",
                            "ws_api_url": url or api_url(settings),
                            "api_key": api_key,
                            "private_key_path": str(pem),
                            "request_timeout_s": 10.0,
                            **params,
                        },
                    },
                    "sink": {"class": "stages.probe:ProbeSink"},
                    "book": {"class": "stages.probe:ProbeSource"},
                },
                "rings": [
                    {"name": "intents", "from": "risk", "to": "execution", "capacity": 256, "slot_size": 192},
                    {"name": "md", "from": "book", "to": "execution", "capacity": 64, "slot_size": 768},
                    {"name": "reports", "from": "execution", "to": "sink", "capacity": 256, "slot_size": 192},
                ],
            },
            source="test",
            allowed_cpus={0, 1},
        )
        self.instrument: Instrument = self.config.instruments[0]
        self.owned = create_pipeline_objects(self.config)
        self.contexts: list[StageContext] = [
            open_stage_context(self.config, self.owned.control, stage)
            for stage in ("risk", "execution", "sink", "book")
        ]
        risk, self.ctx, sink, book = self.contexts
        self._intents = risk.output_port()
        self._md = book.output_port()
        self._reports = sink.input_port().ring
        self._rows = np.zeros(256, dtype=np.dtype((np.void, REPORT.itemsize)))
        self.reports: list[dict[str, Any]] = []
        self.stage: ExecutionStage | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.stage = ExecutionStage(self.ctx)
        self._task = asyncio.create_task(self.stage.run(self._stopping))
        deadline = time.monotonic() + WAIT_S
        while not self.stage.live or not self.stage.live.connected:
            assert not self._task.done(), self._task.exception()
            assert time.monotonic() < deadline, "the live venue never connected"
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, WAIT_S)

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()
        self.owned.destroy()

    def send(self, action: IntentAction, seq: int, *, orig: int = 0, side: OrderSide = OrderSide.BUY,
             price: str = "0", qty: str = "0", order_type: OrderType = OrderType.LIMIT,
             tif: TimeInForce = TimeInForce.GTC, strategy: int = STRATEGY) -> None:  # fmt: skip
        row = np.zeros(1, dtype=INTENT.dtype)[0]
        row["rtype"] = int(RecordType.ORDER_INTENT)
        row["instrument"] = self.instrument.id
        row["ts_origin"] = time.monotonic_ns()
        row["order_seq"], row["orig_order_seq"] = seq, orig
        row["price"] = self.instrument.price(price) if price != "0" else 0
        row["qty"] = self.instrument.qty(qty) if qty != "0" else 0
        row["epoch"], row["strategy_id"] = EPOCH, strategy
        row["action"], row["side"], row["order_type"], row["tif"] = int(action), int(side), int(order_type), int(tif)
        assert self._intents.offer(row.tobytes(), time.monotonic_ns())

    async def book(self, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        """A DEPTH record of the instrument on the md ring, once the stage has taken it (what it estimates on)."""
        assert self.stage is not None
        view = self.stage.books[self.instrument.id]
        taken = view.updates
        price, qty = self.instrument.price, self.instrument.qty
        record = depth_record(self.instrument.id, [(price(p), qty(q)) for p, q in bids],
                              [(price(p), qty(q)) for p, q in asks], origin=time.monotonic_ns())  # fmt: skip
        assert self._md.offer(record, time.monotonic_ns())
        deadline = time.monotonic() + WAIT_S
        while view.updates == taken:
            assert time.monotonic() < deadline, "the stage never took the book"
            await asyncio.sleep(0.01)

    async def status(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The stage's status bulletin once ``predicate`` accepts it (republished every second)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            text = self.owned.control.read_status(self.ctx.index)
            status = None if text is None else json.loads(text)
            if status is not None and predicate(status):
                return status
            assert time.monotonic() < deadline, f"no such status; last {status}"
            await asyncio.sleep(0.05)

    async def report(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first report (read so far or next) that ``predicate`` accepts."""
        deadline = time.monotonic() + WAIT_S
        seen = 0
        while True:
            for report in self.reports[seen:]:
                if predicate(report):
                    return report
            seen = len(self.reports)
            assert self._task is None or not self._task.done(), self._task.exception()
            assert time.monotonic() < deadline, f"no such report; saw {self.reports}"
            self.drain()
            await asyncio.sleep(0.01)

    def drain(self) -> int:
        """Read every report the stage published so far into ``reports``: how many."""
        read = 0
        while n := self._reports.poll_into(self._rows):
            read += n
            for raw in self._rows[:n]:
                row = np.frombuffer(bytes(raw)[: REPORT.itemsize], dtype=REPORT.dtype)[0]
                assert row.dtype.names is not None
                fields = {name: row[name].tolist() for name in row.dtype.names}
                fields["exec_type"] = ExecType(fields["exec_type"])
                self.reports.append(fields)
        return read


def _is(exec_type: ExecType, seq: int) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r["exec_type"] is exec_type and r["order_seq"] == seq


def test_should_trade_through_the_live_execution_stage(
    start_exchange: Callable[..., RunningExchange], hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path
) -> None:
    exchange = start_exchange()
    settings = settings_of(exchange.config)
    api_key, pem = _ed25519_account(hftpipe_cmd, exchange.config, tmp_path)
    demo = next(k for k in settings.api_keys if k.account == "demo" and k.secret)
    live = LiveStage(f"{pipeline_name}-x", settings, api_key, pem)
    btc = live.instrument
    price, qty = btc.price, btc.qty

    async def scenario() -> None:
        await live.start()
        try:
            # a resting LIMIT: ACK with the venue's order id; then canceled
            live.send(IntentAction.NEW, 1, price="30000", qty="0.001")
            ack = await live.report(_is(ExecType.ACK, 1))
            assert ack["venue_order_id"] > 0 and ack["strategy_id"] == STRATEGY
            assert (ack["leaves_qty"], ack["cum_qty"], ack["side"]) == (qty("0.001"), 0, int(OrderSide.BUY))
            live.send(IntentAction.CANCEL, 2, orig=1)
            canceled = await live.report(_is(ExecType.CANCELED, 1))
            assert (canceled["venue_order_id"], canceled["leaves_qty"]) == (ack["venue_order_id"], 0)

            # a replace: the new order REPLACED, resting at its new price and size
            live.send(IntentAction.NEW, 3, price="30000", qty="0.001")
            first = await live.report(_is(ExecType.ACK, 3))
            live.send(IntentAction.REPLACE, 4, orig=3, price="30100", qty="0.002")
            replaced = await live.report(_is(ExecType.REPLACED, 4))
            assert replaced["venue_order_id"] not in (0, first["venue_order_id"])
            assert replaced["leaves_qty"] == qty("0.002")

            # a marketable order fills against the demo account's resting one; estimated on the book execution
            # saw when it sent it: 0.001 @ 30500 + 0.001 @ 30550 = 30525, 8.20 bps over the ask
            await live.book([("30000", "0.001")], [("30500", "0.001"), ("30550", "0.005")])
            async with BinanceWsApiClient(api_url(settings), HmacCredentials(demo.api_key, demo.secret), [btc]) as mm:
                ask = (OrderSide.SELL, OrderType.LIMIT, TimeInForce.GTC, price("30500"), qty("0.002"))
                resting = await mm.place(intent_order_params(btc, *ask, client_order_id(90, EPOCH, 1)))
                assert resting["status"] == "NEW"
            live.send(IntentAction.NEW, 5, price="30600", qty="0.002")
            fill = await live.report(_is(ExecType.FILL, 5))
            assert (fill["last_qty"], fill["last_price"], fill["cum_qty"]) == (
                qty("0.002"),
                price("30500"),
                qty("0.002"),
            )
            assert fill["leaves_qty"] == 0 and fill["venue_order_id"] > 0
            ask, mid = price("30500"), Fraction(price("30000") + price("30500"), 2)
            estimated = float(Fraction(price("30525") - ask, ask) * 10_000)
            assert (fill["est_avg_price"], fill["est_qty"], fill["ref_bid"], fill["ref_ask"]) == (
                price("30525"), qty("0.002"), price("30000"), ask)  # fmt: skip
            assert fill["est_touch_bps"] == estimated
            assert fill["est_mid_bps"] == float((price("30525") - mid) / mid * 10_000)
            assert (fill["fill_touch_bps"], fill["fill_mid_bps"]) == (0.0, float((ask - mid) / mid * 10_000))
            status = await live.status(lambda s: s["trading"]["slippage"]["fills"] == 1)
            slippage = status["trading"]["slippage"]
            assert (slippage["realized_bps_p50"], slippage["estimated_bps_p50"]) == (0.0, round(estimated, 4))
            assert slippage["difference_bps_p50"] == round(-estimated, 4)

            # CANCEL_ALL: every open order of the strategy, not another strategy's
            live.send(IntentAction.NEW, 6, price="29000", qty="0.001")
            live.send(IntentAction.NEW, 1, price="29000", qty="0.001", strategy=OTHER_STRATEGY)
            await live.report(_is(ExecType.ACK, 6))
            await live.report(lambda r: r["exec_type"] is ExecType.ACK and r["strategy_id"] == OTHER_STRATEGY)
            live.send(IntentAction.CANCEL_ALL, 7)
            await live.report(_is(ExecType.CANCELED, 4))
            await live.report(_is(ExecType.CANCELED, 6))
            assert live.stage is not None
            assert [o.strategy_id for o in live.stage.oms.open_orders()] == [OTHER_STRATEGY]

            # refusals: more than the balance, under the notional filter
            live.send(IntentAction.NEW, 8, price="30000", qty="100")
            poor = await live.report(_is(ExecType.REJECTED, 8))
            assert (poor["reason"], poor["venue_code"]) == (int(RejectReason.VENUE), -2010)
            live.send(IntentAction.NEW, 9, price="30000", qty="0.00001")
            small = await live.report(_is(ExecType.REJECTED, 9))
            assert (small["reason"], small["venue_code"]) == (int(RejectReason.VENUE), -1013)

            # a cancel of an order the OMS never saw
            live.send(IntentAction.CANCEL, 10, orig=999)
            unknown = await live.report(_is(ExecType.CANCEL_REJECTED, 999))
            assert (unknown["reason"], unknown["strategy_id"], unknown["venue_order_id"]) == (
                int(RejectReason.UNKNOWN_ORDER), STRATEGY, 0)  # fmt: skip
            live.send(IntentAction.CANCEL, 11, orig=5)  # filled: not open, refused the same way
            filled = await live.report(_is(ExecType.CANCEL_REJECTED, 5))
            assert (filled["reason"], filled["cum_qty"]) == (int(RejectReason.UNKNOWN_ORDER), qty("0.002"))
            assert live.stage.live is not None and live.stage.live.errors == 0
            assert live.stage.live.client.stats.unparsed_events == 0
        finally:
            await live.stop()

    try:
        asyncio.run(scenario())
        latency = LatencySnapshot.read(live.ctx.control)
        assert latency.named["fill"].count == 1  # order 5, the only one that filled
        assert latency.named["order_ack"].count == 6  # the placements and the replace the venue took and answered
        assert "tick_to_order" not in latency.named  # none of these intents came of a market-data tick
        trading = stage_status(live.ctx.control, live.ctx.index)["trading"]
        assert (trading["orders_sent"], trading["fills"], trading["rejects"]) == (8, 1, 2)
        assert trading["acks"] >= 5 and Decimal(trading["fees"]) >= 0
    finally:
        live.close()
