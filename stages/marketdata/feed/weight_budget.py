"""One venue's REST request-weight budget per minute, shared by every request of the feed.

Venues meter REST by request weight per IP per calendar minute and answer
429, then 418 (a ban of minutes to days), once it is passed. The budget counts
what this process spends itself, so it holds even when the venue sends no
used-weight header; a header, when there is one, counts what every client on
the IP spent, so the larger of the two is believed. ``Retry-After`` (or a
minute) after a 429/418 holds every request. Pure: the caller passes the time.
"""

from __future__ import annotations

from typing import Final

WINDOW_S: Final = 60.0
BUDGET_SHARE: Final = 0.8
"""Of the venue's limit, what the feed spends by default: the rest is left to other clients on the IP."""


def default_budget(limit_per_minute: int) -> int:
    """``BUDGET_SHARE`` of a venue's limit (at least 1)."""
    return max(1, int(limit_per_minute * BUDGET_SHARE))


class WeightBudget:
    """At most ``per_minute`` weight per calendar minute, and nothing while held."""

    __slots__ = ("blocked_until", "per_minute", "used", "window_start")

    def __init__(self, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError(f"a weight budget must be >= 1 per minute, got {per_minute}")
        self.per_minute = per_minute
        self.used = 0
        """Weight spent in the minute that starts at :attr:`window_start`."""
        self.window_start = 0.0
        self.blocked_until = 0.0
        """No request before this time (a 429/418's ``Retry-After``)."""

    def ready_at(self, weight: int, now: float) -> float:
        """When a request of ``weight`` may go: ``now``, the end of a hold, or the next minute.

        A request heavier than the whole budget goes alone, at the start of a minute.
        """
        self._roll(now)
        ready = max(now, self.blocked_until)
        if self.used and self.used + weight > self.per_minute:
            ready = max(ready, self.window_start + WINDOW_S)
        return ready

    def spend(self, weight: int, now: float) -> None:
        self._roll(now)
        self.used += weight

    def observe_used(self, used: int, now: float) -> None:
        """The venue's count of this IP's weight this minute (``X-MBX-USED-WEIGHT-1M``)."""
        self._roll(now)
        self.used = max(self.used, used)

    def hold(self, seconds: float, now: float) -> None:
        """Send nothing for ``seconds`` (``Retry-After`` of a 429/418)."""
        self.blocked_until = max(self.blocked_until, now + seconds)

    def _roll(self, now: float) -> None:
        start = now - now % WINDOW_S
        if start > self.window_start:
            self.window_start, self.used = start, 0
