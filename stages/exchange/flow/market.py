"""What every participant agrees on: one fair value per symbol, and the symbol's filters.

The fair value is a seeded geometric random walk that starts at the symbol's
``initial_price``; the flow stage steps it once per round, so all makers quote
around the same value (and rarely cross one another). :class:`SymbolRules`
turns "about this price / about this notional" into prices and quantities that
pass the exchange's PRICE_FILTER, LOT_SIZE and NOTIONAL checks, as exact
decimal strings (prices and quantities never pass through a float on the way
out: the float is only the model).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final

from stages.exchange.protocol.settings import SymbolSettings

BPS: Final = 1e-4
_CLAMP_FACTOR: Final = 100.0
"""The walk stays within initial_price / 100 .. initial_price * 100 (and the PRICE_FILTER)."""


def decimal_text(value: int, scale: int) -> str:
    """``decimal_text(6000000, 2) == "60000.00"``: every decimal shown, like Binance."""
    if scale == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**scale)
    return f"{sign}{whole}.{str(frac).rjust(scale, '0')}"


@dataclass(frozen=True, slots=True)
class SymbolRules:
    settings: SymbolSettings

    @property
    def name(self) -> str:
        return self.settings.symbol

    @property
    def price_unit(self) -> int:
        """``10 ** price_scale``: a price of 1 quote unit as an int."""
        unit: int = 10**self.settings.price_scale
        return unit

    @property
    def qty_unit(self) -> int:
        unit: int = 10**self.settings.qty_scale
        return unit

    def to_float(self, price: int) -> float:
        return price / self.price_unit

    def price_near(self, value: float, *, round_up: bool) -> int:
        """A valid price (multiple of tick, inside the PRICE_FILTER) at or beside ``value``."""
        s = self.settings
        ticks = value * self.price_unit / s.tick_size
        price: int = (math.ceil(ticks) if round_up else math.floor(ticks)) * s.tick_size
        low = max(s.min_price, s.tick_size)
        low += (-low) % s.tick_size
        price = max(price, low)
        if s.max_price:
            price = min(price, s.max_price - s.max_price % s.tick_size)
        return price

    def qty_for(self, notional: float, price: int) -> int:
        """A valid quantity worth about ``notional`` quote at ``price``, at least the NOTIONAL minimum."""
        s = self.settings
        scale = self.qty_unit
        qty = int(notional / self.to_float(price) * scale) // s.step_size * s.step_size
        floor = max(s.min_qty, s.step_size)
        floor += (-floor) % s.step_size
        qty = max(qty, floor)
        if s.min_notional and price * qty < s.min_notional * scale:
            steps = -(-(s.min_notional * scale) // (price * s.step_size))
            qty = max(qty, steps * s.step_size)
        if s.max_qty:
            qty = min(qty, s.max_qty - s.max_qty % s.step_size)
        return qty

    def min_quote(self) -> float:
        """The NOTIONAL minimum in quote units (0 when none)."""
        return self.to_float(self.settings.min_notional)

    def price_text(self, price: int) -> str:
        return decimal_text(price, self.settings.price_scale)

    def qty_text(self, qty: int) -> str:
        return decimal_text(qty, self.settings.qty_scale)

    def quote_text(self, quote: float) -> str:
        """A quote amount (``quoteOrderQty``) at the price scale, rounded down."""
        return decimal_text(int(quote * self.price_unit), self.settings.price_scale)


class Market:
    """Fair values of every symbol, stepped together once per round by the flow stage."""

    def __init__(self, symbols: tuple[SymbolSettings, ...], seed: int, volatility_bps: float, step_s: float) -> None:
        self.rules = {s.symbol: SymbolRules(s) for s in symbols}
        self.symbols = tuple(self.rules)
        self._rng = random.Random(f"flow-market:{seed}")
        self._sigma = volatility_bps * BPS * math.sqrt(step_s)
        self.fair = {s.symbol: s.initial_price / 10**s.price_scale for s in symbols}
        self._bounds = {s.symbol: self._bounds_of(s) for s in symbols}
        self.steps = 0

    @staticmethod
    def _bounds_of(s: SymbolSettings) -> tuple[float, float]:
        scale = 10**s.price_scale
        initial = s.initial_price / scale
        low = max(initial / _CLAMP_FACTOR, max(s.min_price, s.tick_size) / scale * 20)
        high = initial * _CLAMP_FACTOR
        if s.max_price:
            high = min(high, s.max_price / scale / 1.05)
        return low, max(low, high)

    def step(self) -> None:
        """One step of every walk (log-normal, ``volatility_bps`` per second scaled to the round)."""
        self.steps += 1
        for symbol in self.symbols:
            low, high = self._bounds[symbol]
            moved = self.fair[symbol] * math.exp(self._sigma * self._rng.gauss(0.0, 1.0))
            self.fair[symbol] = min(max(moved, low), high)
