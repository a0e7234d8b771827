"""SMA, EMA, RSI, MACD, Bollinger bands and ATR equal TA-Lib's, incrementally and through compute().

The contract is 1e-9 relative wherever TA-Lib has a value, with NaN at the
same positions. Most indicators are in fact bit-identical to TA-Lib 0.8 (its
fused EMA step included), which the signed series checks: there a
multiply-then-add EMA drifts an ulp from TA-Lib's and the MACD line near a
zero crossing is off by far more than 1e-9 relative.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from hftpipe.strategy.indicators import ATR, EMA, MACD, RSI, SMA, BollingerBands
from tests.unit.strategy.series import (
    BAR_SERIES,
    PRICE_SERIES,
    SIGNED_SERIES,
    Bars,
    FloatArray,
    assert_matches,
    incremental,
)

SINGLE = {**PRICE_SERIES, **SIGNED_SERIES}


def as_rows(values: list[object], width: int) -> list[FloatArray]:
    """Incremental answers (None or a tuple) as ``width`` NaN-padded columns."""
    if width == 1:
        return [np.array([np.nan if v is None else v for v in values], dtype=np.float64)]
    gap = (np.nan,) * width
    rows = np.array([gap if v is None else v for v in values], dtype=np.float64).reshape(len(values), width)
    return [rows[:, j] for j in range(width)]


def check_single(indicator: SMA | EMA | RSI, reference: FloatArray, x: FloatArray) -> None:
    batch = indicator.compute(x)
    assert_matches(batch, reference)
    (stepwise,) = as_rows(incremental(indicator.update, x), 1)
    np.testing.assert_array_equal(stepwise, batch)  # identical, NaN for NaN


@pytest.mark.parametrize("name", SINGLE)
@pytest.mark.parametrize("period", [1, 2, 14, 30])
def test_sma_equals_talib(name: str, period: int) -> None:
    x = SINGLE[name]()
    check_single(SMA(period), talib.SMA(x, period), x)


@pytest.mark.parametrize("name", SINGLE)
@pytest.mark.parametrize("period", [1, 2, 12, 26, 50])
def test_ema_equals_talib(name: str, period: int) -> None:
    x = SINGLE[name]()
    check_single(EMA(period), talib.EMA(x, period), x)


@pytest.mark.parametrize("name", SINGLE)
@pytest.mark.parametrize("period", [2, 14, 30])
def test_rsi_equals_talib(name: str, period: int) -> None:
    x = SINGLE[name]()
    check_single(RSI(period), talib.RSI(x, period), x)


@pytest.mark.parametrize("name", SINGLE)
@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5), (3, 10, 1), (8, 8, 4)])
def test_macd_equals_talib(name: str, fast: int, slow: int, signal: int) -> None:
    x = SINGLE[name]()
    macd = MACD(fast, slow, signal)
    batch = macd.compute(x)
    for ours, reference in zip(batch, talib.MACD(x, fast, slow, signal), strict=True):
        assert_matches(ours, reference)
    for stepwise, column in zip(as_rows(incremental(macd.update, x), 3), batch, strict=True):
        np.testing.assert_array_equal(stepwise, column)


@pytest.mark.parametrize("name", SINGLE)
@pytest.mark.parametrize(("period", "k"), [(20, 2.0), (5, 1.0), (2, 0.5), (50, 3.0), (10, 0.0)])
def test_bollinger_bands_equal_talib(name: str, period: int, k: float) -> None:
    x = SINGLE[name]()
    bands = BollingerBands(period, k)
    batch = bands.compute(x)
    for ours, reference in zip(batch, talib.BBANDS(x, period, k, k, 0), strict=True):
        assert_matches(ours, reference)
    for stepwise, column in zip(as_rows(incremental(bands.update, x), 3), batch, strict=True):
        np.testing.assert_array_equal(stepwise, column)


@pytest.mark.parametrize("name", BAR_SERIES)
@pytest.mark.parametrize("period", [1, 2, 14, 30])
def test_atr_equals_talib(name: str, period: int) -> None:
    high, low, close, _ = BAR_SERIES[name]()
    atr = ATR(period)
    batch = atr.compute(high, low, close)
    assert_matches(batch, talib.ATR(high, low, close, period))
    (stepwise,) = as_rows(incremental(atr.update, high, low, close), 1)
    np.testing.assert_array_equal(stepwise, batch)


def test_the_fused_ema_step_is_what_keeps_a_signed_series_equal() -> None:
    """A multiply-then-add EMA is off TA-Lib 0.8 by an ulp on most values of a zero-mean series."""
    x = SIGNED_SERIES["zero-mean-noise"]()
    k = 2.0 / 21
    total = 0.0
    for v in x[:20].tolist():
        total += v
    plain = [total / 20]
    for v in x[20:].tolist():
        plain.append((v - plain[-1]) * k + plain[-1])
    reference = talib.EMA(x, 20)[19:]
    assert np.count_nonzero(np.array(plain) != reference) > len(reference) // 4
    np.testing.assert_array_equal(EMA(20).compute(x)[19:], reference)


def test_flat_series_read_as_talib_reads_them() -> None:
    """RSI 0 (no gain, no loss: TA-Lib's choice, not 50), bands of zero width, ATR 0, MACD 0."""
    x = np.full(60, 42.5)
    assert RSI(14).compute(x)[14:].tolist() == [0.0] * 46 == talib.RSI(x, 14)[14:].tolist()
    upper, middle, lower = BollingerBands(20, 2.0).compute(x)
    assert upper[19:].tolist() == middle[19:].tolist() == lower[19:].tolist() == [42.5] * 41
    assert ATR(14).compute(x, x, x)[14:].tolist() == [0.0] * 46
    assert [c[33:].tolist() for c in MACD().compute(x)] == [[0.0] * 27] * 3


def test_tiny_prices_keep_their_rsi_and_band_width() -> None:
    """At 1e-8 the average move is ~1e-11 and the variance ~1e-22: TA-Lib 0.8 and these keep both."""
    x = PRICE_SERIES["walk-1e-8"]()
    rsi = RSI(14).compute(x)
    assert float(np.nanmin(rsi)) > 0.0 and float(np.nanmax(rsi)) < 100.0
    upper, middle, lower = BollingerBands(20, 2.0).compute(x)
    assert (upper[19:] > middle[19:]).all() and (lower[19:] < middle[19:]).all()


@pytest.mark.parametrize(
    ("make", "reference", "lookback"),
    [
        (lambda: SMA(20), lambda x: talib.SMA(x, 20), 19),
        (lambda: EMA(20), lambda x: talib.EMA(x, 20), 19),
        (lambda: RSI(14), lambda x: talib.RSI(x, 14), 14),
        (MACD, lambda x: talib.MACD(x, 12, 26, 9)[0], 33),
        (lambda: BollingerBands(20, 2.0), lambda x: talib.BBANDS(x, 20, 2.0, 2.0, 0)[1], 19),
    ],
)
def test_a_series_no_longer_than_the_lookback_is_all_warm_up(
    make: Callable[[], SMA | EMA | RSI | MACD | BollingerBands],
    reference: Callable[[FloatArray], FloatArray],
    lookback: int,
) -> None:
    for n in (0, 1, lookback - 1, lookback):
        x = PRICE_SERIES["walk-100"]()[:n]
        indicator = make()
        assert [indicator.update(v) for v in x.tolist()] == [None] * n
        out = indicator.compute(x)
        for column in out if isinstance(out, tuple) else (out,):
            assert column.shape == (n,) and np.isnan(column).all()
        if n:
            assert np.isnan(reference(x)).all()
    x = PRICE_SERIES["walk-100"]()[: lookback + 1]
    first = make().compute(x)
    assert not np.isnan(first[0][-1] if isinstance(first, tuple) else first[-1])


def test_atr_of_bars_no_more_than_its_period_is_all_warm_up() -> None:
    high, low, close, _ = BAR_SERIES["walk-bars-100"]()
    for n in (0, 1, 13, 14):
        assert np.isnan(ATR(14).compute(high[:n], low[:n], close[:n])).all()
        if n:
            assert np.isnan(talib.ATR(high[:n], low[:n], close[:n], 14)).all()
    assert not np.isnan(ATR(14).compute(high[:15], low[:15], close[:15])[14])


prices = st.lists(st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False), max_size=70)
scales = st.sampled_from([1e-8, 1.0, 1e5])


def test_a_lower_band_near_zero_is_closer_to_exact_than_talibs() -> None:
    """Where the lower band nearly cancels (mean = 2 deviations), TA-Lib is 1.2e-9 off exact, ours 4e-14."""
    x = np.array([0.015625, 3052.0, 4.0, 1.0, 2.0]) * 1e-8
    ours = BollingerBands(2, 2.0).compute(x)[2][4]
    theirs = talib.BBANDS(x, 2, 2.0, 2.0, 0)[2][4]
    window = [Decimal(float(v)) for v in x[3:5]]
    mean = sum(window) / 2
    exact = mean - 2 * (sum((v - mean) ** 2 for v in window) / 2).sqrt()
    assert abs(Decimal(float(ours)) - exact) < abs(Decimal(float(theirs)) - exact) / 1000
    assert_matches(np.array([ours]), np.array([theirs]), level=np.array([float(mean)]))


@settings(max_examples=60, deadline=None)
@given(prices, scales, st.integers(min_value=2, max_value=20))
def test_generated_series_equal_talib(values: list[float], scale: float, period: int) -> None:
    x = np.array(values, dtype=np.float64) * scale
    assert_matches(SMA(period).compute(x), talib.SMA(x, period))
    assert_matches(EMA(period).compute(x), talib.EMA(x, period))
    assert_matches(RSI(period).compute(x), talib.RSI(x, period))
    bands, references = BollingerBands(period, 2.0).compute(x), talib.BBANDS(x, period, 2.0, 2.0, 0)
    for ours, reference in zip(bands, references, strict=True):
        assert_matches(ours, reference, level=references[1])
    for ours, reference in zip(MACD(3, 3 + period, 4).compute(x), talib.MACD(x, 3, 3 + period, 4), strict=True):
        assert_matches(ours, reference)


bar = st.tuples(
    st.floats(min_value=1e-3, max_value=1e4),
    st.floats(min_value=0.0, max_value=0.2),
    st.floats(min_value=0.0, max_value=1.0),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(bar, max_size=50), scales, st.integers(min_value=1, max_value=20))
def test_generated_bars_give_talibs_atr(rows: list[tuple[float, float, float]], scale: float, period: int) -> None:
    """Bars as (low, spread, where the close sits in the range), scaled."""
    low = np.array([r[0] for r in rows]) * scale
    high = low * (1.0 + np.array([r[1] for r in rows]))
    close = low + (high - low) * np.array([r[2] for r in rows])
    bars: Bars = (high, low, close, np.ones(len(rows)))
    assert_matches(ATR(period).compute(*bars[:3]), talib.ATR(high, low, close, period))


TALIB_0_8 = talib.__ta_version__.startswith(b"0.8.")


@pytest.mark.skipif(not TALIB_0_8, reason=f"bit-identity is with TA-Lib 0.8, not {talib.__ta_version__!r}")
@pytest.mark.parametrize(
    "name", ["sushi-quote-mids", "walk-1e5", "walk-1e-8-ticked", "volatile-walk", "zero-mean-noise"]
)
def test_bit_identical_to_talib_0_8(name: str) -> None:
    """Beyond the 1e-9 contract: same arithmetic, same bits (the deviation of the bands aside, see BollingerBands)."""
    x = SINGLE[name]()
    same = np.testing.assert_array_equal
    same(SMA(20).compute(x), talib.SMA(x, 20))
    same(EMA(20).compute(x), talib.EMA(x, 20))
    same(RSI(14).compute(x), talib.RSI(x, 14))
    for ours, reference in zip(MACD().compute(x), talib.MACD(x, 12, 26, 9), strict=True):
        same(ours, reference)
    same(BollingerBands(20, 2.0).compute(x)[1], talib.BBANDS(x, 20, 2.0, 2.0, 0)[1])
    high, low = x + np.abs(x) * 1e-3, x - np.abs(x) * 1e-3
    same(ATR(14).compute(high, low, x), talib.ATR(high, low, x, 14))
