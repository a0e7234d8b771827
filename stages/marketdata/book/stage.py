"""The book stage: L2 books from the feed's deltas; BBO, top-N depth and bars out.

Reads the feed -> book ring: BOOK_DELTA records (CLEAR starts a snapshot; SET
sets a level's absolute size), TRADE, venue BBO and CONTROL/BOOK_STATE. On
every record flagged END_OF_UPDATE the book is consistent, and the stage
publishes a BBO (the book's own, carrying the book state) and, when
``publish_depth``, a DEPTH record with the top ``depth`` levels. Trades,
venue BBOs and book-state changes are forwarded; trades also feed the bar
builders. A book that comes out crossed is marked RESYNCING downstream (the
feed, which keeps a replica, resyncs it at the venue).

When an instrument becomes SYNCED its current BBO and depth are published
again, so a strategy gets a usable top of book without waiting for the next
update. Every output record keeps the input's ``ts_origin`` (when the tick reached
the host) and hop stamps, and adds this stage's own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from hftpipe.runtime import Agent, StageContext
from hftpipe.schema import SPECS
from hftpipe.schema.l2book import L2Book
from hftpipe.schema.marketdata import DEPTH_DTYPE, DEPTH_LEVELS, BookAction, BookState, ControlKind
from hftpipe.schema.records import I64, RECORD_SIZE, TS_HOP_FIELD, TS_HOP_OFFSET, RecordFlag, RecordType
from hftpipe.substrate.counters import CounterKind
from stages.marketdata.book.bars import TickBarBuilder, TimeBarBuilder, VolumeBarBuilder, pack_bar

_DELTA = SPECS[RecordType.BOOK_DELTA].packer.unpack_from
_TRADE = SPECS[RecordType.TRADE].packer.unpack_from
_CONTROL_IN = SPECS[RecordType.CONTROL].packer.unpack_from
_BBO_OUT = SPECS[RecordType.BBO].packer.pack_into
_DEPTH_OUT = SPECS[RecordType.DEPTH].packer.pack_into
_CONTROL_OUT = SPECS[RecordType.CONTROL].packer.pack_into
_HOP: Final = I64
_END: Final = int(RecordFlag.END_OF_UPDATE)
_BBO: Final = int(RecordType.BBO)
_DEPTH: Final = int(RecordType.DEPTH)
_CLEAR: Final = int(BookAction.CLEAR)
_ZEROS: Final = (0,) * DEPTH_LEVELS
BarBuilder = TimeBarBuilder | TickBarBuilder | VolumeBarBuilder


class BookStage(Agent):
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        depth: int = 10
        publish_depth: bool = True
        batch: int = 256
        time_bar_s: float = 0.0
        """Time bars of this length (0: none), aligned to the venue clock."""
        tick_bar_trades: int = 0
        """Tick bars of this many trades (0: none)."""
        volume_bar_units: int = 0
        """Volume bars of this much fixed-point quantity, in the instrument's qty units (0: none)."""

        def __post_init__(self) -> None:
            if not 1 <= self.depth <= DEPTH_LEVELS:
                raise ValueError(f"depth must be 1..{DEPTH_LEVELS}, got {self.depth}")
            if self.batch < 1:
                raise ValueError("batch must be >= 1")
            if self.time_bar_s < 0 or self.tick_bar_trades < 0 or self.volume_bar_units < 0:
                raise ValueError("bar sizes must be >= 0 (0 turns a kind of bar off)")

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params: BookStage.Params = ctx.params or self.Params()
        port = ctx.the_input()
        self._in = port.ring
        self._record_hop = port.hop_histogram.record
        self._in_stamp = TS_HOP_OFFSET + 8 * port.producer_hop
        self._in_hop_field = TS_HOP_FIELD + port.producer_hop
        """Index of the producer's hop stamp in every unpacked record tuple (same header)."""
        self._out = ctx.the_output()
        if params.publish_depth and self._out.slot_size < DEPTH_DTYPE.itemsize:
            raise ValueError(
                f"ring {self._out.name}: DEPTH records need slot_size >= {DEPTH_DTYPE.itemsize}, "
                f"it has {self._out.slot_size} (or set publish_depth = false)"
            )
        self._buf = self._out.buffer
        self._hop = ctx.hop
        self._depth = params.depth
        self._publish_depth = params.publish_depth
        self._batch = params.batch
        self.books: dict[int, L2Book] = {}
        self.states: dict[int, BookState] = {}
        self._received = ctx.counter(CounterKind.MESSAGES_IN)
        self._published = ctx.counter(CounterKind.MESSAGES_OUT)
        self._backpressure = ctx.counter(CounterKind.BACKPRESSURE)
        self._crossed = ctx.counters.add("crossed_books")
        self._level_updates = ctx.counters.add("level_updates")
        self._seq = self._published.value
        self._levels_applied = 0
        self._bar_settings = params
        self._bars: dict[int, list[BarBuilder]] = {}
        self._time_bars: list[TimeBarBuilder] = []
        self._next_flush = 0
        self._bar_hops = (0, 0, 0, 0)

    def do_work(self) -> int:
        if self._out.remaining_capacity() < 3 + len(self._time_bars):  # BBO + DEPTH (+ state), bars
            self._backpressure.add()
            return 0
        if self._time_bars:
            now = time.monotonic_ns()
            if now >= self._next_flush:  # a quiet market's bar still closes on time
                self._next_flush = now + 100_000_000
                wall = time.time_ns()
                for builder in self._time_bars:
                    builder.flush(wall)
        count = self._in.poll(self._on_record, self._batch)
        if count:
            self._received.add(count)
            self._level_updates.set(self._levels_applied)
        return count

    # -- input -----------------------------------------------------------------------
    def _on_record(self, buf: memoryview, offset: int) -> None:
        now = time.monotonic_ns()
        rtype = buf[offset] | (buf[offset + 1] << 8)
        if rtype == RecordType.BOOK_DELTA:  # the hot path: its hop stamp comes with the one unpack
            fields = _DELTA(buf, offset)
            self._record_hop(now - fields[self._in_hop_field])
            instrument = fields[2]
            book = self.books.get(instrument)
            if book is None:
                book = self.books[instrument] = L2Book(instrument)
            if fields[15] == _CLEAR:
                book.clear()
            else:
                book.set_level(fields[14], fields[10], fields[11])
                self._levels_applied += 1
            book.update_id = fields[12]
            if fields[1] & _END:
                self._publish_book(book, fields, now)
        elif rtype == RecordType.CONTROL:
            fields = _CONTROL_IN(buf, offset)
            self._record_hop(now - fields[self._in_hop_field])
            self._forward(buf, offset, RECORD_SIZE, now)
            if fields[10] == ControlKind.BOOK_STATE:
                state = BookState(fields[11])
                changed = self.states.get(fields[2]) is not state
                self.states[fields[2]] = state
                book = self.books.get(fields[2])
                if changed and state is BookState.SYNCED and book is not None:
                    self._publish_book(book, fields, now)  # the top of book, now usable
        elif rtype == RecordType.TRADE:
            fields = _TRADE(buf, offset)
            self._record_hop(now - fields[self._in_hop_field])
            self._forward(buf, offset, RECORD_SIZE, now)
            builders = self._bars.get(fields[2])
            if builders is None:
                builders = self._bar_builders(fields[2])
            if builders:
                self._bar_hops = tuple(self._hops(fields, now))  # type: ignore[assignment]
                for builder in builders:
                    builder.on_trade(fields[10], fields[11], fields[4], fields[5])
        else:  # venue BBO passes through
            self._record_hop(now - _HOP.unpack_from(buf, offset + self._in_stamp)[0])
            self._forward(buf, offset, RECORD_SIZE, now)

    def _bar_builders(self, instrument: int) -> list[BarBuilder]:
        settings = self._bar_settings
        builders: list[BarBuilder] = []
        if settings.time_bar_s:
            time_bars = TimeBarBuilder(instrument, int(settings.time_bar_s * 1e9), self._emit_bar)
            self._time_bars.append(time_bars)
            builders.append(time_bars)
        if settings.tick_bar_trades:
            builders.append(TickBarBuilder(instrument, settings.tick_bar_trades, self._emit_bar))
        if settings.volume_bar_units:
            builders.append(VolumeBarBuilder(instrument, settings.volume_bar_units, self._emit_bar))
        self._bars[instrument] = builders
        return builders

    def _emit_bar(self, *bar: int) -> None:
        out = self._claim()
        pack_bar(self._buf, out, self._seq, *bar)
        stamp = out + TS_HOP_OFFSET
        for hop, value in enumerate(self._bar_hops):
            self._buf[stamp + 8 * hop : stamp + 8 * hop + 8] = value.to_bytes(8, "little", signed=True)
        self._commit()

    # -- output ----------------------------------------------------------------------
    def _claim(self) -> int:
        offset = self._out.try_claim()
        while offset < 0:  # bounded: do_work checked for room before polling
            self._backpressure.add()
            offset = self._out.try_claim()
        return offset

    def _hops(self, fields: tuple[Any, ...], now: int) -> list[int]:
        hops = [fields[6], fields[7], fields[8], fields[9]]
        hops[self._hop] = now
        return hops

    def _forward(self, buf: memoryview, offset: int, size: int, now: int) -> None:
        out = self._claim()
        self._buf[out : out + size] = buf[offset : offset + size]
        self._buf[out + 8 : out + 16] = self._seq.to_bytes(8, "little")
        stamp = out + TS_HOP_OFFSET + 8 * self._hop
        self._buf[stamp : stamp + 8] = now.to_bytes(8, "little", signed=True)
        self._commit()

    def _commit(self) -> None:
        self._out.commit()
        self._seq += 1
        self._published.add()

    def _publish_book(self, book: L2Book, fields: tuple[Any, ...], now: int) -> None:
        instrument = book.instrument
        if book.is_crossed():
            self._crossed.add()
            self.ctx.errors.record(f"instrument {instrument}: crossed book after update {book.update_id}")
            if self.states.get(instrument) is not BookState.RESYNCING:
                self.states[instrument] = BookState.RESYNCING
                out = self._claim()
                _CONTROL_OUT(
                    self._buf,
                    out,
                    RecordType.CONTROL,
                    _END,
                    instrument,
                    self._seq,
                    fields[4],
                    fields[5],
                    *self._hops(fields, now),
                    ControlKind.BOOK_STATE,
                    int(BookState.RESYNCING),
                    0,
                    0,
                    0,
                )
                self._commit()
            return
        state = int(self.states.get(instrument, BookState.RESYNCING))
        hops = self._hops(fields, now)
        bid_prices, bid_qtys, ask_prices, ask_qtys = book.top(self._depth)
        out = self._claim()
        _BBO_OUT(
            self._buf, out, _BBO, _END, instrument, self._seq, fields[4], fields[5], *hops,
            bid_prices[0] if bid_prices else 0, bid_qtys[0] if bid_qtys else 0,
            ask_prices[0] if ask_prices else 0, ask_qtys[0] if ask_qtys else 0,
            book.update_id, state,
        )
        self._commit()
        if not self._publish_depth:
            return
        bid_pad = _ZEROS[: DEPTH_LEVELS - len(bid_prices)]
        ask_pad = _ZEROS[: DEPTH_LEVELS - len(ask_prices)]
        out = self._claim()
        _DEPTH_OUT(
            self._buf, out, _DEPTH, _END, instrument, self._seq, fields[4], fields[5], *hops,
            book.update_id, max(len(bid_prices), len(ask_prices)), state,
            *bid_prices, *bid_pad, *bid_qtys, *bid_pad, *ask_prices, *ask_pad, *ask_qtys, *ask_pad,
        )
        self._commit()
