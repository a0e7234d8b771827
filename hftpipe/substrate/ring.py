"""Lock-free single-producer/single-consumer ring of fixed-size slots in shared memory.

Memory ordering
    The producer writes the payload, then stores its position with a plain,
    aligned 8-byte store; the consumer loads the position, then the payload.
    On x86-64 (TSO) stores are not reordered with stores nor loads with loads,
    and CPython performs each store in a separate C call the compiler cannot
    reorder, so this is correct. On weakly ordered CPUs (ARM, POWER) it is
    *not*: :class:`Ring` refuses to be created there unless told otherwise,
    and :func:`hftpipe.substrate.idle.check_memory_order` refuses the
    spinning idle strategies.

Hot path
    ``offer`` allocates nothing: the producer keeps its own position in a
    Python int and caches the consumer's, re-reading shared memory only when
    the cache says the ring is full (Agrona ``OneToOneRingBuffer``). A full
    ring returns ``False`` and counts it; it never raises. ``poll_timed``
    takes the clock once per record inside the batch loop and reads a
    timestamp the producer left in the slot, so a consumer can measure the hop
    each record made without a call of its own per record.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt

from hftpipe.substrate.bell import Bell
from hftpipe.substrate.ring_descriptor import (
    CAPACITY_OFFSET,
    DATA_OFFSET,
    DATA_OFFSET_OFFSET,
    FULL_COUNT_OFFSET,
    HEAD_OFFSET,
    PARKED_OFFSET,
    RING_LAYOUT_VERSION,
    SLOT_SIZE_OFFSET,
    TAIL_OFFSET,
    check_ring_shape,
    ring_segment_size,
)
from hftpipe.substrate.shm import KIND_RING, Segment

TSO_MACHINES: Final = frozenset({"x86_64", "amd64", "AMD64", "i686", "i386"})

_CAPACITY: Final = CAPACITY_OFFSET // 8
_SLOT: Final = SLOT_SIZE_OFFSET // 8
_DATA: Final = DATA_OFFSET_OFFSET // 8
_TAIL: Final = TAIL_OFFSET // 8
_FULL: Final = FULL_COUNT_OFFSET // 8
_HEAD: Final = HEAD_OFFSET // 8
_PARKED: Final = PARKED_OFFSET // 8

RecordHandler = Callable[[memoryview, int], None]
"""``handler(buffer, offset)``: the record occupies ``buffer[offset:offset+slot_size]``.
Passing the offset instead of a slice keeps the poll loop allocation-free."""

TimedRecordHandler = Callable[[memoryview, int, int], None]
"""``handler(buffer, offset, now_ns)``: a :data:`RecordHandler` that is also told when the record was taken."""


def is_total_store_order(machine: str | None = None) -> bool:
    """Does ``machine`` (default: this one) keep plain stores in order, as the ring needs?"""
    return (machine or platform.machine()) in TSO_MACHINES


class Ring:
    """One end of a ring: create it in the owner, attach from producer and consumer."""

    __slots__ = (
        "_bell",
        "_buf",
        "_claimed",
        "_data",
        "_head",
        "_head_cache",
        "_mask",
        "_slots",
        "_tail",
        "_tail_cache",
        "_w",
        "capacity",
        "name",
        "segment",
        "slot_size",
    )

    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        self.name = segment.name
        w = segment.words
        self._w = w
        self._buf = segment.buf
        self.capacity = int(w[_CAPACITY])
        self.slot_size = int(w[_SLOT])
        self._mask = self.capacity - 1
        self._data = int(w[_DATA])
        self._slots: npt.NDArray[np.uint8] = np.frombuffer(
            segment.buf, dtype=np.uint8, count=self.capacity * self.slot_size, offset=self._data
        ).reshape(self.capacity, self.slot_size)
        # Local copies of positions: each side owns one and caches the other.
        self._tail = int(w[_TAIL])
        self._head = int(w[_HEAD])
        self._head_cache = self._head
        self._tail_cache = self._tail
        self._bell: Bell | None = None
        self._claimed = -1

    # -- lifecycle ----------------------------------------------------------
    @classmethod
    def create(cls, name: str, capacity: int, slot_size: int, *, allow_weak_ordering: bool = False) -> Ring:
        check_ring_shape(capacity, slot_size)
        if not allow_weak_ordering and not is_total_store_order():
            raise RuntimeError(f"rings rely on x86-64 store ordering; this CPU is {platform.machine()}")
        seg = Segment.create(name, ring_segment_size(capacity, slot_size), KIND_RING)
        w = seg.words
        w[_CAPACITY] = capacity
        w[_SLOT] = slot_size
        w[_DATA] = DATA_OFFSET
        seg.publish(RING_LAYOUT_VERSION)
        return cls(seg)

    @classmethod
    def attach(cls, name: str, readonly: bool = False) -> Ring:
        seg = Segment.attach(name, readonly=readonly)
        kind, version = seg.kind, seg.layout_version
        if kind != KIND_RING:
            seg.close()
            raise ValueError(f"{name}: segment kind {kind} is not an SPSC ring ({KIND_RING})")
        if version != RING_LAYOUT_VERSION:
            seg.close()  # releases the views: the message uses what was read before
            raise ValueError(f"{name}: ring layout version {version}, expected {RING_LAYOUT_VERSION}")
        return cls(seg)

    def attach_doorbell(self, bell: Bell) -> None:
        """Producer side: ring ``bell`` (its consumer's process's doorbell) after a commit while it is parked."""
        self._bell = bell

    def close(self) -> None:
        """Idempotent: drop the numpy view first so the mapping can be released."""
        if hasattr(self, "_slots"):
            del self._slots
        self.segment.close()

    def unlink(self) -> None:
        self.segment.unlink()

    # -- producer -----------------------------------------------------------
    def offer(self, data: bytes | memoryview) -> bool:
        """Copy one record (``slot_size`` bytes or fewer) in; ``False`` when full."""
        tail = self._tail
        if tail - self._head_cache >= self.capacity:
            self._head_cache = self._w[_HEAD]
            if tail - self._head_cache >= self.capacity:
                self._w[_FULL] += 1
                return False
        off = self._data + (tail & self._mask) * self.slot_size
        self._buf[off : off + len(data)] = data
        self._tail = tail = tail + 1
        self._w[_TAIL] = tail
        if self._bell is not None and self._w[_PARKED]:
            self._bell.release()
        return True

    def try_claim(self) -> int:
        """Reserve the next slot for an in-place write; its byte offset, or -1 when full.

        Write through :attr:`buffer` at the returned offset (``struct.pack_into``),
        then :meth:`commit`. Nothing is visible to the consumer before the commit.
        """
        tail = self._tail
        if tail - self._head_cache >= self.capacity:
            self._head_cache = self._w[_HEAD]
            if tail - self._head_cache >= self.capacity:
                self._w[_FULL] += 1
                return -1
        self._claimed = tail
        return self._data + (tail & self._mask) * self.slot_size

    def commit(self) -> None:
        if self._claimed != self._tail:
            raise RuntimeError("commit() without a successful try_claim()")
        self._tail = tail = self._tail + 1
        self._w[_TAIL] = tail
        if self._bell is not None and self._w[_PARKED]:
            self._bell.release()

    def offer_batch(self, records: npt.NDArray[np.generic]) -> int:
        """Copy as many of ``records`` as fit (across the wrap, at most two copies).

        ``records`` must have itemsize ``slot_size``; returns how many were written.
        """
        if records.dtype.itemsize != self.slot_size:
            raise ValueError(f"batch itemsize {records.dtype.itemsize} != ring slot size {self.slot_size}")
        tail = self._tail
        free = self.capacity - (tail - self._head_cache)
        if free < len(records):
            self._head_cache = self._w[_HEAD]
            free = self.capacity - (tail - self._head_cache)
        n = min(free, len(records))
        if n <= 0:
            self._w[_FULL] += 1
            return 0
        raw = records[:n].view(np.uint8).reshape(n, self.slot_size)
        start = tail & self._mask
        first = min(n, self.capacity - start)
        self._slots[start : start + first] = raw[:first]
        if first < n:
            self._slots[: n - first] = raw[first:]
        self._tail = tail = tail + n
        self._w[_TAIL] = tail
        if self._bell is not None and self._w[_PARKED]:
            self._bell.release()
        return n

    def remaining_capacity(self) -> int:
        """Free slots as the producer sees them (refreshes the consumer position)."""
        self._head_cache = self._w[_HEAD]
        return self.capacity - (self._tail - self._head_cache)

    # -- consumer -----------------------------------------------------------
    def poll(self, handler: RecordHandler, limit: int) -> int:
        """Hand up to ``limit`` records to ``handler(buffer, offset)``; returns how many.

        The consumer position is advanced once, after the batch, so the producer
        cannot overwrite a slot while the handler is reading it.
        """
        head = self._head
        available = self._tail_cache - head
        if available <= 0:
            self._tail_cache = self._w[_TAIL]
            available = self._tail_cache - head
            if available <= 0:
                return 0
        n = available if available < limit else limit
        buf = self._buf
        base = self._data
        mask = self._mask
        size = self.slot_size
        for pos in range(head, head + n):
            handler(buf, base + (pos & mask) * size)
        self._head = head = head + n
        self._w[_HEAD] = head
        return n

    def poll_timed(
        self, handler: TimedRecordHandler, limit: int, stamp_offset: int, record_latency: Callable[[int], None]
    ) -> int:
        """:meth:`poll`, taking ``now = time.monotonic_ns()`` per record.

        Each record first gives ``record_latency(now - stamp)``, ``stamp`` being
        the int64 at ``stamp_offset`` (a multiple of 8) in its slot, then goes
        to ``handler(buffer, offset, now)``. The loop is here, not in the caller,
        so measuring every record costs no extra call.
        """
        head = self._head
        available = self._tail_cache - head
        if available <= 0:
            self._tail_cache = self._w[_TAIL]
            available = self._tail_cache - head
            if available <= 0:
                return 0
        n = available if available < limit else limit
        buf = self._buf
        words = self._w
        base = self._data
        mask = self._mask
        size = self.slot_size
        stamp_word = stamp_offset >> 3
        clock = time.monotonic_ns
        for pos in range(head, head + n):
            offset = base + (pos & mask) * size
            now = clock()
            record_latency(now - words[(offset >> 3) + stamp_word])
            handler(buf, offset, now)
        self._head = head = head + n
        self._w[_HEAD] = head
        return n

    def peek_batch(self, limit: int) -> npt.NDArray[np.uint8]:
        """Zero-copy view of up to ``limit`` readable records (stops at the wrap).

        Rows are raw slots (``uint8[slot_size]``): ``.view(dtype)`` them. Call
        :meth:`advance` with the number consumed before the next peek.
        """
        head = self._head
        available = self._tail_cache - head
        if available < limit:
            self._tail_cache = self._w[_TAIL]
            available = self._tail_cache - head
        start = head & self._mask
        n = min(available, limit, self.capacity - start)
        return self._slots[start : start + max(n, 0)]

    def advance(self, count: int) -> None:
        if count < 0 or self._head + count > self._tail_cache:
            raise ValueError(f"cannot advance by {count}: {self._tail_cache - self._head} readable")
        self._head += count
        self._w[_HEAD] = self._head

    def poll_into(self, out: npt.NDArray[np.generic]) -> int:
        """Copy up to ``len(out)`` records into ``out`` (across the wrap); returns how many."""
        if out.dtype.itemsize != self.slot_size:
            raise ValueError(f"out itemsize {out.dtype.itemsize} != ring slot size {self.slot_size}")
        head = self._head
        available = self._tail_cache - head
        if available < len(out):
            self._tail_cache = self._w[_TAIL]
            available = self._tail_cache - head
        n = min(available, len(out))
        if n <= 0:
            return 0
        raw = out[:n].view(np.uint8).reshape(n, self.slot_size)
        start = head & self._mask
        first = min(n, self.capacity - start)
        raw[:first] = self._slots[start : start + first]
        if first < n:
            raw[first:] = self._slots[: n - first]
        self._head = head = head + n
        self._w[_HEAD] = head
        return n

    def has_data(self) -> bool:
        """Consumer side: is anything readable? (Refreshes the producer position.)"""
        self._tail_cache = self._w[_TAIL]
        return self._tail_cache > self._head

    # -- doorbell (consumer side) ------------------------------------------
    def set_parked(self, parked: bool) -> None:
        self._w[_PARKED] = 1 if parked else 0

    # -- observation (any process; reads only) ------------------------------
    @property
    def buffer(self) -> memoryview:
        return self._buf

    @property
    def producer_position(self) -> int:
        return int(self._w[_TAIL])

    @property
    def consumer_position(self) -> int:
        return int(self._w[_HEAD])

    @property
    def full_count(self) -> int:
        return int(self._w[_FULL])

    def size(self) -> int:
        """Records written and not yet consumed, as seen from outside."""
        return int(self._w[_TAIL]) - int(self._w[_HEAD])
