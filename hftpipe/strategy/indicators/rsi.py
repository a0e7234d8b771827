"""Wilder's relative strength index, as TA-Lib computes it."""

from __future__ import annotations

from typing import Self

import numpy.typing as npt

from hftpipe.strategy.indicators.base import FloatArray, Indicator, as_array, check_period, not_finite, replay, series


class RSI(Indicator[float]):
    """RSI in 0..100 over ``period`` differences; lookback ``period`` (the first input has no difference).

    TA-Lib 0.8's ``TA_RSI`` (default compatibility): the average gain and loss
    start as the sums of the first ``period`` differences times ``1 / period``,
    then Wilder-smooth as ``avg = (avg * (period - 1) + move) * (1 / period)``
    (a zero difference counts as a gain of 0). The value is
    ``100 * gain / (gain + loss)``, and 0 when both averages are 0: a flat
    series reads 0, not 50, as in TA-Lib. (TA-Lib before 0.8 divided by the
    period, an ulp away, and read 0 below an average move of 1e-14, which
    silenced the RSI of prices around 1e-8; 0.8 does neither.)
    """

    __slots__ = ("_gain", "_inv", "_loss", "_n1", "_period", "_prev", "_rsi")

    _period: int
    _inv: float
    _n1: float
    _prev: float
    _gain: float
    _loss: float
    _rsi: float

    def __init__(self, period: int = 14) -> None:
        self._period = check_period("RSI", "period", period, 2)
        self._inv = 1.0 / self._period
        self._n1 = float(self._period - 1)
        super().__init__(self._period)

    def _clear(self) -> None:
        self._prev = 0.0
        self._gain = 0.0
        self._loss = 0.0
        self._rsi = 0.0

    def _fresh(self) -> Self:
        return type(self)(self._period)

    def __repr__(self) -> str:
        return f"RSI(period={self._period})"

    @property
    def period(self) -> int:
        return self._period

    @property
    def value(self) -> float | None:
        return self._rsi if self._count > self._lookback else None

    def update(self, x: float) -> float | None:
        """Feed one input; the RSI, or ``None`` during warm-up."""
        if x - x != 0.0:
            raise not_finite("RSI", "x", x)
        n = self._count
        self._count = n + 1
        d = x - self._prev
        self._prev = x
        if n > self._period:
            n1 = self._n1
            inv = self._inv
            if d < 0.0:
                loss = (self._loss * n1 - d) * inv
                gain = self._gain * n1 * inv
            else:
                gain = (self._gain * n1 + d) * inv
                loss = self._loss * n1 * inv
            self._gain = gain
            self._loss = loss
        else:
            if n == 0:
                return None
            if d < 0.0:
                self._loss -= d
            else:
                self._gain += d
            if n < self._period:
                return None
            gain = self._gain * self._inv
            loss = self._loss * self._inv
            self._gain = gain
            self._loss = loss
        total = gain + loss
        rsi = 100.0 * (gain / total) if total > 0.0 else 0.0
        self._rsi = rsi
        return rsi

    def compute(self, x: npt.ArrayLike) -> FloatArray:
        """RSI over a whole array (NaN during warm-up), through ``update`` of a fresh instance."""
        return as_array(replay(self._fresh().update, series("RSI", ["x"], [x])))
