"""EMA.update and RSI.update against TA-Lib's stream handle and window recomputes by TA-Lib and pandas.

The variants and their data are those of ``bench/indicators_bench.py``
(which prints per-update medians and ratios from one interleaved run). Here
each benchmarked call feeds the same 50 consecutive prices to every
variant, so the columns compare directly and per update = the figure / 50.
Nothing asserts on time; each test checks the values of what it timed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench.indicators_bench import (
    EMA_PERIOD,
    FAST_BLOCK,
    RSI_PERIOD,
    SLOW_BLOCK,
    Variant,
    ema_variants,
    prices,
    rsi_variants,
    window_for,
)

START = max(window_for(2.0 / (EMA_PERIOD + 1), EMA_PERIOD - 1), window_for(1.0 / RSI_PERIOD, RSI_PERIOD))
PRICES = prices(START + 2 * FAST_BLOCK)
NAMES = ["ours", "talib-stream", "talib-window", "pandas-window"]

Make = Callable[[npt.NDArray[np.float64], int], list[Variant]]


def timed(benchmark: BenchmarkFixture, make: Make, index: int) -> None:
    variant = make(PRICES, START)[index]
    benchmark.extra_info["variant"] = variant.name
    benchmark.extra_info["updates_per_call"] = SLOW_BLOCK
    last = benchmark(variant.run, START, SLOW_BLOCK)
    # Fresh twins over the same block: ours, TA-Lib's stream handle, and this variant once more.
    fresh = make(PRICES, START)
    ours, handle, again = (v.run(START, SLOW_BLOCK) for v in (fresh[0], fresh[1], fresh[index]))
    assert isinstance(ours, float) and isinstance(last, float) and isinstance(again, float)
    assert handle == ours  # the same arithmetic as TA-Lib 0.8, the same bits
    if index > 1:  # a recompute has no state: the timed calls answered what a fresh one answers
        assert last == again
        assert abs(again - ours) <= 1e-9 * abs(ours)


@pytest.mark.benchmark(group="indicator-EMA(20)")
@pytest.mark.parametrize("index", range(4), ids=NAMES)
def test_ema_per_update(benchmark: BenchmarkFixture, index: int) -> None:
    timed(benchmark, ema_variants, index)


@pytest.mark.benchmark(group="indicator-RSI(14)")
@pytest.mark.parametrize("index", range(4), ids=NAMES)
def test_rsi_per_update(benchmark: BenchmarkFixture, index: int) -> None:
    timed(benchmark, rsi_variants, index)
