"""EX_EVENT records onto the engine -> accounting ring, never dropped.

Records are packed straight into claimed ring slots. When the ring is full a
command's remaining records are packed into local buffers instead and
:meth:`EventWriter.flush` publishes them as room appears; while anything is
pending the stage takes no new command (back-pressure reaches accounting
through the command ring). So at most one command's events are ever held
here, and accounting sees every event, in order, exactly once.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from hftpipe.schema.exchange import EX_RECORD_SIZE
from hftpipe.schema.exchange_codec import END, EVENT_RTYPE, EventBody, Header, pack_event, pack_event_into
from hftpipe.substrate.ring import Ring

_EVT: Final = EVENT_RTYPE
_END: Final = END


class EventWriter:
    """Publishes one command's event bodies at a time; ``END_OF_UPDATE`` goes on its last."""

    __slots__ = ("buffer", "full_events", "published", "queue", "ring")

    def __init__(self, ring: Ring) -> None:
        if ring.slot_size < EX_RECORD_SIZE:
            raise ValueError(
                f"ring {ring.name}: EX_EVENT records need slot_size >= {EX_RECORD_SIZE}, has {ring.slot_size}"
            )
        self.ring = ring
        self.buffer = ring.buffer
        self.queue: deque[bytes] = deque()
        """Packed records waiting for room, oldest first (at most one command's)."""
        self.published = 0
        """Records written to the ring so far."""
        self.full_events = 0
        """Times the ring was found full (each starts a back-pressure episode)."""

    @property
    def pending(self) -> int:
        """Records waiting for room in the ring."""
        return len(self.queue)

    def publish(self, flags: int, header: Header, bodies: list[EventBody]) -> None:
        """Write ``bodies`` (one command's events, at least one) with ``header``; buffer what does not fit."""
        ring = self.ring
        buf = self.buffer
        last = len(bodies) - 1
        for i, body in enumerate(bodies):
            offset = ring.try_claim()
            if offset < 0:
                self.full_events += 1
                self._defer(flags, header, bodies, i)
                return
            pack_event_into(buf, offset, _EVT, flags | _END if i == last else flags, *header, *body)
            ring.commit()
        self.published += last + 1

    def _defer(self, flags: int, header: Header, bodies: list[EventBody], start: int) -> None:
        self.published += start
        last = len(bodies) - 1
        pending = self.queue
        for i in range(start, last + 1):
            pending.append(pack_event(_EVT, flags | _END if i == last else flags, *header, *bodies[i]))

    def flush(self) -> int:
        """Publish pending records while there is room; returns how many went out."""
        pending = self.queue
        offer = self.ring.offer
        sent = 0
        while pending and offer(pending[0]):
            pending.popleft()
            sent += 1
        self.published += sent
        return sent
