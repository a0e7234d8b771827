"""The capture line format: what ``hftpipe record`` writes and replay reads.

One event per line (the format of ``shared/data/captures``)::

    URL <-> T            a WebSocket connection to URL was opened at unix time T
    URL <- T: JSON       the client sent JSON on that connection
    T: JSON              the client received JSON
    URL -> T: JSON       an HTTP GET of URL answered JSON (REST snapshots)

Blank lines are ignored. ``T`` is seconds since the epoch as a float.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TextIO


class EventKind(Enum):
    CONNECT = "connect"
    SENT = "sent"
    RECEIVED = "received"
    HTTP = "http"


@dataclass(frozen=True, slots=True)
class CaptureEvent:
    kind: EventKind
    time: float
    url: str
    payload: str
    line: int

    @property
    def time_ns(self) -> int:
        return round(self.time * 1e9)


class CaptureFormatError(ValueError):
    pass


def parse_line(text: str, line: int = 0) -> CaptureEvent | None:
    """One line -> an event (``None`` for a blank line)."""
    text = text.rstrip("\n")
    if not text.strip():
        return None
    try:
        if " <-> " in text and ": " not in text.split(" <-> ", 1)[1]:
            url, stamp = text.split(" <-> ", 1)
            return CaptureEvent(EventKind.CONNECT, float(stamp), url, "", line)
        head, sep, payload = text.partition(": ")
        if not sep:
            raise CaptureFormatError(f"line {line}: no ': ' separator")
        if " <- " in head:
            url, stamp = head.split(" <- ", 1)
            return CaptureEvent(EventKind.SENT, float(stamp), url, payload, line)
        if " -> " in head:
            url, stamp = head.split(" -> ", 1)
            return CaptureEvent(EventKind.HTTP, float(stamp), url, payload, line)
        return CaptureEvent(EventKind.RECEIVED, float(head), "", payload, line)
    except ValueError as exc:
        if isinstance(exc, CaptureFormatError):
            raise
        raise CaptureFormatError(f"line {line}: bad timestamp in {text[:80]!r}") from exc


def read_capture(path: str | Path) -> Iterator[CaptureEvent]:
    with open(path, encoding="utf-8") as fh:
        for number, text in enumerate(fh, 1):
            event = parse_line(text, number)
            if event is not None:
                yield event


def merge_by_time(*streams: Iterable[CaptureEvent]) -> list[CaptureEvent]:
    """Interleave captures (a WebSocket file and its REST file) in time order, stably."""
    events = [event for stream in streams for event in stream]
    events.sort(key=lambda e: e.time)
    return events


def format_event(event: CaptureEvent) -> str:
    stamp = repr(event.time)
    if event.kind is EventKind.CONNECT:
        return f"{event.url} <-> {stamp}"
    if event.kind is EventKind.SENT:
        return f"{event.url} <- {stamp}: {event.payload}"
    if event.kind is EventKind.HTTP:
        return f"{event.url} -> {stamp}: {event.payload}"
    return f"{stamp}: {event.payload}"


class CaptureWriter:
    """Appends events in the capture format, one line each, flushed per line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, kind: EventKind, time: float, payload: str = "", url: str = "") -> None:
        self._stream.write(format_event(CaptureEvent(kind, time, url, payload, 0)) + "\n")
        self._stream.flush()
