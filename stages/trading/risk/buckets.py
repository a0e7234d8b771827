"""Rate limits: token buckets whose tokens come back one period after they are spent.

Venues count orders in fixed windows (Binance's ``ORDERS`` limits: so many
per 10 s, per day), aligned to their clock, not ours. A classic token bucket
(N tokens, refilled continuously at N per period) lets 2N orders through one
such window: N spent at its start, N refilled by its end. Here every token
comes back exactly one period after it was spent, so no half-open interval
of one period, wherever it starts, sees more than N takes; whatever the
venue's alignment, the limit holds. It is still a bucket (a burst of N is
fine, then one more per token returned); it costs one int per token (the
time it comes back), kept in a ring in the order they were spent, so a
take is an index and a compare, no allocation, exact integer nanoseconds.

The clock is passed in (``now``, ns, monotonic: CLOCK_MONOTONIC in the
stage, a counter in tests). A clock that steps back only makes tokens come
back later.
"""

from __future__ import annotations

from typing import Final

SECOND_NS: Final = 1_000_000_000
_LONG_AGO: Final = -(1 << 63)
"""When the tokens of a new bucket came back: before any clock reading."""


class TokenBucket:
    """At most ``tokens`` takes in any ``period_ns``-long half-open interval."""

    __slots__ = ("_back", "_next", "period_ns", "tokens")

    def __init__(self, tokens: int, period_ns: int) -> None:
        if tokens <= 0 or period_ns <= 0:
            raise ValueError(f"a bucket needs tokens > 0 and period_ns > 0, got {tokens}, {period_ns}")
        self.tokens = tokens
        self.period_ns = period_ns
        self._back = [_LONG_AGO] * tokens
        """When each token comes back, oldest spend first from ``_next`` (a ring)."""
        self._next = 0

    def ready(self, now: int) -> bool:
        """Whether a take at ``now`` would succeed (nothing changes)."""
        return self._back[self._next] <= now

    def spend(self, now: int) -> None:
        """Take a token that :meth:`ready` said is there (a group of buckets checks all before it spends any)."""
        slot = self._next
        self._back[slot] = now + self.period_ns
        self._next = slot + 1 if slot + 1 < self.tokens else 0

    def take(self, now: int) -> bool:
        """Take a token at ``now``; False (and nothing taken) when every token is out."""
        slot = self._next
        if self._back[slot] > now:
            return False
        self._back[slot] = now + self.period_ns
        self._next = slot + 1 if slot + 1 < self.tokens else 0
        return True

    def available(self, now: int) -> int:
        """Tokens a burst at ``now`` could take (diagnostics; O(tokens))."""
        return sum(1 for back in self._back if back <= now)


class RateLimit:
    """One flow's buckets: orders per second and per 10 s, cancels per second; 0: that one unlimited.

    An order (NEW or REPLACE) spends from both order buckets or from neither;
    a cancel (CANCEL or CANCEL_ALL) from the cancel bucket.
    """

    __slots__ = ("cancels", "per_10s", "per_second")

    def __init__(self, orders_per_second: int = 0, orders_per_10s: int = 0, cancels_per_second: int = 0) -> None:
        self.per_second = TokenBucket(orders_per_second, SECOND_NS) if orders_per_second else None
        self.per_10s = TokenBucket(orders_per_10s, 10 * SECOND_NS) if orders_per_10s else None
        self.cancels = TokenBucket(cancels_per_second, SECOND_NS) if cancels_per_second else None

    @property
    def unlimited(self) -> bool:
        return self.per_second is None and self.per_10s is None and self.cancels is None

    def order_ready(self, now: int) -> bool:
        # The buckets' rings read in place: this is on every order's path.
        per_second, per_10s = self.per_second, self.per_10s
        return (per_second is None or per_second._back[per_second._next] <= now) and (
            per_10s is None or per_10s._back[per_10s._next] <= now
        )

    def spend_order(self, now: int) -> None:
        if self.per_second is not None:
            self.per_second.spend(now)
        if self.per_10s is not None:
            self.per_10s.spend(now)

    def cancel_ready(self, now: int) -> bool:
        cancels = self.cancels
        return cancels is None or cancels._back[cancels._next] <= now

    def spend_cancel(self, now: int) -> None:
        if self.cancels is not None:
            self.cancels.spend(now)
