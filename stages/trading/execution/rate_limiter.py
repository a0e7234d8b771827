"""The venue's rate limits, kept locally so that normal operation never meets -1003 or -1015.

Binance meters in fixed windows aligned to its clock: REQUEST_WEIGHT per IP
per minute, ORDERS per account per 10 s and per day (00:00 UTC), RAW_REQUESTS
per IP per 5 minutes ("a 1 MINUTE interval starts every minute", "10 SECOND
... resets at 00, 10, 20... seconds"). Going over one costs a 429 (-1003 /
-1015) and, for whoever keeps going, a 418 IP ban of minutes to days. So
every request asks :meth:`RateLimiter.acquire` first, which counts it in
every window it touches, or says how long to wait when one is full; nothing
is spent on a refusal, and every window is checked before any is spent (as
the risk stage's buckets do), so a refusal leaves no trace.

Where the numbers come from:

* the limits: exchangeInfo's ``rateLimits`` (the constructor), and any
  ``limit`` a response shows later (the venue's word wins);
* the counts: what this process spent, corrected by every response's
  ``rateLimits`` array. The venue's ``count`` is the truth, and it covers
  what other clients of the same IP or account spent, so a window's count
  becomes ``max(local, venue)``, never less: a response that left before our
  latest requests arrived shows a smaller count than ours, and ours is right.

Windows are aligned like the venue's, on the wall clock: ``now`` is UTC
nanoseconds since the Unix epoch (``time.time_ns()``, plus the measured
offset to the venue's clock where there is one), so ``now % length`` is the
position in the window, and a day window starts at 00:00 UTC (Unix time has
no leap seconds). The clock is an argument, so tests drive it.

Clock skew. Our clock and the venue's differ by up to ``skew_ns``: a request
sent at our ``t`` is counted by the venue somewhere in ``[t - skew, t +
skew]``. Near a boundary that may be either window, so such a request is
counted in (and must fit in) both; a window is only believed over once our
clock is ``skew_ns`` past its end. With ``skew_ns = 0`` the windows are
exactly the venue's.

A response's count belongs to the window the venue counted the request in,
somewhere between when it was sent and when the answer came (``sent_ns`` ..
``now``, widened by the skew). When that span straddles a boundary the count
is applied to the older window: crediting the new window with the old one's
count would block it for a whole interval for nothing, while the only cost
of the other choice is a moment of not seeing other clients' spending in
the new window until the next response shows it.

``shares`` keeps part of a limit for someone else: REQUEST_WEIGHT is per IP,
and the feed stage's REST snapshots spend from it too (by default it takes
80 % of it, ``rest_weight_budget``); the share is applied to the venue's
limit, so a limit the venue changes is followed.

429 / 418: after either, nothing goes until the venue's ``retryAfter``
(the WebSocket API puts it in the error's ``data``, as epoch milliseconds);
without one, a 429 holds until the next minute begins and a 418 for
:data:`DEFAULT_BAN_NS` (Binance's shortest ban).

Pure: no IO, no clock of its own; a few ints per window, nothing allocated
per request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Any, Final, NamedTuple

SECOND_NS: Final = 1_000_000_000
MINUTE_NS: Final = 60 * SECOND_NS
DAY_NS: Final = 86_400 * SECOND_NS
MS_NS: Final = 1_000_000
DEFAULT_BAN_NS: Final = 2 * MINUTE_NS
"""How long a 418 without ``retryAfter`` holds everything: Binance's bans start at 2 minutes."""

INTERVAL_NS: Final[Mapping[str, int]] = {
    "SECOND": SECOND_NS,
    "MINUTE": MINUTE_NS,
    "HOUR": 60 * MINUTE_NS,
    "DAY": DAY_NS,
}
"""Binance's ``interval`` names; a window is ``intervalNum`` of them."""

REQUEST_WEIGHT: Final = "REQUEST_WEIGHT"
ORDERS: Final = "ORDERS"
RAW_REQUESTS: Final = "RAW_REQUESTS"
LIMIT_TYPES: Final = (REQUEST_WEIGHT, ORDERS, RAW_REQUESTS)
"""What a request is counted in. Others in ``rateLimits`` (the loopback's CONNECTIONS) are not per request: ignored."""

_SLOTS: Final = 4
"""Window indices kept per limit: the current one, the one after (skew), and two before (late responses)."""


class RequestKind(IntEnum):
    """What a request counts in, besides its weight in REQUEST_WEIGHT and one in RAW_REQUESTS."""

    REQUEST = 0
    """Anything that places no order: cancels, queries, session requests."""
    ORDER = 1
    """Places an order (``order.place``, ``order.cancelReplace``): also one in every ORDERS window."""


class WindowUse(NamedTuple):
    """One window's state at a time (:meth:`RateLimiter.usage`)."""

    limit_type: str
    length_ns: int
    limit: int
    """The venue's limit."""
    budget: int
    """What this limiter lets through: ``limit`` times the share, at least 1."""
    used: int
    """Counted in the window that holds ``now``."""


class Window:
    """One of the venue's limits: at most ``budget`` units in each ``length_ns`` interval from the epoch."""

    __slots__ = ("_counts", "_index", "budget", "length_ns", "limit", "limit_type", "share")

    def __init__(self, limit_type: str, length_ns: int, limit: int, share: float = 1.0) -> None:
        if length_ns <= 0 or limit <= 0:
            raise ValueError(f"{limit_type}: a window needs length_ns > 0 and limit > 0, got {length_ns}, {limit}")
        if not 0.0 < share <= 1.0:
            raise ValueError(f"{limit_type}: a share must be in (0, 1], got {share}")
        self.limit_type = limit_type
        self.length_ns = length_ns
        self.share = share
        self.limit = limit
        self.budget = 0
        self.set_limit(limit)
        self._index = [-1] * _SLOTS
        """Which window index each slot counts (index ``k`` lives in slot ``k % _SLOTS``)."""
        self._counts = [0] * _SLOTS

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        self.budget = max(1, int(limit * self.share))

    def count(self, index: int) -> int:
        """Units counted in window ``index`` (``now // length_ns``); 0 for one never touched or long gone."""
        slot = index % _SLOTS
        return self._counts[slot] if self._index[slot] == index else 0

    def add(self, index: int, units: int) -> None:
        slot = index % _SLOTS
        if self._index[slot] != index:
            if self._index[slot] > index:
                return  # older than anything kept: nothing left to correct
            self._index[slot] = index
            self._counts[slot] = 0
        self._counts[slot] += units

    def raise_to(self, index: int, count: int) -> bool:
        """The venue counted ``count`` in window ``index``: believe it if it is more (True when it was)."""
        if count <= self.count(index):
            return False
        self.add(index, count - self.count(index))
        return self.count(index) == count


class RateLimiter:
    """Every rate limit of one venue connection (IP and account), counted in the venue's own windows."""

    __slots__ = (
        "_by_key",
        "_order_windows",
        "_request_windows",
        "bans",
        "corrections",
        "hold_until_ns",
        "malformed",
        "shares",
        "skew_ns",
        "throttled",
        "waits",
        "windows",
    )

    def __init__(
        self,
        rate_limits: Iterable[Mapping[str, Any]],
        *,
        skew_ns: int = 0,
        shares: Mapping[str, float] | None = None,
    ) -> None:
        """``rate_limits``: exchangeInfo's array (``rateLimitType``, ``interval``, ``intervalNum``, ``limit``).

        ``shares``: per limit type, the part of the venue's limit this limiter may use (default 1.0).
        """
        if skew_ns < 0:
            raise ValueError(f"skew_ns must be >= 0, got {skew_ns}")
        self.skew_ns = skew_ns
        self.shares: dict[str, float] = dict(shares or {})
        for limit_type, share in self.shares.items():
            if limit_type not in LIMIT_TYPES or not 0.0 < share <= 1.0:
                raise ValueError(f"shares: {limit_type!r} = {share} (types {LIMIT_TYPES}, shares in (0, 1])")
        self.windows: list[Window] = []
        self._by_key: dict[tuple[str, int], Window] = {}
        self._request_windows: tuple[Window, ...] = ()
        self._order_windows: tuple[Window, ...] = ()
        self.hold_until_ns = 0
        """Nothing goes before this (wall-clock ns): a 429 or 418."""
        self.waits = 0
        """Requests told to wait (each call that returned more than 0)."""
        self.corrections = 0
        """Responses that showed more than was counted here (other clients, or a clock off by more than the skew)."""
        self.throttled = 0
        self.bans = 0
        self.malformed = 0
        """``rateLimits`` entries of responses that could not be read (skipped)."""
        for entry in rate_limits:
            parsed = _parse(entry)
            if parsed is None:
                raise ValueError(f"rateLimits entry not understood: {entry!r}")
            limit_type, length_ns, limit, _ = parsed
            if limit_type in LIMIT_TYPES:
                if limit is None:
                    raise ValueError(f"rateLimits entry without a limit: {entry!r}")
                self._window(limit_type, length_ns, limit)

    # -- requests -----------------------------------------------------------------------------
    def acquire(self, kind: RequestKind, weight: int, now: int) -> int:
        """Count a request of ``kind`` and REQUEST_WEIGHT ``weight`` sent at ``now``; 0 means go now.

        Otherwise nothing is counted and the result is how long to wait (ns) before asking again; by then
        the windows that were full have ended, though another may have filled meanwhile. A request that
        could never fit (more weight than a whole window allows) raises ``ValueError``.
        """
        windows = self._order_windows if kind == RequestKind.ORDER else self._request_windows
        skew = self.skew_ns
        ready = self.hold_until_ns
        # Window.count / Window.add written out: this runs before every request's bytes leave
        for window in windows:
            units = weight if window.limit_type == REQUEST_WEIGHT else 1
            budget = window.budget
            if units > budget:
                raise ValueError(f"{units} {window.limit_type} can never fit a budget of {window.budget}")
            length = window.length_ns
            first, last = (now - skew) // length, (now + skew) // length
            counted, counts = window._index, window._counts
            slot = first % _SLOTS
            if (counts[slot] if counted[slot] == first else 0) + units > budget:
                ready = max(ready, (first + 1) * length + skew)
            if last != first and window.count(last) + units > budget:
                ready = max(ready, (last + 1) * length + skew)
        if ready > now:
            self.waits += 1
            return ready - now
        for window in windows:
            units = weight if window.limit_type == REQUEST_WEIGHT else 1
            length = window.length_ns
            first, last = (now - skew) // length, (now + skew) // length
            counted, counts = window._index, window._counts
            slot = first % _SLOTS
            if counted[slot] == first:
                counts[slot] += units
            else:
                window.add(first, units)
            if last != first:
                window.add(last, units)
        return 0

    # -- what the venue says ------------------------------------------------------------------
    def on_response(self, rate_limits: Iterable[Mapping[str, Any]], now: int, sent_ns: int | None = None) -> None:
        """A response's ``rateLimits``, received at ``now`` for a request sent at ``sent_ns`` (default ``now``).

        Never lowers a count: takes ``max(local, venue)`` in the window the request was counted in (the older one
        when that is ambiguous); follows a changed ``limit``; learns a window it had not been told of.
        """
        sent = now if sent_ns is None else min(sent_ns, now)
        for entry in rate_limits:
            parsed = _parse(entry)
            if parsed is None:
                self.malformed += 1
                continue
            limit_type, length_ns, limit, count = parsed
            if limit_type not in LIMIT_TYPES:
                continue
            window = self._by_key.get((limit_type, length_ns))
            if window is None:
                if limit is None:
                    self.malformed += 1
                    continue
                window = self._window(limit_type, length_ns, limit)
            elif limit is not None and limit != window.limit:
                window.set_limit(limit)
            if count is not None and window.raise_to((sent - self.skew_ns) // length_ns, count):
                self.corrections += 1

    def on_429(self, retry_after_ms: int | None, now: int) -> None:
        """A 429 (-1003 / -1015): nothing until ``retry_after_ms`` (venue epoch ms), or the next minute."""
        self.throttled += 1
        if retry_after_ms:
            until = retry_after_ms * MS_NS + self.skew_ns
        else:
            until = (now // MINUTE_NS + 1) * MINUTE_NS + self.skew_ns
        self.hold_until_ns = max(self.hold_until_ns, until)

    def on_418(self, retry_after_ms: int | None, now: int) -> None:
        """A 418 (IP banned): nothing until ``retry_after_ms`` (venue epoch ms), or :data:`DEFAULT_BAN_NS`."""
        self.bans += 1
        until = retry_after_ms * MS_NS if retry_after_ms else now + DEFAULT_BAN_NS
        self.hold_until_ns = max(self.hold_until_ns, until + self.skew_ns)

    # -- reads ------------------------------------------------------------------------------
    def count(self, limit_type: str, length_ns: int, now: int) -> int:
        """What is counted in the window of that limit holding ``now`` (0 for a limit not known)."""
        window = self._by_key.get((limit_type, length_ns))
        return 0 if window is None else window.count(now // length_ns)

    def usage(self, now: int) -> list[WindowUse]:
        """Every window at ``now`` (diagnostics: the stage's status)."""
        return [
            WindowUse(w.limit_type, w.length_ns, w.limit, w.budget, w.count(now // w.length_ns)) for w in self.windows
        ]

    # -- setup ------------------------------------------------------------------------------
    def _window(self, limit_type: str, length_ns: int, limit: int) -> Window:
        if 2 * self.skew_ns >= length_ns:
            raise ValueError(f"skew_ns {self.skew_ns} must be under half of every window ({length_ns} ns)")
        window = self._by_key.get((limit_type, length_ns))
        if window is not None:
            window.set_limit(limit)
            return window
        window = Window(limit_type, length_ns, limit, self.shares.get(limit_type, 1.0))
        self.windows.append(window)
        self._by_key[(limit_type, length_ns)] = window
        self._request_windows = tuple(w for w in self.windows if w.limit_type != ORDERS)
        self._order_windows = tuple(self.windows)
        return window


def _parse(entry: Mapping[str, Any]) -> tuple[str, int, int | None, int | None] | None:
    """``(type, length_ns, limit, count)`` of one ``rateLimits`` entry; None when it cannot be read."""
    try:
        limit_type = entry["rateLimitType"]
        unit = INTERVAL_NS[entry["interval"]]
        number = entry.get("intervalNum", 1)
        limit = entry.get("limit")
        count = entry.get("count")
    except (KeyError, TypeError):
        return None
    if not isinstance(limit_type, str) or not _is_int(number) or number <= 0:
        return None
    if (limit is not None and (not _is_int(limit) or limit <= 0)) or (
        count is not None and (not _is_int(count) or count < 0)
    ):
        return None
    return limit_type, unit * number, limit, count


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
