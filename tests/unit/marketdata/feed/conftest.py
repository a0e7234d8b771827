"""Fixtures of the feed tests: real pipeline objects in shared memory, removed after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.unit.marketdata.feed.pipeline import PAIR, FeedPipeline, FeedPipelines


@pytest.fixture
def feed_pipeline(pipeline_name: str) -> Iterator[Callable[..., FeedPipeline]]:
    """Makes a pipeline (Kraken v1, ``PAIR`` at depth 10) whose feed -> out ring has ``capacity`` slots."""
    pipelines = FeedPipelines(pipeline_name)

    def make(capacity: int = 1024, **params: Any) -> FeedPipeline:
        return pipelines.make(capacity, **{"venue": "kraken", "symbols": [PAIR], "depth": 10, **params})

    yield make
    pipelines.close()
