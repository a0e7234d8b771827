"""Byte layout of a broadcast ring segment: one transmitter, up to :data:`MAX_RECEIVERS` receivers.

::

      0 +-------------------------------------------------------------+
        | segment header: magic, layout version, owner pid/start, kind|  shm.py
     64 +-------------------------------------------------------------+
        | capacity | slot size | data offset | receivers              |  written once
    128 +=============================================================+
        | tail intent | tail                                          |  transmitter only
        | ... padding to 256 (two lines: adjacent-line prefetch) ...  |
    256 +=============================================================+
        | parked: one byte per receiver (16 bytes, two words)         |  receiver i: byte i
        | ... padding to 384 ...                                      |
    384 +=============================================================+
        | receiver 0: position | lost                                 |  receiver 0 only
        | ... padding to 512 ...                                      |
    512 +-------------------------------------------------------------+
        | receiver 1 ... receiver 15 (128 bytes each)                 |
   2432 +=============================================================+
        | slot 0 | slot 1 | ... | slot capacity-1                     |
        +-------------------------------------------------------------+

The transmitter never reads a receiver's words: nothing a receiver does can
hold it up. The receiver words are there for reports (``hftpipe stat``) and
for a restarted receiver to resume where it was.

The parked bytes sit together so that the transmitter learns with one load
per commit (two past 8 receivers) whether anyone is parked; each receiver
stores only its own byte, and an x86-64 byte store never disturbs its
neighbours. They are written only around a park, so sharing their line
costs the receivers nothing on the hot path.

Positions count records since creation and never wrap; the slot of position
``p`` is ``p & (capacity - 1)``.
"""

from __future__ import annotations

from typing import Final

from hftpipe.substrate.layout import CACHE_LINE, FALSE_SHARING_PAD, LayoutBuilder
from hftpipe.substrate.ring_descriptor import check_ring_shape
from hftpipe.substrate.shm import SEGMENT_HEADER_SIZE

BROADCAST_LAYOUT_VERSION: Final = 1
MAX_RECEIVERS: Final = 16
MIN_BROADCAST_CAPACITY: Final = 2
"""With one slot the newest record is always the one being overwritten: a lapped receiver could never catch up."""

_b = LayoutBuilder(SEGMENT_HEADER_SIZE)
CAPACITY_OFFSET: Final = _b.field(8)
SLOT_SIZE_OFFSET: Final = _b.field(8)
DATA_OFFSET_OFFSET: Final = _b.field(8)
RECEIVERS_OFFSET: Final = _b.field(8)

TAIL_INTENT_OFFSET: Final = _b.pad_to(FALSE_SHARING_PAD)
_b.field(8)
TAIL_OFFSET: Final = _b.field(8)

PARKED_OFFSET: Final = _b.pad_to(FALSE_SHARING_PAD)
_b.field(MAX_RECEIVERS)

RECEIVERS_TABLE_OFFSET: Final = _b.pad_to(FALSE_SHARING_PAD)
RECEIVER_SLOT_SIZE: Final = FALSE_SHARING_PAD
RECEIVER_POSITION: Final = 0
"""Relative to a receiver's slot: the next position it will read."""
RECEIVER_LOST: Final = 8
"""Relative to a receiver's slot: records it was lapped out of, in total."""
_b.field(MAX_RECEIVERS * RECEIVER_SLOT_SIZE)

DATA_OFFSET: Final = _b.pad_to(FALSE_SHARING_PAD)

assert TAIL_INTENT_OFFSET == 128 and TAIL_OFFSET == 136 and PARKED_OFFSET == 256
assert RECEIVERS_TABLE_OFFSET == 384 and DATA_OFFSET == 2432 and DATA_OFFSET % CACHE_LINE == 0


def receiver_slot(index: int) -> int:
    """Byte offset of receiver ``index``'s position/lost line pair."""
    return RECEIVERS_TABLE_OFFSET + index * RECEIVER_SLOT_SIZE


def check_broadcast_shape(capacity: int, slot_size: int, receivers: int) -> None:
    """The ring's own limits (:func:`check_ring_shape`), at least two slots, 1..16 receivers; exact messages."""
    check_ring_shape(capacity, slot_size, what="broadcast ring")
    if capacity < MIN_BROADCAST_CAPACITY:
        raise ValueError(f"broadcast ring capacity must be at least {MIN_BROADCAST_CAPACITY}, got {capacity}")
    if not 1 <= receivers <= MAX_RECEIVERS:
        raise ValueError(f"a broadcast ring takes 1..{MAX_RECEIVERS} receivers, got {receivers}")


def broadcast_segment_size(capacity: int, slot_size: int, receivers: int = 1) -> int:
    check_broadcast_shape(capacity, slot_size, receivers)
    return DATA_OFFSET + capacity * slot_size
