"""Where the feed's records wait, in order, while the feed -> book ring is full.

The adapters emit synchronously, inside the feed's event loop, so a full
ring can neither be waited out there (it would stall every connection, ping
and snapshot fetch of the stage) nor drop records (a book would silently
miss levels). The :class:`~stages.marketdata.feed.ring_sink.RingSink` packs
into a :class:`Backlog` instead, through the same ``try_claim``/``buffer``/
``commit`` surface as the ring, and moves the records on as room frees up.
A record is packed whole, its hop stamp included (the output port's
packers), so it reaches the ring as it was produced.

The backlog is bounded: one record past ``limit`` and it *overflows*: what it
holds is discarded (counted), and so is everything committed after, until
the sink has marked the books RESYNCING in their place.
"""

from __future__ import annotations

from collections import deque

from hftpipe.schema.records import RECORD_SIZE
from hftpipe.substrate.counters import Counter
from hftpipe.substrate.ends import ProducerEnd


class Backlog:
    """Records packed while the ring is full, oldest first, at most ``limit`` of them."""

    __slots__ = ("_held", "buffer", "discarded", "limit", "overflowed", "records")

    def __init__(self, limit: int, held: Counter) -> None:
        if limit < 1:
            raise ValueError(f"a backlog must hold at least one record, got limit {limit}")
        self.limit = limit
        self._held = held
        self.buffer = memoryview(bytearray(RECORD_SIZE))
        """Where the next record is packed (offset 0, as :meth:`try_claim` says)."""
        self.records: deque[bytes] = deque()
        self.overflowed = False
        """More than ``limit`` records were committed since the last :meth:`take_discarded`."""
        self.discarded = 0
        """Records thrown away by the overflow, not yet taken."""

    def __len__(self) -> int:
        return len(self.records)

    # -- the ring's producer surface ---------------------------------------------------
    def try_claim(self) -> int:
        return 0

    def commit(self) -> None:
        """Keep the record packed in :attr:`buffer`, counted as held back; past the limit, overflow."""
        self._held.add()
        if self.overflowed:
            self.discarded += 1
            return
        records = self.records
        records.append(bytes(self.buffer))
        if len(records) > self.limit:
            self.overflowed = True
            self.discarded += len(records)
            records.clear()

    # -- draining --------------------------------------------------------------------
    def move_into(self, ring: ProducerEnd) -> int:
        """Offer the oldest records to ``ring`` until it is full or none is left; how many went in."""
        records = self.records
        moved = 0
        while records and ring.offer(records[0]):
            records.popleft()
            moved += 1
        return moved

    def take_discarded(self) -> int:
        """How many records the overflow discarded; the backlog holds records again from here on."""
        discarded, self.discarded, self.overflowed = self.discarded, 0, False
        return discarded
