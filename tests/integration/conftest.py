"""Fixtures of the integration tests that run a feed stage in the test's process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hftpipe.runtime import StageContext
from tests.unit.marketdata.feed.pipeline import FeedPipelines


@pytest.fixture
def make_feed(pipeline_name: str) -> Iterator[Callable[..., StageContext]]:
    """Makes the feed stage's context of a Binance feed -> out pipeline (``capacity`` ring slots)."""
    pipelines = FeedPipelines(pipeline_name)

    def make(capacity: int = 65536, **params: object) -> StageContext:
        return pipelines.make(capacity, **{"venue": "binance", **params}).feed

    yield make
    pipelines.close()
