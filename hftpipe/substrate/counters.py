"""The counter catalogue: every counter has a kind (id + label) and one writer.

Each stage owns a block of counter slots in the control file. The first slots
of every block are the standard kinds below, at fixed positions; a stage adds
its own (``gaps``, ``resyncs`` ...) after them with :meth:`CounterBlock.add`, or
a level that goes up and down (``connections_open``) with :meth:`CounterBlock.gauge`,
so that an exporter can tell a count (Prometheus ``_total``) from a level.
Ring positions and ring-full counts live in each ring's header and are shown
beside these by ``hftpipe stat``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from hftpipe.substrate.layout import CACHE_LINE

COUNTER_SLOT_SIZE: Final = CACHE_LINE
"""Value at +0, kind at +8, label (NUL-padded UTF-8) at +16..+64."""
COUNTERS_PER_STAGE: Final = 64
LABEL_OFFSET: Final = 16
LABEL_BYTES: Final = COUNTER_SLOT_SIZE - LABEL_OFFSET


class CounterKind(IntEnum):
    MESSAGES_IN = 0
    MESSAGES_OUT = 1
    BACKPRESSURE = 2
    DROPS = 3
    ERRORS = 4
    DUTY_CYCLES = 5
    MAX_DUTY_CYCLE_NS = 6
    HEARTBEAT_NS = 7
    CUSTOM = 100
    GAUGE = 101
    """A stage's own level (connections open, books stale): it goes down as well as up."""

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS: Final = {
    CounterKind.MESSAGES_IN: "messages_in",
    CounterKind.MESSAGES_OUT: "messages_out",
    CounterKind.BACKPRESSURE: "backpressure",
    CounterKind.DROPS: "drops",
    CounterKind.ERRORS: "errors",
    CounterKind.DUTY_CYCLES: "duty_cycles",
    CounterKind.MAX_DUTY_CYCLE_NS: "max_duty_cycle_ns",
    CounterKind.HEARTBEAT_NS: "heartbeat_ns",
    CounterKind.CUSTOM: "custom",
    CounterKind.GAUGE: "gauge",
}

STANDARD_KINDS: Final = tuple(k for k in CounterKind if k < CounterKind.CUSTOM)


class Counter:
    """A handle on one slot: ``add``/``set`` are single 8-byte stores."""

    __slots__ = ("_i", "_w", "label")

    def __init__(self, words: memoryview, byte_offset: int, label: str) -> None:
        self._w = words
        self._i = byte_offset // 8
        self.label = label

    def add(self, delta: int = 1) -> None:
        self._w[self._i] += delta

    def set(self, value: int) -> None:
        self._w[self._i] = value

    @property
    def value(self) -> int:
        return int(self._w[self._i])

    @property
    def slot(self) -> tuple[memoryview, int]:
        """``(words, index)``: a per-record hot path binds both and adds ``words[index] += 1`` inline,
        which costs about half of calling :meth:`add`."""
        return self._w, self._i


class CounterBlock:
    """One stage's counters: the standard kinds, then custom ones in order."""

    def __init__(self, words: memoryview, buf: memoryview, block_offset: int) -> None:
        self._w = words
        self._buf = buf
        self._offset = block_offset
        self._existing = {label: i for i, label in enumerate(_read_labels(buf, block_offset))}
        self._used = len(self._existing)
        self._by_label: dict[str, Counter] = {}
        for kind in STANDARD_KINDS:
            self._claim(kind, kind.label)

    def _claim(self, kind: CounterKind, label: str) -> Counter:
        if label in self._by_label:
            return self._by_label[label]
        index = self._existing.get(label)
        if index is None:  # a new label; a restarted stage finds its old slot by label instead
            if self._used >= COUNTERS_PER_STAGE:
                raise RuntimeError(f"no counter slot left for {label!r} ({COUNTERS_PER_STAGE} per stage)")
            encoded = label.encode()
            if not encoded or len(encoded) > LABEL_BYTES:
                raise ValueError(f"counter label must be 1..{LABEL_BYTES} bytes, got {label!r}")
            index = self._used
            slot = self._offset + index * COUNTER_SLOT_SIZE
            self._buf[slot + LABEL_OFFSET : slot + COUNTER_SLOT_SIZE] = encoded.ljust(LABEL_BYTES, b"\0")
            self._w[slot // 8 + 1] = int(kind)
            self._used += 1
        slot = self._offset + index * COUNTER_SLOT_SIZE
        counter = Counter(self._w, slot, label)
        self._by_label[label] = counter
        return counter

    def standard(self, kind: CounterKind) -> Counter:
        return self._by_label[kind.label]

    def add(self, label: str) -> Counter:
        """Register (or find again, after a restart) a stage-specific counter."""
        return self._claim(CounterKind.CUSTOM, label)

    def gauge(self, label: str) -> Counter:
        """Register (or find again) a stage-specific level: set, not only added to."""
        return self._claim(CounterKind.GAUGE, label)


def _read_labels(buf: memoryview, block_offset: int) -> list[str]:
    labels = []
    for i in range(COUNTERS_PER_STAGE):
        slot = block_offset + i * COUNTER_SLOT_SIZE
        label = bytes(buf[slot + LABEL_OFFSET : slot + COUNTER_SLOT_SIZE]).rstrip(b"\0")
        if not label:
            break
        labels.append(label.decode(errors="replace"))
    return labels


def read_counter_block(buf: memoryview, block_offset: int) -> dict[str, int]:
    """Reader side: every labelled slot of a block, in slot order."""
    values: dict[str, int] = {}
    for i, label in enumerate(_read_labels(buf, block_offset)):
        slot = block_offset + i * COUNTER_SLOT_SIZE
        values[label] = int.from_bytes(buf[slot : slot + 8], "little", signed=True)
    return values


def read_counter_kinds(buf: memoryview, block_offset: int) -> dict[str, CounterKind]:
    """Reader side: the kind of every labelled slot of a block (an unknown kind reads as CUSTOM)."""
    kinds: dict[str, CounterKind] = {}
    for i, label in enumerate(_read_labels(buf, block_offset)):
        slot = block_offset + i * COUNTER_SLOT_SIZE + 8
        raw = int.from_bytes(buf[slot : slot + 8], "little", signed=True)
        kinds[label] = CounterKind(raw) if raw in _KIND_VALUES else CounterKind.CUSTOM
    return kinds


_KIND_VALUES: Final = frozenset(int(k) for k in CounterKind)
