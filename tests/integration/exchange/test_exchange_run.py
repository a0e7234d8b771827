"""The whole exchange as `hftpipe exchange run`: real processes, rings, sockets and journal."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest
import websockets

from hftpipe.substrate.control import ControlFile
from stages.exchange.cli import AdminUnavailableError, admin_call
from stages.exchange.protocol.settings import ExchangeSettings
from tests.integration.exchange.harness import RunningExchange
from tests.integration.exchange.trading import (
    Acked,
    api_url,
    connected,
    engine_depth,
    place_random_orders,
    settings_of,
)
from tests.integration.exchange_docs_client.client import run_scenario
from tests.integration.probe_config import wait_for

Book = dict[str, dict[Decimal, Decimal]]


def _pid_of(pipeline: str, stage: str) -> int:
    control = ControlFile.attach(pipeline)
    try:
        return control.stage_pid(control.stage_index(stage))
    finally:
        control.close()


def _wait_live(settings: ExchangeSettings, timeout_s: float = 90.0) -> None:
    """The admin "status" answers only once the journal replay is done."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin_call(settings.admin_socket, "status", timeout_s=5.0)
            return
        except AdminUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _balances(settings: ExchangeSettings) -> dict[str, Any]:
    result: dict[str, Any] = admin_call(settings.admin_socket, "balances")
    return result


def _levels(side: list[list[str]]) -> dict[Decimal, Decimal]:
    return {Decimal(price): Decimal(qty) for price, qty in side}


def _book(depth: dict[str, Any]) -> Book:
    return {"bids": _levels(depth["bids"]), "asks": _levels(depth["asks"])}


def test_should_start_print_one_ready_line_and_stop_cleanly_on_sigterm(
    start_exchange: Callable[..., RunningExchange],
) -> None:
    exchange = start_exchange()
    settings = settings_of(exchange.config)
    assert exchange.ready_line.startswith("exchange ready:")
    assert f"ws://127.0.0.1:{settings.api_port}/ws-api/v3" in exchange.ready_line
    assert f"ws://127.0.0.1:{settings.market_port}" in exchange.ready_line
    balances = _balances(settings)
    assert balances["invariant_ok"] is True
    demo = next(a for a in balances["accounts"] if a["account"] == "demo")
    assert {b["asset"]: Decimal(b["free"]) for b in demo["balances"]}["USDT"] == Decimal(100000)
    assert exchange.stop() == 0
    assert sum(line.startswith("exchange ready:") for line in exchange.output) == 1


def test_should_serve_a_depth_stream_that_syncs_to_the_engine_book(
    start_exchange: Callable[..., RunningExchange],
) -> None:
    """Binance's documented procedure: buffer diffs, REST snapshot, drop u <= lastUpdateId, apply the rest."""
    exchange = start_exchange()
    settings = settings_of(exchange.config)
    symbol = settings.symbols[0].symbol
    market = f"ws://127.0.0.1:{settings.market_port}/ws/{symbol.lower()}@depth@100ms"
    rest = f"http://127.0.0.1:{settings.market_port}/api/v3/depth?symbol={symbol}&limit=5000"

    async def scenario() -> tuple[Book, Book, int, int]:
        async with (
            websockets.connect(market) as stream,
            connected(settings, "mm-1") as mm1,
            connected(settings, "mm-2") as mm2,
        ):
            acked = Acked()
            await asyncio.gather(
                place_random_orders(mm1, settings, 11, 60, acked, "a"),
                place_random_orders(mm2, settings, 12, 60, acked, "b"),
            )
            snapshot = json.loads(await asyncio.to_thread(_http_get, rest))
            book = _book(snapshot)
            last = int(snapshot["lastUpdateId"])
            await asyncio.gather(
                place_random_orders(mm1, settings, 13, 60, acked, "c"),
                place_random_orders(mm2, settings, 14, 60, acked, "d"),
            )
            engine = await engine_depth(mm1, symbol)
            target = int(engine["lastUpdateId"])
            first = True
            while last < target:
                event = orjson.loads(await asyncio.wait_for(stream.recv(), 30.0))
                if event["u"] <= last:
                    continue
                if first:
                    assert event["U"] <= last + 1 <= event["u"], (event["U"], event["u"], last)
                    first = False
                else:
                    assert event["U"] == last + 1, (event["U"], last)
                for side, key in (("bids", "b"), ("asks", "a")):
                    for price, qty in event[key]:
                        if Decimal(qty) == 0:
                            book[side].pop(Decimal(price), None)
                        else:
                            book[side][Decimal(price)] = Decimal(qty)
                last = event["u"]
            return book, _book(engine), last, target

    rebuilt, engine_book, last, target = asyncio.run(scenario())
    assert last == target
    assert rebuilt == engine_book
    assert rebuilt["bids"] and rebuilt["asks"]
    assert max(rebuilt["bids"]) < min(rebuilt["asks"])


def _http_get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
        return body.decode()


def test_should_rebuild_books_orders_and_balances_from_the_journal_after_kill_9(
    start_exchange: Callable[..., RunningExchange], pipeline_name: str
) -> None:
    exchange = start_exchange()
    settings = settings_of(exchange.config)
    acked = Acked()

    async def trade_then_observe() -> dict[str, Any]:
        async with connected(settings, "mm-1") as mm1, connected(settings, "mm-2") as mm2:
            await asyncio.gather(
                place_random_orders(mm1, settings, 21, 80, acked, "a"),
                place_random_orders(mm2, settings, 22, 80, acked, "b"),
            )
            return {s.symbol: _book(await engine_depth(mm1, s.symbol)) for s in settings.symbols}

    books_before = asyncio.run(trade_then_observe())
    balances_before = _balances(settings)
    assert balances_before["invariant_ok"] is True
    victim_stage = f"engine_{settings.symbols[0].symbol}"
    victim = _pid_of(pipeline_name, victim_stage)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: _restarted(pipeline_name, victim_stage, victim), "the pipeline restart", timeout_s=90.0)
    _wait_live(settings)

    async def observe() -> tuple[dict[str, Any], dict[tuple[str, int], str]]:
        async with connected(settings, "mm-1") as mm1, connected(settings, "mm-2") as mm2:
            books = {s.symbol: _book(await engine_depth(mm1, s.symbol)) for s in settings.symbols}
            found = {}
            for (symbol, order_id), client_id in acked.orders.items():
                client = mm1 if client_id.startswith("a") else mm2
                reply = await client.request("order.status", {"symbol": symbol, "orderId": order_id})
                assert reply.ok, (symbol, order_id, reply)
                found[(symbol, order_id)] = reply.result["clientOrderId"]
            return books, found

    books_after, found = asyncio.run(observe())
    assert books_after == books_before
    assert found == acked.orders
    assert _balances(settings) == balances_before


def _restarted(pipeline: str, stage: str, old_pid: int) -> bool:
    try:
        return _pid_of(pipeline, stage) not in (0, old_pid)
    except (FileNotFoundError, OSError, ValueError, KeyError):
        return False


@pytest.mark.parametrize("stage", ["engine_BTCUSDT", "accounting", "gateway"])
def test_should_lose_no_acknowledged_order_when_a_stage_is_killed_mid_flow(
    start_exchange: Callable[..., RunningExchange], pipeline_name: str, stage: str
) -> None:
    exchange = start_exchange(flow=True, flow_rate=100)
    settings = settings_of(exchange.config)
    acked = Acked()
    victim = _pid_of(pipeline_name, stage)

    async def trade_through_the_kill() -> None:
        async with connected(settings, "demo") as demo:
            rng_seed = 31
            for batch in range(8):
                try:
                    await place_random_orders(demo, settings, rng_seed + batch, 5, acked, "k")
                except (ConnectionError, TimeoutError):
                    await demo.wait_connected()
                if batch == 2:
                    os.kill(victim, signal.SIGKILL)

    asyncio.run(trade_through_the_kill())
    wait_for(lambda: _restarted(pipeline_name, stage, victim), "the pipeline restart", timeout_s=90.0)
    _wait_live(settings)

    async def look_up() -> None:
        async with connected(settings, "demo") as demo:
            for (symbol, order_id), client_id in acked.orders.items():
                reply = await demo.request("order.status", {"symbol": symbol, "orderId": order_id})
                assert reply.ok, (symbol, order_id, reply)
                assert reply.result["clientOrderId"] == client_id

    asyncio.run(look_up())
    assert len(acked.orders) >= 10
    balances = _balances(settings)
    assert balances["invariant_ok"] is True


def test_should_keep_the_market_alive_and_balances_conserved_with_the_flow_generator(
    start_exchange: Callable[..., RunningExchange], hftpipe_cmd: list[str]
) -> None:
    exchange = start_exchange(flow=True, flow_rate=100)
    settings = settings_of(exchange.config)
    symbol = settings.symbols[0].symbol
    trades_url = f"http://127.0.0.1:{settings.market_port}/api/v3/trades?symbol={symbol}"
    wait_for(lambda: len(json.loads(_http_get(trades_url))) >= 5, "trades from the flow generator", timeout_s=90.0)
    listing = subprocess.run(
        [*hftpipe_cmd, "exchange", "balances", "-c", str(exchange.config), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout)["invariant_ok"] is True


def test_should_let_a_client_written_from_the_binance_docs_trade_on_the_running_exchange(
    start_exchange: Callable[..., RunningExchange],
) -> None:
    """The docs-only client (plain websockets + hmac) beside the flow generator, on both symbols."""
    exchange = start_exchange(flow=True, flow_rate=50)
    settings = settings_of(exchange.config)
    demo = next(k for k in settings.api_keys if k.account == "demo")
    for symbol in settings.symbols:
        summary = run_scenario(api_url(settings), demo.api_key, demo.secret, symbol.symbol)
        assert summary["events"].count("executionReport") >= 2
        assert "outboundAccountPosition" in summary["events"]
    assert _balances(settings)["invariant_ok"] is True
