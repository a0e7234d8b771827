"""What every indicator promises besides its values: warm-up, lookback, reset, compute, argument checks."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from talib import abstract

from hftpipe.strategy import indicators
from hftpipe.strategy.indicators import (
    ATR,
    EMA,
    MACD,
    RSI,
    SMA,
    VWAP,
    BollingerBands,
    Indicator,
    RollingVolatility,
)
from tests.unit.strategy.series import walk, walk_bars

Row = tuple[float, ...]


def price_rows(n: int, seed: int = 41) -> list[Row]:
    return [(p,) for p in walk(seed, n, 100.0).tolist()]


def bar_rows(n: int, seed: int = 42) -> list[Row]:
    high, low, close, _ = walk_bars(seed, n, 100.0)
    return list(zip(high.tolist(), low.tolist(), close.tolist(), strict=True))


def trade_rows(n: int, seed: int = 43) -> list[Row]:
    volume = np.random.default_rng(seed).exponential(1.0, n) + 0.01
    return list(zip(walk(seed, n, 100.0).tolist(), volume.tolist(), strict=True))


CASES: dict[str, tuple[Callable[[], Indicator[Any]], Callable[..., list[Row]], int]] = {
    "SMA(20)": (lambda: SMA(20), price_rows, 19),
    "SMA(1)": (lambda: SMA(1), price_rows, 0),
    "EMA(12)": (lambda: EMA(12), price_rows, 11),
    "EMA(1)": (lambda: EMA(1), price_rows, 0),
    "RSI(14)": (lambda: RSI(14), price_rows, 14),
    "RSI(2)": (lambda: RSI(2), price_rows, 2),
    "MACD()": (MACD, price_rows, 33),
    "MACD(5,35,5)": (lambda: MACD(5, 35, 5), price_rows, 38),
    "MACD(3,10,1)": (lambda: MACD(3, 10, 1), price_rows, 9),
    "BollingerBands(20,2)": (lambda: BollingerBands(20, 2.0), price_rows, 19),
    "BollingerBands(2,1)": (lambda: BollingerBands(2, 1.0), price_rows, 1),
    "ATR(14)": (lambda: ATR(14), bar_rows, 14),
    "ATR(1)": (lambda: ATR(1), bar_rows, 1),
    "VWAP()": (VWAP, trade_rows, 0),
    "VWAP(10)": (lambda: VWAP(10), trade_rows, 9),
    "RollingVolatility(20)": (lambda: RollingVolatility(20), price_rows, 20),
    "RollingVolatility(2,252)": (lambda: RollingVolatility(2, annualize=252), price_rows, 2),
}


def feed(indicator: Indicator[Any], rows: list[Row]) -> list[Any]:
    update: Callable[..., Any] = indicator.update  # type: ignore[attr-defined]
    return [update(*row) for row in rows]


@pytest.mark.parametrize("name", CASES)
def test_update_answers_none_exactly_lookback_times_then_values(name: str) -> None:
    make, rows, lookback = CASES[name]
    indicator = make()
    assert indicator.lookback == lookback
    assert (indicator.count, indicator.value, indicator.ready) == (0, None, False)
    for i, row in enumerate(rows(3 * lookback + 10)):
        answer = indicator.update(*row)  # type: ignore[attr-defined]
        assert indicator.count == i + 1
        assert (answer is None) == (i < lookback), f"input {i}"
        assert indicator.value == answer and indicator.ready == (answer is not None)


@pytest.mark.parametrize(
    ("indicator", "function", "parameters"),
    [
        (SMA(20), "SMA", {"timeperiod": 20}),
        (SMA(1), "SMA", {"timeperiod": 1}),
        (EMA(12), "EMA", {"timeperiod": 12}),
        (RSI(14), "RSI", {"timeperiod": 14}),
        (MACD(), "MACD", {}),
        (MACD(5, 35, 5), "MACD", {"fastperiod": 5, "slowperiod": 35, "signalperiod": 5}),
        (MACD(3, 10, 1), "MACD", {"fastperiod": 3, "slowperiod": 10, "signalperiod": 1}),
        (BollingerBands(20, 2.0), "BBANDS", {"timeperiod": 20}),
        (ATR(14), "ATR", {"timeperiod": 14}),
        (ATR(1), "ATR", {"timeperiod": 1}),
    ],
)
def test_lookback_is_talibs(indicator: Indicator[Any], function: str, parameters: dict[str, int]) -> None:
    assert indicator.lookback == abstract.Function(function, **parameters).lookback


def test_volatility_lookback_is_one_price_more_than_talibs_stddev_of_returns() -> None:
    assert RollingVolatility(20).lookback == abstract.Function("STDDEV", timeperiod=20).lookback + 1


@pytest.mark.parametrize("name", CASES)
def test_reset_behaves_like_a_fresh_instance(name: str) -> None:
    make, rows, lookback = CASES[name]
    used = make()
    feed(used, rows(2 * lookback + 7, seed=1))
    used.reset()
    assert (used.count, used.value, used.ready) == (0, None, False)
    other = rows(2 * lookback + 7, seed=2)
    assert feed(used, other) == feed(make(), other)


@pytest.mark.parametrize("name", CASES)
def test_compute_leaves_the_instance_alone(name: str) -> None:
    make, rows, lookback = CASES[name]
    first, then = rows(lookback + 5, seed=3), rows(lookback + 5, seed=4)
    busy, twin = make(), make()
    feed(busy, first)
    feed(twin, first)
    columns = [np.array(c) for c in zip(*rows(lookback + 5, seed=5), strict=True)]
    busy.compute(*columns)  # type: ignore[attr-defined]
    assert (busy.count, busy.value) == (twin.count, twin.value)
    assert feed(busy, then) == feed(twin, then)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SMA(0), "SMA: period must be an integer >= 1, got 0"),
        (lambda: SMA(2.5), "SMA: period must be an integer >= 1, got 2.5"),
        (lambda: SMA(True), "SMA: period must be an integer >= 1, got True"),
        (lambda: SMA("20"), "SMA: period must be an integer >= 1, got '20'"),
        (lambda: EMA(-3), "EMA: period must be an integer >= 1, got -3"),
        (lambda: RSI(1), "RSI: period must be an integer >= 2, got 1"),
        (lambda: MACD(fast=1), "MACD: fast must be an integer >= 2, got 1"),
        (lambda: MACD(slow=1), "MACD: slow must be an integer >= 2, got 1"),
        (lambda: MACD(signal=0), "MACD: signal must be an integer >= 1, got 0"),
        (lambda: MACD(26, 12), "MACD: fast (26) must not exceed slow (12); TA-Lib would swap them silently"),
        (lambda: BollingerBands(1), "BollingerBands: period must be an integer >= 2, got 1"),
        (lambda: BollingerBands(20, math.nan), "BollingerBands: k must be a finite number >= 0, got nan"),
        (lambda: BollingerBands(20, math.inf), "BollingerBands: k must be a finite number >= 0, got inf"),
        (lambda: BollingerBands(20, -1.0), "BollingerBands: k must be a finite number >= 0, got -1.0"),
        (lambda: BollingerBands(20, True), "BollingerBands: k must be a finite number >= 0, got True"),
        (lambda: ATR(0), "ATR: period must be an integer >= 1, got 0"),
        (lambda: VWAP(0), "VWAP: period must be an integer >= 1, got 0"),
        (lambda: RollingVolatility(1), "RollingVolatility: period must be an integer >= 2, got 1"),
        (
            lambda: RollingVolatility(20, annualize=0),
            "RollingVolatility: annualize must be a finite number > 0 (periods per year), got 0",
        ),
        (
            lambda: RollingVolatility(20, annualize=math.nan),
            "RollingVolatility: annualize must be a finite number > 0 (periods per year), got nan",
        ),
    ],
)
def test_constructor_rejects_bad_arguments(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        make()


def test_numpy_numbers_are_accepted_as_python_numbers() -> None:
    assert SMA(np.int64(5)).period == 5 and type(SMA(np.int64(5)).period) is int
    assert MACD(np.int32(3), np.int32(10), np.int32(2)).periods == (3, 10, 2)
    assert BollingerBands(20, np.int64(2)).k == 2.0 and type(BollingerBands(20, np.int64(2)).k) is float
    assert RollingVolatility(5, annualize=np.float32(252)).annualize == 252.0


BAD_INPUTS = [
    (lambda: SMA(3), (math.nan,), "SMA.update: x must be finite, got nan"),
    (lambda: EMA(3), (math.inf,), "EMA.update: x must be finite, got inf"),
    (lambda: RSI(3), (-math.inf,), "RSI.update: x must be finite, got -inf"),
    (lambda: MACD(3, 5, 2), (math.nan,), "MACD.update: x must be finite, got nan"),
    (lambda: BollingerBands(3), (math.inf,), "BollingerBands.update: x must be finite, got inf"),
    (lambda: ATR(3), (math.nan, 1.0, 1.0), "ATR.update: high must be finite, got nan"),
    (lambda: ATR(3), (2.0, -math.inf, 1.0), "ATR.update: low must be finite, got -inf"),
    (lambda: ATR(3), (2.0, 1.0, math.inf), "ATR.update: close must be finite, got inf"),
    (lambda: ATR(3), (1.0, 2.0, 1.5), "ATR.update: high (1.0) is below low (2.0)"),
    (lambda: VWAP(3), (math.nan, 1.0), "VWAP.update: price must be finite, got nan"),
    (lambda: VWAP(3), (1.0, math.inf), "VWAP.update: volume must be finite and >= 0, got inf"),
    (VWAP, (1.0, math.nan), "VWAP.update: volume must be finite and >= 0, got nan"),
    (VWAP, (1.0, -2.0), "VWAP.update: volume must be finite and >= 0, got -2.0"),
    (lambda: RollingVolatility(3), (math.nan,), "RollingVolatility.update: price must be finite and > 0, got nan"),
    (lambda: RollingVolatility(3), (math.inf,), "RollingVolatility.update: price must be finite and > 0, got inf"),
    (lambda: RollingVolatility(3), (0.0,), "RollingVolatility.update: price must be finite and > 0, got 0.0"),
    (lambda: RollingVolatility(3), (-5.0,), "RollingVolatility.update: price must be finite and > 0, got -5.0"),
]


def good_rows(indicator: Indicator[Any], n: int, seed: int) -> list[Row]:
    if isinstance(indicator, ATR):
        return bar_rows(n, seed)
    return trade_rows(n, seed) if isinstance(indicator, VWAP) else price_rows(n, seed)


@pytest.mark.parametrize(("make", "row", "message"), BAD_INPUTS)
def test_a_refused_input_raises_and_changes_nothing(make: Callable[[], Indicator[Any]], row: Row, message: str) -> None:
    """The same error at any point of the warm-up or after it, and the state is as if it never came."""
    for position in (0, 1, 3, 12):
        indicator, twin = make(), make()
        before, after = good_rows(indicator, position, 6), good_rows(indicator, 10, 7)
        feed(indicator, before)
        feed(twin, before)
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            indicator.update(*row)  # type: ignore[attr-defined]
        assert (indicator.count, indicator.value) == (twin.count, twin.value)
        assert feed(indicator, after) == feed(twin, after)


def test_compute_names_the_index_of_a_refused_input() -> None:
    with pytest.raises(ValueError, match=re.escape("EMA.update: x must be finite, got nan (at index 2)")):
        EMA(2).compute([1.0, 2.0, math.nan, 3.0])
    with pytest.raises(ValueError, match=re.escape("ATR.update: high (1.0) is below low (2.0) (at index 1)")):
        ATR(2).compute([3.0, 1.0], [2.0, 2.0], [2.5, 1.5])
    message = "VWAP.update: volume must be finite and >= 0, got -1.0 (at index 0)"
    with pytest.raises(ValueError, match=re.escape(message)):
        VWAP(2).compute([3.0], [-1.0])


def test_compute_refuses_arrays_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match=re.escape("SMA.compute: x must be one-dimensional, got shape (2, 2)")):
        SMA(2).compute([[1.0, 2.0], [3.0, 4.0]])
    message = "ATR.compute: high, low, close must have the same length, got 3, 3, 2"
    with pytest.raises(ValueError, match=re.escape(message)):
        ATR(2).compute([2.0, 2.0, 2.0], [1.0, 1.0, 1.0], [1.5, 1.5])
    with pytest.raises(ValueError, match=re.escape("VWAP.compute: price, volume must have the same length, got 1, 2")):
        VWAP().compute([2.0], [1.0, 1.0])


def test_compute_answers_float64_arrays_aligned_with_the_input() -> None:
    x = [float(v) for v in range(1, 41)]
    out = SMA(5).compute(x)
    assert out.dtype == np.float64 and out.shape == (40,) and np.isnan(out[:4]).all() and out[4] == 3.0
    macd = MACD(3, 5, 2).compute(np.array(x, dtype=np.float32))
    assert isinstance(macd, tuple) and len(macd) == 3
    assert all(c.dtype == np.float64 and c.shape == (40,) and c.flags.c_contiguous for c in macd)
    assert SMA(3).compute([]).shape == (0,) and all(c.shape == (0,) for c in BollingerBands(3).compute([]))


def test_the_package_exports_the_indicators() -> None:
    assert set(indicators.__all__) == {
        "ATR",
        "EMA",
        "MACD",
        "RSI",
        "SMA",
        "VWAP",
        "BandsValue",
        "BollingerBands",
        "Indicator",
        "MACDValue",
        "RollingVolatility",
    }
    for name in ("ATR", "EMA", "MACD", "RSI", "SMA", "VWAP", "BollingerBands", "RollingVolatility"):
        cls = getattr(indicators, name)
        assert issubclass(cls, Indicator), name


def test_indicators_have_no_instance_dict() -> None:
    """__slots__ all the way down: no attribute can be added by mistake, nothing hides in a dict."""
    for name in CASES:
        indicator = CASES[name][0]()
        assert not hasattr(indicator, "__dict__"), name
