"""The flow stage in this process against the scripted exchange behind a real WebSocket server.

Every participant connects with its own key, every request is signed right,
every role trades, and a dropped connection is counted, reconnected and
cleaned up after, never fatal.
"""

from __future__ import annotations

import asyncio
import copy
import tomllib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hftpipe.runtime import StageContext
from hftpipe.runtime.config import parse_config
from hftpipe.runtime.validation import ConfigError
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.substrate.counters import CounterKind
from stages.exchange.flow.stage import FlowStage
from stages.exchange.protocol.settings import ExchangeSettings
from tests.conftest import REPO
from tests.unit.exchange.flow.fake_exchange import FakeExchange, serve_fake

RAW_EXCHANGE: dict[str, Any] = tomllib.loads((REPO / "configs" / "exchange.toml").read_text())["exchange"]


def _exchange_table(port: int, **flow: Any) -> dict[str, Any]:
    raw = copy.deepcopy(RAW_EXCHANGE)
    raw["api_port"] = port
    raw["market_port"] = 1 if port != 1 else 2
    raw["rest_port"] = 0
    raw["flow"].update(flow)
    return raw


@pytest.fixture
def make_flow(pipeline_name: str) -> Iterator[Callable[[dict[str, Any]], StageContext]]:
    made: list[tuple[OwnedObjects, StageContext]] = []

    def make(exchange: dict[str, Any]) -> StageContext:
        config = parse_config(
            {
                "pipeline": {"name": pipeline_name},
                "stages": {
                    "flow": {
                        "class": "stages.exchange.flow.stage:FlowStage",
                        "params": {"settings": ExchangeSettings.from_raw(exchange)},
                    }
                },
            },
            source="test",
            allowed_cpus={0, 1},
        )
        owned = create_pipeline_objects(config)
        ctx = open_stage_context(config, owned.control, "flow")
        made.append((owned, ctx))
        return ctx

    yield make
    for owned, ctx in made:
        ctx.close()
        owned.destroy()


def _keys() -> dict[str, tuple[str, str]]:
    return {k["api_key"]: (k["account"], k["secret"]) for k in RAW_EXCHANGE["api_keys"] if "secret" in k}


async def _until(stage_task: asyncio.Task[None], done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not done():
        if stage_task.done():
            stage_task.result()
            raise AssertionError("the stage returned early")
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_should_trade_every_role_and_survive_dropped_connections(
    make_flow: Callable[[dict[str, Any]], StageContext],
) -> None:
    exchange = FakeExchange()

    async def body() -> FlowStage:
        server, port = await serve_fake(exchange, _keys())
        stage = FlowStage(make_flow(_exchange_table(port, orders_per_second=400.0)))
        stopping = asyncio.Event()
        task = asyncio.create_task(stage.run(stopping))
        sent = stage.ctx.counter(CounterKind.MESSAGES_OUT)
        await _until(task, lambda: sent.value >= 200)
        for connection in list(server.connections):
            await connection.close()  # the gateway going away
        reconnects = stage.ctx.counters.add("reconnects")
        await _until(task, lambda: reconnects.value >= 4)
        before = sent.value
        await _until(task, lambda: sent.value >= before + 100)
        stopping.set()
        await asyncio.wait_for(task, 30)
        server.close()
        await server.wait_closed()
        return stage

    stage = asyncio.run(body())
    counters = stage.ctx.counters
    assert exchange.bad_signatures == 0
    accounts = {account for account, _, _ in exchange.log}
    assert accounts == {"mm-1", "mm-2", "taker-1", "canceller-1"}, "a participant never got a signed request through"
    methods = {method for _, method, _ in exchange.log}
    assert {"order.place", "order.cancel", "order.cancelReplace", "openOrders.cancelAll"} <= methods
    assert counters.add("disconnects").value >= 4
    assert counters.add("rejects").value > 0  # the fake rejects every 11th placement
    assert counters.standard(CounterKind.MESSAGES_IN).value > 0
    assert not stage._router._seen, "no participant or stage bug was caught"
    for account in accounts:  # every new connection starts by cancelling everything, per symbol
        assert sum(1 for a, m, _ in exchange.log if a == account and m == "openOrders.cancelAll") >= 4


def test_should_wait_for_the_gateway_and_stop_cleanly_when_none_comes(
    make_flow: Callable[[dict[str, Any]], StageContext],
) -> None:
    async def body() -> FlowStage:
        stage = FlowStage(make_flow(_exchange_table(1)))  # nothing listens on port 1
        stopping = asyncio.Event()
        task = asyncio.create_task(stage.run(stopping))
        failures = stage.ctx.counters.add("connect_failures")

        def failed_often() -> bool:
            stage._publish_client_stats()
            return failures.value >= 8

        await _until(task, failed_often)
        stopping.set()
        await asyncio.wait_for(task, 30)
        return stage

    stage = asyncio.run(body())
    assert stage.ctx.counter(CounterKind.MESSAGES_OUT).value == 0


def test_should_reject_a_bad_exchange_table_naming_the_key() -> None:
    bad = _exchange_table(9444, orders_per_second=0)
    with pytest.raises(ConfigError, match=r"exchange\.flow\.orders_per_second"):
        parse_config({"pipeline": {"name": "x"}, "exchange": bad}, source="test", allowed_cpus={0, 1})
