"""Bar series for the bar strategies, and TA-Lib's view of them (the reference the strategies must agree with)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import talib

from hftpipe.schema.records import RecordType
from tests.unit.trading.strategy.builtin_harness import Harness, bar_record, capture_records, depth_record, of_type

NKN = 1
TICK = 1000  # NKNUSDT: 0.00001 at price scale 8
UNIT = 10.0**-8


@dataclass
class Series:
    """Bars of one instrument: each a (book record, close) pair, the book published just before the bar closed."""

    books: list[bytes]
    closes: list[int]
    volumes: list[int]

    @property
    def closes_f(self) -> npt.NDArray[np.float64]:
        """The closes as the host hands them to indicators: fixed point times 10**-scale."""
        return np.array([c * UNIT for c in self.closes], dtype=np.float64)


def capture_series() -> Series:
    """NKNUSDT of the shipped capture: one bar per published DEPTH record, closing at that book's mid."""
    books = [r for r in of_type(capture_records(), RecordType.DEPTH, NKN)]
    closes = []
    for record in books:
        bid, ask = int.from_bytes(record[80:88], "little"), int.from_bytes(record[80 + 320 : 88 + 320], "little")
        closes.append((bid + ask) // 2)
    return Series(books, closes, [0] * len(books))


def random_walk(seed: int, n: int = 400, ts_step: int = 1) -> Series:
    """A tick-size random walk in trending and ranging stretches, so bands are broken and the RSI runs to extremes."""
    rng = np.random.default_rng(seed)
    price = 35_000
    closes, volumes, books = [], [], []
    drift = 0.0
    for i in range(n):
        if i % 25 == 0:
            drift = float(rng.choice([-0.8, -0.4, 0.0, 0.0, 0.4, 0.8]))
        price = max(100, price + round(float(rng.normal(drift, 2.0))))
        close = price * TICK
        bid_qty, ask_qty = int(rng.integers(1, 1000)), int(rng.integers(1, 1000))
        books.append(
            depth_record(
                NKN, [(close - TICK, bid_qty * 10**8)], [(close + TICK, ask_qty * 10**8)], ts=(i + 1) * ts_step
            )
        )
        closes.append(close)
        volumes.append(int(rng.integers(0, 5000)) * 10**8)
    return Series(books, closes, volumes)


def talib_bands(
    closes: npt.NDArray[np.float64], rsi_period: int = 14, bb_period: int = 20, k: float = 2.0
) -> tuple[npt.NDArray[np.float64], ...]:
    """``(rsi, upper, middle, lower)`` by TA-Lib on the same closes."""
    rsi = talib.RSI(closes, timeperiod=rsi_period)
    upper, middle, lower = talib.BBANDS(closes, timeperiod=bb_period, nbdevup=k, nbdevdn=k, matype=0)
    return rsi, upper, middle, lower


def run(h: Harness, series: Series, fill: bool) -> list[list[tuple[int, int, bool]]]:
    """Feed each book, then its bar; orders fill at once (``fill``) or expire. Per bar: ``(side, qty, reduce_only)``."""
    per_bar: list[list[tuple[int, int, bool]]] = []
    for book, close, volume in zip(series.books, series.closes, series.volumes, strict=True):
        ts = int.from_bytes(book[24:32], "little")
        h.feed(book)
        before = len(h.intents)
        h.feed(bar_record(NKN, close, ts=ts, volume=volume))
        new = h.intents[before:]
        per_bar.append([(int(x.side), x.qty, bool(x.flags & 1)) for x in new])
        if fill:
            for order in list(h.runner.open_orders(NKN)):
                h.fill(order)
        h.answer_all()
    return per_bar
