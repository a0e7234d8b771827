"""The live execution stage through faults, against ``hftpipe exchange run`` (real processes, rings, sockets).

Each test drives :class:`ExecutionStage` over real rings (``LiveStage``, as in
``test_live_stage.py``) with the exchange's flow trading beside it, injects a
fault, then settles (every order answered, the rest canceled) and compares
the OMS with the exchange: ``order.status`` of every client order id the
stage used (state and executed quantity) and the account's balances, moved
by exactly the fills the OMS booked (the exchange runs with no commission
here, so a fill moves the balances by its quantity and notional alone). A
duplicate order, a lost fill or one counted twice shows up as a difference.

* kill -9 of the exchange's gateway, and of its accounting: the exchange's
  supervisor restarts the whole exchange (``on_failure =
  "restart-pipeline"``, the journal replayed); the stage reconnects and
  reconciles.
* a stalled socket (a proxy that stops forwarding answers): the order goes
  UNKNOWN, a fresh connection is opened, the order is queried there by its
  client order id and never sent again.
* connections replaced by age (``max_connection_age_s`` of seconds) while
  trading: make before break, nothing lost or doubled.
* an intent storm over the account's ORDERS limit: the rate limiter (seeded
  from ``exchangeInfo``) holds what would go over; the venue never answers
  -1015 / -1003.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import pytest

from hftpipe.schema.trading import ExecType, IntentAction, OrderSide, TimeInForce, client_order_id
from hftpipe.substrate.control import ControlFile
from stages.exchange.protocol.settings import ExchangeSettings
from stages.trading.execution.binance.client import BinanceWsApiClient, Ed25519Credentials
from stages.trading.execution.binance.errors import RejectedError
from stages.trading.execution.binance.messages import parse_order
from stages.trading.execution.oms_transitions import OmsState
from tests.integration.exchange.harness import RunningExchange, write_exchange_config
from tests.integration.exchange.trading import api_url, settings_of
from tests.integration.execution.stall_proxy import StallProxy
from tests.integration.execution.test_binance_client import _ed25519_account
from tests.integration.execution.test_live_stage import EPOCH, STRATEGY, LiveStage

DEPOSITS: Final = {"USDT": Decimal("50000"), "BTC": Decimal("1")}
"""What ``_ed25519_account`` deposits for the "exec" account."""
SETTLE_S: Final = 120.0
NOT_FOUND: Final = -2013
_EXCHANGE_STATUS: Final[dict[OmsState, set[str | None]]] = {
    OmsState.FILLED: {"FILLED"},
    OmsState.CANCELED: {"CANCELED"},
    OmsState.EXPIRED: {"EXPIRED", "EXPIRED_IN_MATCH"},
    OmsState.REJECTED: {None, "REJECTED"},
}
"""What the exchange may say of an order the OMS holds in each final state (None: it has no such order)."""


@pytest.fixture
def exchange(tmp_path: Path, pipeline_name: str, hftpipe_cmd: list[str]) -> Iterator[RunningExchange]:
    """The shipped exchange with its flow, no commission (a fill moves balances by its notional exactly)."""
    config = write_exchange_config(tmp_path, pipeline_name, flow=True, flow_rate=40)
    text = config.read_text()
    for side in ("maker", "taker"):
        assert text.count(f'{side}_commission = "0.001"') == 1
        text = text.replace(f'{side}_commission = "0.001"', f'{side}_commission = "0"')
    config.write_text(text)
    running = RunningExchange(list(hftpipe_cmd), config)
    running.start()
    yield running
    assert running.stop() == 0, "".join(running.output[-40:])


class Trader:
    """The stage under test and the account it trades: intents in, the venue's books compared after."""

    def __init__(self, live: LiveStage, settings: ExchangeSettings, api_key: str, pem: Path) -> None:
        self.live = live
        self.settings = settings
        self.credentials = Ed25519Credentials(api_key, pem)
        self.seq = 0
        self.resting: list[int] = []

    @property
    def venue(self) -> Any:
        stage = self.live.stage
        assert stage is not None and stage.live is not None
        return stage.live

    def state(self, seq: int) -> OmsState | None:
        """The OMS's state of this test's order ``seq`` (None before the stage read its intent)."""
        order = self.venue.oms.get((STRATEGY, EPOCH, seq))
        return None if order is None else order.state

    def send(self, action: IntentAction, **fields: Any) -> int:
        self.seq += 1
        self.live.send(action, self.seq, **fields)
        return self.seq

    def trade(self, count: int) -> None:
        """``count`` intents: marketable IOCs both ways (fills now), GTC bids near the touch the flow's takers
        may hit (fills later), and cancels of those."""
        for _ in range(count):
            turn = self.seq % 4
            if turn == 0:
                self.send(IntentAction.NEW, side=OrderSide.BUY, price="61800", qty="0.001", tif=TimeInForce.IOC)
            elif turn == 1:
                self.send(IntentAction.NEW, side=OrderSide.SELL, price="58200", qty="0.001", tif=TimeInForce.IOC)
            elif turn == 2:
                self.resting.append(self.send(IntentAction.NEW, side=OrderSide.BUY, price="59950", qty="0.001"))
            elif self.resting:
                self.send(IntentAction.CANCEL, orig=self.resting.pop(0))
            else:
                self.send(IntentAction.NEW, side=OrderSide.BUY, price="61800", qty="0.001", tif=TimeInForce.IOC)

    async def pump(self, seconds: float) -> None:
        """Let the stage work for a while, its reports read as they come (the ring never fills)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.live.drain()
            await asyncio.sleep(0.02)

    async def until(
        self, condition: Callable[[], bool], what: str, timeout_s: float = SETTLE_S, pause_s: float = 0.02
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.live.drain()
            await asyncio.sleep(pause_s)

    async def settle(self) -> None:
        """Every request answered and every order closed (what rests canceled), the connection up."""
        oms = self.venue.oms
        pending = {OmsState.PENDING_NEW, OmsState.PENDING_CANCEL, OmsState.PENDING_REPLACE, OmsState.UNKNOWN}

        def quiet() -> bool:
            venue = self.venue
            return venue.connected and not venue.tasks and not any(o.state in pending for o in oms.open_orders())

        deadline = time.monotonic() + SETTLE_S
        while True:
            await self.until(quiet, "every request answered")
            if not oms.open_orders():
                return
            assert time.monotonic() < deadline, f"orders still open: {oms.open_orders()}"
            self.send(IntentAction.CANCEL_ALL)
            await self.pump(0.2)

    async def check_books(self) -> dict[str, int]:
        """The OMS against the exchange, order by order and in the balances; returns the OMS's final states."""
        oms = self.venue.oms
        instrument = self.live.instrument
        seen: dict[str, int] = {}
        base, quote = Decimal(0), Decimal(0)
        async with BinanceWsApiClient(api_url(self.settings), self.credentials, [instrument]) as client:
            assert await client.open_orders(instrument.symbol) == [], "open at the exchange, closed in the OMS"
            for seq in range(1, self.seq + 1):
                order = oms.get((STRATEGY, EPOCH, seq))
                if order is None:
                    continue  # a cancel's own sequence number
                seen[order.state.name] = seen.get(order.state.name, 0) + 1
                cid = client_order_id(STRATEGY, EPOCH, seq)
                try:
                    raw = await client.order_status(instrument.symbol, cid)
                except RejectedError as exc:
                    assert exc.code == NOT_FOUND, exc
                    raw = None
                status = None if raw is None else str(raw["status"])
                assert status in _EXCHANGE_STATUS[order.state], (order, raw)
                executed = 0 if raw is None else parse_order(raw, instrument).executed_qty
                assert executed == order.cum_qty, (order, raw)
                sign = 1 if order.side == OrderSide.BUY else -1
                base += sign * Decimal(order.cum_qty).scaleb(-instrument.qty_scale)
                quote -= sign * Decimal(order.notional).scaleb(-(instrument.qty_scale + instrument.price_scale))
            account = await client.account_status()
        balances = {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"]) for b in account["balances"]}
        assert balances["BTC"] == DEPOSITS["BTC"] + base, (balances, base)
        assert balances["USDT"] == DEPOSITS["USDT"] + quote, (balances, quote)
        return seen


def _trader(
    exchange: RunningExchange, hftpipe_cmd: list[str], tmp_path: Path, name: str, url: str = "", **params: object
) -> Trader:
    settings = settings_of(exchange.config)
    api_key, pem = _ed25519_account(hftpipe_cmd, exchange.config, tmp_path)
    return Trader(LiveStage(name, settings, api_key, pem, url, **params), settings, api_key, pem)


def _pid_of(pipeline: str, stage: str) -> int:
    control = ControlFile.attach(pipeline)
    try:
        return control.stage_pid(control.stage_index(stage))
    finally:
        control.close()


def _restarted(pipeline: str, stage: str, old_pid: int) -> bool:
    try:
        return _pid_of(pipeline, stage) not in (0, old_pid)
    except (FileNotFoundError, OSError, ValueError, KeyError):
        return False


@pytest.mark.parametrize("victim", ["gateway", "accounting"])
def test_should_reconcile_to_the_exchange_after_a_kill_9_mid_flow(
    exchange: RunningExchange, hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path, victim: str
) -> None:
    trader = _trader(exchange, hftpipe_cmd, tmp_path, f"{pipeline_name}-x", request_timeout_s=5.0)
    live = trader.live

    async def scenario() -> None:
        await live.start()
        try:
            for _ in range(3):
                trader.trade(8)
                await trader.pump(0.3)
            pid = _pid_of(pipeline_name, victim)
            oms = trader.venue.oms
            trader.trade(8)  # in flight as the process dies: sent, not answered
            await trader.until(lambda: any(o.state is OmsState.PENDING_NEW for o in oms.open_orders()), "", pause_s=0)
            os.kill(pid, signal.SIGKILL)
            await trader.until(lambda: not trader.venue.connected, "the stage to see the connection drop")
            trader.trade(4)  # while the exchange is down: refused here, never sent
            await trader.until(lambda: _restarted(pipeline_name, victim, pid), "the exchange to restart")
            await trader.until(lambda: trader.venue.connected and trader.venue.reconnects >= 1, "the stage back")
            for _ in range(3):
                trader.trade(8)
                await trader.pump(0.3)
            await trader.settle()
            states = await trader.check_books()
            assert states.get("FILLED", 0) > 0, states  # fills happened, before and after the restart
            assert trader.venue.client.stats.disconnects >= 1
        finally:
            await live.stop()

    try:
        asyncio.run(scenario())
    finally:
        live.close()


def test_should_query_an_order_whose_answer_stalled_and_never_send_it_again(
    exchange: RunningExchange, hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path
) -> None:
    settings = settings_of(exchange.config)

    async def scenario() -> None:
        proxy = StallProxy(settings.host, settings.api_port)
        await proxy.start()
        trader = _trader(
            exchange, hftpipe_cmd, tmp_path, f"{pipeline_name}-x",
            url=f"ws://127.0.0.1:{proxy.port}/ws-api/v3", request_timeout_s=2.0,
        )  # fmt: skip
        live = trader.live
        try:
            await live.start()
            try:
                resting = trader.send(IntentAction.NEW, side=OrderSide.BUY, price="50000", qty="0.001")
                await trader.until(lambda: trader.state(resting) is OmsState.NEW, "the first order's ack")
                assert proxy.stall() == 1
                stalled = trader.send(IntentAction.NEW, side=OrderSide.BUY, price="50001", qty="0.001")
                await trader.until(lambda: trader.state(stalled) is OmsState.UNKNOWN, "no answer: UNKNOWN")
                await trader.until(lambda: proxy.connections >= 2, "a fresh connection tried")
                await trader.pump(0.5)
                assert trader.state(stalled) is OmsState.UNKNOWN  # not REJECTED, not resent, while nothing answers
                proxy.release()
                await trader.until(lambda: trader.state(stalled) is OmsState.NEW, "the query on the fresh connection")
                assert trader.venue.client.connected and trader.venue.client.stats.unanswered >= 1
                # one order for the intent at the exchange, resting: it went once and was found, not resent
                async with BinanceWsApiClient(api_url(settings), trader.credentials, [live.instrument]) as client:
                    opened = await client.open_orders(live.instrument.symbol)
                ids = sorted(o["clientOrderId"] for o in opened)
                assert ids == sorted(client_order_id(STRATEGY, EPOCH, s) for s in (resting, stalled))
                assert not [r for r in live.reports if r["exec_type"] is ExecType.REJECTED]
                await trader.settle()
                await trader.check_books()
            finally:
                await live.stop()
        finally:
            live.close()
            await proxy.close()

    asyncio.run(scenario())


def test_should_replace_connections_by_age_losing_nothing(
    exchange: RunningExchange, hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path
) -> None:
    trader = _trader(exchange, hftpipe_cmd, tmp_path, f"{pipeline_name}-x", max_connection_age_s=1.5)
    live = trader.live

    async def scenario() -> None:
        await live.start()
        try:
            while trader.venue.reconnects < 3:
                trader.trade(4)
                await trader.pump(0.25)
            await trader.settle()
            states = await trader.check_books()
            assert states.get("FILLED", 0) > 0, states
            assert trader.venue.client.stats.disconnects == 0  # each one replaced before it closed
            assert not [r for r in live.reports if r["exec_type"] is ExecType.REJECTED]
        finally:
            await live.stop()

    try:
        asyncio.run(scenario())
    finally:
        live.close()


def test_should_hold_an_intent_storm_under_the_venue_limits(
    exchange: RunningExchange, hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path
) -> None:
    settings = settings_of(exchange.config)
    per_10s = settings.rate_limits.orders_per_10s
    storm = 2 * per_10s + 10  # over two windows' worth at once: only the limiter keeps it from -1015
    trader = _trader(exchange, hftpipe_cmd, tmp_path, f"{pipeline_name}-x", request_timeout_s=30.0)
    live = trader.live

    async def scenario() -> None:
        await live.start()
        try:
            seqs = [trader.send(IntentAction.NEW, side=OrderSide.BUY, price="40000", qty="0.001") for _ in range(storm)]
            await trader.until(
                lambda: all(trader.state(s) not in (None, OmsState.PENDING_NEW) for s in seqs),
                "every order answered", timeout_s=90.0,
            )  # fmt: skip
            assert all(trader.state(s) is OmsState.NEW for s in seqs), [
                (r["order_seq"], r["venue_code"]) for r in live.reports if r["exec_type"] is ExecType.REJECTED
            ]
            counters = trader.venue.counters()
            assert counters["held_by_limiter"] > 0 and counters["throttled"] == 0 and counters["retries"] == 0
            assert live.stage is not None and live.stage.reject_reasons == {}
            await trader.settle()
            await trader.check_books()
        finally:
            await live.stop()

    try:
        asyncio.run(scenario())
    finally:
        live.close()
