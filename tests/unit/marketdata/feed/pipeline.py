"""The feed tests' pipelines: a feed stage whose output ring goes to a probe sink, in real shared memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hftpipe.runtime import StageContext
from hftpipe.runtime.config import parse_config
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.substrate.ring import Ring

PAIR = "XBT/USD"


@dataclass(frozen=True, slots=True)
class FeedPipeline:
    feed: StageContext
    """The feed stage's context: its output is the producer end of the feed -> out ring."""
    consumer: Ring
    """The consumer end of the same ring."""


class FeedPipelines:
    """Makes feed -> out pipelines named ``name`` (one per test); :meth:`close` removes them all."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._made: list[tuple[OwnedObjects, StageContext, StageContext]] = []

    def make(self, capacity: int, **params: Any) -> FeedPipeline:
        """A pipeline whose feed stage has ``params`` and whose ring has ``capacity`` slots."""
        config = parse_config(
            {
                "pipeline": {"name": self.name},
                "stages": {
                    "feed": {"class": "stages.marketdata.feed.stage:FeedStage", "params": params},
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
        self._made.append((owned, feed, out))
        return FeedPipeline(feed, out.the_input().ring)

    def close(self) -> None:
        for owned, feed, out in self._made:
            feed.close()
            out.close()
            owned.destroy()
        self._made.clear()
