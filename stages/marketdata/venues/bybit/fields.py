"""Fields Bybit's v5 and legacy feeds write alike: taker sides, trade ids, unsigned integers.

Both feeds are read strictly: a bool or a float where an integer belongs, or
an id that fits no record field, is a bad value, never silently converted.
"""

from __future__ import annotations

from typing import Any, Final

from hftpipe.schema.marketdata import BookSide

BID: Final = int(BookSide.BID)
ASK: Final = int(BookSide.ASK)
UINT64_MAX: Final = (1 << 64) - 1
TAKER_SIDES: Final = {"Buy": BID, "Sell": ASK}
"""Bybit's ``side``/``S`` of a trade is the taker's side: a buyer lifting the ask is a BID aggressor."""


def trade_id_from(text: Any) -> int:
    """A Bybit trade id as the unsigned 64-bit integer the trade record holds.

    Decimal ids (spot: ``"2290000000061666327"``) are kept as they are; UUIDs
    (derivatives and the legacy feed: ``"5ffb8b77-900c-507d-97a2-0922557ffe54"``)
    become their first 16 hex digits (``0x5ffb8b77900c507d``), stable and, at
    60 random bits, as good as unique. Anything else raises ValueError.
    """
    if not isinstance(text, str) or not text.isascii():
        raise ValueError(f"trade id must be a string: {text!r}")
    if text.isdigit():
        value = int(text)
        if value > UINT64_MAX:
            raise ValueError(f"trade id {text!r} overflows uint64")
        return value
    digits = text.replace("-", "")
    if len(digits) < 16:
        raise ValueError(f"trade id {text!r} is neither decimal nor a UUID")
    return int(digits[:16], 16)  # ValueError if they are not hex


def unsigned(value: Any, what: str) -> int:
    """A JSON integer that must fit uint64 (update ids, sequences); never a bool or a float."""
    if type(value) is not int:
        raise TypeError(f"{what} must be an integer, got {value!r}")
    if not 0 <= value <= UINT64_MAX:
        raise ValueError(f"{what} out of range: {value}")
    return value
