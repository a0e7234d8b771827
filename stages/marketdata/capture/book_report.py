"""``hftpipe book``: replay a capture through a venue adapter and report the books."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hftpipe.schema.instruments import InstrumentRegistry
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import CaptureEvent, EventKind, read_capture
from stages.marketdata.capture.replay import replay
from stages.marketdata.venues.registry import adapter_class


def book_report(
    venue: str, capture: str | Path, snapshots: str | Path | None = None, depth: int | None = None
) -> dict[str, Any]:
    """One entry per venue symbol: bids/asks best first as decimal strings, state, last id, stats."""
    events: list[CaptureEvent] = list(read_capture(capture))
    connect = next((e.url for e in events if e.kind is EventKind.CONNECT), None)
    adapter_cls = adapter_class(venue, connect)
    registry = InstrumentRegistry()
    sink = BooksSink()
    adapter = adapter_cls(sink, registry)
    streams: list[list[CaptureEvent]] = [events]
    if snapshots is not None:
        streams.append(list(read_capture(snapshots)))
    replay(adapter, *streams)
    return sink.report(registry, depth, adapter.stats, adapter.update_ids)
