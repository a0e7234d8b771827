"""Mean reversion: fade a stretch that the RSI calls overdone, take profit back at the average.

On each closed bar (RSI and Bollinger bands on the closes, see ``_bands``):

- **enter long** (buy ``qty``) when close < lower band and RSI < ``rsi_low``;
  **enter short** (sell ``qty``) when close > upper band and RSI > ``rsi_high``:
  the price is far from its recent average and the RSI says sellers (buyers)
  are exhausted, so a move back is the bet;
- **exit** the whole position when the close reaches the middle band (a long
  at or above it, a short at or below it): the reversion happened.

Entries repeat on consecutive signal bars up to ``max_position``; an exit is
reduce-only. Orders are IOC limits at the touch.
"""

from __future__ import annotations

from dataclasses import dataclass

from hftpipe.strategy import OrderSide
from stages.trading.strategy.builtin._bands import BandParams, BandStrategy


class MeanReversion(BandStrategy):
    """Band fader on RSI + Bollinger bands (see the module docstring)."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params(BandParams):
        """The shared band params (``_bands.BandParams``)."""

    params: Params

    def decide(
        self, close: float, rsi: float, upper: float, middle: float, lower: float, position: int, qty: int
    ) -> tuple[OrderSide | None, int]:
        if position > 0 and close >= middle:
            return OrderSide.SELL, position
        if position < 0 and close <= middle:
            return OrderSide.BUY, -position
        if close < lower and rsi < self.params.rsi_low:
            return OrderSide.BUY, qty
        if close > upper and rsi > self.params.rsi_high:
            return OrderSide.SELL, qty
        return None, 0
