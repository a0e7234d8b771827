"""How many restarts the supervisor may make: a rate, not a lifetime budget.

systemd's ``StartLimitBurst`` within ``StartLimitIntervalSec``: at most
``burst`` restarts within any ``window_s``; a restart older than the window no
longer counts. A budget for the whole run would let five unrelated faults,
hours apart, use it up, and a sixth would stop a pipeline that was healthy
in between; a rate stops only one that keeps failing.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RestartLimiter:
    """At most ``burst`` restarts within any ``window_s`` seconds of ``clock`` (monotonic)."""

    def __init__(self, burst: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 0 or not window_s > 0:
            raise ValueError(f"burst must be >= 0 and window_s > 0, got {burst} and {window_s}")
        self.burst = burst
        self.window_s = window_s
        self._clock = clock
        self._times: deque[float] = deque()

    def recent(self) -> int:
        """Restarts within the window ending now."""
        horizon = self._clock() - self.window_s
        while self._times and self._times[0] <= horizon:
            self._times.popleft()
        return len(self._times)

    def allow(self) -> bool:
        """Whether one more restart is within the limit now; if it is, it is counted."""
        if self.recent() >= self.burst:
            return False
        self._times.append(self._clock())
        return True
