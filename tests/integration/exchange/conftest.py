"""A running exchange per test: the shipped config on free ports, a private state dir, unique shm names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.exchange.harness import RunningExchange, write_exchange_config


@pytest.fixture
def start_exchange(
    tmp_path: Path, pipeline_name: str, hftpipe_cmd: list[str]
) -> Iterator[Callable[..., RunningExchange]]:
    started: list[RunningExchange] = []

    def start(*, flow: bool = False, flow_rate: int = 50) -> RunningExchange:
        config = write_exchange_config(tmp_path, pipeline_name, flow=flow, flow_rate=flow_rate)
        exchange = RunningExchange(list(hftpipe_cmd), config)
        started.append(exchange)
        exchange.start()
        return exchange

    yield start
    for exchange in started:
        assert exchange.stop() == 0, "".join(exchange.output[-40:])
