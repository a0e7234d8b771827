"""REST snapshots against a real HTTP server on loopback: weight budget, 429/418 holds and per-book backoff."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from stages.marketdata.feed.snapshots import SnapshotError, SnapshotFetcher
from tests.unit.marketdata.feed.clocks import START, ManualClock


class Venue(BaseHTTPRequestHandler):
    """Answers from a script: each request pops (status, headers, body)."""

    script: ClassVar[list[tuple[int, dict[str, str], bytes]]] = []
    seen: ClassVar[list[float]] = []

    def do_GET(self) -> None:
        Venue.seen.append(time.time())
        status, headers, body = Venue.script.pop(0)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def venue() -> Iterator[str]:
    Venue.script, Venue.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Venue)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v3/depth?symbol=X&limit=1000"
    finally:
        server.shutdown()
        server.server_close()


def test_should_return_the_body_of_a_snapshot(venue: str) -> None:
    Venue.script = [(200, {"X-MBX-USED-WEIGHT-1M": "50"}, b'{"lastUpdateId": 1}')]
    fetcher = SnapshotFetcher(logging.getLogger("test"))
    body, recv_ns = asyncio.run(fetcher.fetch(venue))
    assert body == b'{"lastUpdateId": 1}'
    assert recv_ns > 0
    assert fetcher.stats.fetched == 1


def test_should_hold_requests_for_retry_after_seconds_after_a_429(venue: str) -> None:
    Venue.script = [(429, {"Retry-After": "1"}, b"{}"), (200, {}, b"ok")]
    fetcher = SnapshotFetcher(logging.getLogger("test"))
    with pytest.raises(SnapshotError, match=r"^HTTP 429 from "):
        asyncio.run(fetcher.fetch(venue))
    assert fetcher.stats.rate_limited == 1
    body, _ = asyncio.run(fetcher.fetch(venue))
    assert body == b"ok"
    assert Venue.seen[1] - Venue.seen[0] >= 0.9  # the second request waited out Retry-After


def test_should_treat_a_418_ban_like_a_429(venue: str) -> None:
    Venue.script = [(418, {"Retry-After": "120"}, b"{}")]
    fetcher = SnapshotFetcher(logging.getLogger("test"))
    with pytest.raises(SnapshotError, match=r"^HTTP 418 from "):
        asyncio.run(fetcher.fetch(venue))
    assert fetcher.budget.blocked_until >= time.time() + 100


def test_should_wait_for_the_next_minute_once_the_weight_budget_is_used(venue: str) -> None:
    Venue.script = [(200, {"X-MBX-USED-WEIGHT-1M": "5000"}, b"{}")]
    fetcher = SnapshotFetcher(logging.getLogger("test"), weight_budget=4800)
    asyncio.run(fetcher.fetch(venue))
    now = time.time()
    assert fetcher.budget.ready_at(1, now) == pytest.approx(now - now % 60 + 60, abs=1.0)


def test_should_report_an_unreachable_venue_as_a_snapshot_error() -> None:
    fetcher = SnapshotFetcher(logging.getLogger("test"), timeout_s=1)
    with pytest.raises(SnapshotError, match=r"^http://127\.0\.0\.1:9/x: "):
        asyncio.run(fetcher.fetch("http://127.0.0.1:9/x"))
    assert fetcher.stats.failed == 1


async def _fetch_all(fetcher: SnapshotFetcher, url: str, symbols: list[str], weight: int = 50) -> list[str]:
    """Fetch for each symbol in turn: what each request ended in."""
    outcomes = []
    for symbol in symbols:
        try:
            body, _ = await fetcher.fetch(url, symbol, weight)
            outcomes.append(body.decode())
        except SnapshotError as exc:
            outcomes.append(str(exc).split(" from ")[0])
    return outcomes


def test_should_wait_out_retry_after_on_the_clock_before_the_next_request(venue: str) -> None:
    Venue.script = [(429, {"Retry-After": "7"}, b"{}"), (200, {}, b"ok")]
    clock = ManualClock(auto=True)
    fetcher = SnapshotFetcher(logging.getLogger("test"), clock=clock)
    assert asyncio.run(_fetch_all(fetcher, venue, ["X", "Y"])) == ["HTTP 429", "ok"]
    assert clock.waits == [7.0]  # another book: no backoff, only the hold
    assert clock.now == START + 7
    assert (fetcher.stats.rate_limited, fetcher.stats.weight_waits, fetcher.stats.failed) == (1, 1, 1)


@pytest.mark.parametrize("headers", [{}, {"Retry-After": "inf"}, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}])
def test_should_hold_a_minute_after_a_418_without_a_usable_retry_after(venue: str, headers: dict[str, str]) -> None:
    Venue.script = [(418, headers, b"{}")]
    clock = ManualClock(auto=True)
    fetcher = SnapshotFetcher(logging.getLogger("test"), clock=clock)
    assert asyncio.run(_fetch_all(fetcher, venue, ["X"])) == ["HTTP 418"]
    assert fetcher.budget.blocked_until == START + 60


def test_should_ignore_a_used_weight_header_that_is_not_a_number(venue: str) -> None:
    Venue.script = [(200, {"X-MBX-USED-WEIGHT-1M": "nan"}, b"a")]
    fetcher = SnapshotFetcher(logging.getLogger("test"), clock=ManualClock(auto=True))
    assert asyncio.run(_fetch_all(fetcher, venue, ["X"])) == ["a"]
    assert fetcher.budget.used == 50  # what this process spent


@pytest.mark.parametrize("header", ["X-MBX-USED-WEIGHT-1M", "x-mbx-used-weight-1m"])
def test_should_honour_the_used_weight_header_in_any_case(venue: str, header: str) -> None:
    Venue.script = [(200, {header: "4790"}, b"a"), (200, {}, b"b")]
    clock = ManualClock(START + 5, auto=True)
    fetcher = SnapshotFetcher(logging.getLogger("test"), weight_budget=4800, clock=clock)
    assert asyncio.run(_fetch_all(fetcher, venue, ["X", "Y"])) == ["a", "b"]
    assert clock.waits == [55.0]  # 4790 + 50 > 4800: the second book waited for the next minute
    assert fetcher.stats.weight_waits == 1


def test_should_keep_to_the_budget_without_a_header(venue: str) -> None:
    Venue.script = [(200, {}, b"a"), (200, {}, b"b"), (200, {}, b"c")]
    clock = ManualClock(auto=True)
    fetcher = SnapshotFetcher(logging.getLogger("test"), weight_budget=100, clock=clock)
    assert asyncio.run(_fetch_all(fetcher, venue, ["X", "Y", "Z"])) == ["a", "b", "c"]
    assert clock.waits == [60.0]
    assert len(Venue.seen) == 3


def test_should_back_a_failing_book_off_exponentially_until_it_syncs(venue: str) -> None:
    """Two HTTP 500s, then an answer that does not sync the book (stale, say), then one that does."""
    Venue.script = [(500, {}, b"{}"), (500, {}, b"{}"), (200, {}, b"stale"), (200, {}, b"good"), (200, {}, b"again")]
    clock = ManualClock(auto=True)
    fetcher = SnapshotFetcher(logging.getLogger("test"), retry_min_s=1.0, retry_max_s=30.0, clock=clock)

    async def scenario() -> list[str]:
        outcomes = await _fetch_all(fetcher, venue, ["X"] * 4)
        fetcher.synced("X")
        return outcomes + await _fetch_all(fetcher, venue, ["X"])

    assert asyncio.run(scenario()) == ["HTTP 500", "HTTP 500", "stale", "good", "again"]
    assert clock.waits == [1.0, 2.0, 4.0]  # none after the sync
    stats = fetcher.stats
    assert (stats.requests["X"], stats.retries, stats.backoffs, stats.failed, stats.fetched) == (5, 3, 3, 2, 3)


def test_should_back_off_a_book_whose_venue_cannot_be_reached() -> None:
    clock = ManualClock(auto=True)
    fetcher = SnapshotFetcher(logging.getLogger("test"), timeout_s=1, clock=clock)
    outcomes = asyncio.run(_fetch_all(fetcher, "http://127.0.0.1:9/x", ["X", "X"]))
    assert [o.startswith("http://127.0.0.1:9/x: ") for o in outcomes] == [True, True]
    assert clock.waits == [1.0]
