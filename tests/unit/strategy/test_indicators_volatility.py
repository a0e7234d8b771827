"""RollingVolatility equals the sample standard deviation of log returns (numpy, pandas, TA-Lib's STDDEV)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from hftpipe.strategy.indicators import RollingVolatility
from tests.unit.strategy.series import PRICE_SERIES, FloatArray, assert_matches, incremental, walk


def log_returns(price: FloatArray) -> FloatArray:
    """The indicator's returns, ``log1p((p - prev) / prev)``, element by element."""
    return np.log1p(np.diff(price) / price[:-1])


def numpy_volatility(price: FloatArray, period: int) -> FloatArray:
    """Two-pass sample deviation of each window of returns: the accurate reference."""
    out = np.full(len(price), np.nan)
    if len(price) > period:
        out[period:] = sliding_window_view(log_returns(price), period).std(axis=1, ddof=1)
    return out


@pytest.mark.parametrize("name", PRICE_SERIES)
@pytest.mark.parametrize("period", [2, 5, 20, 60])
def test_volatility_equals_numpy_and_pandas(name: str, period: int) -> None:
    price = PRICE_SERIES[name]()
    vol = RollingVolatility(period)
    batch = vol.compute(price)
    assert_matches(batch, numpy_volatility(price, period))
    pandas = np.concatenate([[np.nan], pd.Series(log_returns(price)).rolling(period).std().to_numpy()])
    assert_matches(batch, pandas)
    stepwise = [math.nan if v is None else v for v in incremental(vol.update, price)]
    np.testing.assert_array_equal(np.array(stepwise), batch)


@pytest.mark.parametrize("name", PRICE_SERIES)
@pytest.mark.parametrize("period", [5, 20])
def test_volatility_is_talibs_population_stddev_rescaled(name: str, period: int) -> None:
    """talib.STDDEV(returns, period, 1) is the population deviation: times sqrt(n / (n - 1))."""
    price = PRICE_SERIES[name]()
    reference = np.concatenate([[np.nan], talib.STDDEV(log_returns(price), period, 1.0)]) * math.sqrt(
        period / (period - 1)
    )
    assert_matches(RollingVolatility(period).compute(price), reference)


def test_a_calm_window_after_a_volatile_one_inherits_no_rounding() -> None:
    """Returns of 1e-1 for 5,000 prices, then of 1e-6: the calm windows still match the two-pass reference."""
    price = np.concatenate([walk(31, 5000, 100.0, vol=0.1), walk(32, 5000, 100.0, vol=1e-6)])
    assert_matches(RollingVolatility(20).compute(price), numpy_volatility(price, 20))


def test_a_flat_window_has_exactly_zero_volatility() -> None:
    price = np.concatenate([walk(33, 100, 10.0), np.full(40, 10.5), walk(34, 50, 10.5)])
    vol = RollingVolatility(20).compute(price)
    flat = slice(100 + 20, 140)  # windows whose 20 returns are all 0
    assert vol[flat].tolist() == [0.0] * 20
    assert (vol[: flat.start][20:] > 0).all() and (vol[flat.stop :] > 0).all()


def test_annualize_scales_by_the_square_root_of_periods_per_year() -> None:
    price = PRICE_SERIES["walk-100"]()
    per_minute = RollingVolatility(30).compute(price)
    yearly = RollingVolatility(30, annualize=525_600).compute(price)
    np.testing.assert_allclose(yearly, per_minute * math.sqrt(525_600), rtol=1e-15)
    assert RollingVolatility(30, annualize=525_600).annualize == 525_600.0


def test_a_one_tick_move_keeps_its_digits() -> None:
    """At 1e5 with 0.01 ticks, log(p) - log(prev) keeps ~9 digits of a return; log1p keeps them all."""
    price = np.array([100_000.0, 100_000.01, 100_000.0, 100_000.02, 100_000.01])
    vol = RollingVolatility(4).compute(price)[-1]
    exact = np.std([float(np.log1p((b - a) / a)) for a, b in itertools.pairwise(price.tolist())], ddof=1)
    assert vol == pytest.approx(exact, rel=1e-13)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=1e-3, max_value=1e4), max_size=60),
    st.sampled_from([1e-8, 1.0, 1e5]),
    st.integers(min_value=2, max_value=15),
)
def test_generated_prices_equal_numpy(values: list[float], scale: float, period: int) -> None:
    price = np.array(values, dtype=np.float64) * scale
    assert_matches(RollingVolatility(period).compute(price), numpy_volatility(price, period))
