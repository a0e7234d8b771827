"""Kraken's book checksum: CRC32 of the top 10 levels of each side, written as the venue writes them.

The text (docs.kraken.com, "Book checksum" guides for v1 and v2) is the top
10 asks ascending then the top 10 bids descending, each level written as
price then quantity with the ``.`` removed and leading zeros stripped, at the
pair's fixed number of decimals ("0.05000" x "0.00000304" -> ``"5000304"``).

With the instrument's scales equal to the venue's decimals, ``str`` of a
fixed-point integer *is* that text, so no formatting is needed; where a
registry holds the pair at other scales, the integers are shifted to the
venue's decimals first (``shift`` = instrument scale - venue decimals).
"""

from __future__ import annotations

import zlib
from itertools import chain
from typing import Final

from hftpipe.schema.fixedpoint import MAX_SCALE
from hftpipe.schema.l2book import L2Book

CHECKSUM_LEVELS: Final = 10
_POW10: Final[tuple[int, ...]] = tuple(10**i for i in range(2 * MAX_SCALE + 1))


def venue_digits(value: int, shift: int) -> int:
    """A fixed-point integer at the instrument's scale -> at the venue's decimals (``shift`` = scale - decimals)."""
    if shift > 0:
        return value // _POW10[shift]
    return value * _POW10[-shift]


def book_checksum(replica: L2Book, price_shift: int = 0, qty_shift: int = 0) -> int:
    """Kraken's CRC32 of the replica's top 10 asks (ascending) then top 10 bids (descending).

    Recomputed from scratch: :class:`~stages.marketdata.venues.kraken.pair_book.PairBook`
    keeps the same value cached per side; this is its reference.
    """
    levels = replica.asks(CHECKSUM_LEVELS) + replica.bids(CHECKSUM_LEVELS)
    if price_shift == 0 and qty_shift == 0:
        text = "".join(map(str, chain.from_iterable(levels)))
    else:
        text = "".join(f"{venue_digits(price, price_shift)}{venue_digits(qty, qty_shift)}" for price, qty in levels)
    return zlib.crc32(text.encode("ascii"))
