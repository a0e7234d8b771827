"""``hftpipe record``: live venue traffic into the capture format, REST snapshots included.

The WebSocket side (connect, sent subscriptions, every received message) goes
to one file and the REST snapshots to another, exactly like the shipped
captures (``X.ws.N`` beside ``X.http.N``), so a recording replays through
``hftpipe book`` and the loopback replay server like they do. The venue
adapter runs on the traffic too, so the recording fetches the snapshots a
sync needs when it needs them (and again after a gap), as the feed would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import connect

from hftpipe.schema.instruments import InstrumentRegistry
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import CaptureWriter, EventKind
from stages.marketdata.feed.snapshots import SnapshotError, SnapshotFetcher
from stages.marketdata.feed.weight_budget import default_budget
from stages.marketdata.venues.adapter import SnapshotRequest, VenueAdapter
from stages.marketdata.venues.registry import adapter_class


def http_path_for(ws_path: Path) -> Path:
    """``BINANCE.ws.1.0`` -> ``BINANCE.http.1.0``; anything else gets ``.http`` appended."""
    if ".ws." in ws_path.name:
        return ws_path.with_name(ws_path.name.replace(".ws.", ".http.", 1))
    return ws_path.with_name(ws_path.name + ".http")


@dataclass(slots=True)
class RecordingStats:
    received: int = 0
    sent: int = 0
    snapshots: int = 0


async def record(
    venue: str,
    symbols: list[str],
    out: Path,
    *,
    url: str | None = None,
    rest_url: str | None = None,
    duration_s: float | None = None,
    logger: logging.Logger | None = None,
) -> RecordingStats:
    log = logger or logging.getLogger("hftpipe.record")
    adapter: VenueAdapter = adapter_class(venue, url)(
        BooksSink(), InstrumentRegistry(), symbols=symbols, logger=log
    )
    target = url or adapter.websocket_urls()[0]
    stats = RecordingStats()
    fetcher = SnapshotFetcher(log, weight_budget=default_budget(adapter.rest_weight_per_minute))
    with open(out, "a", encoding="utf-8") as ws_file, open(http_path_for(out), "a", encoding="utf-8") as http_file:
        ws_log, http_log = CaptureWriter(ws_file), CaptureWriter(http_file)
        tasks: set[asyncio.Task[None]] = set()

        async def snapshot(request: SnapshotRequest) -> None:
            fetch_url = request.url
            if rest_url:
                fetch_url = f"{rest_url.rstrip('/')}/{request.url.split('://', 1)[-1].split('/', 1)[-1]}"
            while True:  # paced like the feed's: the book's backoff and the venue's weight budget
                try:
                    body, recv_ns = await fetcher.fetch(fetch_url, request.symbol, request.weight)
                    break
                except SnapshotError as exc:
                    log.warning("snapshot %s failed (%s); trying again", request.symbol, exc)
            http_log.write(EventKind.HTTP, time.time(), body.decode(), url=request.url)
            stats.snapshots += 1
            if adapter.on_snapshot(request.symbol, body, recv_ns):
                fetcher.synced(request.symbol)
            schedule()

        def schedule() -> None:
            for request in adapter.take_snapshot_requests():
                task = asyncio.create_task(snapshot(request))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        async def pump() -> None:
            async with connect(target, max_size=None) as connection:
                ws_log.write(EventKind.CONNECT, time.time(), url=target)
                for text in adapter.subscriptions(target):
                    await connection.send(text)
                    ws_log.write(EventKind.SENT, time.time(), text, url=target)
                    stats.sent += 1
                async for raw in connection:
                    text = raw if isinstance(raw, str) else raw.decode()
                    ws_log.write(EventKind.RECEIVED, time.time(), text)
                    stats.received += 1
                    adapter.on_message(text, time.monotonic_ns())
                    schedule()
                    for request in adapter.take_resubscribe_requests():  # as the feed stage would
                        for message in request.messages:
                            await connection.send(message)
                            ws_log.write(EventKind.SENT, time.time(), message, url=target)
                            stats.sent += 1

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pump(), timeout=duration_s)
        for task in tasks:
            task.cancel()
    return stats
