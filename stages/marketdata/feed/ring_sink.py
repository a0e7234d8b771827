"""The feed stage's sink: every market-data event becomes one record in the feed -> book ring.

Records are packed in place (``try_claim`` + ``struct.pack_into`` + ``commit``),
stamped with the receive time as ``ts_origin`` and the publish time in this
stage's hop slot. A full ring is waited out (yielding the core), never
dropped: the feed falls behind the socket instead, and the wait is counted.
"""

from __future__ import annotations

import os
import time

from hftpipe.schema import SPECS
from hftpipe.schema.marketdata import BookAction, BookState, ControlKind
from hftpipe.schema.records import RecordFlag, RecordType
from hftpipe.substrate.counters import Counter
from hftpipe.substrate.ring import Ring

_DELTA = SPECS[RecordType.BOOK_DELTA].packer.pack_into
_TRADE = SPECS[RecordType.TRADE].packer.pack_into
_BBO = SPECS[RecordType.BBO].packer.pack_into
_CONTROL = SPECS[RecordType.CONTROL].packer.pack_into
_END = int(RecordFlag.END_OF_UPDATE)
_BOOK_DELTA = int(RecordType.BOOK_DELTA)
_SET = int(BookAction.SET)
_SNAPSHOT = int(RecordFlag.SNAPSHOT)


class RingSink:
    def __init__(self, ring: Ring, hop: int, published: Counter, backpressure: Counter, flags: int = 0) -> None:
        if ring.slot_size < 128:
            raise ValueError(f"ring {ring.name} slots ({ring.slot_size} B) are smaller than a 128-byte record")
        self._ring = ring
        self._buf = ring.buffer
        self._hop = hop
        self._published = published
        self._backpressure = backpressure
        self._flags = flags
        self._seq = published.value
        self._unpublished = 0
        """Levels written since the last END: counted in ``published`` once per update."""
        self._update_ns = 0
        self.states: dict[int, BookState] = {}

    def _claim(self) -> int:
        offset = self._ring.try_claim()
        while offset < 0:
            self._backpressure.add()
            os.sched_yield()
            offset = self._ring.try_claim()
        return offset

    def _hops(self, now: int) -> tuple[int, int, int, int]:
        hop = self._hop
        return (now if hop == 0 else 0, now if hop == 1 else 0, now if hop == 2 else 0, now if hop == 3 else 0)

    def _commit(self) -> None:
        self._ring.commit()
        self._seq += 1
        self._published.add(1 + self._unpublished)
        self._unpublished = 0

    # -- MarketDataSink -------------------------------------------------------
    def book_clear(self, instrument: int, update_id: int, ts_venue: int, ts_recv: int) -> None:
        offset = self._claim()
        now = time.monotonic_ns()
        _DELTA(
            self._buf,
            offset,
            RecordType.BOOK_DELTA,
            self._flags | _SNAPSHOT,
            instrument,
            self._seq,
            ts_venue,
            ts_recv,
            *self._hops(now),
            0,
            0,
            update_id,
            0,
            0,
            BookAction.CLEAR,
        )
        self._commit()

    def book_level(
        self,
        instrument: int,
        side: int,
        price: int,
        qty: int,
        update_id: int,
        ts_venue: int,
        ts_recv: int,
        end: bool,
        snapshot: bool,
    ) -> None:
        # The hot path (one call per price level): no helper calls, hop 0 stamped inline,
        # the published counter updated once per atomic update.
        ring = self._ring
        offset = ring.try_claim()
        if offset < 0:
            offset = self._claim()
        flags = self._flags | (_END if end else 0) | (_SNAPSHOT if snapshot else 0)
        if self._unpublished == 0:  # one publish time per atomic update, stamped on all its levels
            self._update_ns = time.monotonic_ns()
        now = self._update_ns
        if self._hop == 0:
            _DELTA(
                self._buf,
                offset,
                _BOOK_DELTA,
                flags,
                instrument,
                self._seq,
                ts_venue,
                ts_recv,
                now,
                0,
                0,
                0,
                price,
                qty,
                update_id,
                0,
                side,
                _SET,
            )
        else:
            _DELTA(
                self._buf,
                offset,
                _BOOK_DELTA,
                flags,
                instrument,
                self._seq,
                ts_venue,
                ts_recv,
                *self._hops(now),
                price,
                qty,
                update_id,
                0,
                side,
                _SET,
            )
        ring.commit()
        self._seq += 1
        self._unpublished += 1
        if end:
            self._published.add(self._unpublished)
            self._unpublished = 0

    def book_state(self, instrument: int, state: BookState, ts_recv: int) -> None:
        self.states[instrument] = state
        offset = self._claim()
        now = time.monotonic_ns()
        _CONTROL(
            self._buf,
            offset,
            RecordType.CONTROL,
            self._flags | _END,
            instrument,
            self._seq,
            0,
            ts_recv or now,
            *self._hops(now),
            ControlKind.BOOK_STATE,
            int(state),
            0,
            0,
            0,
        )
        self._commit()

    def trade(
        self, instrument: int, price: int, qty: int, trade_id: int, aggressor: int, ts_venue: int, ts_recv: int
    ) -> None:
        offset = self._claim()
        now = time.monotonic_ns()
        _TRADE(
            self._buf,
            offset,
            RecordType.TRADE,
            self._flags,
            instrument,
            self._seq,
            ts_venue,
            ts_recv,
            *self._hops(now),
            price,
            qty,
            trade_id & 0xFFFF_FFFF_FFFF_FFFF,
            aggressor,
        )
        self._commit()

    def bbo(
        self,
        instrument: int,
        bid_price: int,
        bid_qty: int,
        ask_price: int,
        ask_qty: int,
        update_id: int,
        ts_venue: int,
        ts_recv: int,
    ) -> None:
        offset = self._claim()
        now = time.monotonic_ns()
        state = self.states.get(instrument, BookState.RESYNCING)
        _BBO(
            self._buf,
            offset,
            RecordType.BBO,
            self._flags | int(RecordFlag.VENUE),
            instrument,
            self._seq,
            ts_venue,
            ts_recv,
            *self._hops(now),
            bid_price,
            bid_qty,
            ask_price,
            ask_qty,
            update_id,
            int(state),
        )
        self._commit()
