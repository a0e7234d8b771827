"""Market-data records: book deltas, trades, top of book, depth, bars and control.

What the feed stage publishes from a venue's messages and the book stage
publishes from its books (see ``docs/architecture.md``, market data path).
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Any, Final

import numpy as np

from hftpipe.schema.records import RECORD_SIZE, RecordType, check_layout, make_spec, record_dtype


class BookSide(IntEnum):
    """Which side of a book a level is on (an order's side is :class:`hftpipe.schema.trading.OrderSide`)."""

    BID = 0
    ASK = 1


class BookAction(IntEnum):
    SET = 0
    """Set the level to ``qty`` (0 removes it): venues send absolute sizes."""
    CLEAR = 1
    """Drop every level of the instrument (start of a snapshot)."""


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


BOOK_DELTA_DTYPE: Final = record_dtype(
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

TRADE_DTYPE: Final = record_dtype(
    [
        ("price", "<i8", 64),
        ("qty", "<i8", 72),
        ("trade_id", "<u8", 80),
        ("aggressor", "u1", 88),
    ],
    RECORD_SIZE,
)

BBO_DTYPE: Final = record_dtype(
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

CONTROL_DTYPE: Final = record_dtype(
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

DEPTH_DTYPE: Final = record_dtype(
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

BAR_DTYPE: Final = record_dtype(
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

BOOK_DELTA: Final = make_spec(RecordType.BOOK_DELTA, BOOK_DELTA_DTYPE)
TRADE: Final = make_spec(RecordType.TRADE, TRADE_DTYPE)
BBO: Final = make_spec(RecordType.BBO, BBO_DTYPE)
CONTROL: Final = make_spec(RecordType.CONTROL, CONTROL_DTYPE)
DEPTH: Final = make_spec(RecordType.DEPTH, DEPTH_DTYPE)
BAR: Final = make_spec(RecordType.BAR, BAR_DTYPE)
SPECS: Final = (BOOK_DELTA, TRADE, BBO, CONTROL, DEPTH, BAR)

for _spec in SPECS:
    check_layout(_spec)


def _at(name: str, dtype: np.dtype[Any] = DEPTH_DTYPE) -> int:
    fields = dtype.fields
    assert fields is not None
    return int(fields[name][1])


DEPTH_TOP_OFFSET: Final = _at("update_id")
"""Where :data:`DEPTH_TOP` starts in a DEPTH record."""
assert (_at("levels"), _at("book_state")) == (DEPTH_TOP_OFFSET + 8, DEPTH_TOP_OFFSET + 10)
DEPTH_TOP: Final = struct.Struct(
    f"<QHB{_at('bid_price') - DEPTH_TOP_OFFSET - 11}xq{_at('bid_qty') - _at('bid_price') - 8}xq"
    f"{_at('ask_price') - _at('bid_qty') - 8}xq{_at('ask_qty') - _at('ask_price') - 8}xq"
)
"""A DEPTH record's update id, levels, book state, best bid, its size, best ask, its size: one unpack
for a reader that wants the top of book (the strategy's book view, risk)."""
BBO_TOP_OFFSET: Final = _at("bid_price", BBO_DTYPE)
"""Where :data:`BBO_TOP` starts in a BBO record."""
BBO_TOP: Final = struct.Struct("<qqqqQB")
"""A BBO record's best bid, its size, best ask, its size, update id and book state."""
assert BBO_TOP.size == _at("book_state", BBO_DTYPE) + 1 - BBO_TOP_OFFSET
