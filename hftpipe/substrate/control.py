"""The control file: one shared-memory segment per pipeline, watched from outside.

The owner (supervisor) creates it and writes the meta block and tables; each
stage writes only its own stage half, counter block, error block and the
histograms of the hops it consumes. ``hftpipe stat``/``latency`` and the
metrics exporter attach read-only, so readers can never disturb writers.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import posix_ipc

from hftpipe.substrate.bulletin import Bulletin
from hftpipe.substrate.control_layout import (
    CONTROL_LAYOUT_VERSION,
    META_NAME,
    META_RING_COUNT,
    META_STAGE_COUNT,
    META_STARTED_MONO_NS,
    META_STARTED_WALL_NS,
    META_STATE,
    META_STATE_CHANGED_NS,
    NAME_BYTES,
    NAMED_HISTOGRAMS_PER_STAGE,
    NO_CPU,
    NO_EXIT,
    REQUEST_SLOT_SIZE,
    REQUEST_SLOTS,
    RING_CAPACITY,
    RING_CONSUMER,
    RING_GROUP,
    RING_HOP,
    RING_KIND,
    RING_NAME,
    RING_PRODUCER,
    RING_RECEIVER,
    RING_SLOT_BYTES,
    STAGE_CPU,
    STAGE_IDLE,
    STAGE_LAST_EXIT,
    STAGE_NAME,
    STAGE_PID,
    STAGE_RESTARTS,
    STAGE_STARTED_NS,
    STAGE_STATE,
    STATUS_SLOT_SIZE,
    ControlLayout,
    PipelineState,
    RingKind,
    StageState,
)
from hftpipe.substrate.counters import CounterBlock, CounterKind, read_counter_block, read_counter_kinds
from hftpipe.substrate.errorlog import ErrorEntry, ErrorLog, read_error_block
from hftpipe.substrate.histogram import Histogram, HistogramSnapshot
from hftpipe.substrate.idle import RECORDED_IDLE
from hftpipe.substrate.shm import KIND_CONTROL, Segment, segment_name


@dataclass(frozen=True, slots=True)
class RingEntry:
    """A row of the ring table: which stage produces into which (a broadcast ring has a row per receiver)."""

    name: str
    capacity: int
    slot_size: int
    producer: int
    consumer: int
    hop: int
    kind: RingKind = RingKind.SPSC
    receiver: int = 0
    """A broadcast row's receiver index."""
    group: str = ""
    """A broadcast row's ring as declared: the segment its receivers share."""

    @property
    def segment(self) -> str:
        """The name of the ring whose segment this row reads: the group's for a broadcast receiver."""
        return self.group or self.name


def control_segment_name(pipeline: str) -> str:
    return segment_name(pipeline, "control")


def _put_name(buf: memoryview, offset: int, name: str, size: int) -> None:
    encoded = name.encode()
    if len(encoded) > size:
        raise ValueError(f"name {name!r} is longer than {size} bytes")
    buf[offset : offset + size] = encoded.ljust(size, b"\0")


def _get_name(buf: memoryview, offset: int, size: int) -> str:
    return bytes(buf[offset : offset + size]).rstrip(b"\0").decode()


class ControlFile:
    def __init__(self, segment: Segment, layout: ControlLayout) -> None:
        self.segment = segment
        self.layout = layout
        self._w = segment.words
        self._buf = segment.buf
        self._requests_word = layout.requests // 8
        """Where the count of posted requests lives: the layout computes it through a chain of properties."""
        self.stage_names = [self._stage_str(i) for i in range(layout.stages)]
        self.rings = [self._ring_entry(i) for i in range(layout.rings)]

    # -- creation / attachment ---------------------------------------------
    @classmethod
    def create(cls, pipeline: str, stages: Sequence[str], rings: Sequence[RingEntry]) -> ControlFile:
        layout = ControlLayout(len(stages), len(rings))
        for name in [*stages, *(ring.name for ring in rings), *(ring.group for ring in rings)]:
            if len(name.encode()) > NAME_BYTES:
                raise ValueError(f"name {name!r} is longer than {NAME_BYTES} bytes")
        seg = Segment.create(control_segment_name(pipeline), layout.size, KIND_CONTROL)
        buf, w = seg.buf, seg.words
        w[META_STATE // 8] = PipelineState.STARTING
        w[META_STAGE_COUNT // 8] = len(stages)
        w[META_RING_COUNT // 8] = len(rings)
        w[META_STARTED_WALL_NS // 8] = time.time_ns()
        w[META_STARTED_MONO_NS // 8] = time.monotonic_ns()
        w[META_STATE_CHANGED_NS // 8] = time.monotonic_ns()
        _put_name(buf, META_NAME, pipeline, 64)
        for i, name in enumerate(stages):
            slot = layout.stage_slot(i)
            _put_name(buf, slot + STAGE_NAME, name, NAME_BYTES)
            w[(slot + STAGE_CPU) // 8] = NO_CPU
            w[(slot + STAGE_LAST_EXIT) // 8] = NO_EXIT
        for i, ring in enumerate(rings):
            slot = layout.ring_slot(i)
            _put_name(buf, slot + RING_NAME, ring.name, NAME_BYTES)
            w[(slot + RING_CAPACITY) // 8] = ring.capacity
            w[(slot + RING_SLOT_BYTES) // 8] = ring.slot_size
            w[(slot + RING_PRODUCER) // 8] = ring.producer
            w[(slot + RING_CONSUMER) // 8] = ring.consumer
            w[(slot + RING_HOP) // 8] = ring.hop
            w[(slot + RING_KIND) // 8] = int(ring.kind)
            w[(slot + RING_RECEIVER) // 8] = ring.receiver
            _put_name(buf, slot + RING_GROUP, ring.group, NAME_BYTES)
        for i in range(len(stages)):
            CounterBlock(w, buf, layout.counter_block(i))  # labels visible before any stage runs
        seg.publish(CONTROL_LAYOUT_VERSION)
        return cls(seg, layout)

    @classmethod
    def attach(cls, pipeline: str, readonly: bool = False) -> ControlFile:
        seg = Segment.attach(control_segment_name(pipeline), readonly=readonly)
        if seg.layout_version != CONTROL_LAYOUT_VERSION:
            version = seg.layout_version
            seg.close()
            raise RuntimeError(
                f"control file of pipeline {pipeline!r} is not ready or has layout version "
                f"{version} (expected {CONTROL_LAYOUT_VERSION})"
            )
        w = seg.words
        layout = ControlLayout(int(w[META_STAGE_COUNT // 8]), int(w[META_RING_COUNT // 8]))
        return cls(seg, layout)

    def close(self) -> None:
        self.segment.close()

    # -- pipeline state (owner writes) --------------------------------------
    @property
    def pipeline_name(self) -> str:
        return _get_name(self._buf, META_NAME, 64)

    @property
    def state(self) -> PipelineState:
        return PipelineState(int(self._w[META_STATE // 8]))

    def set_state(self, state: PipelineState) -> None:
        self._w[META_STATE_CHANGED_NS // 8] = time.monotonic_ns()
        self._w[META_STATE // 8] = int(state)

    @property
    def halted(self) -> bool:
        """Downstream stages check this before acting (e.g. sending orders)."""
        return self.state is not PipelineState.RUNNING

    @property
    def owner_pid(self) -> int:
        return self.segment.owner_pid

    @property
    def started_wall_ns(self) -> int:
        return int(self._w[META_STARTED_WALL_NS // 8])

    @property
    def started_mono_ns(self) -> int:
        return int(self._w[META_STARTED_MONO_NS // 8])

    # -- stages --------------------------------------------------------------
    def _stage_str(self, index: int) -> str:
        return _get_name(self._buf, self.layout.stage_slot(index) + STAGE_NAME, NAME_BYTES)

    def stage_index(self, name: str) -> int:
        try:
            return self.stage_names.index(name)
        except ValueError:
            raise KeyError(f"no stage {name!r} in pipeline {self.pipeline_name!r}") from None

    def _stage_word(self, index: int, field: int) -> int:
        return (self.layout.stage_slot(index) + field) // 8

    def stage_state(self, index: int) -> StageState:
        return StageState(int(self._w[self._stage_word(index, STAGE_STATE)]))

    def set_stage_state(self, index: int, state: StageState) -> None:
        self._w[self._stage_word(index, STAGE_STATE)] = int(state)

    def stage_pid(self, index: int) -> int:
        return int(self._w[self._stage_word(index, STAGE_PID)])

    def register_stage_process(self, index: int, pid: int) -> None:
        """The stage itself says who it is (a systemd-started stage has no parent to ask)."""
        self._w[self._stage_word(index, STAGE_STARTED_NS)] = time.monotonic_ns()
        self._w[self._stage_word(index, STAGE_PID)] = pid
        self.set_stage_state(index, StageState.STARTING)

    def stage_restarts(self, index: int) -> int:
        return int(self._w[self._stage_word(index, STAGE_RESTARTS)])

    def count_restart(self, index: int) -> None:
        self._w[self._stage_word(index, STAGE_RESTARTS)] += 1

    def set_stage_cpu(self, index: int, cpu: int | None) -> None:
        self._w[self._stage_word(index, STAGE_CPU)] = NO_CPU if cpu is None else cpu

    def stage_cpu(self, index: int) -> int | None:
        cpu = int(self._w[self._stage_word(index, STAGE_CPU)])
        return None if cpu == NO_CPU else cpu

    def set_stage_idle(self, index: int, alias: str) -> None:
        self._w[self._stage_word(index, STAGE_IDLE)] = RECORDED_IDLE.index(alias)

    def stage_idle(self, index: int) -> str:
        return RECORDED_IDLE[int(self._w[self._stage_word(index, STAGE_IDLE)])]

    def set_stage_exit(self, index: int, code: int) -> None:
        self._w[self._stage_word(index, STAGE_LAST_EXIT)] = code

    def stage_exit(self, index: int) -> int | None:
        code = int(self._w[self._stage_word(index, STAGE_LAST_EXIT)])
        return None if code == NO_EXIT else code

    # -- rings -----------------------------------------------------------------
    def _ring_entry(self, index: int) -> RingEntry:
        slot = self.layout.ring_slot(index)
        w = self._w
        return RingEntry(
            name=_get_name(self._buf, slot + RING_NAME, NAME_BYTES),
            capacity=int(w[(slot + RING_CAPACITY) // 8]),
            slot_size=int(w[(slot + RING_SLOT_BYTES) // 8]),
            producer=int(w[(slot + RING_PRODUCER) // 8]),
            consumer=int(w[(slot + RING_CONSUMER) // 8]),
            hop=int(w[(slot + RING_HOP) // 8]),
            kind=RingKind(int(w[(slot + RING_KIND) // 8])),
            receiver=int(w[(slot + RING_RECEIVER) // 8]),
            group=_get_name(self._buf, slot + RING_GROUP, NAME_BYTES),
        )

    # -- writers' handles ------------------------------------------------------
    def counters(self, stage: int) -> CounterBlock:
        return CounterBlock(self._w, self._buf, self.layout.counter_block(stage))

    def error_log(self, stage: int | None) -> ErrorLog:
        """``None`` is the owner's block."""
        block = self.layout.stages if stage is None else stage
        return ErrorLog(self._w, self._buf, self.layout.error_block(block))

    def hop_histogram(self, ring: int) -> Histogram:
        return Histogram(self._w, self.layout.hop_histogram(ring))

    def end_to_end_histogram(self, stage: int) -> Histogram:
        return Histogram(self._w, self.layout.end_to_end_histogram(stage))

    def named_histogram(self, stage: int, name: str) -> Histogram:
        """Stage ``stage``'s histogram ``name``: its slot (a restarted stage finds it again) or a free one.

        Only the stage itself calls this (one writer per block). The name is written
        before the histogram is handed out, so no value is ever read under a torn name.
        """
        if not name.isascii() or not 0 < len(name) <= NAME_BYTES:
            raise ValueError(f"histogram name {name!r} must be 1..{NAME_BYTES} ASCII characters")
        free = None
        for slot in range(NAMED_HISTOGRAMS_PER_STAGE):
            held = self._histogram_name(stage, slot)
            if held == name:
                return Histogram(self._w, self.layout.named_histogram(stage, slot))
            if not held and free is None:
                free = slot
        if free is None:
            raise ValueError(
                f"stage {self.stage_names[stage]!r} has all {NAMED_HISTOGRAMS_PER_STAGE} named histograms "
                f"({', '.join(self.read_named_histograms(stage))}); no room for {name!r}"
            )
        _put_name(self._buf, self.layout.histogram_name(stage, free), name, NAME_BYTES)
        return Histogram(self._w, self.layout.named_histogram(stage, free))

    # -- readers ---------------------------------------------------------------
    def heartbeat_ns(self, stage: int) -> int:
        return self.read_counters(stage).get("heartbeat_ns", 0)

    def read_counters(self, stage: int) -> dict[str, int]:
        return read_counter_block(self._buf, self.layout.counter_block(stage))

    def read_counter_kinds(self, stage: int) -> dict[str, CounterKind]:
        """Which of stage ``stage``'s counters are standard, custom counts or levels (gauges)."""
        return read_counter_kinds(self._buf, self.layout.counter_block(stage))

    def read_errors(self, stage: int | None) -> list[ErrorEntry]:
        block = self.layout.stages if stage is None else stage
        return read_error_block(self._buf, self.layout.error_block(block))

    def read_hop_histogram(self, ring: int) -> HistogramSnapshot:
        return HistogramSnapshot.read(self._buf, self.layout.hop_histogram(ring))

    def read_end_to_end_histogram(self, stage: int) -> HistogramSnapshot:
        return HistogramSnapshot.read(self._buf, self.layout.end_to_end_histogram(stage))

    def _histogram_name(self, stage: int, slot: int) -> str:
        return _get_name(self._buf, self.layout.histogram_name(stage, slot), NAME_BYTES)

    def read_named_histograms(self, stage: int) -> dict[str, HistogramSnapshot]:
        """Stage ``stage``'s named histograms by name (the slots it claimed, recorded into or not)."""
        named = {}
        for slot in range(NAMED_HISTOGRAMS_PER_STAGE):
            name = self._histogram_name(stage, slot)
            if name:
                named[name] = HistogramSnapshot.read(self._buf, self.layout.named_histogram(stage, slot))
        return named

    # -- status and operator requests --------------------------------------------
    def status(self, stage: int) -> Bulletin:
        """Stage ``stage``'s status bulletin (its writer's handle): a small JSON object about itself."""
        return Bulletin(self._w, self._buf, self.layout.status_slot(stage), STATUS_SLOT_SIZE)

    def read_status(self, stage: int) -> str | None:
        read = self.status(stage).read()
        return None if read is None else read[1]

    @property
    def requests_posted(self) -> int:
        """How many operator requests were ever posted: one load, cheap enough for every duty cycle."""
        return int(self._w[self._requests_word])

    def read_request(self, number: int) -> str | None:
        """Request ``number`` (1-based), or None when it was never posted or its slot was reused since."""
        posted = self.requests_posted
        if not 0 < number <= posted or number <= posted - REQUEST_SLOTS:
            return None
        read = Bulletin(self._w, self._buf, self.layout.request_slot(number), REQUEST_SLOT_SIZE).read()
        return None if read is None else read[1]

    def post_request(self, text_for: Callable[[int], str]) -> int:
        """Post an operator request, ``text_for(number)`` (e.g. a JSON command carrying its number); the number.

        Operators post one at a time: an exclusive ``flock`` on the control segment
        serializes commands run side by side, so each slot has one writer at a time.
        The text carries its number so a reader can tell a slot reused since apart.
        """
        shm = posix_ipc.SharedMemory(self.segment.name)
        try:
            fcntl.flock(shm.fd, fcntl.LOCK_EX)
            try:
                number = self.requests_posted + 1
                slot = Bulletin(self._w, self._buf, self.layout.request_slot(number), REQUEST_SLOT_SIZE)
                slot.write(text_for(number))
                self._w[self._requests_word] = number
                return number
            finally:
                fcntl.flock(shm.fd, fcntl.LOCK_UN)
        finally:
            shm.close_fd()
