"""Momentum: follow a breakout that the RSI confirms, get out when the move fades back to the average.

On each closed bar (RSI and Bollinger bands on the closes, see ``_bands``):

- **enter long** (buy ``qty``) when close > upper band and RSI > ``rsi_high``;
  **enter short** (sell ``qty``) when close < lower band and RSI < ``rsi_low``:
  a close outside the bands is a large move for the recent volatility, and
  the RSI says it is not one outlier bar but a run of gains (losses);
- **exit** the whole position when the close crosses back through the
  middle band against it (a long below it, a short above it): the move the
  entry bet on is over.

Entries repeat on consecutive signal bars up to ``max_position``; an exit is
reduce-only. Orders are IOC limits at the touch.
"""

from __future__ import annotations

from dataclasses import dataclass

from hftpipe.strategy import OrderSide
from stages.trading.strategy.builtin._bands import BandParams, BandStrategy


class Momentum(BandStrategy):
    """Breakout follower on RSI + Bollinger bands (see the module docstring)."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params(BandParams):
        """The shared band params (``_bands.BandParams``)."""

    params: Params

    def decide(
        self, close: float, rsi: float, upper: float, middle: float, lower: float, position: int, qty: int
    ) -> tuple[OrderSide | None, int]:
        if position > 0 and close < middle:
            return OrderSide.SELL, position
        if position < 0 and close > middle:
            return OrderSide.BUY, -position
        if close > upper and rsi > self.params.rsi_high:
            return OrderSide.BUY, qty
        if close < lower and rsi < self.params.rsi_low:
            return OrderSide.SELL, qty
        return None, 0
