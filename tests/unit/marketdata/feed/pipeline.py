"""The feed tests' pipeline: a feed stage's context and the consumer end of its output ring."""

from __future__ import annotations

from dataclasses import dataclass

from hftpipe.runtime import StageContext
from hftpipe.substrate.ring import Ring

PAIR = "XBT/USD"


@dataclass(frozen=True, slots=True)
class FeedPipeline:
    feed: StageContext
    """The feed stage's context: its output is the producer end of the feed -> out ring."""
    consumer: Ring
    """The consumer end of the same ring."""
