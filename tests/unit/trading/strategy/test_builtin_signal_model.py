"""SignalModel: its scores equal numpy on TA-Lib features with the shipped weights; the hook; the training script."""

from __future__ import annotations

import itertools
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import talib

from hftpipe.runtime.config import build_params
from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from stages.trading.strategy.builtin.signal_model import FEATURES, SignalModel
from stages.trading.strategy.builtin.train_signal_model import write_model
from tests.captures import capture_path
from tests.conftest import REPO
from tests.unit.trading.strategy.bars import NKN, UNIT, Series, random_walk
from tests.unit.trading.strategy.builtin_harness import Harness, bar_record

SHIPPED = REPO / "stages" / "trading" / "strategy" / "builtin" / "models" / "signal_model.npz"
KEY = "stages.strategy.params.params"
HOOKS = "tests.unit.trading.strategy.test_builtin_signal_model"


def _features(series: Series) -> npt.NDArray[np.float64]:
    """The documented features, by TA-Lib and numpy: one row per bar, NaN while any indicator warms up."""
    close = series.closes_f
    rsi = talib.RSI(close, timeperiod=14)
    _, _, hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    upper, _, lower = talib.BBANDS(close, timeperiod=20, nbdevup=2.0, nbdevdn=2.0, matype=0)
    width = upper - lower
    pct_b = np.where(width > 0, (close - lower) / np.where(width > 0, width, 1.0), 0.5)
    volume = np.log1p(np.array(series.volumes, dtype=np.float64) * UNIT)
    books = [np.frombuffer(b[:768], np.int64) for b in series.books]
    bid_qty = np.array([b[(80 + 160) // 8] for b in books], dtype=np.float64)  # bid_qty[0]
    ask_qty = np.array([b[(80 + 480) // 8] for b in books], dtype=np.float64)  # ask_qty[0]
    imbalance = (bid_qty - ask_qty) / (bid_qty + ask_qty)
    ret = np.concatenate([[np.nan], close[1:] / close[:-1] - 1.0])
    return np.column_stack([rsi, hist / close, pct_b, volume, imbalance, ret])


def _shipped_scores(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    with np.load(SHIPPED) as model:
        assert str(model["kind"]) == "logistic" and tuple(model["features"]) == FEATURES
        z = (x - model["mean"]) / model["scale"] @ model["weights"] + model["bias"]
    return 1.0 / (1.0 + np.exp(-z))


def _run(h: Harness, series: Series) -> tuple[list[float | None], list[list[tuple[OrderSide, int]]]]:
    """Each book then its bar, IOCs expiring; per bar, the strategy's score (None: none yet) and its orders."""
    scores: list[float | None] = []
    orders: list[list[tuple[OrderSide, int]]] = []
    strategy: Any = h.strategy
    for book, close, volume in zip(series.books, series.closes, series.volumes, strict=True):
        h.feed(book)
        strategy.last_score.pop(NKN, None)
        before = len(h.intents)
        h.feed(bar_record(NKN, close, ts=int.from_bytes(book[24:32], "little"), volume=volume))
        scores.append(strategy.last_score.get(NKN))
        orders.append([(i.side, i.price) for i in h.intents[before:]])
        h.answer_all()
    return scores, orders


@pytest.mark.parametrize("seed", [11, 12])
def test_should_score_each_bar_as_numpy_does_on_talib_features_with_the_shipped_weights(seed: int) -> None:
    series = random_walk(seed)
    h = Harness(SignalModel, {"qty": "1", "max_position": "1000", "cooldown_ms": 0})
    scores, orders = _run(h, series)
    x = _features(series)
    ready = ~np.isnan(x).any(axis=1)
    assert [s is not None for s in scores] == ready.tolist()
    assert ready.sum() == len(series.closes) - 33  # MACD(12, 26, 9) warms up longest
    expected = _shipped_scores(x[ready])
    np.testing.assert_allclose([s for s in scores if s is not None], expected, rtol=0, atol=1e-12)
    strategy: Any = h.strategy
    np.testing.assert_allclose(strategy.last_features[NKN], x[-1], rtol=1e-12, atol=1e-15)
    # orders: IOC at the touch, exactly where the numpy score is beyond a threshold
    want = []
    for i, score in enumerate(scores):
        close = series.closes[i]
        if score is not None and score > 0.55:
            want.append([(OrderSide.BUY, close + 1000)])
        elif score is not None and score < 0.45:
            want.append([(OrderSide.SELL, close - 1000)])
        else:
            want.append([])
    assert orders == want
    assert {side for bar in orders for side, _ in bar} == {OrderSide.BUY, OrderSide.SELL}
    assert all((i.order_type, i.tif) == (OrderType.LIMIT, TimeInForce.IOC) for i in h.intents)


def _filled_run(series: Series, cooldown_ms: int) -> tuple[list[int], list[int]]:
    """Every order filled at once; the times orders were sent, and the position after each bar."""
    h = Harness(SignalModel, {"qty": "1", "max_position": "3", "cooldown_ms": cooldown_ms})
    sent, positions = [], []
    for book, close, volume in zip(series.books, series.closes, series.volumes, strict=True):
        ts = int.from_bytes(book[24:32], "little")
        h.feed(book)
        before = len(h.intents)
        h.feed(bar_record(NKN, close, ts=ts, volume=volume))
        sent += [ts] * (len(h.intents) - before)
        for order in list(h.runner.open_orders(NKN)):
            h.fill(order)
        positions.append(h.runner.position(NKN).qty)
    return sent, positions


def test_should_wait_the_cooldown_and_stop_at_max_position() -> None:
    series = random_walk(11, ts_step=1_000_000)  # a bar a millisecond
    eager, _ = _filled_run(series, 0)
    sent, positions = _filled_run(series, 5)
    assert all(b - a >= 5_000_000 for a, b in itertools.pairwise(sent))
    assert 3 <= len(sent) < len(eager)  # the cool-down held orders back
    assert max(abs(p) for p in positions) == 3 * 10**8  # the limit was reached, never passed


class FirstFeature:
    """A hook model: the RSI over 100."""

    def predict(self, features: npt.NDArray[np.float64]) -> float:
        assert features.shape == (len(FEATURES),)
        return float(features[0]) / 100.0


class ImbalanceProba:
    """A hook model shaped like a scikit-learn classifier: P(up) from the imbalance."""

    def predict_proba(self, rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        assert rows.shape == (1, len(FEATURES))
        up = (rows[0, 4] + 1.0) / 2.0
        return np.array([[1.0 - up, up]])

    def predict(self, rows: npt.NDArray[np.float64]) -> float:
        raise AssertionError("predict_proba is asked first")


def make_first_feature() -> FirstFeature:
    return FirstFeature()


NOT_A_MODEL = object()


def broken_factory() -> FirstFeature:
    raise RuntimeError("no model today")


@pytest.mark.parametrize(
    ("hook", "column"),
    [("FirstFeature", 0), ("make_first_feature", 0), ("ImbalanceProba", 4)],
)
def test_should_score_with_a_hook_model_named_module_attr(hook: str, column: int) -> None:
    series = random_walk(12)
    h = Harness(SignalModel, {"model": f"{HOOKS}:{hook}", "buy_above": 0.7, "sell_below": 0.3, "cooldown_ms": 0})
    scores, orders = _run(h, series)
    x = _features(series)
    ready = ~np.isnan(x).any(axis=1)
    got = np.array([s for s in scores if s is not None])
    want = x[ready, 0] / 100.0 if column == 0 else (x[ready, 4] + 1.0) / 2.0
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert any(orders)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"model": f"{HOOKS}:NOT_A_MODEL"}, "model"),
        ({"model": f"{HOOKS}:Missing"}, "model"),
        ({"model": "no_colon"}, "model"),
        ({"model": f"{HOOKS}:broken_factory"}, "model"),
        ({"model_path": "nowhere.npz"}, "model_path"),
        ({"model_path": "not_a_model.npz"}, "model_path"),
        ({"buy_above": 1.5}, "buy_above"),
        ({"buy_above": 0.4, "sell_below": 0.6}, "sell_below"),
        ({"qty": "2", "max_position": "1"}, "qty"),
        ({"cooldown_ms": -1}, "cooldown_ms"),
        ({"imbalance_levels": 0}, "imbalance_levels"),
    ],
)
def test_should_refuse_a_bad_param_naming_its_key(raw: dict[str, object], field: str, tmp_path: Path) -> None:
    (tmp_path / "not_a_model.npz").write_bytes(b"PK\x03\x04 but not a zip")
    with pytest.raises(ConfigError) as caught:
        build_params(SignalModel, raw, KEY, tmp_path)
    assert caught.value.key == f"{KEY}.{field}"


def test_should_read_model_path_relative_to_the_config_and_refuse_one_trained_on_other_features(
    tmp_path: Path,
) -> None:
    shutil.copy(SHIPPED, tmp_path / "mine.npz")
    params = build_params(SignalModel, {"model_path": "mine.npz"}, KEY, tmp_path)
    assert params.model_path == tmp_path / "mine.npz"
    with np.load(SHIPPED) as model:
        arrays = {k: model[k] for k in model.files}
    arrays["features"] = np.array(FEATURES[::-1])
    write_model(tmp_path / "other.npz", arrays)
    with pytest.raises(ConfigError) as caught:
        build_params(SignalModel, {"model_path": "other.npz"}, KEY, tmp_path)
    assert caught.value.key == f"{KEY}.model_path" and "features" in caught.value.reason


def test_should_reproduce_the_shipped_model_from_the_captures(tmp_path: Path) -> None:
    folder = capture_path("BINANCE_FUTURES.ws.1.0").parent
    capture_path("BINANCE.ws.1.0")
    out = tmp_path / "signal_model.npz"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HFTPIPE_CAPTURES": str(folder)}
    subprocess.run(
        [sys.executable, "-m", "stages.trading.strategy.builtin.train_signal_model", "--out", str(out)],
        check=True,
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=120,
    )
    with np.load(SHIPPED) as shipped, np.load(out) as again:
        assert sorted(shipped.files) == sorted(again.files)
        for name in shipped.files:
            if shipped[name].dtype.kind == "f":
                np.testing.assert_allclose(again[name], shipped[name], rtol=0, atol=1e-12, err_msg=name)
            else:
                assert np.array_equal(again[name], shipped[name]), name
        assert int(shipped["samples"]) > 100 and not math.isnan(float(shipped["bias"]))
