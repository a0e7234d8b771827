"""Byte layout of a single-producer/single-consumer ring segment.

::

      0 +-------------------------------------------------------------+
        | segment header: magic, layout version, owner pid/start, kind|  shm.py
     64 +-------------------------------------------------------------+
        | capacity | slot size | data offset | (reserved)             |  written once
    128 +=============================================================+
        | producer position (tail) | ring-full count                  |  producer only
        | ... padding to 256 (two lines: adjacent-line prefetch) ...  |
    256 +=============================================================+
        | consumer position (head)                                    |  consumer only
        | ... padding to 384 ...                                      |
    384 +=============================================================+
        | consumer parked flag (doorbell)                             |  consumer only
        | ... padding to 512 ...                                      |
    512 +=============================================================+
        | slot 0 | slot 1 | ... | slot capacity-1                     |
        +-------------------------------------------------------------+

Positions count records since creation and never wrap (int64 lasts ~290
years at 10^9 records/s); the slot of position ``p`` is ``p & (capacity - 1)``.
"""

from __future__ import annotations

from typing import Final

from hftpipe.substrate.layout import CACHE_LINE, FALSE_SHARING_PAD, LayoutBuilder, is_power_of_two
from hftpipe.substrate.shm import SEGMENT_HEADER_SIZE

RING_LAYOUT_VERSION: Final = 1

_b = LayoutBuilder(SEGMENT_HEADER_SIZE)
CAPACITY_OFFSET: Final = _b.field(8)
SLOT_SIZE_OFFSET: Final = _b.field(8)
DATA_OFFSET_OFFSET: Final = _b.field(8)

TAIL_OFFSET: Final = _b.pad_to(FALSE_SHARING_PAD)
_b.field(8)
FULL_COUNT_OFFSET: Final = _b.field(8)

HEAD_OFFSET: Final = _b.pad_to(FALSE_SHARING_PAD)
_b.field(8)

PARKED_OFFSET: Final = _b.pad_to(FALSE_SHARING_PAD)
_b.field(8)

DATA_OFFSET: Final = _b.pad_to(FALSE_SHARING_PAD)

MIN_SLOT_SIZE: Final = 8
MAX_CAPACITY: Final = 1 << 24
MAX_RING_BYTES: Final = 1 << 30
"""The most a ring's slots may take: a typo'd slot size must not ask for terabytes of shared memory."""

assert TAIL_OFFSET == 128 and HEAD_OFFSET == 256 and PARKED_OFFSET == 384
assert DATA_OFFSET == 512 and DATA_OFFSET % CACHE_LINE == 0


def check_ring_shape(capacity: int, slot_size: int, what: str = "ring") -> None:
    """Exact messages, because a wrong shape is a config error the user must fix.

    ``what`` names the kind of ring in them (the broadcast ring shares these limits).
    """
    if not is_power_of_two(capacity):
        raise ValueError(f"{what} capacity must be a power of two, got {capacity}")
    if capacity > MAX_CAPACITY:
        raise ValueError(f"{what} capacity must be at most {MAX_CAPACITY}, got {capacity}")
    if slot_size < MIN_SLOT_SIZE or slot_size % 8:
        raise ValueError(f"{what} slot size must be a multiple of 8 and >= 8, got {slot_size}")
    if capacity * slot_size > MAX_RING_BYTES:
        raise ValueError(
            f"{what} slots may take at most {MAX_RING_BYTES} bytes (1 GiB), got capacity {capacity}"
            f" x slot size {slot_size} = {capacity * slot_size}"
        )


def ring_segment_size(capacity: int, slot_size: int) -> int:
    check_ring_shape(capacity, slot_size)
    return DATA_OFFSET + capacity * slot_size
