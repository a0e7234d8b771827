"""A broadcast ring: one transmitter that never waits, 1..16 receivers that may fall behind and lose records.

Modelled on Aeron's ``BroadcastTransmitter``/``BroadcastReceiver``, for
market data: the book stage must not be held up by its slowest consumer, and
its BBO and DEPTH records are whole states, so a consumer that misses some
still has a correct book, only a newer one. Orders and fills, which must not
be lost, stay on the SPSC :class:`~hftpipe.substrate.ring.Ring`.

Memory ordering
    The transmitter stores ``tail_intent = seq + 1``, writes slot ``seq``,
    then stores ``tail = seq + 1``: plain, aligned 8-byte stores (the payload
    by ``memcpy``). A receiver loads ``tail``, copies the slot into a scratch
    buffer of its own, then loads ``tail_intent``: if that exceeds
    ``seq + capacity``, the transmitter has begun (or may have begun) writing
    record ``seq + capacity`` into the same slot, and the copy is discarded.
    On x86-64 (TSO) stores are not reordered with stores nor loads with loads,
    and CPython performs each in a separate C call the compiler cannot
    reorder, so a copy that saw any byte of the overwrite is always caught.
    On weakly ordered CPUs (ARM, POWER) it would not be:
    :meth:`BroadcastTransmitter.create` refuses them, like ``Ring.create``.

Lapping
    A receiver more than ``capacity`` records behind (or whose copy failed
    the check) has been *lapped*: it adds the records it skips to its
    ``lost`` total and jumps to the newest published record, so the next
    record it hands over is the newest. Every record below its position was
    either handed over once, in order, or counted lost once: when it has
    caught up, ``handed over + lost == published``.

Never waiting
    The transmitter reads no receiver's position: ``try_claim`` always
    succeeds and ``remaining_capacity`` is always ``capacity``. Each receiver
    keeps its position and lost count in a line of its own in the segment,
    for reports and for a restarted receiver to resume from.

Doorbells
    A receiver parked on its stage's doorbell raises its byte of the parked
    word; after each commit the transmitter loads that word (one load, two
    past 8 receivers) and posts the doorbell of each parked receiver only if
    it is non-zero, so busy receivers cost it no syscall. The race with the
    parking receiver is the ring's (Dekker, see :mod:`hftpipe.substrate.idle`):
    a missed post costs at most the park timeout.

Hot path
    Nothing is allocated per record but the transient view of the slot being
    copied: the scratch buffer is made once, at attach. A handler is given
    the scratch buffer and offset 0, so it can never see a torn record; it
    must not keep the buffer past its call.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Final

from hftpipe.substrate.bell import Bell
from hftpipe.substrate.broadcast_descriptor import (
    BROADCAST_LAYOUT_VERSION,
    CAPACITY_OFFSET,
    DATA_OFFSET,
    DATA_OFFSET_OFFSET,
    PARKED_OFFSET,
    RECEIVER_LOST,
    RECEIVER_POSITION,
    RECEIVERS_OFFSET,
    SLOT_SIZE_OFFSET,
    TAIL_INTENT_OFFSET,
    TAIL_OFFSET,
    broadcast_segment_size,
    receiver_slot,
)
from hftpipe.substrate.ring import RecordHandler, TimedRecordHandler, is_total_store_order
from hftpipe.substrate.shm import KIND_BROADCAST, Segment

_CAPACITY: Final = CAPACITY_OFFSET // 8
_SLOT: Final = SLOT_SIZE_OFFSET // 8
_DATA: Final = DATA_OFFSET_OFFSET // 8
_RECEIVERS: Final = RECEIVERS_OFFSET // 8
_INTENT: Final = TAIL_INTENT_OFFSET // 8
_TAIL: Final = TAIL_OFFSET // 8
_PARKED: Final = PARKED_OFFSET // 8
_RECEIVERS_PER_PARKED_WORD: Final = 8

StoppingRecordHandler = Callable[[memoryview, int, int], bool]
"""``handler(buffer, offset, now) -> stop``: a :data:`TimedRecordHandler` that may end the batch after its record."""

LapHandler = Callable[[int], None]
"""``on_lap(skipped)``: told how many records a lap just cost (rare: counting and logging may take their time)."""


def _attach_segment(name: str, readonly: bool) -> Segment:
    seg = Segment.attach(name, readonly=readonly)
    kind, version = seg.kind, seg.layout_version
    if kind != KIND_BROADCAST:
        seg.close()
        raise ValueError(f"{name}: segment kind {kind} is not a broadcast ring ({KIND_BROADCAST})")
    if version != BROADCAST_LAYOUT_VERSION:
        seg.close()
        raise ValueError(f"{name}: broadcast layout version {version}, expected {BROADCAST_LAYOUT_VERSION}")
    return seg


class BroadcastTransmitter:
    """The producer's end (and the owner's, which creates it): the surface of ``Ring``'s producer side."""

    __slots__ = (
        "_bells", "_buf", "_claimed", "_data", "_mask", "_tail", "_w", "_wide", "capacity", "name", "receivers",
        "segment", "slot_size",
    )  # fmt: skip

    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        self.name = segment.name
        w = segment.words
        self._w = w
        self._buf = segment.buf
        self.capacity = int(w[_CAPACITY])
        self.slot_size = int(w[_SLOT])
        self.receivers = int(w[_RECEIVERS])
        """How many receivers the segment was made for (their indexes are ``0..receivers-1``)."""
        self._mask = self.capacity - 1
        self._data = int(w[_DATA])
        self._tail = int(w[_TAIL])  # a restarted producer continues from here
        self._claimed = -1
        self._bells: tuple[tuple[int, Bell], ...] = ()
        self._wide = self.receivers > _RECEIVERS_PER_PARKED_WORD

    # -- lifecycle ----------------------------------------------------------
    @classmethod
    def create(
        cls, name: str, capacity: int, slot_size: int, receivers: int, *, allow_weak_ordering: bool = False
    ) -> BroadcastTransmitter:
        size = broadcast_segment_size(capacity, slot_size, receivers)
        if not allow_weak_ordering and not is_total_store_order():
            raise RuntimeError(f"broadcast rings rely on x86-64 store ordering; this CPU is {platform.machine()}")
        seg = Segment.create(name, size, KIND_BROADCAST)
        w = seg.words
        w[_CAPACITY] = capacity
        w[_SLOT] = slot_size
        w[_DATA] = DATA_OFFSET
        w[_RECEIVERS] = receivers
        seg.publish(BROADCAST_LAYOUT_VERSION)
        return cls(seg)

    @classmethod
    def attach(cls, name: str, readonly: bool = False) -> BroadcastTransmitter:
        return cls(_attach_segment(name, readonly))

    def attach_doorbell(self, receiver: int, bell: Bell) -> None:
        """Ring ``bell`` after a commit while receiver ``receiver`` is parked."""
        _check_index(self.name, receiver, self.receivers)
        self._bells = (*(row for row in self._bells if row[0] != receiver), (receiver, bell))

    def close(self) -> None:
        self.segment.close()

    def unlink(self) -> None:
        self.segment.unlink()

    # -- producer -----------------------------------------------------------
    def try_claim(self) -> int:
        """The byte offset in :attr:`buffer` of the next slot; never -1: the transmitter never waits.

        Announces the overwrite (``tail_intent``) before the caller writes a byte of it.
        """
        tail = self._tail
        self._w[_INTENT] = tail + 1
        self._claimed = tail
        return self._data + (tail & self._mask) * self.slot_size

    def commit(self) -> None:
        """Publish the record written at the offset :meth:`try_claim` gave."""
        if self._claimed != self._tail:
            raise RuntimeError("commit() without a try_claim()")
        self._tail = tail = self._tail + 1
        w = self._w
        w[_TAIL] = tail
        if self._bells and (w[_PARKED] or (self._wide and w[_PARKED + 1])):
            self._ring_bells()

    def offer(self, data: bytes | memoryview) -> bool:
        """Copy one record (``slot_size`` bytes or fewer) in and publish it; always ``True``."""
        tail = self._tail
        w = self._w
        w[_INTENT] = tail + 1
        off = self._data + (tail & self._mask) * self.slot_size
        self._buf[off : off + len(data)] = data
        self._tail = tail = tail + 1
        w[_TAIL] = tail
        if self._bells and (w[_PARKED] or (self._wide and w[_PARKED + 1])):
            self._ring_bells()
        return True

    def remaining_capacity(self) -> int:
        """Always the whole ring: a slow receiver is lapped, never waited for."""
        return self.capacity

    def _ring_bells(self) -> None:
        parked = self._buf
        for receiver, bell in self._bells:
            if parked[PARKED_OFFSET + receiver]:
                bell.release()

    # -- observation (any process; reads only) ------------------------------
    @property
    def buffer(self) -> memoryview:
        return self._buf

    @property
    def producer_position(self) -> int:
        return int(self._w[_TAIL])

    def receiver_position(self, receiver: int) -> int:
        """The next position receiver ``receiver`` will read (what it has handed over or lost)."""
        _check_index(self.name, receiver, self.receivers)
        return int(self._w[(receiver_slot(receiver) + RECEIVER_POSITION) // 8])

    def receiver_lost(self, receiver: int) -> int:
        """Records receiver ``receiver`` was lapped out of, in total."""
        _check_index(self.name, receiver, self.receivers)
        return int(self._w[(receiver_slot(receiver) + RECEIVER_LOST) // 8])


class BroadcastReceiver:
    """One receiver's end: polls like ``Ring``'s consumer side, but each record through a scratch copy."""

    __slots__ = (
        "_buf", "_cursor", "_data", "_lost_word", "_mask", "_on_lap", "_parked_at", "_position_word", "_scratch",
        "_scratch_words", "_tail_cache", "_w", "capacity", "index", "laps", "lost", "name", "segment", "slot_size",
    )  # fmt: skip

    def __init__(self, segment: Segment, index: int) -> None:
        w = segment.words
        _check_index(segment.name, index, int(w[_RECEIVERS]))
        self.segment = segment
        self.name = segment.name
        self.index = index
        self._w = w
        self._buf = segment.buf
        self.capacity = int(w[_CAPACITY])
        self.slot_size = int(w[_SLOT])
        self._mask = self.capacity - 1
        self._data = int(w[_DATA])
        slot = receiver_slot(index)
        self._position_word = (slot + RECEIVER_POSITION) // 8
        self._lost_word = (slot + RECEIVER_LOST) // 8
        self._parked_at = PARKED_OFFSET + index
        # A restarted receiver resumes where it was (and is told what it missed meanwhile).
        self._cursor = int(w[self._position_word])
        self._tail_cache = self._cursor
        self.lost = int(w[self._lost_word])
        """Records this receiver was lapped out of, in total (also in shared memory, for reports)."""
        self.laps = 0
        """Laps this process noticed (each skips one or more records)."""
        self._scratch = memoryview(bytearray(self.slot_size))
        self._scratch_words = self._scratch.cast("q")
        self._on_lap: LapHandler | None = None

    @classmethod
    def attach(cls, name: str, index: int) -> BroadcastReceiver:
        seg = _attach_segment(name, readonly=False)
        try:
            return cls(seg, index)
        except ValueError:
            seg.close()
            raise

    def on_lap(self, handler: LapHandler | None) -> None:
        """Call ``handler(skipped)`` on every lap, after ``lost`` has counted it."""
        self._on_lap = handler

    def close(self) -> None:
        """Unmap the segment (the scratch buffer is this process's own: a handler may still hold a view of it)."""
        self.segment.close()

    # -- consumer -----------------------------------------------------------
    def poll(self, handler: RecordHandler, limit: int) -> int:
        """Hand up to ``limit`` records to ``handler(buffer, offset)`` from the scratch copy; returns how many.

        A record is taken before its handler runs: one whose handler raises is not handed over again.
        """
        cursor = self._cursor
        tail = self._tail_cache
        if cursor >= tail:
            self._tail_cache = tail = self._w[_TAIL]
            if cursor >= tail:
                return 0
        capacity = self.capacity
        if tail - cursor > capacity:
            cursor = self._lap(cursor)
            tail = self._tail_cache
        w = self._w
        buf = self._buf
        scratch = self._scratch
        base = self._data
        mask = self._mask
        size = self.slot_size
        taken = 0
        tries = limit
        try:
            while tries > 0 and cursor < tail:
                tries -= 1
                off = base + (cursor & mask) * size
                scratch[:] = buf[off : off + size]
                if w[_INTENT] - cursor > capacity:  # overwritten while we copied
                    cursor = self._lap(cursor)
                    tail = self._tail_cache
                    continue
                cursor += 1
                taken += 1
                handler(scratch, 0)
        finally:
            self._cursor = cursor
            w[self._position_word] = cursor
        return taken

    def poll_timed(
        self, handler: TimedRecordHandler, limit: int, stamp_offset: int, record_hop: Callable[[int], None]
    ) -> int:
        """:meth:`poll` with ``Ring.poll_timed``'s contract: ``record_hop(now - stamp)``, then ``handler(buf, 0, now)``.

        ``stamp`` is the int64 at ``stamp_offset`` (a multiple of 8) of the record's scratch copy.
        """
        return self._take(handler, limit, stamp_offset, record_hop, False)

    def poll_until_timed(
        self, handler: StoppingRecordHandler, limit: int, stamp_offset: int, record_hop: Callable[[int], None]
    ) -> int:
        """:meth:`poll_timed`, ending the batch after a record whose handler returned True."""
        return self._take(handler, limit, stamp_offset, record_hop, True)

    def _take(
        self,
        handler: Callable[[memoryview, int, int], bool | None],
        limit: int,
        stamp_offset: int,
        record_hop: Callable[[int], None],
        until: bool,
    ) -> int:
        cursor = self._cursor
        tail = self._tail_cache
        if cursor >= tail:
            self._tail_cache = tail = self._w[_TAIL]
            if cursor >= tail:
                return 0
        capacity = self.capacity
        if tail - cursor > capacity:
            cursor = self._lap(cursor)
            tail = self._tail_cache
        w = self._w
        buf = self._buf
        scratch = self._scratch
        words = self._scratch_words
        base = self._data
        mask = self._mask
        size = self.slot_size
        stamp_word = stamp_offset >> 3
        clock = time.monotonic_ns
        taken = 0
        tries = limit
        try:
            while tries > 0 and cursor < tail:
                tries -= 1
                off = base + (cursor & mask) * size
                scratch[:] = buf[off : off + size]
                if w[_INTENT] - cursor > capacity:  # overwritten while we copied
                    cursor = self._lap(cursor)
                    tail = self._tail_cache
                    continue
                cursor += 1
                taken += 1
                now = clock()
                record_hop(now - words[stamp_word])
                if handler(scratch, 0, now) and until:
                    break
        finally:
            self._cursor = cursor
            w[self._position_word] = cursor
        return taken

    def _lap(self, cursor: int) -> int:
        """Count the records from ``cursor`` up to the newest as lost; the newest's position.

        Called when the slot at ``cursor`` is (or may be) overwritten, so the
        transmitter has published at least ``cursor + capacity``: with two or
        more slots the newest is past ``cursor`` and at least one record is counted.
        """
        self._tail_cache = tail = self._w[_TAIL]
        newest = tail - 1
        skipped = newest - cursor
        self.lost += skipped
        self._w[self._lost_word] = self.lost
        self.laps += 1
        if self._on_lap is not None:
            self._on_lap(skipped)
        return newest

    def has_data(self) -> bool:
        """Is anything readable? (Refreshes the producer position.)"""
        self._tail_cache = self._w[_TAIL]
        return self._tail_cache > self._cursor

    # -- doorbell (receiver side) ------------------------------------------
    def set_parked(self, parked: bool) -> None:
        """Raise or lower this receiver's own byte of the parked word (a one-byte store)."""
        self._buf[self._parked_at] = 1 if parked else 0

    # -- observation ---------------------------------------------------------
    @property
    def position(self) -> int:
        """The next position this receiver reads: everything below it was handed over or lost."""
        return self._cursor

    @property
    def producer_position(self) -> int:
        return int(self._w[_TAIL])


def _check_index(name: str, index: int, receivers: int) -> None:
    if not 0 <= index < receivers:
        raise ValueError(f"{name}: no receiver {index} (the ring has receivers 0..{receivers - 1})")
