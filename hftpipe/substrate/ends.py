"""The two ends of a ring as the runtime uses them, whichever kind of ring it is.

A stage's ports, its idle strategy and the reports need only these: the SPSC
:class:`~hftpipe.substrate.ring.Ring` (either end) and the broadcast ring's
:class:`~hftpipe.substrate.broadcast.BroadcastTransmitter` /
:class:`~hftpipe.substrate.broadcast.BroadcastReceiver` provide them, so a
port does not care which it was given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from hftpipe.substrate.ring import RecordHandler, TimedRecordHandler
from hftpipe.substrate.shm import Segment


class ProducerEnd(Protocol):
    """What an output port publishes through: claim a slot, write it in :attr:`buffer`, commit."""

    name: str
    capacity: int
    slot_size: int
    segment: Segment

    @property
    def buffer(self) -> memoryview: ...

    @property
    def producer_position(self) -> int: ...

    def try_claim(self) -> int: ...

    def commit(self) -> None: ...

    def offer(self, data: bytes | memoryview) -> bool: ...

    def remaining_capacity(self) -> int: ...

    def close(self) -> None: ...


class ConsumerEnd(Protocol):
    """What an input port reads and an idle strategy parks on."""

    name: str
    capacity: int
    slot_size: int

    def poll(self, handler: RecordHandler, limit: int, /) -> int: ...

    def poll_timed(
        self, handler: TimedRecordHandler, limit: int, stamp_offset: int, record_hop: Callable[[int], None], /
    ) -> int: ...

    def has_data(self) -> bool: ...

    def set_parked(self, parked: bool) -> None: ...

    def close(self) -> None: ...
