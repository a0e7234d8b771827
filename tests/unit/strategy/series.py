"""Input series for the indicator tests, and the comparison every one of them uses.

Real data comes from the Binance USD-M futures capture (the spot capture has
two trades): each symbol's ``aggTrade`` prices and quantities in order, its
``bookTicker`` mid prices, and OHLC bars of N of either. Synthetic data are
seeded geometric random walks at three price levels (1e-8 like SHIB/BTC,
100, 1e5), the same on a tick grid (repeated prices, flat stretches), a
signed zero-mean series (where only bit-for-bit arithmetic keeps a
difference near zero equal), and constants.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from stages.marketdata.capture.format import EventKind
from tests.captures import capture

FloatArray = npt.NDArray[np.float64]
Bars = tuple[FloatArray, FloatArray, FloatArray, FloatArray]
"""``(high, low, close, volume)``."""

FUTURES = "BINANCE_FUTURES.ws.1.0"
SYMBOLS = ("SUSHIUSDT", "CTKUSDT")


def _stream(kind: str, symbol: str) -> list[dict[str, str]]:
    out = []
    for event in capture(FUTURES):
        if event.kind is EventKind.RECEIVED and f'"e":"{kind}"' in event.payload:
            data = json.loads(event.payload)["data"]
            if data["s"] == symbol:
                out.append(data)
    return out


def trades(symbol: str) -> tuple[FloatArray, FloatArray]:
    """``(price, quantity)`` of the symbol's aggTrade messages, in capture order."""
    rows = _stream("aggTrade", symbol)
    return np.array([float(r["p"]) for r in rows]), np.array([float(r["q"]) for r in rows])


def quote_mids(symbol: str) -> FloatArray:
    """Mid prices of the symbol's bookTicker messages, in capture order."""
    return np.array([(float(r["b"]) + float(r["a"])) / 2 for r in _stream("bookTicker", symbol)])


def bars(prices: FloatArray, volumes: FloatArray, size: int) -> Bars:
    """OHLC bars of ``size`` consecutive ticks each (a trailing partial bar is dropped)."""
    n = len(prices) // size * size
    p = prices[:n].reshape(-1, size)
    return p.max(axis=1), p.min(axis=1), p[:, -1].copy(), volumes[:n].reshape(-1, size).sum(axis=1)


def quote_bars(symbol: str, size: int) -> Bars:
    mids = quote_mids(symbol)
    return bars(mids, np.ones(len(mids)), size)


def walk(seed: int, n: int, start: float, vol: float = 1e-3, tick: float | None = None) -> FloatArray:
    """A geometric random walk; on a tick grid when ``tick`` is given."""
    prices = start * np.exp(np.cumsum(np.random.default_rng(seed).normal(0.0, vol, n)))
    return prices if tick is None else np.maximum(np.round(prices / tick), 1.0) * tick


def walk_bars(seed: int, n: int, start: float, ticks_per_bar: int = 8) -> Bars:
    prices = walk(seed, n * ticks_per_bar, start)
    volumes = np.random.default_rng(seed + 1).exponential(1.0, n * ticks_per_bar)
    return bars(prices, volumes, ticks_per_bar)


def flat_bars(n: int, price: float) -> Bars:
    p = np.full(n, price)
    return p, p.copy(), p.copy(), np.ones(n)


PRICE_SERIES: dict[str, Callable[[], FloatArray]] = {
    "sushi-trades": lambda: trades("SUSHIUSDT")[0],
    "ctk-trades": lambda: trades("CTKUSDT")[0],
    "sushi-quote-mids": lambda: quote_mids("SUSHIUSDT"),
    "ctk-quote-mids": lambda: quote_mids("CTKUSDT"),
    "walk-100": lambda: walk(1, 3000, 100.0),
    "walk-1e5": lambda: walk(2, 3000, 1e5),
    "walk-1e-8": lambda: walk(3, 3000, 1e-8),
    "walk-1e-8-ticked": lambda: walk(4, 3000, 1e-8, tick=1e-12),
    "walk-1e5-ticked": lambda: walk(5, 3000, 1e5, tick=0.1),
    "volatile-walk": lambda: walk(6, 3000, 50.0, vol=0.05),
    "flat-3.3": lambda: np.full(200, 3.3),
    "flat-1e-8": lambda: np.full(200, 1e-8),
    "flat-1e5": lambda: np.full(200, 1e5),
    "flat-then-moving": lambda: np.concatenate([np.full(60, 7.0), walk(7, 200, 7.0), np.full(60, 7.5)]),
}
"""Positive price series, by name."""

SIGNED_SERIES: dict[str, Callable[[], FloatArray]] = {
    "zero-mean-noise": lambda: np.random.default_rng(8).normal(0.0, 1.0, 3000),
}
"""Series that cross zero: where an EMA-based line is compared near 0."""

BAR_SERIES: dict[str, Callable[[], Bars]] = {
    "sushi-trade-bars-2": lambda: bars(*trades("SUSHIUSDT"), 2),
    "ctk-trade-bars-2": lambda: bars(*trades("CTKUSDT"), 2),
    "sushi-quote-bars-5": lambda: quote_bars("SUSHIUSDT", 5),
    "walk-bars-100": lambda: walk_bars(11, 1500, 100.0),
    "walk-bars-1e5": lambda: walk_bars(12, 1500, 1e5),
    "walk-bars-1e-8": lambda: walk_bars(13, 1500, 1e-8),
    "flat-bars-3.3": lambda: flat_bars(100, 3.3),
    "flat-bars-1e-8": lambda: flat_bars(100, 1e-8),
}
"""OHLC bars, by name."""


def assert_matches(
    ours: FloatArray, reference: FloatArray, rtol: float = 1e-9, level: FloatArray | None = None
) -> None:
    """NaN at exactly the same positions, and every defined value within ``rtol`` relative of the reference.

    ``level``: relative to the larger of the value and ``level`` instead (a Bollinger band is the middle
    band minus a multiple of the deviation; where the two nearly cancel, TA-Lib's own rounding is a large
    part of the difference, so both are held to the price level they are computed from).
    """
    assert ours.dtype == np.float64 and ours.shape == reference.shape, (ours.dtype, ours.shape, reference.shape)
    ours_nan, ref_nan = np.isnan(ours), np.isnan(reference)
    assert (ours_nan == ref_nan).all(), f"NaN at different positions: first at {int(np.argmax(ours_nan != ref_nan))}"
    a, b = ours[~ref_nan], reference[~ref_nan]
    size = np.maximum(np.abs(a), np.abs(b))
    if level is not None:
        size = np.maximum(size, np.abs(level[~ref_nan]))
    off = np.abs(a - b) > rtol * size
    if off.any():
        i = int(np.flatnonzero(~ref_nan)[np.argmax(off)])
        raise AssertionError(f"index {i}: {ours[i]!r} vs reference {reference[i]!r} ({int(off.sum())} values off)")


def incremental(update: Callable[..., object], *columns: FloatArray) -> list[object]:
    """What ``update`` answers for each row, fed one row at a time."""
    return [update(*row) for row in zip(*(c.tolist() for c in columns), strict=True)]
