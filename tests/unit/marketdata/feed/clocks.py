"""A clock for the feed's REST pacing that moves only when the test says so."""

from __future__ import annotations

import asyncio
import heapq
import itertools

START = 1_699_999_980.0
"""A whole minute since the epoch: weight windows start here."""


class ManualClock:
    """``time()`` is :attr:`now`; ``sleep_until`` parks until :meth:`advance_to` reaches its deadline.

    With ``auto=True`` a sleep moves the clock to its deadline at once instead (no test step needed).
    Every wait's length is kept in :attr:`waits`.
    """

    def __init__(self, start: float = START, *, auto: bool = False) -> None:
        self.now = start
        self.auto = auto
        self.waits: list[float] = []
        self._parked: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    async def sleep_until(self, deadline: float) -> None:
        self.waits.append(deadline - self.now)
        if self.auto:
            self.now = max(self.now, deadline)
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._parked, (deadline, next(self._order), wake))
        await wake

    @property
    def parked(self) -> list[float]:
        """Deadlines of the sleepers still waiting, earliest first."""
        return sorted(deadline for deadline, _, wake in self._parked if not wake.done())

    def advance_to(self, deadline: float) -> None:
        """Move on to ``deadline``, waking every sleeper due by then."""
        self.now = max(self.now, deadline)
        while self._parked and self._parked[0][0] <= self.now:
            _, _, wake = heapq.heappop(self._parked)
            if not wake.done():
                wake.set_result(None)
