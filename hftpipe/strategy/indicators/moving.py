"""Moving averages: SMA and EMA, with TA-Lib's arithmetic step for step."""

from __future__ import annotations

from typing import Self

import numpy.typing as npt

from hftpipe.strategy.indicators.base import FloatArray, Indicator, as_array, check_period, not_finite, replay, series
from hftpipe.strategy.indicators.fused import split


class SMA(Indicator[float]):
    """Simple moving average of the last ``period`` inputs; lookback ``period - 1``.

    TA-Lib (``TA_SMA``) keeps a running total of the newest ``period - 1``
    inputs: it adds the new input, divides, then subtracts the oldest. The same
    additions in the same order give bit-identical values; a total kept any
    other way (subtract first, or re-summed) drifts from TA-Lib's by rounding
    over long series.
    """

    __slots__ = ("_mean", "_period", "_pos", "_total", "_window")

    _period: int
    _window: list[float]
    _pos: int
    _total: float
    _mean: float

    def __init__(self, period: int) -> None:
        self._period = check_period("SMA", "period", period, 1)
        super().__init__(self._period - 1)

    def _clear(self) -> None:
        self._window = [0.0] * self._period
        self._pos = 0
        self._total = 0.0
        self._mean = 0.0

    def _fresh(self) -> Self:
        return type(self)(self._period)

    def __repr__(self) -> str:
        return f"SMA(period={self._period})"

    @property
    def period(self) -> int:
        return self._period

    @property
    def value(self) -> float | None:
        return self._mean if self._count > self._lookback else None

    def update(self, x: float) -> float | None:
        """Feed one input; the mean of the last ``period`` inputs, or ``None`` during warm-up."""
        if x - x != 0.0:
            raise not_finite("SMA", "x", x)
        window = self._window
        pos = self._pos
        window[pos] = x
        pos += 1
        if pos == self._period:
            pos = 0
        self._pos = pos
        n = self._count
        self._count = n + 1
        total = self._total + x
        if n < self._lookback:
            self._total = total
            return None
        mean = total / self._period
        self._total = total - window[pos]  # window[pos] is now the oldest input of this window
        self._mean = mean
        return mean

    def compute(self, x: npt.ArrayLike) -> FloatArray:
        """SMA over a whole array (NaN during warm-up), through ``update`` of a fresh instance."""
        return as_array(replay(self._fresh().update, series("SMA", ["x"], [x])))


class EMA(Indicator[float]):
    """Exponential moving average, ``k = 2 / (period + 1)``; lookback ``period - 1``.

    Seeded like TA-Lib's default (``TA_EMA``, ``TA_COMPATIBILITY_DEFAULT``):
    the first value is the plain mean of the first ``period`` inputs (summed
    from 0.0 in input order), then ``ema = fma(x - ema, k, ema)``, rounded
    once as TA-Lib 0.8 does (see ``fused``), which makes the values
    bit-identical to TA-Lib's.
    """

    __slots__ = ("_ema", "_k", "_period", "_total")

    _period: int
    _k: tuple[float, float, float]
    _total: float
    _ema: float

    def __init__(self, period: int) -> None:
        self._period = check_period("EMA", "period", period, 1)
        k = 2.0 / (self._period + 1)
        self._k = (*split(k), k)  # (hi, lo, k): the split the fused step needs, done once
        super().__init__(self._period - 1)

    def _clear(self) -> None:
        self._total = 0.0
        self._ema = 0.0

    def _fresh(self) -> Self:
        return type(self)(self._period)

    def __repr__(self) -> str:
        return f"EMA(period={self._period})"

    @property
    def period(self) -> int:
        return self._period

    @property
    def k(self) -> float:
        """The smoothing factor, 2 / (period + 1)."""
        return self._k[2]

    @property
    def value(self) -> float | None:
        return self._ema if self._count > self._lookback else None

    def update(self, x: float) -> float | None:
        """Feed one input; the EMA, or ``None`` during warm-up."""
        if x - x != 0.0:
            raise not_finite("EMA", "x", x)
        n = self._count + 1
        self._count = n
        if n > self._period:
            # fused.fma_split(x - e, kh, kl, k, e), inlined; 134217729.0 is fused.SPLIT
            kh, kl, k = self._k
            e = self._ema
            a = x - e
            p = a * k
            c = a * 134217729.0
            ah = c - (c - a)
            al = a - ah
            s = e + p
            z = s - e
            e = s + (((e - (s - z)) + (p - z)) + (((ah * kh - p) + ah * kl + al * kh) + al * kl))
            self._ema = e
            return e
        total = self._total + x
        if n < self._period:
            self._total = total
            return None
        ema = total / self._period
        self._ema = ema
        return ema

    def compute(self, x: npt.ArrayLike) -> FloatArray:
        """EMA over a whole array (NaN during warm-up), through ``update`` of a fresh instance."""
        return as_array(replay(self._fresh().update, series("EMA", ["x"], [x])))
