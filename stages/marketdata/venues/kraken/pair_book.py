"""One Kraken pair's book state, with its checksum text cached per side.

Checking every update's CRC32 from scratch costs a string of 20 levels per
update; most updates leave one side's top 10 untouched, so each side's text
is kept until an update reaches into it.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Final

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.l2book import L2Book
from hftpipe.schema.marketdata import BookSide
from stages.marketdata.venues.kraken.checksum import CHECKSUM_LEVELS, venue_digits

ASK: Final = int(BookSide.ASK)


class PairBook:
    """One pair's book state, and its checksum text cached per side.

    The checksum text of a side (its top 10 levels) is kept, as bytes and as
    a running CRC, until an update touches that side's top 10: a level priced
    at or inside the 10th level. Updates deeper in the book (about a quarter
    of them in the captures) and the untouched side of one that is not cost a
    comparison per level; a touched side is rebuilt from the replica's top 10
    with each level's text looked up by ``(price, qty)`` (a bounded cache:
    most of the top 10 is unchanged from one update to the next).
    """

    __slots__ = (
        "_ask_crc",
        "_ask_limit",
        "_bid_bytes",
        "_bid_limit",
        "_texts",
        "depth",
        "instrument",
        "price_shift",
        "qty_shift",
        "synced",
        "update_id",
    )

    TEXT_CACHE_LIMIT: Final = 8192

    def __init__(self, instrument: Instrument, depth: int) -> None:
        self.instrument = instrument
        self.depth = depth
        self.price_shift: int | None = None
        """instrument.price_scale - the venue's price decimals; None until a level has been seen."""
        self.qty_shift: int | None = None
        self.synced = False
        """A snapshot was applied and nothing went wrong since: updates are applied."""
        self.update_id = 0
        self._texts: dict[tuple[int, int], str] = {}
        self._ask_crc: int | None = None  # CRC32 of the asks' text; None: to rebuild
        self._ask_limit: int | None = None  # the 10th ask's price; None: fewer than 10 asks
        self._bid_bytes: bytes | None = None
        self._bid_limit: int | None = None

    def set_shifts(self, price_shift: int | None, qty_shift: int | None) -> None:
        if (price_shift, qty_shift) != (self.price_shift, self.qty_shift):
            self.price_shift, self.qty_shift = price_shift, qty_shift
            self._texts.clear()
        self.invalidate()

    def invalidate(self) -> None:
        """Both sides' texts must be rebuilt (a snapshot, a new precision)."""
        self._ask_crc = self._bid_bytes = None

    def touch(self, levels: Sequence[tuple[int, int, int]]) -> None:
        """Forget the text of each side whose top 10 these levels (about to be applied) change."""
        ask_limit, bid_limit = self._ask_limit, self._bid_limit
        for side, price, _ in levels:
            if side == ASK:
                if ask_limit is None or price <= ask_limit:
                    self._ask_crc = None
            elif bid_limit is None or price >= bid_limit:
                self._bid_bytes = None

    def checksum(self, replica: L2Book) -> int:
        """:func:`~stages.marketdata.venues.kraken.checksum.book_checksum` of ``replica``,
        rebuilding only the sides touched since the last call."""
        ask_crc = self._ask_crc
        if ask_crc is None:
            asks = replica.asks(CHECKSUM_LEVELS)
            ask_crc = self._ask_crc = zlib.crc32(self._text(asks))
            self._ask_limit = asks[-1][0] if len(asks) == CHECKSUM_LEVELS else None
        bid_bytes = self._bid_bytes
        if bid_bytes is None:
            bids = replica.bids(CHECKSUM_LEVELS)
            bid_bytes = self._bid_bytes = self._text(bids)
            self._bid_limit = bids[-1][0] if len(bids) == CHECKSUM_LEVELS else None
        return zlib.crc32(bid_bytes, ask_crc)

    def _text(self, levels: list[tuple[int, int]]) -> bytes:
        texts = self._texts
        if len(texts) > self.TEXT_CACHE_LIMIT:
            texts.clear()
        get = texts.get
        return "".join([get(level) or self._level_text(level) for level in levels]).encode("ascii")

    def _level_text(self, level: tuple[int, int]) -> str:
        price_shift, qty_shift = self.price_shift or 0, self.qty_shift or 0
        if price_shift == 0 and qty_shift == 0:
            text = f"{level[0]}{level[1]}"
        else:
            text = f"{venue_digits(level[0], price_shift)}{venue_digits(level[1], qty_shift)}"
        self._texts[level] = text
        return text
