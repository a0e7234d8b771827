"""MACD: the fast EMA minus the slow EMA, its signal EMA, and their difference, as TA-Lib computes them."""

from __future__ import annotations

from typing import Self

import numpy.typing as npt

from hftpipe.strategy.indicators.base import (
    FloatArray,
    Indicator,
    as_arrays,
    check_period,
    not_finite,
    replay,
    series,
)
from hftpipe.strategy.indicators.fused import fma_split, split

MACDValue = tuple[float, float, float]
"""``(macd, signal, hist)``."""


class MACD(Indicator[MACDValue]):
    """``(macd, signal, hist)``; lookback ``slow - 1 + signal - 1`` (33 for 12/26/9).

    As TA-Lib's ``TA_MACD`` (default compatibility), ``k = 2 / (n + 1)`` for
    each EMA. The slow EMA is seeded with the mean of the first ``slow``
    inputs and the fast one with the mean of the last ``fast`` of those same
    inputs, so both start on the same bar; from there ``macd = fast - slow``.
    The signal EMA is seeded with the mean of the first ``signal`` MACD
    values, so the first triple comes ``signal - 1`` inputs after the first
    MACD value (which is not reported, as in TA-Lib). Every EMA step is
    ``fma(x - ema, k, ema)`` like TA-Lib 0.8's, so the line is bit-identical
    to TA-Lib's even where it crosses zero.

    With ``signal=1`` the signal is the MACD line itself and the histogram 0,
    as TA-Lib 0.8 special-cases it (its fused step would leave an ulp).

    TA-Lib silently swaps ``fast`` and ``slow`` when ``fast > slow``; here that
    is a ValueError, since it is almost surely a mistake in the caller.
    """

    __slots__ = (
        "_fast",
        "_fast_n",
        "_fast_sum",
        "_kf",
        "_kg",
        "_ks",
        "_macd",
        "_signal",
        "_signal_n",
        "_signal_sum",
        "_slow",
        "_slow_n",
        "_slow_sum",
    )

    _fast_n: int
    _slow_n: int
    _signal_n: int
    _kf: tuple[float, float, float]
    _ks: tuple[float, float, float]
    _kg: tuple[float, float, float]
    _fast_sum: float
    _slow_sum: float
    _signal_sum: float
    _fast: float
    _slow: float
    _macd: float
    _signal: float

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self._fast_n = check_period("MACD", "fast", fast, 2)
        self._slow_n = check_period("MACD", "slow", slow, 2)
        self._signal_n = check_period("MACD", "signal", signal, 1)
        if self._fast_n > self._slow_n:
            raise ValueError(f"MACD: fast ({fast}) must not exceed slow ({slow}); TA-Lib would swap them silently")
        self._kf = _factor(self._fast_n)
        self._ks = _factor(self._slow_n)
        self._kg = _factor(self._signal_n)
        super().__init__(self._slow_n - 1 + self._signal_n - 1)

    def _clear(self) -> None:
        self._fast_sum = 0.0
        self._slow_sum = 0.0
        self._signal_sum = 0.0
        self._fast = 0.0
        self._slow = 0.0
        self._macd = 0.0
        self._signal = 0.0

    def _fresh(self) -> Self:
        return type(self)(self._fast_n, self._slow_n, self._signal_n)

    def __repr__(self) -> str:
        return f"MACD(fast={self._fast_n}, slow={self._slow_n}, signal={self._signal_n})"

    @property
    def periods(self) -> tuple[int, int, int]:
        """``(fast, slow, signal)``."""
        return self._fast_n, self._slow_n, self._signal_n

    @property
    def value(self) -> MACDValue | None:
        if self._count > self._lookback:
            return self._macd, self._signal, self._macd - self._signal
        return None

    def update(self, x: float) -> MACDValue | None:
        """Feed one input; ``(macd, signal, hist)``, or ``None`` during warm-up."""
        if x - x != 0.0:
            raise not_finite("MACD", "x", x)
        n = self._count
        self._count = n + 1
        if n > self._lookback:
            kh, kl, k = self._kf
            fast = self._fast = fma_split(x - self._fast, kh, kl, k, self._fast)
            kh, kl, k = self._ks
            slow = self._slow = fma_split(x - self._slow, kh, kl, k, self._slow)
            macd = self._macd = fast - slow
            if self._signal_n == 1:  # TA-Lib's special case: the signal is the line itself
                signal = self._signal = macd
            else:
                kh, kl, k = self._kg
                signal = self._signal = fma_split(macd - self._signal, kh, kl, k, self._signal)
            return macd, signal, macd - signal
        return self._warm_up(n, x)

    def _warm_up(self, n: int, x: float) -> MACDValue | None:
        """Inputs 0..lookback: the seeds, then the MACD values that seed the signal."""
        slow_n = self._slow_n
        if n < slow_n:
            self._slow_sum += x
            if n >= slow_n - self._fast_n:
                self._fast_sum += x
            if n < slow_n - 1:
                return None
            self._slow = self._slow_sum / slow_n
            self._fast = self._fast_sum / self._fast_n
        else:
            kh, kl, k = self._kf
            self._fast = fma_split(x - self._fast, kh, kl, k, self._fast)
            kh, kl, k = self._ks
            self._slow = fma_split(x - self._slow, kh, kl, k, self._slow)
        macd = self._macd = self._fast - self._slow
        self._signal_sum += macd
        if n < self._lookback:
            return None
        signal = self._signal = self._signal_sum / self._signal_n
        return macd, signal, macd - signal

    def compute(self, x: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(macd, signal, hist)`` arrays over a whole series (NaN during warm-up), through ``update``."""
        macd, signal, hist = as_arrays(replay(self._fresh().update, series("MACD", ["x"], [x])), 3)
        return macd, signal, hist


def _factor(period: int) -> tuple[float, float, float]:
    """``(hi, lo, k)`` for ``k = 2 / (period + 1)``, split once for the fused steps."""
    k = 2.0 / (period + 1)
    hi, lo = split(k)
    return hi, lo, k
