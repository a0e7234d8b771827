"""Fixed-point ints as Binance writes numbers: decimal strings with eight decimals.

Binance shows every price and quantity with eight decimals (``"0.01000000"``),
whatever the symbol's tick size. A symbol's prices are at ``price_scale``, its
quantities at ``qty_scale`` and ``price * qty`` at their sum; all three are at
most :data:`~hftpipe.schema.exchange.ASSET_SCALE` (the settings enforce it),
so padding to eight decimals is exact and never rounds.
"""

from __future__ import annotations

from typing import Final

from hftpipe.schema.exchange import ASSET_SCALE

DECIMALS: Final = ASSET_SCALE
_UNIT: Final = 10**DECIMALS


def fixed_text(value: int, scale: int) -> str:
    """``value`` at ``scale`` as an eight-decimal string: ``fixed_text(1, 2) == "0.01000000"``."""
    if scale > DECIMALS:
        raise ValueError(f"scale {scale} has more than {DECIMALS} decimals")
    scaled = value * 10 ** (DECIMALS - scale)
    whole, frac = divmod(-scaled if scaled < 0 else scaled, _UNIT)
    return f"{'-' if scaled < 0 else ''}{whole}.{frac:08d}"


def ratio_text(numerator: int, denominator: int, decimals: int) -> str:
    """``numerator / denominator`` rounded half away from zero to ``decimals`` places.

    Used where Binance divides (weighted average price, change percent); exact
    integer arithmetic, so equal inputs always give equal text.
    """
    if denominator == 0:
        return f"{0:.{decimals}f}"
    negative = (numerator < 0) != (denominator < 0)
    unit = 10**decimals
    quotient, remainder = divmod(abs(numerator) * unit, abs(denominator))
    if 2 * remainder >= abs(denominator):
        quotient += 1
    whole, frac = divmod(quotient, unit)
    text = f"{whole}.{frac:0{decimals}d}" if decimals else str(whole)
    return f"-{text}" if negative and quotient else text


class SymbolFormat:
    """One symbol's three number formats, bound once (the encoders call them per field)."""

    __slots__ = ("price_scale", "qty_scale", "quote_scale")

    def __init__(self, price_scale: int, qty_scale: int) -> None:
        if price_scale + qty_scale > DECIMALS:
            raise ValueError(f"price_scale + qty_scale must be <= {DECIMALS}")
        self.price_scale = price_scale
        self.qty_scale = qty_scale
        self.quote_scale = price_scale + qty_scale

    def price(self, value: int) -> str:
        return fixed_text(value, self.price_scale)

    def qty(self, value: int) -> str:
        return fixed_text(value, self.qty_scale)

    def quote(self, value: int) -> str:
        """A ``price * qty`` amount (scale ``price_scale + qty_scale``)."""
        return fixed_text(value, self.quote_scale)

    def levels(self, levels: list[tuple[int, int]]) -> list[list[str]]:
        """``[(price, qty), ...]`` -> ``[["price", "qty"], ...]`` (depth payloads)."""
        ps, qs = self.price_scale, self.qty_scale
        return [[fixed_text(p, ps), fixed_text(q, qs)] for p, q in levels]
