"""Fields both Coinbase feeds (Exchange and Advanced Trade) write alike: ISO-8601 times and numeric ids.

Read exactly (nanoseconds from the text, never through a float) and strictly:
anything that is not such a time or id raises ValueError.
"""

from __future__ import annotations

import calendar
import functools
from typing import Final

from hftpipe.schema.fixedpoint import INT64_MAX

_NS_PER_S: Final = 1_000_000_000


@functools.lru_cache(maxsize=256)
def _epoch_seconds(head: str) -> int:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC) -> seconds since the epoch; cached: it changes once a second."""
    digits = head[0:4] + head[5:7] + head[8:10] + head[11:13] + head[14:16] + head[17:19]
    if (
        len(head) != 19
        or head[4] != "-"
        or head[7] != "-"
        or head[10] not in "Tt "
        or head[13] != ":"
        or head[16] != ":"
        or not digits.isascii()
        or not digits.isdigit()
    ):
        raise ValueError(f"not an ISO-8601 time: {head!r}")
    year, month, day = int(head[0:4]), int(head[5:7]), int(head[8:10])
    hour, minute, second = int(head[11:13]), int(head[14:16]), int(head[17:19])
    if not (1970 <= year <= 2261 and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        raise ValueError(f"date out of range: {head!r}")
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError(f"time out of range: {head!r}")
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def iso8601_ns(text: str) -> int:
    """``2021-04-17T16:43:37.075687Z`` -> ns since the epoch, exactly (up to 9 fraction digits kept).

    Accepts ``Z``, no designator (UTC) or a ``+HH:MM``/``-HH:MM`` offset; raises
    ValueError on anything else, or on a time outside int64 nanoseconds.
    """
    if not isinstance(text, str) or len(text) < 19:
        raise ValueError(f"not an ISO-8601 time: {text!r}")
    seconds = _epoch_seconds(text[:19])
    if len(text) == 27 and text[19] == "." and text[26] == "Z":  # the venue's usual microseconds
        micros = text[20:26]
        if micros.isascii() and micros.isdigit():
            return seconds * _NS_PER_S + int(micros) * 1000
    tail = text[19:]
    offset = 0
    if tail[-1:] in ("Z", "z"):
        tail = tail[:-1]
    elif len(tail) >= 6 and tail[-6] in "+-" and tail[-3] == ":":
        zone = tail[-5:-3] + tail[-2:]
        if not (zone.isascii() and zone.isdigit()):
            raise ValueError(f"bad UTC offset in {text!r}")
        offset = (int(zone[:2]) * 3600 + int(zone[2:]) * 60) * (1 if tail[-6] == "+" else -1)
        tail = tail[:-6]
    fraction = 0
    if tail:
        digits = tail[1:]
        if tail[0] != "." or not digits or not digits.isascii() or not digits.isdigit():
            raise ValueError(f"not an ISO-8601 time: {text!r}")
        fraction = int(digits[:9].ljust(9, "0"))
    value = (seconds - offset) * _NS_PER_S + fraction
    if not 0 <= value <= INT64_MAX:
        raise ValueError(f"time out of range: {text!r}")
    return value


def int_id(value: object) -> int:
    """A venue id (int or digit string) as a non-negative int64; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not an id: {value!r}")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise ValueError(f"not an id: {value!r}")
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= INT64_MAX:
        raise ValueError(f"id out of range: {value!r}")
    return value
