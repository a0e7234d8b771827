"""Exponential backoff per book for REST snapshots that did not bring the book back in sync.

Whatever made an attempt fail (an HTTP error, a timeout, a malformed body, a
snapshot older than the buffered diffs), retrying at once repeats it as fast
as the venue answers: thousands of requests a minute. So each book's next
attempt waits ``min_s``, then twice as long after each further failure, up to
``max_s``, counted from the end of the last attempt; a sync resets it, so the
first snapshot after a fresh gap goes at once. Pure: the caller passes the time.
"""

from __future__ import annotations


class Backoff:
    """Attempts per key since its last success, and when the next may start."""

    __slots__ = ("_attempts", "_ready_at", "max_s", "min_s")

    def __init__(self, min_s: float, max_s: float) -> None:
        if not 0 < min_s <= max_s:
            raise ValueError(f"backoff needs 0 < min_s <= max_s, got {min_s} and {max_s}")
        self.min_s = min_s
        self.max_s = max_s
        self._attempts: dict[str, int] = {}
        self._ready_at: dict[str, float] = {}

    def attempts(self, key: str) -> int:
        """Attempts since ``key``'s last :meth:`reset`."""
        return self._attempts.get(key, 0)

    def ready_at(self, key: str) -> float:
        """The earliest time ``key``'s next attempt may start (0: at once)."""
        return self._ready_at.get(key, 0.0)

    def attempted(self, key: str, now: float) -> float:
        """An attempt for ``key`` ended at ``now`` without a reset yet; returns the delay before the next."""
        attempts = self._attempts[key] = self._attempts.get(key, 0) + 1
        delay = min(self.min_s * 2.0 ** min(attempts - 1, 64), self.max_s)
        self._ready_at[key] = now + delay
        return delay

    def reset(self, key: str) -> None:
        """``key`` succeeded: its next attempt goes at once."""
        self._attempts.pop(key, None)
        self._ready_at.pop(key, None)
