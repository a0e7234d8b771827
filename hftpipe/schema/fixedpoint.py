"""Exact decimal strings <-> fixed-point int64, without going through float.

Venues send prices as decimal strings; books, checksums and fills must match
them digit for digit, which binary floats cannot promise.
"""

from __future__ import annotations

from typing import Final

MAX_SCALE: Final = 18
INT64_MAX: Final = (1 << 63) - 1
INT64_MIN: Final = -(1 << 63)
_POW10: Final[tuple[int, ...]] = tuple(10**i for i in range(MAX_SCALE + 1))


class FixedPointError(ValueError):
    """A decimal string that cannot be represented exactly at the scale."""


def parse_fixed(text: str, scale: int) -> int:
    """``parse_fixed("0.01230", 5) == 1230``; rejects NaN, exponents, and lost digits."""
    # Fast path, the venues' usual shape: unsigned, at most ``scale`` decimals
    # ("0.35130000", "7.6110", "12"): one int() on the digits, no partition.
    if 0 <= scale <= MAX_SCALE:
        point = text.find(".")
        if point > 0:
            decimals = len(text) - point - 1
            if decimals <= scale:
                digits = text[:point] + text[point + 1 :]
                if digits.isascii() and digits.isdigit():
                    fast = int(digits) * _POW10[scale - decimals]
                    if fast <= INT64_MAX:
                        return fast
        elif point < 0 and text.isascii() and text.isdigit():
            fast = int(text) * _POW10[scale]
            if fast <= INT64_MAX:
                return fast
    if not 0 <= scale <= MAX_SCALE:
        raise FixedPointError(f"scale must be 0..{MAX_SCALE}, got {scale}")
    negative = text[:1] == "-"
    body = text[1:] if negative or text[:1] == "+" else text
    whole, dot, frac = body.partition(".")
    if (
        not (whole or frac)
        or not body.isascii()  # str.isdigit() also accepts "²" and non-ASCII digits
        or not (whole.isdigit() or whole == "")
        or not (frac.isdigit() or frac == "")
    ):
        raise FixedPointError(f"not a plain decimal number: {text!r}")
    if not dot and not whole:
        raise FixedPointError(f"not a plain decimal number: {text!r}")
    if len(frac) > scale:
        if frac[scale:].strip("0"):
            raise FixedPointError(f"{text!r} has more than {scale} decimal places")
        frac = frac[:scale]
    value: int = int(whole or "0") * _POW10[scale] + (int(frac) * _POW10[scale - len(frac)] if frac else 0)
    if value > (INT64_MAX + 1 if negative else INT64_MAX):  # -2^63 is representable
        raise FixedPointError(f"{text!r} overflows int64 at scale {scale}")
    return -value if negative else value


def format_fixed(value: int, scale: int) -> str:
    """The shortest exact decimal string: ``format_fixed(1230, 5) == "0.0123"``."""
    if scale == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), _POW10[scale])
    frac_text = str(frac).rjust(scale, "0").rstrip("0")
    return f"{sign}{whole}.{frac_text}" if frac_text else f"{sign}{whole}"


def to_float(value: int, scale: int) -> float:
    """Convenience view for strategies; never feed the result back into a book."""
    return float(value / _POW10[scale])
