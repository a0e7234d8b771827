"""Fixed-layout records: numpy dtypes with explicit offsets, and struct fast paths.

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


class Side(IntEnum):
    BID = 0
    ASK = 1


class BookAction(IntEnum):
    SET = 0
    """Set the level to ``qty`` (0 removes it): venues send absolute sizes."""
    CLEAR = 1
    """Drop every level of the instrument (start of a snapshot)."""


class IntentAction(IntEnum):
    NEW = 0
    CANCEL = 1
    REPLACE = 2


class OrderType(IntEnum):
    LIMIT = 0
    MARKET = 1
    LIMIT_MAKER = 2
    STOP_MARKET = 3
    STOP_LIMIT = 4


class TimeInForce(IntEnum):
    GTC = 0
    IOC = 1
    FOK = 2


class ExecType(IntEnum):
    ACK = 0
    PARTIAL_FILL = 1
    FILL = 2
    CANCELED = 3
    REPLACED = 4
    REJECTED = 5
    EXPIRED = 6


class ControlKind(IntEnum):
    HEARTBEAT = 0
    BOOK_STATE = 1
    HALT = 2
    RESUME = 3
    KILL_SWITCH = 4


class BarKind(IntEnum):
    TIME = 0
    """Closes on a wall-clock boundary (``interval`` ns)."""
    TICK = 1
    """Closes after ``interval`` trades."""
    VOLUME = 2
    """Closes once ``interval`` of fixed-point quantity has traded."""


class BookState(IntEnum):
    SYNCED = 0
    RESYNCING = 1
    STALE = 2


_HEADER_FIELDS: Final[list[tuple[str, str, int]]] = [
    ("rtype", "<u2", 0),
    ("flags", "<u2", 2),
    ("instrument", "<u4", 4),
    ("seq", "<u8", 8),
    ("ts_venue", "<i8", 16),
    ("ts_origin", "<i8", 24),
    ("ts_hop", f"({HOP_SLOTS},)<i8", 32),
]


def _dtype(body: list[tuple[str, str, int]], itemsize: int) -> np.dtype[np.void]:
    fields = _HEADER_FIELDS + body
    return np.dtype(
        {
            "names": [f[0] for f in fields],
            "formats": [f[1] for f in fields],
            "offsets": [f[2] for f in fields],
            "itemsize": itemsize,
        }
    )


PROBE_DTYPE: Final = _dtype([], HEADER_SIZE)

BOOK_DELTA_DTYPE: Final = _dtype(
    [
        ("price", "<i8", 64),
        ("qty", "<i8", 72),
        ("update_id", "<u8", 80),
        ("first_update_id", "<u8", 88),
        ("side", "u1", 96),
        ("action", "u1", 97),
    ],
    RECORD_SIZE,
)

TRADE_DTYPE: Final = _dtype(
    [
        ("price", "<i8", 64),
        ("qty", "<i8", 72),
        ("trade_id", "<u8", 80),
        ("aggressor", "u1", 88),
    ],
    RECORD_SIZE,
)

BBO_DTYPE: Final = _dtype(
    [
        ("bid_price", "<i8", 64),
        ("bid_qty", "<i8", 72),
        ("ask_price", "<i8", 80),
        ("ask_qty", "<i8", 88),
        ("update_id", "<u8", 96),
        ("book_state", "u1", 104),
    ],
    RECORD_SIZE,
)

ORDER_INTENT_DTYPE: Final = _dtype(
    [
        ("client_order_id", "<u8", 64),
        ("orig_client_order_id", "<u8", 72),
        ("price", "<i8", 80),
        ("qty", "<i8", 88),
        ("stop_price", "<i8", 96),
        ("strategy_id", "<u2", 104),
        ("action", "u1", 106),
        ("side", "u1", 107),
        ("order_type", "u1", 108),
        ("tif", "u1", 109),
    ],
    RECORD_SIZE,
)

EXEC_REPORT_DTYPE: Final = _dtype(
    [
        ("client_order_id", "<u8", 64),
        ("venue_order_id", "<u8", 72),
        ("last_price", "<i8", 80),
        ("last_qty", "<i8", 88),
        ("cum_qty", "<i8", 96),
        ("leaves_qty", "<i8", 104),
        ("fee", "<i8", 112),
        ("exec_type", "u1", 120),
        ("side", "u1", 121),
        ("reject_code", "<u2", 122),
        ("strategy_id", "<u2", 124),
    ],
    RECORD_SIZE,
)

CONTROL_DTYPE: Final = _dtype(
    [
        ("kind", "<u2", 64),
        ("state", "<u2", 66),
        ("stage", "<u2", 68),
        ("value", "<i8", 72),
        ("arg", "<i8", 80),
    ],
    RECORD_SIZE,
)

DEPTH_LEVELS: Final = 20
"""Levels per side a DEPTH record can carry (the book stage publishes the top N <= this)."""

DEPTH_DTYPE: Final = _dtype(
    [
        ("update_id", "<u8", 64),
        ("levels", "<u2", 72),
        ("book_state", "u1", 74),
        ("bid_price", f"({DEPTH_LEVELS},)<i8", 80),
        ("bid_qty", f"({DEPTH_LEVELS},)<i8", 80 + 8 * DEPTH_LEVELS),
        ("ask_price", f"({DEPTH_LEVELS},)<i8", 80 + 16 * DEPTH_LEVELS),
        ("ask_qty", f"({DEPTH_LEVELS},)<i8", 80 + 24 * DEPTH_LEVELS),
    ],
    768,
)
"""Top N of one book after an atomic update; unused levels are zero. 768 bytes: rings
that carry it need ``slot_size >= 768``."""

BAR_DTYPE: Final = _dtype(
    [
        ("open", "<i8", 64),
        ("high", "<i8", 72),
        ("low", "<i8", 80),
        ("close", "<i8", 88),
        ("volume", "<i8", 96),
        ("vwap", "<i8", 104),
        ("trades", "<u4", 112),
        ("kind", "u1", 116),
        ("interval", "<i8", 120),
    ],
    RECORD_SIZE,
)
"""OHLCV bar: prices at the instrument's price scale, volume at its qty scale; ``vwap``
is rounded to the price scale; ``ts_venue`` is the bar's open time, ``ts_origin`` the
receive time of its closing trade."""

EX_RECORD_SIZE: Final = 256
"""Exchange commands and events: 256 bytes, so rings that carry them need ``slot_size >= 256``."""
EX_ID_BYTES: Final = 40
"""Room for a Binance client order id (``^[.A-Z:/a-z0-9_-]{1,36}$``), NUL-padded ASCII."""

EX_COMMAND_DTYPE: Final = _dtype(
    [
        ("request_id", "<u8", 64),
        ("account", "<u4", 72),
        ("command", "u1", 76),
        ("side", "u1", 77),
        ("order_type", "u1", 78),
        ("tif", "u1", 79),
        ("stp_mode", "u1", 80),
        ("resp_type", "u1", 81),
        ("replace_mode", "u1", 82),
        ("asset", "<u4", 84),
        ("price", "<i8", 88),
        ("qty", "<i8", 96),
        ("quote_qty", "<i8", 104),
        ("order_id", "<i8", 112),
        ("tag", "<i8", 120),
        ("client_order_id", f"S{EX_ID_BYTES}", 128),
        ("orig_client_order_id", f"S{EX_ID_BYTES}", 168),
        ("cancel_client_order_id", f"S{EX_ID_BYTES}", 208),
        ("cap", "<i8", 248),
    ],
    256,
)
"""One exchange request (see :mod:`hftpipe.schema.exchange` for the field meanings)."""

EX_EVENT_DTYPE: Final = _dtype(
    [
        ("request_id", "<u8", 64),
        ("account", "<u4", 72),
        ("event", "u1", 76),
        ("side", "u1", 77),
        ("order_type", "u1", 78),
        ("tif", "u1", 79),
        ("status", "u1", 80),
        ("stp_mode", "u1", 81),
        ("is_maker", "u1", 82),
        ("expire_reason", "u1", 83),
        ("reject_code", "<i4", 84),
        ("commission_asset", "<u4", 88),
        ("reject_reason", "<u2", 92),
        ("order_id", "<i8", 96),
        ("price", "<i8", 104),
        ("qty", "<i8", 112),
        ("quote_qty", "<i8", 120),
        ("last_price", "<i8", 128),
        ("last_qty", "<i8", 136),
        ("cum_qty", "<i8", 144),
        ("cum_quote", "<i8", 152),
        ("trade_id", "<i8", 160),
        ("commission", "<i8", 168),
        ("client_order_id", f"S{EX_ID_BYTES}", 176),
        ("orig_client_order_id", f"S{EX_ID_BYTES}", 216),
    ],
    256,
)
"""One thing a request caused (see :mod:`hftpipe.schema.exchange` for the field meanings)."""

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


def _spec(rtype: RecordType, dtype: np.dtype[np.void]) -> RecordSpec:
    return RecordSpec(rtype, dtype, struct.Struct(struct_format(dtype)))


SPECS: Final = {
    spec.rtype: spec
    for spec in (
        _spec(RecordType.PROBE, PROBE_DTYPE),
        _spec(RecordType.BOOK_DELTA, BOOK_DELTA_DTYPE),
        _spec(RecordType.TRADE, TRADE_DTYPE),
        _spec(RecordType.BBO, BBO_DTYPE),
        _spec(RecordType.ORDER_INTENT, ORDER_INTENT_DTYPE),
        _spec(RecordType.EXEC_REPORT, EXEC_REPORT_DTYPE),
        _spec(RecordType.CONTROL, CONTROL_DTYPE),
        _spec(RecordType.DEPTH, DEPTH_DTYPE),
        _spec(RecordType.BAR, BAR_DTYPE),
        _spec(RecordType.EX_COMMAND, EX_COMMAND_DTYPE),
        _spec(RecordType.EX_EVENT, EX_EVENT_DTYPE),
    )
}

HEADER_STRUCT: Final = struct.Struct(struct_format(_dtype([], HEADER_SIZE)))
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


def _assert_layouts() -> None:
    for spec in SPECS.values():
        assert spec.packer.size == spec.itemsize, (spec.rtype, spec.packer.size)
        assert spec.itemsize in (HEADER_SIZE, RECORD_SIZE, EX_RECORD_SIZE, DEPTH_DTYPE.itemsize), spec.rtype
        assert spec.itemsize % 64 == 0
        assert spec.offset_of("ts_hop") == TS_HOP_OFFSET
        assert spec.offset_of("ts_origin") == TS_ORIGIN_OFFSET
        assert spec.offset_of("seq") == SEQ_OFFSET
        assert spec.dtype.fields is not None
        assert spec.index_of("ts_hop") == TS_HOP_FIELD
    assert HEADER_STRUCT.size == HEADER_SIZE


_assert_layouts()
