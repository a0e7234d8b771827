"""Wilder's average true range, as TA-Lib 0.8 computes it."""

from __future__ import annotations

from typing import Self

import numpy.typing as npt

from hftpipe.strategy.indicators.base import FloatArray, Indicator, as_array, check_period, replay, series
from hftpipe.strategy.indicators.fused import fma_split, split


class ATR(Indicator[float]):
    """Average true range over ``period`` bars; ``update(high, low, close)``; lookback ``period``.

    The true range of a bar is the largest of ``high - low``,
    ``|previous close - high|`` and ``|previous close - low|``, so the first
    bar has none. TA-Lib's ``TA_ATR`` seeds with the mean true range of bars
    1..period, then smooths as Wilder does; TA-Lib 0.8 writes that step as
    ``fma(atr, a, tr * b)`` with ``a = (period - 1) / period`` and
    ``b = 1 - a``, repeated here to the bit. ``period = 1`` is TA-Lib's
    special case, the true range itself (``TA_TRANGE``), which the same
    arithmetic gives (``a = 0``, ``b = 1``).

    A bar whose high is below its low is refused (TA-Lib takes it, and
    then ``high - low`` is negative).
    """

    __slots__ = ("_a", "_atr", "_b", "_period", "_prev_close", "_total")

    _period: int
    _a: tuple[float, float, float]
    _b: float
    _prev_close: float
    _total: float
    _atr: float

    def __init__(self, period: int = 14) -> None:
        self._period = check_period("ATR", "period", period, 1)
        a = (self._period - 1) / self._period
        self._a = (*split(a), a)
        self._b = 1.0 - a
        super().__init__(self._period)

    def _clear(self) -> None:
        self._prev_close = 0.0
        self._total = 0.0
        self._atr = 0.0

    def _fresh(self) -> Self:
        return type(self)(self._period)

    def __repr__(self) -> str:
        return f"ATR(period={self._period})"

    @property
    def period(self) -> int:
        return self._period

    @property
    def value(self) -> float | None:
        return self._atr if self._count > self._lookback else None

    def update(self, high: float, low: float, close: float) -> float | None:
        """Feed one bar; the ATR, or ``None`` during warm-up."""
        if (high - high) + (low - low) + (close - close) != 0.0:
            raise _bad_bar(high, low, close)
        if high < low:
            raise ValueError(f"ATR.update: high ({high!r}) is below low ({low!r})")
        n = self._count
        self._count = n + 1
        prev = self._prev_close
        self._prev_close = close
        if n == 0:
            return None
        tr = high - low
        v = abs(prev - high)
        tr = v if v > tr else tr  # not max(): a call costs more than the whole comparison
        v = abs(prev - low)
        tr = v if v > tr else tr
        if n > self._period:
            ah, al, a = self._a
            atr = self._atr = fma_split(self._atr, ah, al, a, tr * self._b)
            return atr
        self._total += tr
        if n < self._period:
            return None
        atr = self._atr = self._total / self._period
        return atr

    def compute(self, high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike) -> FloatArray:
        """ATR over whole arrays of bars (NaN during warm-up), through ``update`` of a fresh instance."""
        columns = series("ATR", ["high", "low", "close"], [high, low, close])
        return as_array(replay(self._fresh().update, columns))


def _bad_bar(high: float, low: float, close: float) -> ValueError:
    name, value = next((n, v) for n, v in (("high", high), ("low", low), ("close", close)) if v - v != 0.0)
    return ValueError(f"ATR.update: {name} must be finite, got {value!r}")
