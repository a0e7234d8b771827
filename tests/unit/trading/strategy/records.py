"""Record bytes as the book stage and a venue would publish them, for driving the strategy stage."""

from __future__ import annotations

from typing import Final

from hftpipe.schema import SPECS
from hftpipe.schema.marketdata import DEPTH_LEVELS, BookState, ControlKind
from hftpipe.schema.records import RecordType
from hftpipe.schema.trading import NO_SLIPPAGE, ExecType, OrderSide, RejectReason

HOPS: Final = (11, 22, 0, 0)
"""Upstream hop stamps the records carry (intents must copy them)."""


def depth(
    instrument: int,
    bids: list[tuple[int, int]],
    asks: list[tuple[int, int]],
    *,
    origin: int,
    update_id: int = 1,
    state: BookState = BookState.SYNCED,
) -> bytes:
    buf = bytearray(SPECS[RecordType.DEPTH].itemsize)
    pad = [(0, 0)] * DEPTH_LEVELS
    b, a = (bids + pad)[:DEPTH_LEVELS], (asks + pad)[:DEPTH_LEVELS]
    SPECS[RecordType.DEPTH].packer.pack_into(
        buf, 0, RecordType.DEPTH, 1, instrument, 0, origin + 5, origin, *HOPS,
        update_id, max(len(bids), len(asks)), state,
        *(p for p, _ in b), *(q for _, q in b), *(p for p, _ in a), *(q for _, q in a),
    )  # fmt: skip
    return bytes(buf)


def bbo(instrument: int, bid: int, bid_qty: int, ask: int, ask_qty: int, *, origin: int, update_id: int = 1,
        state: BookState = BookState.SYNCED, venue: bool = False) -> bytes:  # fmt: skip
    buf = bytearray(128)
    SPECS[RecordType.BBO].packer.pack_into(
        buf, 0, RecordType.BBO, 0x8 if venue else 1, instrument, 0, origin, origin, *HOPS,
        bid, bid_qty, ask, ask_qty, update_id, state,
    )  # fmt: skip
    return bytes(buf)


def trade(instrument: int, price: int, qty: int, *, origin: int, trade_id: int = 1, aggressor: int = 0) -> bytes:
    buf = bytearray(128)
    SPECS[RecordType.TRADE].packer.pack_into(
        buf, 0, RecordType.TRADE, 0, instrument, 0, origin, origin, *HOPS, price, qty, trade_id, aggressor
    )
    return bytes(buf)


def bar(instrument: int, o: int, h: int, low: int, c: int, *, origin: int, volume: int = 100) -> bytes:
    buf = bytearray(128)
    SPECS[RecordType.BAR].packer.pack_into(
        buf,
        0,
        RecordType.BAR,
        0,
        instrument,
        0,
        origin,
        origin,
        *HOPS,
        o,
        h,
        low,
        c,
        volume,
        c,
        10,
        1,
        10,
    )
    return bytes(buf)


def book_state(instrument: int, state: BookState, *, origin: int) -> bytes:
    buf = bytearray(128)
    SPECS[RecordType.CONTROL].packer.pack_into(
        buf, 0, RecordType.CONTROL, 0, instrument, 0, origin, origin, *HOPS, ControlKind.BOOK_STATE, state, 0, 0, 0
    )
    return bytes(buf)


def report(
    instrument: int,
    strategy: int,
    seq: int,
    kind: ExecType,
    *,
    origin: int = 0,
    side: OrderSide = OrderSide.BUY,
    last_price: int = 0,
    last_qty: int = 0,
    cum_qty: int = 0,
    leaves: int = 0,
    fee: int = 0,
    reason: RejectReason = RejectReason.NONE,
    venue_code: int = 0,
    slippage: tuple[int | float, ...] = NO_SLIPPAGE,
) -> bytes:
    buf = bytearray(SPECS[RecordType.EXEC_REPORT].itemsize)
    SPECS[RecordType.EXEC_REPORT].packer.pack_into(
        buf, 0, RecordType.EXEC_REPORT, 0, instrument, 0, origin, origin, *HOPS,
        seq, 900 + seq, last_price, last_qty, cum_qty, leaves, fee, kind, side, reason, venue_code, strategy,
        *slippage,
    )  # fmt: skip
    return bytes(buf)
