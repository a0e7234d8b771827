"""EX_EVENT records onto the engine -> accounting ring, never dropped.

Records are packed straight into ring slots with the engine's hop stamp
already in their header (the ``now`` at which the command that caused them
was taken, at the item the ring's output port names), so publishing is a
plain ring commit, and the stage counts a command's records into the port
with one add. Slots are reserved first (:meth:`EventWriter.reserve`, the
port's ``room``: it counts back-pressure when a command's events do not all
fit), so each is then claimed from the ring with no check of its own. What
does not fit is packed into local buffers instead, each kept with its
``now``, and :meth:`EventWriter.flush` offers them through the port, stamp
and all, as room appears; while anything is pending the stage takes no new
command (back-pressure reaches accounting through the command ring). So at
most one command's events are ever held here, and accounting sees every
event, in order, exactly once.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from hftpipe.runtime import OutputPort
from hftpipe.schema.exchange import EX_RECORD_SIZE
from hftpipe.schema.exchange_codec import END, EVENT_RTYPE, EventBody, Header, pack_event, pack_event_into

_EVT: Final = EVENT_RTYPE
_END: Final = END


class EventWriter:
    """Publishes one command's event bodies at a time; ``END_OF_UPDATE`` goes on its last."""

    __slots__ = ("_commit", "_room", "_try_claim", "buffer", "free", "port", "queue")

    def __init__(self, port: OutputPort) -> None:
        ring = port.ring
        if ring.slot_size < EX_RECORD_SIZE:
            raise ValueError(
                f"ring {ring.name}: EX_EVENT records need slot_size >= {EX_RECORD_SIZE}, has {ring.slot_size}"
            )
        self.port = port
        self.buffer = port.buffer
        self._try_claim = ring.try_claim
        self._commit = ring.commit
        """The ring's own: records carry their stamp from the pack, and the stage counts them."""
        self._room = port.room
        self.free = 0
        """Slots known to be free: reserved ones may be claimed from the ring directly. Only the
        consumer changes it the other way (it frees slots), so it is refreshed only when too small."""
        self.queue: deque[tuple[bytes, int]] = deque()
        """Packed records waiting for room with the ``now`` they are stamped with, oldest first
        (at most one command's); :attr:`free` is 0 while any wait."""

    @property
    def pending(self) -> int:
        """Records waiting for room in the ring."""
        return len(self.queue)

    def reserve(self, n: int) -> int:
        """Reserve slots for up to ``n`` records; how many (fewer than ``n`` is counted as back-pressure)."""
        free = self.free
        if free < n:
            free = self._room(n)
        fit = free if free < n else n
        self.free = free - fit
        return fit

    def publish(self, flags: int, header: Header, bodies: list[EventBody], now: int) -> int:
        """Write ``bodies`` (one command's events, at least one) with ``header`` (stamped ``now``
        already); hold what does not fit. Returns how many went out now, for the caller to count."""
        fit = self.reserve(len(bodies))
        try_claim = self._try_claim
        commit = self._commit
        buf = self.buffer
        last = len(bodies) - 1
        for i in range(fit):
            offset = try_claim()
            pack_event_into(buf, offset, _EVT, flags | _END if i == last else flags, *header, *bodies[i])
            commit()
        if fit <= last:
            pending = self.queue
            for i in range(fit, last + 1):
                pending.append((pack_event(_EVT, flags | _END if i == last else flags, *header, *bodies[i]), now))
        return fit

    def flush(self) -> int:
        """Publish pending records while there is room; returns how many went out."""
        pending = self.queue
        offer = self.port.offer
        sent = 0
        while pending:
            record, now = pending[0]
            if not offer(record, now):
                break
            pending.popleft()
            sent += 1
        return sent
