"""Who listens to which stream, and the fan-out of one encoded payload to all of them.

A payload is encoded once per stream event; raw subscribers get those bytes,
combined ones (``/stream``) get them wrapped once in
``{"stream":"<name>","data":<payload>}``. Fan-out only appends to each
subscriber's own bounded queue (:meth:`Subscriber.push` never awaits), so a
slow socket can never hold up the ring drain that calls :meth:`StreamHub.publish`.

Subscriber sets are immutable tuples, rebuilt on (rare) subscription changes, so
publishing iterates with no copy and a subscriber may be unsubscribed while a
publish is under way.
"""

from __future__ import annotations

from typing import Protocol


class Subscriber(Protocol):
    @property
    def combined(self) -> bool:
        """Wrap payloads as ``{"stream":..., "data":...}``."""
        ...

    def push(self, message: bytes) -> None:
        """Queue one text frame; never blocks (a full queue drops the subscriber)."""
        ...


class StreamHub:
    def __init__(self) -> None:
        self._subscribers: dict[str, tuple[Subscriber, ...]] = {}
        self.published = 0
        """Frames handed to subscribers (one per subscriber per event)."""

    def wants(self, stream: str) -> bool:
        """Does anyone listen? Encoders run only when someone does."""
        return stream in self._subscribers

    def subscribers(self, stream: str) -> tuple[Subscriber, ...]:
        return self._subscribers.get(stream, ())

    def subscribe(self, stream: str, subscriber: Subscriber) -> None:
        current = self._subscribers.get(stream, ())
        if subscriber not in current:
            self._subscribers[stream] = (*current, subscriber)

    def unsubscribe(self, stream: str, subscriber: Subscriber) -> None:
        current = self._subscribers.get(stream, ())
        if subscriber in current:
            rest = tuple(s for s in current if s is not subscriber)
            if rest:
                self._subscribers[stream] = rest
            else:
                del self._subscribers[stream]

    def publish(self, stream: str, payload: bytes) -> None:
        """Hand ``payload`` (one stream event, JSON bytes) to every subscriber of ``stream``."""
        subscribers = self._subscribers.get(stream)
        if not subscribers:
            return
        wrapped: bytes | None = None
        for subscriber in subscribers:
            if subscriber.combined:
                if wrapped is None:
                    wrapped = b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"
                subscriber.push(wrapped)
            else:
                subscriber.push(payload)
        self.published += len(subscribers)

    def stream_count(self) -> int:
        return len(self._subscribers)
