"""Rolling volatility: the standard deviation of log returns over a window."""

from __future__ import annotations

import math
from typing import Self

import numpy.typing as npt

from hftpipe.strategy.indicators.base import FloatArray, Indicator, as_array, check_number, check_period, replay, series
from hftpipe.strategy.indicators.moments import RollingMoments


class RollingVolatility(Indicator[float]):
    """Sample standard deviation (ddof=1) of the last ``period`` log returns; lookback ``period``.

    Sample, not population: it is the usual estimator of a return
    distribution's spread from a few returns, and what ``pandas``'
    ``rolling(period).std()`` gives. Multiply by ``sqrt((period - 1) / period)``
    for TA-Lib's population ``STDDEV``.

    ``annualize``: periods per year (e.g. ``365 * 24 * 60`` for minute bars
    traded around the clock); the value is then multiplied by its square
    root. The return is ``log1p((p - prev) / prev)``, exact to a few ulps
    even for a one-tick move, where ``log(p) - log(prev)`` loses half its
    digits. The spread comes from shifted sums rebuilt every window (see
    ``moments``): no rounding outlives two windows, so a calm window after a
    volatile one is as exact as any. A flat window gives exactly 0.
    """

    __slots__ = ("_annualize", "_moments", "_period", "_prev", "_scale", "_vol")

    _period: int
    _annualize: float | None
    _scale: float
    _moments: RollingMoments
    _prev: float
    _vol: float

    def __init__(self, period: int, annualize: float | None = None) -> None:
        self._period = check_period("RollingVolatility", "period", period, 2)
        self._annualize = (
            None
            if annualize is None
            else check_number("RollingVolatility", "annualize", annualize, 0.0, strict=True, unit=" (periods per year)")
        )
        self._scale = 1.0 if self._annualize is None else math.sqrt(self._annualize)
        self._moments = RollingMoments(self._period)
        super().__init__(self._period)

    def _clear(self) -> None:
        self._moments.reset()
        self._prev = 0.0
        self._vol = 0.0

    def _fresh(self) -> Self:
        return type(self)(self._period, self._annualize)

    def __repr__(self) -> str:
        return f"RollingVolatility(period={self._period}, annualize={self._annualize!r})"

    @property
    def period(self) -> int:
        return self._period

    @property
    def annualize(self) -> float | None:
        return self._annualize

    @property
    def value(self) -> float | None:
        return self._vol if self._count > self._lookback else None

    def update(self, price: float) -> float | None:
        """Feed one price; the volatility of the last ``period`` returns, or ``None`` during warm-up."""
        if not price > 0.0 or price - price != 0.0:
            raise ValueError(f"RollingVolatility.update: price must be finite and > 0, got {price!r}")
        n = self._count
        self._count = n + 1
        prev = self._prev
        self._prev = price
        if n == 0:
            return None
        moments = self._moments
        moments.push(math.log1p((price - prev) / prev))
        if n < self._period:
            return None
        m2 = moments.m2
        vol = self._vol = math.sqrt(m2 / (self._period - 1)) * self._scale if m2 > 0.0 else 0.0
        return vol

    def compute(self, price: npt.ArrayLike) -> FloatArray:
        """Volatility over a whole price series (NaN during warm-up), through ``update`` of a fresh instance."""
        return as_array(replay(self._fresh().update, series("RollingVolatility", ["price"], [price])))
