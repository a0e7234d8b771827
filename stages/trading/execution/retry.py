"""When a failed request may be sent again, and after how long.

A request that failed is one of four things (:class:`ErrorClass`; the venue
client maps each venue error code to one):

* ``TRANSIENT``: the venue did not act on it (not sent, connection not ready,
  the venue said it was busy and did nothing): sending it again is safe.
* ``BACK_OFF``: refused for the rate (429 / 418, -1003, -1015): nothing was
  done, and sending again is safe once the rate limiter lets it go (it holds
  everything after a 429 / 418); the backoff here is a floor on top of that.
* ``UNKNOWN_OUTCOME``: it may or may not have been done (a timeout after it
  was sent, -1007, a 5xx, the connection lost with the request in flight).
  Sending an order again could place it twice: a client order id only stops
  a duplicate while the first is still open, and one that already filled is
  not open. So a new order (or a cancel-replace, whose new order may exist)
  is never resent: the venue is asked (``order.status`` by client order id)
  and the answer decides. A cancel is sent again (a second cancel of a
  canceled order only gets -2011), as is a read.
* ``NEVER``: the venue refused it for good (filters, balance, unknown
  order): the same request would be refused again.

Delays are exponential backoff with full jitter (AWS's "Exponential Backoff
And Jitter"): attempt ``n`` waits a uniform random time in
``[0, min(cap, base * 2**(n-1))]``. Every client that failed together
spreads out instead of retrying in lockstep, and the expected wait still
doubles. Integer nanoseconds; the random source is injected (a seeded
``random.Random`` makes a run repeat exactly).

A new order (or replace) also goes stale: one that cannot be sent within
``max_age_ns`` of its first attempt is dropped (the decision it came from
was taken on a book that is gone). Cancels and reads have no age limit;
every action has ``max_attempts``, and a cancel that runs out of attempts is
the caller's to escalate (cancel-all, halt), not to forget.
"""

from __future__ import annotations

import random
from enum import IntEnum
from typing import Final, NamedTuple

from stages.trading.execution.error_class import ErrorClass

_MAX_SHIFT: Final = 62


class Action(IntEnum):
    """What the failed request was."""

    PLACE = 0
    """``order.place``."""
    CANCEL = 1
    """``order.cancel`` / ``openOrders.cancelAll``."""
    REPLACE = 2
    """``order.cancelReplace``."""
    QUERY = 3
    """A read (``order.status``, ``openOrders.status``, ``account.status``): changes nothing."""


class Verdict(IntEnum):
    RETRY = 0
    """Send the same request again (same client order id) after ``delay_ns``."""
    QUERY = 1
    """Ask the venue for the order's state after ``delay_ns``; send nothing else until it answers."""
    GIVE_UP = 2
    """Do not send it again: report it failed (a cancel: escalate)."""


class Decision(NamedTuple):
    verdict: Verdict
    delay_ns: int
    """How long to wait first (0 with ``GIVE_UP``)."""


_GIVE_UP: Final = Decision(Verdict.GIVE_UP, 0)


def full_jitter_ns(attempt: int, base_ns: int, cap_ns: int, rng: random.Random) -> int:
    """A delay uniform in ``[0, min(cap_ns, base_ns * 2**(attempt-1))]`` (integers, both ends included).

    ``attempt`` counts the attempts made so far (1 after the first failure).
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    ceiling = min(cap_ns, base_ns << min(attempt - 1, _MAX_SHIFT))
    return rng.randint(0, ceiling)


class RetryPolicy:
    """Whether, and when, a failed request may go again (pure but for the injected random source)."""

    __slots__ = ("base_ns", "cap_ns", "max_age_ns", "max_attempts", "rng")

    def __init__(
        self,
        base_ns: int,
        cap_ns: int,
        max_attempts: int,
        max_age_ns: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        """``max_age_ns``: a PLACE / REPLACE is not retried past this since its first attempt (0: no limit).

        ``rng``: the random source of the jitter (default: a fresh ``random.Random()``, seeded by the OS).
        """
        if not 0 < base_ns <= cap_ns:
            raise ValueError(f"backoff needs 0 < base_ns <= cap_ns, got {base_ns}, {cap_ns}")
        if max_attempts < 1 or max_age_ns < 0:
            raise ValueError(f"max_attempts must be >= 1 and max_age_ns >= 0, got {max_attempts}, {max_age_ns}")
        self.base_ns = base_ns
        self.cap_ns = cap_ns
        self.max_attempts = max_attempts
        self.max_age_ns = max_age_ns
        self.rng = rng if rng is not None else random.Random()

    def delay_ns(self, attempt: int) -> int:
        """The jittered wait after ``attempt`` failed attempts."""
        return full_jitter_ns(attempt, self.base_ns, self.cap_ns, self.rng)

    def decide(self, action: Action, error: ErrorClass, attempt: int, first_sent_ns: int, now: int) -> Decision:
        """What to do after attempt number ``attempt`` (from 1) of ``action`` failed with ``error`` at ``now``.

        ``first_sent_ns``: when the first attempt went (the age limit of orders counts from it).
        An order whose outcome is unknown is always queried, whatever its attempts or age: it may be live.
        """
        if error is ErrorClass.NEVER_RETRY:
            return _GIVE_UP
        ordering = action is Action.PLACE or action is Action.REPLACE
        if error is ErrorClass.UNKNOWN_OUTCOME and ordering:
            return Decision(Verdict.QUERY, self.delay_ns(attempt))
        if attempt >= self.max_attempts:
            return _GIVE_UP
        delay = self.delay_ns(attempt)
        if ordering and self.max_age_ns and now + delay - first_sent_ns > self.max_age_ns:
            return _GIVE_UP
        return Decision(Verdict.RETRY, delay)
