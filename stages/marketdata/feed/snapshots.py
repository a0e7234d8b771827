"""REST snapshots for the feed stage: off the event loop, paced by one backoff and one weight budget.

Every request, whatever asked for it (a first sync, a gap, a snapshot too old
or malformed, an HTTP error or a timeout before), passes the same two gates
before it is sent:

* the book's :class:`~stages.marketdata.feed.backoff.Backoff`: a book that is
  asked for again before it synced waits, exponentially longer each time;
* the venue's :class:`~stages.marketdata.feed.weight_budget.WeightBudget`:
  request weight per minute, counted here and from ``X-MBX-USED-WEIGHT-1M``
  when the venue sends it; a 429/418 holds every request for ``Retry-After``
  (or a minute).

The owner calls :meth:`SnapshotFetcher.synced` once a snapshot brought its
book in sync. Requests run in a worker thread (urllib), so a slow snapshot
never stalls the stream that is being buffered meanwhile. Waiting is on an
injected :class:`~stages.marketdata.feed.clock.Clock`.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import math
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Final

from stages.marketdata.feed.backoff import Backoff
from stages.marketdata.feed.clock import SYSTEM_CLOCK, Clock
from stages.marketdata.feed.weight_budget import WeightBudget

DEFAULT_RETRY_AFTER_S: Final = 60.0
USED_WEIGHT_HEADER: Final = "X-MBX-USED-WEIGHT-1M"


class SnapshotError(RuntimeError):
    pass


@dataclass(slots=True)
class FetchStats:
    fetched: int = 0
    """Answers received (HTTP 200)."""
    failed: int = 0
    """Requests that brought no answer: HTTP errors, timeouts, unreachable venue."""
    rate_limited: int = 0
    """429/418 answers (also counted in ``failed``)."""
    retries: int = 0
    """Requests sent for a book that was asked for before and has not synced since."""
    backoffs: int = 0
    """Waits begun for a book's backoff (one per retry that had to wait)."""
    weight_waits: int = 0
    """Waits begun for the weight budget: spent for this minute, or held after a 429/418."""
    requests: dict[str, int] = field(default_factory=dict)
    """Requests sent, per book."""


class SnapshotFetcher:
    def __init__(
        self,
        logger: logging.Logger,
        *,
        timeout_s: float = 10.0,
        weight_budget: int = 4800,
        retry_min_s: float = 1.0,
        retry_max_s: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._logger = logger
        self._timeout_s = timeout_s
        self._clock = clock
        self.budget = WeightBudget(weight_budget)
        self.backoff = Backoff(retry_min_s, retry_max_s)
        self.stats = FetchStats()

    async def fetch(self, url: str, symbol: str = "", weight: int = 1) -> tuple[bytes, int]:
        """``symbol``'s snapshot body and the monotonic time it arrived; raises SnapshotError.

        Waits for the book's backoff, then for ``weight`` to fit the budget.
        """
        await self._admit(symbol, weight)
        clock = self._clock
        try:
            body, used = await asyncio.to_thread(self._get, url)
        except urllib.error.HTTPError as exc:
            self._failed(symbol)
            if exc.code in (418, 429):
                self._hold(url, exc)
            raise SnapshotError(f"HTTP {exc.code} from {url}") from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            self._failed(symbol)
            raise SnapshotError(f"{url}: {exc}") from exc
        recv_ns = time.monotonic_ns()
        self.stats.fetched += 1
        self.backoff.attempted(symbol, clock.time())
        used_weight = _number(used)
        if used_weight is not None:
            self.budget.observe_used(int(used_weight), clock.time())
        return body, recv_ns

    def synced(self, symbol: str) -> None:
        """``symbol``'s last snapshot brought its book in sync: its next one goes without backoff."""
        self.backoff.reset(symbol)

    async def _admit(self, symbol: str, weight: int) -> None:
        clock, stats = self._clock, self.stats
        attempts = self.backoff.attempts(symbol)
        ready = self.backoff.ready_at(symbol)
        if ready > clock.time():
            stats.backoffs += 1
            self._logger.info(
                "snapshot %s: attempt %d in %.1f s (backing off)", symbol, attempts + 1, ready - clock.time()
            )
            await clock.sleep_until(ready)
        while (ready := self.budget.ready_at(weight, clock.time())) > clock.time():
            stats.weight_waits += 1
            self._logger.info(
                "snapshot %s: REST weight budget spent or held; waiting %.1f s", symbol, ready - clock.time()
            )
            await clock.sleep_until(ready)
        self.budget.spend(weight, clock.time())
        stats.requests[symbol] = stats.requests.get(symbol, 0) + 1
        if attempts:
            stats.retries += 1

    def _failed(self, symbol: str) -> None:
        self.stats.failed += 1
        self.backoff.attempted(symbol, self._clock.time())

    def _hold(self, url: str, exc: urllib.error.HTTPError) -> None:
        self.stats.rate_limited += 1
        retry_after = _number(exc.headers.get("Retry-After")) if exc.headers else None
        hold_s = DEFAULT_RETRY_AFTER_S if retry_after is None else retry_after
        self.budget.hold(hold_s, self._clock.time())
        self._logger.warning("snapshot %s: HTTP %d, holding REST requests for %.0f s", url, exc.code, hold_s)

    def _get(self, url: str) -> tuple[bytes, str | None]:
        """The body and the used-weight header (matched in any case)."""
        request = urllib.request.Request(url, headers={"User-Agent": "hftpipe"})
        with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
            return response.read(), response.headers.get(USED_WEIGHT_HEADER)


def _number(value: str | None) -> float | None:
    """A header's finite, non-negative number; None when absent or anything else (an HTTP date, "nan")."""
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) and number >= 0 else None
