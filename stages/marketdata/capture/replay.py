"""Drive a venue adapter from capture files, as fast as possible, in capture order.

WebSocket messages go to ``on_message`` with their recorded receive time. A
REST snapshot recorded in the ``.http`` capture answers the adapter's request
for that symbol once replay time reaches the moment it was recorded (it was
the answer to a request made before then); a request made after it gets it at
once, and the sync logic judges it like any other. Each recording answers one
request: once they are used up, the book stays resyncing, which is the truth
of the capture.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

from stages.marketdata.capture.format import CaptureEvent, EventKind, merge_by_time
from stages.marketdata.venues.adapter import VenueAdapter


def snapshot_symbol(url: str) -> str | None:
    """``...depth?symbol=NKNUSDT&limit=1000`` -> ``NKNUSDT``."""
    values = parse_qs(urlparse(url).query).get("symbol")
    return values[0] if values else None


@dataclass
class ReplayResult:
    messages: int = 0
    snapshots_delivered: int = 0
    snapshots_unanswered: list[str] = field(default_factory=list)


def replay(adapter: VenueAdapter, *captures: Iterable[CaptureEvent]) -> ReplayResult:
    result = ReplayResult()
    recorded: dict[str, deque[CaptureEvent]] = {}
    pending: set[str] = set()

    def deliver(symbol: str, event: CaptureEvent) -> None:
        pending.discard(symbol)
        result.snapshots_delivered += 1
        adapter.on_snapshot(symbol, event.payload, event.time_ns)

    def collect_requests(now: float) -> None:
        for request in adapter.take_snapshot_requests():
            pending.add(request.symbol)
        for symbol in sorted(pending):
            queue = recorded.get(symbol)
            if queue and queue[0].time <= now:
                deliver(symbol, queue.popleft())

    for event in merge_by_time(*captures):
        if event.kind is EventKind.RECEIVED:
            result.messages += 1
            adapter.on_message(event.payload, event.time_ns)
        elif event.kind is EventKind.HTTP:
            symbol = snapshot_symbol(event.url)
            if symbol is not None:
                recorded.setdefault(symbol, deque()).append(event)
        collect_requests(event.time)
    # Requests still open at the end: answer with the newest recording, if any.
    for request in adapter.take_snapshot_requests():
        pending.add(request.symbol)
    for symbol in sorted(pending):
        queue = recorded.get(symbol)
        if queue:
            deliver(symbol, queue.popleft())
            collect_requests(float("inf"))
        else:
            result.snapshots_unanswered.append(symbol)
    return result
