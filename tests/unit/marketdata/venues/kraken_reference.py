"""Kraken's documented book checksum, written apart from the adapter: the reference of the Kraken tests."""

from __future__ import annotations

import zlib
from collections.abc import Sequence


def reference_checksum(asks: Sequence[tuple[str, str]], bids: Sequence[tuple[str, str]]) -> int:
    """CRC32 of the top 10 ``asks`` then the top 10 ``bids`` (each best first), from the venue's decimal strings.

    Each level is written as price then quantity at the pair's decimals, with
    the ``.`` removed and leading zeros stripped (docs.kraken.com, "Book checksum").
    """
    top = [*asks[:10], *bids[:10]]
    text = "".join(price.replace(".", "").lstrip("0") + qty.replace(".", "").lstrip("0") for price, qty in top)
    return zlib.crc32(text.encode())
