"""A real GatewayStage over real rings, in this process, with the test playing accounting.

The gateway runs its own event loop in a thread (as in its stage process);
another thread reads gw-acct and answers on acct-gw, with
:class:`~tests.unit.exchange.gateway.fake_accounting.FakeAccounting` by
default or any ``responder(command) -> events``. Clients connect to
``harness.url`` from the test thread.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hftpipe.runtime.config import parse_config
from hftpipe.runtime.wiring import create_pipeline_objects, open_stage_context
from hftpipe.schema.exchange import EX_RECORD_SIZE
from hftpipe.schema.exchange_codec import CommandRecord, EventRecord
from stages.exchange.gateway.stage import GatewayStage
from stages.exchange.protocol.settings import ExchangeSettings
from stages.exchange.protocol.topology import ACCOUNTING_TO_GATEWAY, GATEWAY_CLASS, GATEWAY_TO_ACCOUNTING
from tests.conftest import REPO
from tests.unit.exchange.gateway.fake_accounting import FakeAccounting

Responder = Callable[[CommandRecord], list[EventRecord]]

DEMO_KEY = "pDWSHaIdSimBYtLqx45sRbL9jmvTubPSbybibSTZnYeyayaPMWPt80SL9DGxm9Fe"
DEMO_SECRET = "4gzuFaNHglsiqJC9xBrO74q56Q148g7ZFb8ce6drEwMtAakgOGakRPL57cnO2KBn"
MM_KEY = "32LH7EIUugbNlqZ8gY8YAB4ZAsxS1Ep8BdZBGbT86RSs8wKKDwjCI4I8wTKm4ux4"
MM_SECRET = "A6KykIVTMdcd49WPls4khSUpjivBpJtLaFmBO1dr4iDBi50pYGW9q23mBwAYnGnR"


def exchange_table(state_dir: Path, **overrides: Any) -> dict[str, Any]:
    """The shipped ``[exchange]`` table on ephemeral ports, a private state dir, no flow."""
    with open(REPO / "configs" / "exchange.toml", "rb") as file:
        table: dict[str, Any] = copy.deepcopy(tomllib.load(file)["exchange"])
    table.update(state_dir=str(state_dir), api_port=0, market_port=0, rest_port=0)
    table["flow"] = {**table.get("flow", {}), "enabled": False}
    for key, value in overrides.items():
        table[key] = value
    return table


class GatewayHarness:
    def __init__(self, pipeline: str, exchange: dict[str, Any], **params: Any) -> None:
        self.config = parse_config(
            {
                "pipeline": {"name": pipeline},
                "stages": {
                    "gateway": {
                        "class": GATEWAY_CLASS,
                        "params": {"settings": ExchangeSettings.from_raw(exchange), **params},
                    },
                    "accounting": {"class": "stages.probe:ProbeRelay"},
                },
                "rings": [
                    {
                        "name": GATEWAY_TO_ACCOUNTING,
                        "from": "gateway",
                        "to": "accounting",
                        "capacity": 1024,
                        "slot_size": EX_RECORD_SIZE,
                    },
                    {
                        "name": ACCOUNTING_TO_GATEWAY,
                        "from": "accounting",
                        "to": "gateway",
                        "capacity": 4096,
                        "slot_size": EX_RECORD_SIZE,
                    },
                ],
            },
            source="test",
            allowed_cpus={0, 1},
        )
        self.owned = create_pipeline_objects(self.config)
        self.gateway_ctx = open_stage_context(self.config, self.owned.control, "gateway")
        self.accounting_ctx = open_stage_context(self.config, self.owned.control, "accounting")
        self.stage = GatewayStage(self.gateway_ctx)
        self.settings = self.stage.settings
        self.fake = FakeAccounting(self.settings)
        self.responder: Responder = self.fake.handle
        self.answering = threading.Event()
        self.answering.set()
        self.commands: list[CommandRecord] = []
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._threads: list[threading.Thread] = []
        self._failure: BaseException | None = None
        self._started = False
        self._stopped = False

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.stage.api_port}/ws-api/v3"

    def start(self) -> GatewayHarness:
        self.stage.on_start()
        self._started = True
        ready = threading.Event()
        self._threads = [
            threading.Thread(target=self._run_gateway, args=(ready,), name="gateway", daemon=True),
            threading.Thread(target=self._run_accounting, name="fake accounting", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        assert ready.wait(10), "the gateway loop did not start"
        return self

    def _run_gateway(self, ready: threading.Event) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            ready.set()
            await self.stage.run(self._stopping)

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - surfaced by stop()
            self._failure = exc
            ready.set()

    def _run_accounting(self) -> None:
        inbound = self.accounting_ctx.input_port(GATEWAY_TO_ACCOUNTING)
        outbound = self.accounting_ctx.output_port(ACCOUNTING_TO_GATEWAY)
        received: list[tuple[CommandRecord, int]] = []

        def take(buffer: memoryview, offset: int, now: int) -> None:
            received.append((CommandRecord.unpack_from(buffer, offset), now))

        while not self._stop.is_set():
            if not self.answering.is_set() or not inbound.poll(take, 64):
                time.sleep(0.0005)
                continue
            for command, now in received:
                self.commands.append(command)
                for event in self.responder(command):
                    while not outbound.offer(event.pack(), now):
                        time.sleep(0.0005)
            received.clear()

    def stop(self) -> None:
        """Idempotent: stops both threads, closes the stage and removes the rings."""
        if self._stopped:
            return
        self._stopped = True
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        if self._started:
            self.stage.on_close()
        self.gateway_ctx.close()
        self.accounting_ctx.close()
        self.owned.destroy()
        if self._failure is not None:
            raise self._failure


def running(pipeline: str, state_dir: Path, **params: Any) -> Iterator[GatewayHarness]:
    """For fixtures: a started harness, stopped and cleaned up afterwards."""
    harness = GatewayHarness(pipeline, exchange_table(state_dir), **params)
    try:
        yield harness.start()
    finally:
        harness.stop()
