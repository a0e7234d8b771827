"""Gateways on real rings in this process (``make``), one started (``gateway``) and a client on it (``client``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.unit.exchange.gateway.client import Client
from tests.unit.exchange.gateway.harness import GatewayHarness, exchange_table


@pytest.fixture
def make(pipeline_name: str, tmp_path: Path) -> Iterator[Callable[..., GatewayHarness]]:
    made: list[GatewayHarness] = []

    def start(index: int = 0, exchange: dict[str, Any] | None = None, **params: Any) -> GatewayHarness:
        harness = GatewayHarness(
            f"{pipeline_name}{index or ''}", exchange or exchange_table(tmp_path / "state"), **params
        )
        made.append(harness)
        return harness.start()

    yield start
    for harness in made:
        harness.stop()


@pytest.fixture
def gateway(make: Callable[..., GatewayHarness]) -> GatewayHarness:
    return make()


@pytest.fixture
def client(gateway: GatewayHarness) -> Iterator[Client]:
    with connect(gateway.url) as ws:
        yield Client(ws)
