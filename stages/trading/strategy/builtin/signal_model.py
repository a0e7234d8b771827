"""Trade on a model's score of a feature vector built from indicators and the book, one score per closed bar.

Features, in this order (:data:`FEATURES`; the model file lists them and
must list the same)::

    0 rsi         RSI(14) of the closes, 0..100
    1 macd_hist   MACD(12, 26, 9) histogram / close (relative, so instruments of any price compare)
    2 pct_b       Bollinger %b: (close - lower) / (upper - lower) of BollingerBands(20, 2); 0.5 on a flat band
    3 log_volume  log(1 + bar volume in base units)
    4 imbalance   top-N book imbalance at the bar's close, -1..+1 (N = ``imbalance_levels``)
    5 ret         the bar's return, close / previous close - 1

A bar gives no features until every indicator is warm (34 bars: MACD's
lookback 33, plus one). :class:`SignalFeatures` computes them, for this
strategy and for ``train_signal_model`` alike, so a model is trained on
exactly what it will be given.

The model is either

- a file (``model_path``; default: the shipped ``models/signal_model.npz``):
  numpy ``.npz`` with ``weights`` (n,), ``bias`` (), ``mean`` (n,) and
  ``scale`` (n,) to standardize the features (``z = (x - mean) / scale``),
  ``kind`` (``"linear"``: score ``w·z + b``; ``"logistic"``: its sigmoid, a
  probability that the next bar closes higher) and ``features`` (the names
  above, in order); or
- a hook (``model = "module:attr"``): any object with ``predict(features) ->
  float``, or a class or function that makes one when called with no
  arguments. It gets the raw feature vector (float64, shape (6,)). An object
  with ``predict_proba`` (a scikit-learn classifier) is asked that instead,
  with shape (1, 6), and its last column (the "up" class) is the score.

A score above ``buy_above`` buys ``qty``, below ``sell_below`` sells, each an
IOC limit at the touch; then the instrument waits ``cooldown_ms`` of the
stage clock. ``max_position`` bounds the position either way, open orders
counted as filled.
"""

from __future__ import annotations

import importlib
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from hftpipe.runtime.validation import ConfigError, at_least, within
from hftpipe.schema.marketdata import DEPTH_LEVELS
from hftpipe.strategy import Bar, OrderSide, Strategy, TimeInForce
from hftpipe.strategy.indicators import MACD, RSI, BollingerBands
from stages.trading.strategy.builtin._common import decimal_param, room, size_within, sizes

FEATURES: Final = ("rsi", "macd_hist", "pct_b", "log_volume", "imbalance", "ret")
KINDS: Final = ("linear", "logistic")
SHIPPED_MODEL: Final = Path(__file__).resolve().parent / "models" / "signal_model.npz"
NANOS_PER_MS = 1_000_000

FloatArray = npt.NDArray[np.float64]
Scorer = Callable[[FloatArray], float]


class SignalFeatures:
    """The feature vector of one instrument's bars (see the module docstring for the order)."""

    __slots__ = ("_bands", "_macd", "_previous", "_rsi")

    def __init__(self) -> None:
        self._rsi = RSI(14)
        self._macd = MACD(12, 26, 9)
        self._bands = BollingerBands(20, 2.0)
        self._previous = 0.0

    def update(self, close: float, volume: float, imbalance: float) -> FloatArray | None:
        """Feed one closed bar (close in price units, volume in base units); its features, or None while warming."""
        rsi = self._rsi.update(close)
        macd = self._macd.update(close)
        bands = self._bands.update(close)
        previous, self._previous = self._previous, close
        if rsi is None or macd is None or bands is None or previous <= 0.0:
            return None
        upper, _, lower = bands
        width = upper - lower
        pct_b = (close - lower) / width if width > 0.0 else 0.5
        return np.array(
            [rsi, macd[2] / close, pct_b, math.log1p(volume), imbalance, close / previous - 1.0], dtype=np.float64
        )


@dataclass(frozen=True, slots=True)
class LinearModel:
    """The built-in model of a ``.npz`` file: standardize, dot, add (and squash, for ``logistic``)."""

    weights: FloatArray
    bias: float
    mean: FloatArray
    scale: FloatArray
    kind: str

    def __call__(self, features: FloatArray) -> float:
        z = float(np.dot((features - self.mean) / self.scale, self.weights)) + self.bias
        return 1.0 / (1.0 + math.exp(-z)) if self.kind == "logistic" else z

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        """Read and check a model file; ValueError saying what is wrong with it."""
        with np.load(path, allow_pickle=False) as data:
            missing = {"weights", "bias", "mean", "scale", "kind", "features"} - set(data.files)
            if missing:
                raise ValueError(f"{path} lacks {', '.join(sorted(missing))}")
            weights, bias, mean, scale = (
                np.asarray(data[k], dtype=np.float64) for k in ("weights", "bias", "mean", "scale")
            )
            kind, names = str(data["kind"]), tuple(str(n) for n in data["features"])
        if names != FEATURES:
            raise ValueError(f"{path} was trained on features {names}, this strategy computes {FEATURES}")
        if kind not in KINDS:
            raise ValueError(f"{path}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        n = len(FEATURES)
        if weights.shape != (n,) or mean.shape != (n,) or scale.shape != (n,) or bias.shape != ():
            raise ValueError(f"{path}: weights, mean and scale must have shape ({n},) and bias shape ()")
        if not all(np.isfinite(a).all() for a in (weights, bias, mean, scale)) or (scale <= 0).any():
            raise ValueError(f"{path}: every number must be finite and every scale > 0")
        return cls(weights, float(bias), mean, scale, kind)


def load_hook(path: str) -> Scorer:
    """The scorer the hook ``"module:attr"`` names (see the module docstring); ValueError if it names none."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f'must be "module:attr", got {path!r}')
    try:
        target: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load {path!r}: {exc}") from exc
    if isinstance(target, type) or not _scores(target):
        if not callable(target):
            raise ValueError(f"{path} has neither predict nor predict_proba and cannot be called to make one")
        try:
            target = target()
        except Exception as exc:  # whatever the factory raises, the config names the hook
            raise ValueError(f"{path}() raised {type(exc).__name__}: {exc}") from exc
    if callable(getattr(target, "predict_proba", None)):
        proba = target.predict_proba
        return lambda features: float(np.asarray(proba(features.reshape(1, -1)))[0, -1])
    if callable(getattr(target, "predict", None)):
        predict = target.predict
        return lambda features: float(predict(features))
    raise ValueError(f"{path} made a {type(target).__name__}, which has neither predict nor predict_proba")


def _scores(target: object) -> bool:
    return callable(getattr(target, "predict", None)) or callable(getattr(target, "predict_proba", None))


class SignalModel(Strategy):
    """Model-scored features → IOC orders (see the module docstring)."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        model_path: Path = field(default=SHIPPED_MODEL)
        """The ``.npz`` model (relative to the config file); default: the shipped one."""
        model: str = ""
        """A ``"module:attr"`` hook scoring the features instead of ``model_path``."""
        buy_above: float = 0.55
        """A score above this buys (a logistic model's score is P(next bar up))."""
        sell_below: float = 0.45
        """A score below this sells (< buy_above)."""
        qty: str = "1"
        """Size of each order, base units (a decimal string; rounded down to the lot)."""
        max_position: str = "1"
        """Largest position either way, open orders counted as filled, base units (>= qty)."""
        cooldown_ms: int = 1000
        """Quiet time per instrument after each order, ms of the stage clock (>= 0)."""
        imbalance_levels: int = 1
        """Levels per side of the imbalance feature (the shipped model was trained on the top of book)."""

        def __post_init__(self) -> None:
            decimal_param("qty", self.qty)
            decimal_param("max_position", self.max_position)
            size_within(self.qty, "max_position", self.max_position)
            at_least("cooldown_ms", self.cooldown_ms, 0)
            within("imbalance_levels", self.imbalance_levels, 1, DEPTH_LEVELS)
            for name in ("buy_above", "sell_below"):
                if not math.isfinite(getattr(self, name)):
                    raise ConfigError(name, f"must be finite, got {getattr(self, name)}")
            if not self.sell_below < self.buy_above:
                raise ConfigError("sell_below", f"must be < buy_above ({self.buy_above}), got {self.sell_below}")
            self.scorer()  # a model that does not load is a config error, not a runtime one

        def scorer(self) -> Scorer:
            """The model these params name, loaded."""
            if self.model:
                try:
                    return load_hook(self.model)
                except ValueError as exc:
                    raise ConfigError("model", str(exc)) from None
            try:
                loaded = LinearModel.load(self.model_path)
            except (OSError, ValueError, zipfile.BadZipFile) as exc:
                raise ConfigError("model_path", f"{self.model_path}: {exc}") from None
            if loaded.kind == "logistic" and not 0 < self.sell_below < self.buy_above < 1:
                raise ConfigError("buy_above", "a logistic model scores in (0, 1): both thresholds must be inside")
            return loaded

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.score = p.scorer()
        self._cooldown_ns = p.cooldown_ms * NANOS_PER_MS
        self.features: dict[int, SignalFeatures] = {}
        self.last_features: dict[int, FloatArray] = {}
        """The newest feature vector per instrument (observability; tests read it)."""
        self.last_score: dict[int, float] = {}
        self._qty, self._limit = sizes(self, p.qty, p.max_position)
        self._quiet_until: dict[int, int] = dict.fromkeys(self._qty, -1)
        for instrument_id in self._qty:
            self.features[instrument_id] = SignalFeatures()

    def on_bar(self, bar: Bar) -> None:
        key = bar.instrument.id
        qty = self._qty.get(key)
        if qty is None:
            return
        book = self.book(key)
        volume = bar.volume * 10.0**-bar.instrument.qty_scale
        features = self.features[key].update(
            book.price_f(bar.close), volume, book.imbalance(self.params.imbalance_levels)
        )
        if features is None:
            return
        score = self.score(features)
        self.last_features[key], self.last_score[key] = features, score
        if self.now < self._quiet_until[key] or not (book.synced and book.two_sided):
            return
        if score > self.params.buy_above:
            side = OrderSide.BUY
        elif score < self.params.sell_below:
            side = OrderSide.SELL
        else:
            return
        if not room(self, key, side, qty, self._limit[key]):
            return
        if side is OrderSide.BUY:
            order = self.buy(key, qty, book.ask_price, tif=TimeInForce.IOC)
        else:
            order = self.sell(key, qty, book.bid_price, tif=TimeInForce.IOC)
        if order is not None:
            self._quiet_until[key] = self.now + self._cooldown_ns
