"""What a lapped broadcast receiver lost: counted to the record, logged once per episode.

A receiver that falls a whole ring behind its transmitter skips to the
newest record (:mod:`hftpipe.substrate.broadcast`). That is a recovery, not
an error: the stage goes on with newer data. But it must show: every record
skipped is added to the stage's ``lost.<ring>`` counter, and the first lap of
an *episode* (laps less than :data:`EPISODE_GAP_NS` apart) goes once into the
stage's error log and its logger, so a consumer that keeps falling behind
costs one line, not one per lap.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from hftpipe.substrate.counters import Counter
from hftpipe.substrate.errorlog import ErrorLog

EPISODE_GAP_NS: Final = 1_000_000_000
LOST_COUNTER_PREFIX: Final = "lost."
"""A receiving stage's counter of what it lost on ring ``r`` is ``lost.r``."""


def lost_counter_label(ring: str) -> str:
    return f"{LOST_COUNTER_PREFIX}{ring}"


class LapReport:
    """``report(skipped)``: what a receiver's ``on_lap`` calls (see :meth:`BroadcastReceiver.on_lap`)."""

    def __init__(self, ring: str, lost: Counter, errors: ErrorLog, logger: logging.Logger) -> None:
        self.ring = ring
        self._lost = lost
        self._errors = errors
        self._logger = logger
        self._last_lap_ns = -EPISODE_GAP_NS
        self.episodes = 0
        """Episodes so far in this process (one log line each)."""

    def __call__(self, skipped: int) -> None:
        self._lost.add(skipped)
        now = time.monotonic_ns()
        if now - self._last_lap_ns >= EPISODE_GAP_NS:
            self.episodes += 1
            self._errors.record(f"lapped on broadcast ring {self.ring}: records lost, resumed from the newest")
            self._logger.warning(
                "lapped on broadcast ring %s: %d records lost, resumed from the newest (episode %d; further laps"
                " within %.0f s are only counted in %s)",
                self.ring,
                skipped,
                self.episodes,
                EPISODE_GAP_NS / 1e9,
                self._lost.label,
            )
        self._last_lap_ns = now
