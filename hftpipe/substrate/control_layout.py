"""Byte layout of a pipeline's control file (one shared-memory segment per pipeline).

Sized for the pipeline's stages (S) and rings (R) when the owner creates it;
readers learn S and R from the meta block and rebuild the same offsets::

      0 +---------------------------------------------------------------+
        | segment header (layout version written last = ready)          | shm.py
     64 | meta: state, S, R, start times, name           (owner writes) |
    256 +===============================================================+
        | stage table: S x 256 bytes                                    |
        |   +0   name, restarts, cpu, last exit, idle  (owner writes)     |
        |   +128 state, pid, started ns              (the stage writes)   |
        +===============================================================+
        | ring table: R x 128 bytes: name, capacity, slot, from, to, hop|
        |   kind, receiver, group (a broadcast ring's receivers: a row each)|
        +===============================================================+
        | counters: S blocks x 64 slots x 64 bytes     (stage i writes   |
        |   block i; slot = value, kind, label)                         |
        +===============================================================+
        | error log: (S + 1) blocks x 8 entries x 256 bytes             |
        |   (block S belongs to the owner)                               |
        +===============================================================+
        | histograms: R hop histograms (written by each ring's consumer)|
        |   then S end-to-end histograms (written by each stage)        |
        |   then S x 4 named histograms (stage i writes its 4)          |
        +===============================================================+
        | named-histogram names: S x 4 x 32 bytes (stage i writes its   |
        |   4; empty = slot unused; a name is written before its first  |
        |   value, so a reader sees no value under a half-written name) |
        +===============================================================+
        | operator requests: count posted (128 bytes), then 8 slots x   |
        |   512 bytes, newest in slot (n - 1) % 8  (operator commands,  |
        |   one at a time under an flock of the segment)                |
        +===============================================================+
        | status: S bulletins x 4096 bytes           (stage i writes i) |
        +---------------------------------------------------------------+

Requests and status slots are seqlocked bulletins (:mod:`hftpipe.substrate.bulletin`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from hftpipe.substrate.counters import COUNTER_SLOT_SIZE, COUNTERS_PER_STAGE
from hftpipe.substrate.histogram import HISTOGRAM_SIZE
from hftpipe.substrate.layout import FALSE_SHARING_PAD, LayoutBuilder
from hftpipe.substrate.shm import SEGMENT_HEADER_SIZE

CONTROL_LAYOUT_VERSION: Final = 3
"""2: operator requests and stage status bulletins after the histograms.
3: per-stage named histograms and their names after the end-to-end histograms."""
NAME_BYTES: Final = 32
NAMED_HISTOGRAMS_PER_STAGE: Final = 4
"""A stage's named histograms (``tick_to_order``, ``order_ack``, ...): few, fixed, so readers need no index."""

# meta block (owner-written)
_m = LayoutBuilder(SEGMENT_HEADER_SIZE)
META_STATE: Final = _m.field(8)
META_STAGE_COUNT: Final = _m.field(8)
META_RING_COUNT: Final = _m.field(8)
META_STARTED_WALL_NS: Final = _m.field(8)
META_STARTED_MONO_NS: Final = _m.field(8)
META_STATE_CHANGED_NS: Final = _m.field(8)
META_NAME: Final = _m.field(64)
META_END: Final = _m.pad_to(FALSE_SHARING_PAD)
assert META_END == 256

# stage slot (relative)
STAGE_SLOT_SIZE: Final = 2 * FALSE_SHARING_PAD
STAGE_NAME: Final = 0
STAGE_RESTARTS: Final = 32
STAGE_CPU: Final = 40
STAGE_LAST_EXIT: Final = 48
STAGE_IDLE: Final = 56
STAGE_STATE: Final = FALSE_SHARING_PAD  # the stage's own half
STAGE_PID: Final = STAGE_STATE + 8
STAGE_STARTED_NS: Final = STAGE_STATE + 16

# ring slot (relative)
RING_SLOT_SIZE: Final = FALSE_SHARING_PAD
RING_NAME: Final = 0
RING_CAPACITY: Final = 32
RING_SLOT_BYTES: Final = 40
RING_PRODUCER: Final = 48
RING_CONSUMER: Final = 56
RING_HOP: Final = 64
RING_KIND: Final = 72
RING_RECEIVER: Final = 80
RING_GROUP: Final = 88
"""A broadcast receiver's row: the ring as declared (its segment), NAME_BYTES long.
Kind, receiver and group were zeros before broadcast rings: zero reads as an SPSC ring."""
assert RING_GROUP + NAME_BYTES <= RING_SLOT_SIZE

# error entries
ERRORS_PER_BLOCK: Final = 8
ERROR_ENTRY_SIZE: Final = 256
ERROR_COUNT: Final = 0
ERROR_FIRST_NS: Final = 8
ERROR_LAST_NS: Final = 16
ERROR_LENGTH: Final = 24
ERROR_MESSAGE: Final = 32
ERROR_MESSAGE_BYTES: Final = ERROR_ENTRY_SIZE - ERROR_MESSAGE

# operator requests and stage status
REQUEST_SLOTS: Final = 8
REQUEST_SLOT_SIZE: Final = 512
REQUEST_HEADER: Final = FALSE_SHARING_PAD
"""Word 0: how many requests were ever posted (the newest is number ``count``)."""
STATUS_SLOT_SIZE: Final = 4096

NO_CPU: Final = -1
NO_EXIT: Final = -(1 << 62)


class PipelineState(IntEnum):
    STARTING = 1
    RUNNING = 2
    HALTED = 3
    STOPPING = 4
    STOPPED = 5


class RingKind(IntEnum):
    """What a row of the ring table is: an SPSC ring, or one receiver of a broadcast ring."""

    SPSC = 0
    BROADCAST = 1


class StageState(IntEnum):
    NOT_STARTED = 0
    STARTING = 1
    READY = 2
    RUNNING = 3
    CLOSING = 4
    CLOSED = 5
    FAILED = 6


@dataclass(frozen=True, slots=True)
class ControlLayout:
    """Offsets of every table for ``stages`` stages and ``rings`` rings."""

    stages: int
    rings: int

    @property
    def stage_table(self) -> int:
        return META_END

    @property
    def ring_table(self) -> int:
        return self.stage_table + self.stages * STAGE_SLOT_SIZE

    @property
    def counters(self) -> int:
        return self.ring_table + self.rings * RING_SLOT_SIZE

    @property
    def error_log(self) -> int:
        return self.counters + self.stages * COUNTERS_PER_STAGE * COUNTER_SLOT_SIZE

    @property
    def histograms(self) -> int:
        end = self.error_log + (self.stages + 1) * ERRORS_PER_BLOCK * ERROR_ENTRY_SIZE
        return LayoutBuilder(end).pad_to(FALSE_SHARING_PAD)

    @property
    def named_histograms(self) -> int:
        return self.histograms + (self.rings + self.stages) * self.histogram_stride

    @property
    def histogram_names(self) -> int:
        return self.named_histograms + self.stages * NAMED_HISTOGRAMS_PER_STAGE * self.histogram_stride

    @property
    def requests(self) -> int:
        end = self.histogram_names + self.stages * NAMED_HISTOGRAMS_PER_STAGE * NAME_BYTES
        return LayoutBuilder(end).pad_to(FALSE_SHARING_PAD)

    def request_slot(self, number: int) -> int:
        """Where request ``number`` (1-based) lives: slots are reused every ``REQUEST_SLOTS`` requests."""
        return self.requests + REQUEST_HEADER + ((number - 1) % REQUEST_SLOTS) * REQUEST_SLOT_SIZE

    @property
    def status(self) -> int:
        return self.requests + REQUEST_HEADER + REQUEST_SLOTS * REQUEST_SLOT_SIZE

    def status_slot(self, stage: int) -> int:
        return self.status + stage * STATUS_SLOT_SIZE

    @property
    def size(self) -> int:
        return self.status + self.stages * STATUS_SLOT_SIZE

    @property
    def histogram_stride(self) -> int:
        return LayoutBuilder(HISTOGRAM_SIZE).pad_to(FALSE_SHARING_PAD)

    def stage_slot(self, index: int) -> int:
        return self.stage_table + index * STAGE_SLOT_SIZE

    def ring_slot(self, index: int) -> int:
        return self.ring_table + index * RING_SLOT_SIZE

    def counter_block(self, stage: int) -> int:
        return self.counters + stage * COUNTERS_PER_STAGE * COUNTER_SLOT_SIZE

    def error_block(self, block: int) -> int:
        """Block ``stages`` is the owner's (supervisor's)."""
        return self.error_log + block * ERRORS_PER_BLOCK * ERROR_ENTRY_SIZE

    def hop_histogram(self, ring: int) -> int:
        return self.histograms + ring * self.histogram_stride

    def end_to_end_histogram(self, stage: int) -> int:
        return self.histograms + (self.rings + stage) * self.histogram_stride

    def named_histogram(self, stage: int, slot: int) -> int:
        """Stage ``stage``'s named histogram number ``slot`` (0 .. NAMED_HISTOGRAMS_PER_STAGE - 1)."""
        return self.named_histograms + (stage * NAMED_HISTOGRAMS_PER_STAGE + slot) * self.histogram_stride

    def histogram_name(self, stage: int, slot: int) -> int:
        """Where the name of stage ``stage``'s named histogram ``slot`` lives (NAME_BYTES, NUL-padded)."""
        return self.histogram_names + (stage * NAMED_HISTOGRAMS_PER_STAGE + slot) * NAME_BYTES
