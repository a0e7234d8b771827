"""Fixtures of the feed tests: real pipeline objects in shared memory, removed after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hftpipe.runtime import StageContext
from hftpipe.runtime.config import parse_config
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from tests.unit.marketdata.feed.pipeline import PAIR, FeedPipeline


@pytest.fixture
def feed_pipeline(pipeline_name: str) -> Iterator[Callable[..., FeedPipeline]]:
    """Makes a pipeline (Kraken v1, ``PAIR`` at depth 10) whose feed -> out ring has ``capacity`` slots."""
    made: list[tuple[OwnedObjects, StageContext, StageContext]] = []

    def make(capacity: int = 1024, **params: Any) -> FeedPipeline:
        config = parse_config(
            {
                "pipeline": {"name": pipeline_name},
                "stages": {
                    "feed": {
                        "class": "stages.marketdata.feed.stage:FeedStage",
                        "params": {"venue": "kraken", "symbols": [PAIR], "depth": 10, **params},
                    },
                    "out": {"class": "stages.probe:ProbeSink"},
                },
                "rings": [{"from": "feed", "to": "out", "capacity": capacity, "slot_size": 128}],
            },
            source="test",
            allowed_cpus={0, 1},
        )
        owned = create_pipeline_objects(config)
        feed = open_stage_context(config, owned.control, "feed")
        out = open_stage_context(config, owned.control, "out")
        made.append((owned, feed, out))
        return FeedPipeline(feed, out.the_input().ring)

    yield make
    for owned, feed, out in made:
        feed.close()
        out.close()
        owned.destroy()
