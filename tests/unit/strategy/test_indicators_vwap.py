"""VWAP equals a plain pandas/numpy computation, cumulative and rolling, and has no value over zero volume."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftpipe.strategy.indicators import VWAP
from tests.unit.strategy.series import FloatArray, assert_matches, incremental, trades, walk


def pandas_vwap(price: FloatArray, volume: FloatArray, period: int | None) -> FloatArray:
    """Σ(p·q) / Σq by pandas (rolling sums, or cumulative sums); NaN where the span traded nothing."""
    pv, q = pd.Series(price * volume), pd.Series(volume)
    if period is None:
        num, den = pv.cumsum(), q.cumsum()
        traded = q.gt(0).cumsum() > 0
    else:
        num, den = pv.rolling(period).sum(), q.rolling(period).sum()
        traded = q.gt(0).astype(float).rolling(period).sum() > 0
    return np.asarray((num / den).where(traded), dtype=np.float64)


def sample(seed: int, n: int, start: float) -> tuple[FloatArray, FloatArray]:
    volume = np.random.default_rng(seed).exponential(2.0, n)
    return walk(seed, n, start), volume


SERIES = {
    "sushi-trades": lambda: trades("SUSHIUSDT"),
    "ctk-trades": lambda: trades("CTKUSDT"),
    "walk-100": lambda: sample(21, 3000, 100.0),
    "walk-1e5": lambda: sample(22, 3000, 1e5),
    "walk-1e-8": lambda: sample(23, 3000, 1e-8),
    "flat": lambda: (np.full(200, 3.3), np.full(200, 0.5)),
}


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [None, 1, 5, 50])
def test_vwap_equals_pandas(name: str, period: int | None) -> None:
    price, volume = SERIES[name]()
    vwap = VWAP(period)
    batch = vwap.compute(price, volume)
    assert_matches(batch, pandas_vwap(price, volume, period))
    stepwise = [math.nan if v is None else v for v in incremental(vwap.update, price, volume)]
    np.testing.assert_array_equal(np.array(stepwise), batch)


def test_a_span_that_traded_nothing_has_no_vwap() -> None:
    price = np.arange(1.0, 13.0)
    volume = np.array([0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0], dtype=np.float64)
    rolling = VWAP(3)
    gap = [None, None]
    assert incremental(rolling.update, price, volume) == [*gap, 3.0, 3.0, 3.0, *gap, 8.0, 8.0, 8.0, *gap]
    assert rolling.value is None and not rolling.ready and rolling.count == 12
    cumulative = VWAP()
    answers = incremental(cumulative.update, price, volume)
    assert answers[:2] == [None, None] and answers[2:7] == [3.0] * 5 and answers[7:] == [pytest.approx(14 / 3)] * 5
    assert np.isnan(VWAP(3).compute(price, volume)[[0, 1, 5, 6, 10, 11]]).all()


def test_a_huge_print_leaving_the_window_costs_the_small_ones_no_precision() -> None:
    """Compensated sums: after a 1e9 print leaves, the VWAP of dust equals math.fsum's."""
    price = np.array([100.0, 101.3, 99.7, 100.1, 100.9, 100.2, 99.95, 100.05])
    volume = np.array([1e9, 1e-3, 2e-3, 3e-3, 1.5e-3, 2.5e-3, 0.7e-3, 1.1e-3])
    period = 3
    ours = VWAP(period).compute(price, volume)
    for i in range(period + 1, len(price)):
        window = slice(i - period + 1, i + 1)
        exact = math.fsum(price[window] * volume[window]) / math.fsum(volume[window])
        assert ours[i] == pytest.approx(exact, rel=1e-15)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(min_value=1e-3, max_value=1e4), st.sampled_from([0.0, 0.0, 1.0, 2.5, 1e-6, 1e6])),
        max_size=60,
    ),
    st.sampled_from([None, 1, 3, 10]),
)
def test_generated_trades_equal_pandas(rows: list[tuple[float, float]], period: int | None) -> None:
    price = np.array([r[0] for r in rows], dtype=np.float64)
    volume = np.array([r[1] for r in rows], dtype=np.float64)
    assert_matches(VWAP(period).compute(price, volume), pandas_vwap(price, volume, period), rtol=1e-9)
