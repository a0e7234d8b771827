"""The record machinery: the common header, dtypes with explicit offsets, and struct fast paths.

Every record starts with the same 64-byte header, so any stage can read the
type, the instrument and the timestamps of any record without knowing its body::

      0       2       4               8                               16
      +-------+-------+---------------+-------------------------------+
      | rtype | flags | instrument id | sequence                      |
      +-------+-------+---------------+-------------------------------+
   16 | ts_venue (wall-clock ns, venue)| ts_origin (monotonic ns, edge)|
      +-------------------------------+-------------------------------+
   32 | ts_hop[0]     | ts_hop[1]     | ts_hop[2]     | ts_hop[3]     |
   64 +---------------------------------------------------------------+
      | body (64 bytes, type-specific)                                |
  128 +---------------------------------------------------------------+

``ts_origin`` is taken when the causing tick reached the host and is copied
into everything derived from it, so the last stage can measure end-to-end
latency. ``ts_hop[d]`` is stamped by the stage at depth ``d`` when it
publishes; the next stage subtracts it to measure that hop. Monotonic clocks
are system-wide on Linux, so subtracting across processes is valid.

Prices and quantities are fixed-point int64 (see :mod:`hftpipe.schema.fixedpoint`).

Each domain declares its records in its own module (:mod:`~hftpipe.schema.marketdata`,
:mod:`~hftpipe.schema.trading`, :mod:`~hftpipe.schema.exchange`) with
:func:`record_dtype` and :func:`make_spec`; :data:`hftpipe.schema.SPECS` holds
them all, keyed by :class:`RecordType`, the one registry of type ids.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any, Final

import numpy as np

HEADER_SIZE: Final = 64
RECORD_SIZE: Final = 128
HOP_SLOTS: Final = 4


class RecordType(IntEnum):
    PROBE = 1
    BOOK_DELTA = 2
    TRADE = 3
    BBO = 4
    ORDER_INTENT = 5
    EXEC_REPORT = 6
    CONTROL = 7
    DEPTH = 8
    BAR = 9
    EX_COMMAND = 10
    """Exchange side: a request on its way from the gateway to accounting and an engine."""
    EX_EVENT = 11
    """Exchange side: what a request caused, from an engine or accounting back to the gateway."""


class RecordFlag(IntFlag):
    NONE = 0
    END_OF_UPDATE = 0x1
    """Last record of one atomic venue update: the book is consistent after it."""
    SNAPSHOT = 0x2
    """Part of a snapshot (the book was cleared before the first such record)."""
    REPLAY = 0x4
    """Produced from a capture file rather than a live connection."""
    VENUE = 0x8
    """A BBO from the venue's own ticker stream, not computed from the local book."""
    TICK_CAUSED = 0x20
    """An order intent a market-data tick caused (not a timer or a report): its ``ts_origin`` is that
    tick's arrival, so tick-to-intent and tick-to-order count it."""
    FOREIGN_ORDER = 0x10
    """An execution report about an order its strategy did not send (risk's stop or kill-switch order):
    its fills change the strategy's position, no order of the strategy's changes."""
    SYNTHETIC = 0x40
    """An execution report about a synthetic order (HELD, TRIGGERED, its child's fills as its own): risk does
    not book its fills (the child's report did) and passes it on to the strategy."""
    RELEASED_CHILD = 0x80
    """An execution report about a released child: risk books its fills and ends it, and keeps it from the
    strategy, which sees those fills on the synthetic order's own report."""


_HEADER_FIELDS: Final[list[tuple[str, str, int]]] = [
    ("rtype", "<u2", 0),
    ("flags", "<u2", 2),
    ("instrument", "<u4", 4),
    ("seq", "<u8", 8),
    ("ts_venue", "<i8", 16),
    ("ts_origin", "<i8", 24),
    ("ts_hop", f"({HOP_SLOTS},)<i8", 32),
]


def record_dtype(body: list[tuple[str, str, int]], itemsize: int) -> np.dtype[np.void]:
    fields = _HEADER_FIELDS + body
    return np.dtype(
        {
            "names": [f[0] for f in fields],
            "formats": [f[1] for f in fields],
            "offsets": [f[2] for f in fields],
            "itemsize": itemsize,
        }
    )


PROBE_DTYPE: Final = record_dtype([], HEADER_SIZE)
"""A header and nothing else: what the latency probe stages pass along."""

_STRUCT_CODES: Final = {
    "u1": "B",
    "u2": "H",
    "u4": "I",
    "u8": "Q",
    "i1": "b",
    "i2": "h",
    "i4": "i",
    "i8": "q",
    "f8": "d",
}


def struct_format(dtype: np.dtype[Any]) -> str:
    """A little-endian ``struct`` format with the same bytes as ``dtype``.

    Derived, never written by hand, so the two cannot drift apart.
    """
    assert dtype.fields is not None
    parts = ["<"]
    cursor = 0
    for _, (field_dtype, offset, *_) in sorted(dtype.fields.items(), key=lambda kv: kv[1][1]):
        if offset < cursor:
            raise ValueError(f"overlapping field at offset {offset}")
        if offset > cursor:
            parts.append(f"{offset - cursor}x")
        base, shape = field_dtype.subdtype or (field_dtype, ())
        if base.kind == "S":  # fixed bytes: one struct item of that length
            parts.append(f"{base.itemsize}s")
            cursor = offset + field_dtype.itemsize
            continue
        code = _STRUCT_CODES[f"{base.kind}{base.itemsize}"]
        count = int(np.prod(shape)) if shape else 1
        parts.append(f"{count}{code}" if count > 1 else code)
        cursor = offset + field_dtype.itemsize
    if dtype.itemsize > cursor:
        parts.append(f"{dtype.itemsize - cursor}x")
    return "".join(parts)


def struct_indexes(dtype: np.dtype[Any]) -> dict[str, int]:
    """Where each field (its first item, for arrays) sits in the tuple ``struct.unpack`` returns.

    Follows :func:`struct_format` item for item, so stages can index unpacked
    records by name without typing positions by hand.
    """
    assert dtype.fields is not None
    index, found = 0, {}
    for name, (field_dtype, _offset, *_) in sorted(dtype.fields.items(), key=lambda kv: kv[1][1]):
        found[name] = index
        base, shape = field_dtype.subdtype or (field_dtype, ())
        index += 1 if base.kind == "S" or not shape else int(np.prod(shape))
    return found


def one_hop_format(dtype: np.dtype[Any], hop: int) -> str:
    """:func:`struct_format` of ``dtype`` with ``ts_hop[hop]`` as its only hop item, the other slots pad (zeros).

    A stage packing records from scratch (a source: no upstream stamps to
    copy) puts its own stamp in the pack this way, at no cost beyond it.
    """
    if not 0 <= hop < HOP_SLOTS:
        raise ValueError(f"hop must be 0..{HOP_SLOTS - 1}, got {hop}")
    assert dtype.fields is not None
    fields = [(name, field[0], field[1]) for name, field in dtype.fields.items() if name != "ts_hop"]
    fields.append(("ts_hop", np.dtype("<i8"), dtype.fields["ts_hop"][1] + 8 * hop))
    narrowed = np.dtype(
        {
            "names": [f[0] for f in fields],
            "formats": [f[1] for f in fields],
            "offsets": [f[2] for f in fields],
            "itemsize": dtype.itemsize,
        }
    )
    return struct_format(narrowed)


@dataclass(frozen=True, slots=True)
class RecordSpec:
    """A record type: its dtype and the struct that packs one record of it."""

    rtype: RecordType
    dtype: np.dtype[np.void]
    packer: struct.Struct

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    def index_of(self, field: str) -> int:
        """Position of ``field`` in the tuple ``packer.unpack`` returns (see :func:`struct_indexes`)."""
        return struct_indexes(self.dtype)[field]

    def offset_of(self, field: str) -> int:
        assert self.dtype.fields is not None
        return int(self.dtype.fields[field][1])

    def zeros(self, count: int) -> np.ndarray[Any, np.dtype[np.void]]:
        records = np.zeros(count, dtype=self.dtype)
        records["rtype"] = int(self.rtype)
        return records


def make_spec(rtype: RecordType, dtype: np.dtype[np.void]) -> RecordSpec:
    """The spec of a record type, its struct derived from its dtype."""
    return RecordSpec(rtype, dtype, struct.Struct(struct_format(dtype)))


PROBE: Final = make_spec(RecordType.PROBE, PROBE_DTYPE)

HEADER_STRUCT: Final = struct.Struct(struct_format(PROBE_DTYPE))
"""Header-only view of any record: ``unpack_from(buf, offset)``."""

# Byte offsets of the header fields the runtime stamps on the hot path.
RTYPE_OFFSET: Final = 0
SEQ_OFFSET: Final = 8
TS_ORIGIN_OFFSET: Final = 24
TS_HOP_OFFSET: Final = 32
TS_HOP_FIELD: Final = 6
"""Index of ``ts_hop[0]`` in any record's unpacked struct tuple (the header comes first)."""
I64: Final = struct.Struct("<q")
U64: Final = struct.Struct("<Q")


def check_layout(spec: RecordSpec) -> None:
    """What every record type must satisfy; each domain module asserts it at import."""
    assert spec.packer.size == spec.itemsize, (spec.rtype, spec.packer.size)
    assert spec.itemsize % 64 == 0, spec.rtype
    assert spec.offset_of("ts_hop") == TS_HOP_OFFSET
    assert spec.offset_of("ts_origin") == TS_ORIGIN_OFFSET
    assert spec.offset_of("seq") == SEQ_OFFSET
    assert spec.index_of("ts_hop") == TS_HOP_FIELD


check_layout(PROBE)
assert HEADER_STRUCT.size == HEADER_SIZE
