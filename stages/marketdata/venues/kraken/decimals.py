"""The decimals a Kraken pair is written with: what its instrument is registered at.

Kraken sends every number of a pair with the same number of decimals (v1 as
strings; v2 as JSON numbers, formatted at the pair's ``price_precision`` /
``qty_precision``), so the most decimals seen in a pair's levels are its
scale when nothing better is known.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def decimals_of(text: str) -> int:
    """``"0.05000"`` -> 5, ``"12"`` -> 0."""
    dot = text.find(".")
    return 0 if dot < 0 else len(text) - dot - 1


def max_decimals(texts: Iterable[Any]) -> int | None:
    """The most decimals among the strings of ``texts`` (others ignored); None if there is none."""
    best: int | None = None
    for text in texts:
        if isinstance(text, str):
            places = decimals_of(text)
            if best is None or places > best:
                best = places
    return best
