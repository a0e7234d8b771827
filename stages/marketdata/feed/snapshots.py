"""REST snapshots for the feed stage: off the event loop, within the venue's rate limits.

Binance meters REST by request weight per minute and answers 429 (slow down)
then 418 (banned) with a ``Retry-After``. The fetcher reads the used weight
from ``X-MBX-USED-WEIGHT-1M`` and holds further requests until the next minute
once it passes ``weight_budget``; after a 429/418 it waits ``Retry-After``
(or a minute) before any request. Requests run in a worker thread (urllib),
so a slow snapshot never stalls the stream that is being buffered meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Final

DEFAULT_RETRY_AFTER_S: Final = 60.0


class SnapshotError(RuntimeError):
    pass


@dataclass(slots=True)
class FetchStats:
    fetched: int = 0
    failed: int = 0
    rate_limited: int = 0


class SnapshotFetcher:
    def __init__(self, logger: logging.Logger, *, timeout_s: float = 10.0, weight_budget: int = 4800) -> None:
        self._logger = logger
        self._timeout_s = timeout_s
        self._weight_budget = weight_budget
        self._blocked_until = 0.0
        self.stats = FetchStats()

    async def fetch(self, url: str) -> tuple[bytes, int]:
        """The body and the monotonic time it arrived; raises SnapshotError."""
        wait = self._blocked_until - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            body, headers = await asyncio.to_thread(self._get, url)
        except urllib.error.HTTPError as exc:
            self.stats.failed += 1
            if exc.code in (418, 429):
                self.stats.rate_limited += 1
                retry_after = _seconds(exc.headers.get("Retry-After")) if exc.headers else None
                self._blocked_until = time.time() + (retry_after or DEFAULT_RETRY_AFTER_S)
                self._logger.warning(
                    "snapshot %s: HTTP %d, holding REST requests for %.0f s",
                    url,
                    exc.code,
                    retry_after or DEFAULT_RETRY_AFTER_S,
                )
            raise SnapshotError(f"HTTP {exc.code} from {url}") from exc
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            self.stats.failed += 1
            raise SnapshotError(f"{url}: {exc}") from exc
        recv_ns = time.monotonic_ns()
        self.stats.fetched += 1
        used = _seconds(headers.get("X-MBX-USED-WEIGHT-1M"))
        if used is not None and used >= self._weight_budget:
            now = time.time()
            self._blocked_until = max(self._blocked_until, now - now % 60 + 60)
            self._logger.info("REST weight %d >= budget %d: next snapshot after the minute", used, self._weight_budget)
        return body, recv_ns

    def _get(self, url: str) -> tuple[bytes, dict[str, str]]:
        request = urllib.request.Request(url, headers={"User-Agent": "hftpipe"})
        with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
            return response.read(), dict(response.headers.items())


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
