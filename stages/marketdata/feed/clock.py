"""The time the feed's REST pacing reads and waits on, injectable so tests step it by hand.

Wall-clock seconds, not monotonic: venues count request weight per calendar
minute, so a budget has to know where the minute turns. Waits are for a time,
not a duration, so a clock stepped by hand lands exactly on it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final, Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once ``time()`` has reached ``deadline``."""
        ...


class SystemClock:
    """The real one: ``time.time`` and ``asyncio.sleep``."""

    def time(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - time.time()))


SYSTEM_CLOCK: Final = SystemClock()
