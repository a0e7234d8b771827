"""TRADE and BOOK_DELTA records onto the engine -> publisher ring: never blocks, resyncs by snapshot.

Per command that changed the book: its TRADE records (price, qty, trade_id,
aggressor = the taker's side, ts_venue = the trade time), then one BOOK_DELTA
SET per changed level (qty = the level's new total, 0 = gone) with
``update_id`` from the processor's counter (+1 per delta) and
``first_update_id`` = the command's first; ``END_OF_UPDATE`` on the command's
last record. Headers are the command's (instrument, seq, ts_venue, ts_origin,
ts_hop), flags REPLAY copied, with the engine's hop stamp (the ``now`` at
which that command was taken, at the item the ring's output port names)
already in the header the stage passes (a snapshot: the last command's, the
one whose records were dropped or that came after). Records are published
with plain ring commits; :meth:`MarketDataWriter.publish` returns its count
for the stage to count with the command's events, a snapshot counts its own.

All or nothing: when the ring lacks room for a command's records they are
dropped (``drops`` counts records) and the writer turns :attr:`dirty`; every
later command's records are dropped too until :meth:`try_snapshot` finds room
for a snapshot of the whole book: BOOK_DELTA CLEAR then one SET per level
(bids best first, then asks), all flagged SNAPSHOT with update_id =
first_update_id = the current counter, END on the last. The update counter
advances with or without publishing, so the ids stay a pure function of the
commands and a Binance client sees a U/u gap and resyncs. A snapshot is one
update, so it needs ``1 + levels`` free slots: a book with more levels than the
ring has slots cannot resync (:attr:`snapshot_too_big`; the stage logs it).
"""

from __future__ import annotations

from typing import Final

from hftpipe.runtime import OutputPort
from hftpipe.schema.exchange_codec import Header
from hftpipe.schema.marketdata import BOOK_DELTA, TRADE, BookAction, BookSide
from hftpipe.schema.records import RecordFlag
from stages.exchange.engine.processor import CommandProcessor

MD_RECORD: Final = BOOK_DELTA.itemsize
pack_delta: Final = BOOK_DELTA.packer.pack_into
pack_trade: Final = TRADE.packer.pack_into
_DELTA: Final = int(BOOK_DELTA.rtype)
_TRADE: Final = int(TRADE.rtype)
_END: Final = int(RecordFlag.END_OF_UPDATE)
SNAPSHOT: Final = int(RecordFlag.SNAPSHOT)
SET: Final = int(BookAction.SET)
CLEAR: Final = int(BookAction.CLEAR)
_BID: Final = int(BookSide.BID)
_ASK: Final = int(BookSide.ASK)


class MarketDataWriter:
    """See the module docstring."""

    __slots__ = (
        "_asks", "_bids", "_buf", "_claim", "_commit", "_count_sent", "_free", "_processor", "_ring", "dirty", "drops",
        "port", "published", "snapshot_too_big", "snapshots",
    )  # fmt: skip

    def __init__(self, port: OutputPort, processor: CommandProcessor) -> None:
        ring = port.ring
        if ring.slot_size < MD_RECORD:
            raise ValueError(
                f"ring {ring.name}: market data records need slot_size >= {MD_RECORD}, has {ring.slot_size}"
            )
        self.port = port
        self._ring = ring
        self._buf = port.buffer
        self._claim = ring.try_claim
        """The ring's own: :meth:`_room` has reserved the slots, so the port's claim (which only adds
        counting a full ring) could never refuse one."""
        self._commit = ring.commit
        """The ring's own too: records carry their stamp from the pack; they are counted per update."""
        self._count_sent = port.count_sent
        self._processor = processor
        self._bids = processor.engine.bids.levels  # price -> level
        self._asks = processor.engine.asks.levels  # -price -> level (see order_book.PriceLadder)
        self._free = 0
        """Free slots as last seen: refreshed from the ring only when it looks too small (a shortfall
        is a drop, counted in :attr:`drops`, not back-pressure: this ring never holds the engine up)."""
        self.dirty = False
        """Records were dropped; nothing more goes out until a snapshot did."""
        self.drops = 0
        self.published = 0
        self.snapshots = 0
        self.snapshot_too_big = False
        """The last snapshot tried needs more slots than the ring has."""

    def _room(self, n: int) -> bool:
        if self._free >= n:
            return True
        self._free = self._ring.remaining_capacity()
        return self._free >= n

    def publish(self, flags: int, header: Header) -> int:
        """The processor's last command's trades and touched levels (call only when there are some),
        under ``header`` (stamped already); how many records went out, for the caller to count."""
        processor = self._processor
        trades = processor.trades
        touched = processor.touched
        if not trades and len(touched) == 1 and self._free and not self.dirty:  # most commands: one level
            self._free -= 1
            side, price = touched[0]
            level = self._bids.get(price) if side == _BID else self._asks.get(-price)
            offset = self._claim()
            update_id = processor.update_id
            pack_delta(
                self._buf, offset, _DELTA, flags | _END, *header,
                price, 0 if level is None else level.total, update_id, update_id, side, SET,
            )  # fmt: skip
            self._commit()
            touched.clear()
            self.published += 1
            return 1
        n = len(trades) + len(touched)
        if self.dirty or not self._room(n):
            self.dirty = True
            self.drops += n
            return 0
        self._free -= n
        claim = self._claim
        commit = self._commit
        buf = self._buf
        last = n - 1
        i = 0
        for price, qty, trade_id, aggressor in trades:
            offset = claim()
            end = flags | _END if i == last else flags
            pack_trade(buf, offset, _TRADE, end, *header, price, qty, trade_id, aggressor)
            commit()
            i += 1
        if touched:
            bids = self._bids
            asks = self._asks
            update_id = first = processor.update_id - len(touched) + 1
            for side, price in touched:
                level = bids.get(price) if side == _BID else asks.get(-price)  # engine.level_qty, inlined
                offset = claim()
                pack_delta(
                    buf, offset, _DELTA, flags | _END if i == last else flags, *header,
                    price, 0 if level is None else level.total, update_id, first, side, SET,
                )  # fmt: skip
                commit()
                update_id += 1
                i += 1
            touched.clear()
        if trades:
            trades.clear()
        self.published += n
        return n

    def try_snapshot(self, flags: int, header: Header) -> bool:
        """If :attr:`dirty` and the ring has room: publish (and count) the whole book as a snapshot
        under ``header`` (stamped already); True if it did."""
        engine = self._processor.engine
        n = 1 + len(engine.bids) + len(engine.asks)
        if not self.dirty or not self._room(n):
            self.snapshot_too_big = self.dirty and n > self._ring.capacity
            return False
        self._free -= n
        flags |= SNAPSHOT
        update_id = self._processor.update_id
        claim = self._claim
        commit = self._commit
        buf = self._buf
        bids, asks = engine.depth(max(len(engine.bids), len(engine.asks)))
        offset = claim()
        end = flags | _END if n == 1 else flags
        pack_delta(buf, offset, _DELTA, end, *header, 0, 0, update_id, update_id, _BID, CLEAR)
        commit()
        i = 1
        for side, levels in ((_BID, bids), (_ASK, asks)):
            for price, qty in levels:
                offset = claim()
                pack_delta(
                    buf, offset, _DELTA, flags | _END if i == n - 1 else flags, *header,
                    price, qty, update_id, update_id, side, SET,
                )  # fmt: skip
                commit()
                i += 1
        self._count_sent(n)
        self.published += n
        self.snapshots += 1
        self.dirty = False
        return True
