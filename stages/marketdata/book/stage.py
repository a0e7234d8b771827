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
the host) and upstream hop stamps; the output port adds this stage's own (the
time the input record was taken), and the input port measures the feed hop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from hftpipe.runtime import Agent, StageContext
from hftpipe.schema import SPECS
from hftpipe.schema.l2book import L2Book
from hftpipe.schema.marketdata import DEPTH_DTYPE, DEPTH_LEVELS, BookAction, BookState, ControlKind
from hftpipe.schema.records import HOP_SLOTS, RECORD_SIZE, TS_HOP_OFFSET, RecordFlag, RecordType
from hftpipe.substrate.counters import CounterKind
from stages.marketdata.book.bars import TickBarBuilder, TimeBarBuilder, VolumeBarBuilder, pack_bar

_DELTA = SPECS[RecordType.BOOK_DELTA].packer.unpack_from
_TRADE = SPECS[RecordType.TRADE].packer.unpack_from
_CONTROL_IN = SPECS[RecordType.CONTROL].packer.unpack_from
_BBO_OUT = SPECS[RecordType.BBO].packer.pack_into
_DEPTH_OUT = SPECS[RecordType.DEPTH].packer.pack_into
_CONTROL_OUT = SPECS[RecordType.CONTROL].packer.pack_into
_HOPS_END: Final = TS_HOP_OFFSET + 8 * HOP_SLOTS
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
        self._poll = ctx.input_port().poll
        out = ctx.output_port()
        if params.publish_depth and out.ring.slot_size < DEPTH_DTYPE.itemsize:
            raise ValueError(
                f"ring {out.ring.name}: DEPTH records need slot_size >= {DEPTH_DTYPE.itemsize}, "
                f"it has {out.ring.slot_size} (or set publish_depth = false)"
            )
        self._room = out.room
        self._claim_slot = out.claim
        self._commit_slot = out.commit
        self._buf = out.buffer
        self._depth = params.depth
        self._publish_depth = params.publish_depth
        self._batch = params.batch
        self.books: dict[int, L2Book] = {}
        self.states: dict[int, BookState] = {}
        self._crossed = ctx.counters.add("crossed_books")
        self._level_updates = ctx.counters.add("level_updates")
        self._seq = ctx.counter(CounterKind.MESSAGES_OUT).value
        self._levels_applied = 0
        self._bar_settings = params
        self._bars: dict[int, list[BarBuilder]] = {}
        self._time_bars: list[TimeBarBuilder] = []
        self._next_flush = 0
        self._bar_hops = bytes(_HOPS_END - TS_HOP_OFFSET)
        """The upstream hop stamps of the last trade, which bars carry (their own stamp is ``_bar_now``)."""
        self._bar_now = 0

    def do_work(self) -> int:
        needed = 3 + len(self._time_bars)  # BBO + DEPTH (+ state), bars
        if self._room(needed) < needed:
            return 0
        if self._time_bars:
            now = time.monotonic_ns()
            if now >= self._next_flush:  # a quiet market's bar still closes on time
                self._next_flush = now + 100_000_000
                wall = time.time_ns()
                for builder in self._time_bars:
                    builder.flush(wall)
        count = self._poll(self._on_record, self._batch)
        if count:
            self._level_updates.set(self._levels_applied)
        return count

    # -- input -----------------------------------------------------------------------
    def _on_record(self, buf: memoryview, offset: int, now: int) -> None:
        rtype = buf[offset] | (buf[offset + 1] << 8)
        if rtype == RecordType.BOOK_DELTA:  # the hot path
            fields = _DELTA(buf, offset)
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
            self._forward(buf, offset, now)
            if fields[10] == ControlKind.BOOK_STATE:
                state = BookState(fields[11])
                changed = self.states.get(fields[2]) is not state
                self.states[fields[2]] = state
                book = self.books.get(fields[2])
                if changed and state is BookState.SYNCED and book is not None:
                    self._publish_book(book, fields, now)  # the top of book, now usable
        elif rtype == RecordType.TRADE:
            fields = _TRADE(buf, offset)
            self._forward(buf, offset, now)
            builders = self._bars.get(fields[2])
            if builders is None:
                builders = self._bar_builders(fields[2])
            if builders:
                self._bar_hops = bytes(buf[offset + TS_HOP_OFFSET : offset + _HOPS_END])
                self._bar_now = now
                for builder in builders:
                    builder.on_trade(fields[10], fields[11], fields[4], fields[5])
        else:  # venue BBO passes through
            self._forward(buf, offset, now)

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
        self._buf[out + TS_HOP_OFFSET : out + _HOPS_END] = self._bar_hops
        self._commit(out, self._bar_now)

    # -- output ----------------------------------------------------------------------
    def _claim(self) -> int:
        """A slot, waiting if need be: do_work checked for room, so the wait is bounded."""
        offset = self._claim_slot()
        while offset < 0:
            offset = self._claim_slot()
        return offset

    def _commit(self, offset: int, now: int) -> None:
        """Publish the record at ``offset``, stamped ``now`` (when its cause was taken in)."""
        self._commit_slot(offset, now)
        self._seq += 1

    def _forward(self, buf: memoryview, offset: int, now: int) -> None:
        out = self._claim_slot()
        if out < 0:
            out = self._claim()
        self._buf[out : out + RECORD_SIZE] = buf[offset : offset + RECORD_SIZE]
        self._buf[out + 8 : out + 16] = self._seq.to_bytes(8, "little")
        self._commit(out, now)

    def _publish_book(self, book: L2Book, fields: tuple[Any, ...], now: int) -> None:
        """BBO and DEPTH (or a RESYNCING state, if crossed) carrying ``fields``' origin and upstream stamps."""
        instrument = book.instrument
        hop0, hop1, hop2, hop3 = fields[6], fields[7], fields[8], fields[9]
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
                    hop0,
                    hop1,
                    hop2,
                    hop3,
                    ControlKind.BOOK_STATE,
                    int(BookState.RESYNCING),
                    0,
                    0,
                    0,
                )
                self._commit(out, now)
            return
        state = int(self.states.get(instrument, BookState.RESYNCING))
        bid_prices, bid_qtys, ask_prices, ask_qtys = book.top(self._depth)
        out = self._claim_slot()
        if out < 0:
            out = self._claim()
        _BBO_OUT(
            self._buf, out, _BBO, _END, instrument, self._seq, fields[4], fields[5], hop0, hop1, hop2, hop3,
            bid_prices[0] if bid_prices else 0, bid_qtys[0] if bid_qtys else 0,
            ask_prices[0] if ask_prices else 0, ask_qtys[0] if ask_qtys else 0,
            book.update_id, state,
        )
        self._commit(out, now)
        if not self._publish_depth:
            return
        bid_pad = _ZEROS[: DEPTH_LEVELS - len(bid_prices)]
        ask_pad = _ZEROS[: DEPTH_LEVELS - len(ask_prices)]
        out = self._claim_slot()
        if out < 0:
            out = self._claim()
        _DEPTH_OUT(
            self._buf, out, _DEPTH, _END, instrument, self._seq, fields[4], fields[5], hop0, hop1, hop2, hop3,
            book.update_id, max(len(bid_prices), len(ask_prices)), state,
            *bid_prices, *bid_pad, *bid_qtys, *bid_pad, *ask_prices, *ask_pad, *ask_qtys, *ask_pad,
        )
        self._commit(out, now)
