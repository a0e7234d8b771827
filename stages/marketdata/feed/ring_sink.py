"""The feed stage's sink: every market-data event becomes one record in the feed -> book ring.

Records are packed in place (``try_claim`` + ``struct.pack_into`` + ``commit``
on the output port's ring) with the receive time as ``ts_origin``. The port's
packers (:meth:`~hftpipe.runtime.ports.OutputPort.packer`) put the publish
time in this stage's hop slot as part of the pack, so no stamp is written by
hand and none costs a call or a store of its own: this is the feed's hot path,
one record per price level.

A full ring never blocks: the sink is called from inside the feed's event
loop, which must go on serving pings, snapshot fetches and every other
connection. From the first record that finds the ring full, records are
packed into a bounded :class:`~stages.marketdata.feed.backlog.Backlog`
instead, in order (each one counted as back-pressure; one warning per
episode), and whoever drives the sink awaits :meth:`RingSink.drain` before
producing more: the feed stops reading its sockets until the held records are
in the ring, so the venue's TCP window, not memory, absorbs the delay.

:meth:`RingSink.drain` polls the ring with a growing ``asyncio.sleep``
(50 µs doubling to 1 ms) because nothing signals free room: a ring's doorbell
wakes a parked consumer, never a producer. A poll costs one read of the
consumer position; 1 ms of added delay is small next to a consumer slow
enough to fill the ring.

A backlog that outgrows its bound is dropped (counted as drops, logged), never
partly kept: every book is then marked RESYNCING in its place, none becomes
SYNCED again before a new snapshot (``book_clear``), and ``on_overflow`` tells
the stage to have the venue resend every book.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final

from hftpipe.runtime import OutputPort
from hftpipe.schema import SPECS
from hftpipe.schema.marketdata import BookAction, BookState, ControlKind
from hftpipe.schema.records import RecordFlag, RecordType
from hftpipe.substrate.counters import Counter
from hftpipe.substrate.ends import ProducerEnd
from stages.marketdata.feed.backlog import Backlog

_END = int(RecordFlag.END_OF_UPDATE)
_BOOK_DELTA = int(RecordType.BOOK_DELTA)
_SET = int(BookAction.SET)
_SNAPSHOT = int(RecordFlag.SNAPSHOT)

MAX_BACKLOG: Final = 65536
"""Records held while the ring is full before they are dropped and the books resynced (about 10 MiB)."""
EPISODE_GAP_NS: Final = 1_000_000_000
"""Full rings less than this apart are one back-pressure episode (one warning)."""
_FIRST_WAIT_S: Final = 0.00005
_LONGEST_WAIT_S: Final = 0.001


class RingSink:
    """Packs market-data events into ``port``'s ring; holds them back in order while it is full.

    The port's ``sent`` (``messages_out``) counts the records produced
    (including any held back), its ``backpressure`` each record that had to
    be held back; ``drops`` counts those an overflowing backlog discarded.
    """

    def __init__(
        self,
        port: OutputPort,
        flags: int = 0,
        *,
        drops: Counter | None = None,
        max_backlog: int = MAX_BACKLOG,
        on_overflow: Callable[[], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        ring = port.ring
        if ring.slot_size < 128:
            raise ValueError(f"ring {ring.name} slots ({ring.slot_size} B) are smaller than a 128-byte record")
        self._out = ring
        self._ring: ProducerEnd | Backlog = ring
        """Where records are packed: the ring, or the backlog standing in for it while it is full."""
        self._buf = ring.buffer
        self._delta = port.packer(SPECS[RecordType.BOOK_DELTA]).pack_into
        self._trade = port.packer(SPECS[RecordType.TRADE]).pack_into
        self._bbo = port.packer(SPECS[RecordType.BBO]).pack_into
        self._control = port.packer(SPECS[RecordType.CONTROL]).pack_into
        self._published = port.sent
        self._backlog = Backlog(max_backlog, port.backpressure)
        self._drops = drops
        self._logger = logger or logging.getLogger("hftpipe.feed")
        self._flags = flags
        self._seq = port.sent.value  # a restarted feed continues the sequence
        self._unpublished = 0
        """Levels written since the last END: counted in ``published`` once per update."""
        self._update_ns = 0
        self.states: dict[int, BookState] = {}
        self._gapped: set[int] = set()
        """Instruments whose records were dropped: SYNCED again only after a new snapshot."""
        self._on_overflow = on_overflow
        """Called (from :meth:`drain`) once the books are marked RESYNCING after an overflow."""
        self._last_full_ns = -EPISODE_GAP_NS
        self.episodes = 0
        """Back-pressure episodes so far (see :data:`EPISODE_GAP_NS`)."""
        self.dropped = 0
        """Records discarded by backlog overflows."""

    # -- back-pressure -----------------------------------------------------------
    @property
    def backlogged(self) -> bool:
        """Records are held back: the driver must await :meth:`drain` before producing more."""
        return self._ring is self._backlog

    @property
    def held(self) -> int:
        """Records held back right now."""
        return len(self._backlog)

    async def drain(self, stopping: asyncio.Event | None = None) -> None:
        """Return once every held record is in the ring (or ``stopping`` is set); the loop runs meanwhile."""
        wait_s = _FIRST_WAIT_S
        while self.backlogged:
            if self._flush():
                wait_s = _FIRST_WAIT_S  # the consumer is moving: look again soon
            if not self.backlogged or (stopping is not None and stopping.is_set()):
                return
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, _LONGEST_WAIT_S)

    def finish(self) -> None:
        """The stage stops: move what fits; what is still held is lost, so it is counted and logged."""
        self._flush()
        left = len(self._backlog) + self._backlog.take_discarded()
        if left:
            self._count_dropped(left)
            self._logger.error("ring %s full at stop: %d held records dropped", self._out.name, left)

    def _claim(self) -> int:
        offset = self._ring.try_claim()
        if offset < 0:
            self._hold()
            return 0
        return offset

    def _hold(self) -> Backlog:
        """The ring is full: this record and every one after it wait in the backlog, in order."""
        backlog = self._backlog
        self._ring, self._buf = backlog, backlog.buffer
        now = time.monotonic_ns()
        if now - self._last_full_ns >= EPISODE_GAP_NS:
            self.episodes += 1
            self._logger.warning(
                "ring %s full: holding records back and pausing reads until its consumer catches up "
                "(episode %d; further full rings within %.0f s are only counted)",
                self._out.name,
                self.episodes,
                EPISODE_GAP_NS / 1e9,
            )
        self._last_full_ns = now
        return backlog

    def _flush(self) -> int:
        """Move held records into the ring; back to packing into the ring once none is left. How many moved."""
        backlog = self._backlog
        if backlog.overflowed:
            self._resync_after_overflow()
        moved = backlog.move_into(self._out)
        if not len(backlog) and self._ring is backlog:
            self._ring, self._buf = self._out, self._out.buffer
            self._last_full_ns = time.monotonic_ns()  # an episode ends a while after its last held record
        return moved

    def _resync_after_overflow(self) -> None:
        """The backlog outgrew its bound and was discarded: every book is RESYNCING until the venue resends it."""
        discarded = self._backlog.take_discarded()
        self._count_dropped(discarded)
        self._logger.error(
            "ring %s full past %d held records: %d records dropped; every book is RESYNCING until resent",
            self._out.name,
            self._backlog.limit,
            discarded,
        )
        now = time.monotonic_ns()
        for instrument in list(self.states):
            self._gapped.add(instrument)
            self.book_state(instrument, BookState.RESYNCING, now)
        if self._on_overflow is not None:
            self._on_overflow()

    def _count_dropped(self, count: int) -> None:
        self.dropped += count
        if self._drops is not None:
            self._drops.add(count)

    def _commit(self) -> None:
        self._ring.commit()
        self._seq += 1
        self._published.add(1 + self._unpublished)
        self._unpublished = 0

    # -- MarketDataSink -------------------------------------------------------
    def book_clear(self, instrument: int, update_id: int, ts_venue: int, ts_recv: int) -> None:
        self._gapped.discard(instrument)  # a snapshot starts: the book can be whole again
        offset = self._claim()
        now = time.monotonic_ns()
        self._delta(
            self._buf,
            offset,
            RecordType.BOOK_DELTA,
            self._flags | _SNAPSHOT,
            instrument,
            self._seq,
            ts_venue,
            ts_recv,
            now,  # this stage's ts_hop slot (the port's packer)
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
        # The hot path (one call per price level): no helper calls, the hop stamp packed by the
        # port's packer, the published counter updated once per atomic update.
        ring = self._ring
        offset = ring.try_claim()
        if offset < 0:
            ring = self._hold()
            offset = 0
        flags = self._flags | (_END if end else 0) | (_SNAPSHOT if snapshot else 0)
        if self._unpublished == 0:  # one publish time per atomic update, stamped on all its levels
            self._update_ns = time.monotonic_ns()
        self._delta(
            self._buf,
            offset,
            _BOOK_DELTA,
            flags,
            instrument,
            self._seq,
            ts_venue,
            ts_recv,
            self._update_ns,  # this stage's ts_hop slot (the port's packer)
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
        if state is BookState.SYNCED and instrument in self._gapped:
            return  # some of its records were dropped: only a new snapshot makes it usable
        self.states[instrument] = state
        offset = self._claim()
        now = time.monotonic_ns()
        self._control(
            self._buf,
            offset,
            RecordType.CONTROL,
            self._flags | _END,
            instrument,
            self._seq,
            0,
            ts_recv or now,
            now,  # this stage's ts_hop slot (the port's packer)
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
        self._trade(
            self._buf,
            offset,
            RecordType.TRADE,
            self._flags,
            instrument,
            self._seq,
            ts_venue,
            ts_recv,
            now,  # this stage's ts_hop slot (the port's packer)
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
        self._bbo(
            self._buf,
            offset,
            RecordType.BBO,
            self._flags | int(RecordFlag.VENUE),
            instrument,
            self._seq,
            ts_venue,
            ts_recv,
            now,  # this stage's ts_hop slot (the port's packer)
            bid_price,
            bid_qty,
            ask_price,
            ask_qty,
            update_id,
            int(state),
        )
        self._commit()
