"""Fixtures shared by the integration tests: a feed stage in the test's process, a running exchange."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hftpipe.runtime import StageContext
from tests.integration.exchange.harness import RunningExchange, write_exchange_config
from tests.unit.marketdata.feed.pipeline import FeedPipelines


@pytest.fixture
def make_feed(pipeline_name: str) -> Iterator[Callable[..., StageContext]]:
    """Makes the feed stage's context of a Binance feed -> out pipeline (``capacity`` ring slots)."""
    pipelines = FeedPipelines(pipeline_name)

    def make(capacity: int = 65536, **params: object) -> StageContext:
        return pipelines.make(capacity, **{"venue": "binance", **params}).feed

    yield make
    pipelines.close()


@pytest.fixture
def start_exchange(
    tmp_path: Path, pipeline_name: str, hftpipe_cmd: list[str]
) -> Iterator[Callable[..., RunningExchange]]:
    """Starts ``hftpipe exchange run`` with the shipped config on free ports, a private state dir, unique shm names."""
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
