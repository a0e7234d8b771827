"""Volume-weighted average price, cumulative or over the last N updates."""

from __future__ import annotations

from typing import Self

import numpy.typing as npt

from hftpipe.strategy.indicators.base import FloatArray, Indicator, as_array, check_period, not_finite, replay, series


class VWAP(Indicator[float]):
    """``Σ price·volume / Σ volume``; ``update(price, volume)``.

    ``period=None``: since construction or the last ``reset()`` (lookback 0).
    ``period=N``: over the last N updates (lookback N - 1). A span whose
    volumes are all zero has no VWAP: ``update`` answers ``None`` (NaN in
    ``compute``) until a traded volume is back in it, so ``None`` can follow
    values. Volume must be >= 0; price may be any finite number.

    TA-Lib has no VWAP. The sums are compensated (Neumaier), so a rolling
    window that drops a huge print keeps full precision for the small ones
    left, and zero-volume spans are told by counting, never by a sum that
    rounding left at 1e-17.
    """

    __slots__ = (
        "_nonzero",
        "_period",
        "_pos",
        "_pv",
        "_pv_c",
        "_pv_window",
        "_v",
        "_v_c",
        "_v_window",
        "_vwap",
    )

    _period: int | None
    _pv_window: list[float]
    _v_window: list[float]
    _pos: int
    _pv: float
    _pv_c: float
    _v: float
    _v_c: float
    _nonzero: int
    _vwap: float | None

    def __init__(self, period: int | None = None) -> None:
        self._period = None if period is None else check_period("VWAP", "period", period, 1)
        super().__init__(0 if self._period is None else self._period - 1)

    def _clear(self) -> None:
        size = self._period or 0
        self._pv_window = [0.0] * size
        self._v_window = [0.0] * size
        self._pos = 0
        self._pv = self._pv_c = 0.0
        self._v = self._v_c = 0.0
        self._nonzero = 0
        self._vwap = None

    def _fresh(self) -> Self:
        return type(self)(self._period)

    def __repr__(self) -> str:
        return f"VWAP(period={self._period})"

    @property
    def period(self) -> int | None:
        return self._period

    @property
    def value(self) -> float | None:
        return self._vwap

    def update(self, price: float, volume: float) -> float | None:
        """Feed one trade (or bar); the VWAP, or ``None`` during warm-up or over an all-zero-volume span."""
        if price - price != 0.0:
            raise not_finite("VWAP", "price", price)
        if not volume >= 0.0 or volume - volume != 0.0:
            raise ValueError(f"VWAP.update: volume must be finite and >= 0, got {volume!r}")
        n = self._count
        self._count = n + 1
        pv = price * volume
        self._add(pv, volume)
        self._nonzero += volume > 0.0
        period = self._period
        if period is not None:
            pos = self._pos
            if n >= period:
                old_v = self._v_window[pos]
                self._add(-self._pv_window[pos], -old_v)
                self._nonzero -= old_v > 0.0
            self._pv_window[pos] = pv
            self._v_window[pos] = volume
            pos += 1
            self._pos = 0 if pos == period else pos
            if n + 1 < period:
                return None
        vwap = self._vwap = (self._pv + self._pv_c) / (self._v + self._v_c) if self._nonzero else None
        return vwap

    def _add(self, pv: float, v: float) -> None:
        """Neumaier-compensated ``Σpv += pv`` and ``Σv += v``."""
        s = self._pv
        t = s + pv
        self._pv_c += (s - t) + pv if abs(s) >= abs(pv) else (pv - t) + s
        self._pv = t
        s = self._v
        t = s + v
        self._v_c += (s - t) + v if abs(s) >= abs(v) else (v - t) + s
        self._v = t

    def compute(self, price: npt.ArrayLike, volume: npt.ArrayLike) -> FloatArray:
        """VWAP over whole arrays (NaN during warm-up and over zero-volume spans), through ``update``."""
        return as_array(replay(self._fresh().update, series("VWAP", ["price", "volume"], [price, volume])))
