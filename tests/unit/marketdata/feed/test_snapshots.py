"""REST snapshots against a real HTTP server on loopback: weight budget and 429/418 back-off."""

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
    assert fetcher._blocked_until >= time.time() + 100


def test_should_wait_for_the_next_minute_once_the_weight_budget_is_used(venue: str) -> None:
    Venue.script = [(200, {"X-MBX-USED-WEIGHT-1M": "5000"}, b"{}")]
    fetcher = SnapshotFetcher(logging.getLogger("test"), weight_budget=4800)
    asyncio.run(fetcher.fetch(venue))
    now = time.time()
    assert fetcher._blocked_until == pytest.approx(now - now % 60 + 60, abs=1.0)


def test_should_report_an_unreachable_venue_as_a_snapshot_error() -> None:
    fetcher = SnapshotFetcher(logging.getLogger("test"), timeout_s=1)
    with pytest.raises(SnapshotError, match=r"^http://127\.0\.0\.1:9/x: "):
        asyncio.run(fetcher.fetch("http://127.0.0.1:9/x"))
    assert fetcher.stats.failed == 1
