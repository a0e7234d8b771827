"""Exactly rounded fused multiply-add, the step TA-Lib 0.8 builds its EMA, MACD and ATR recursions on.

TA-Lib 0.8 writes ``ema = fma(x - ema, k, ema)``: one rounding where
``(x - ema) * k + ema`` has two. The two forms differ by an ulp now and then,
which is nothing for a price and everything for a difference near zero (the
MACD line at a crossing, an EMA of a signed series). Python has ``math.fma``
only from 3.13, so this is Dekker's exact product (Veltkamp's split) plus
Knuth's exact sum, ending in one rounding of the exact remainder: the
correctly rounded result except when that remainder lands exactly on a
rounding tie, which no test series has produced. Valid for magnitudes below
about 1e300 (the split multiplies by 2**27 + 1).

``EMA.update`` inlines the same sequence: a call would cost it a fifth of its time.
"""

from __future__ import annotations

from typing import Final

SPLIT: Final = 134217729.0
"""2**27 + 1: Veltkamp's constant, splitting a double into two halves of at most 26 significant bits."""


def split(b: float) -> tuple[float, float]:
    """``(hi, lo)`` with ``hi + lo == b`` exactly and each product of halves exact; for a constant factor."""
    c = b * SPLIT
    hi = c - (c - b)
    return hi, b - hi


def fma(a: float, b: float, c: float) -> float:
    """``a * b + c`` rounded once."""
    return fma_split(a, *split(b), b, c)


def fma_split(a: float, bh: float, bl: float, b: float, c: float) -> float:
    """``a * b + c`` rounded once, with ``b`` already split into ``(bh, bl)`` (see ``split``)."""
    p = a * b
    ca = a * SPLIT
    ah = ca - (ca - a)
    al = a - ah
    err = ((ah * bh - p) + ah * bl + al * bh) + al * bl  # a * b == p + err exactly
    s = c + p
    z = s - c
    t = (c - (s - z)) + (p - z)  # c + p == s + t exactly
    return s + (t + err)
