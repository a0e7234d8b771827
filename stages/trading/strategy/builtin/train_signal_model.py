"""Train the shipped signal model on the Binance captures: deterministic, numpy only.

::

    python -m stages.trading.strategy.builtin.train_signal_model \\
        --out stages/trading/strategy/builtin/models/signal_model.npz

The captures hold too few trades for trade bars (the spot capture has 2), so
a bar here is one ``@bookTicker`` update of a symbol: close = the mid, volume
= the ``@aggTrade`` quantity since the previous update, imbalance = the
top-of-book sizes ``(B - A) / (B + A)``. The features are
:class:`~stages.trading.strategy.builtin.signal_model.SignalFeatures` of those
bars, the very code the strategy runs; the label is the sign of the next
bar's return (bars whose next mid is unchanged are left out).

The model is a logistic regression on the standardized features, fitted by
:data:`STEPS` steps of full-batch gradient descent from zero weights with a
small L2 penalty: no random numbers, so a rerun on the same captures writes
the same file (the zip entries carry a fixed timestamp). It is a worked
example of the format and of the training loop, fitted on a few hundred
bars: not a signal to trade.

Defaults read ``BINANCE.ws.1.0`` and ``BINANCE_FUTURES.ws.1.0`` from
``$HFTPIPE_CAPTURES`` (else ``../shared/data/captures`` beside the repository,
where the tests look too); ``--capture`` names other files of the Binance
combined-stream capture format.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import os
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import orjson

from stages.trading.strategy.builtin.signal_model import FEATURES, SignalFeatures

STEPS: Final = 500
LEARNING_RATE: Final = 0.5
L2: Final = 0.01
CAPTURES: Final = ("BINANCE.ws.1.0", "BINANCE_FUTURES.ws.1.0")
FIXED_ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)

FloatArray = npt.NDArray[np.float64]


def default_captures() -> list[Path]:
    repo = Path(__file__).resolve().parents[4]
    folder = Path(os.environ.get("HFTPIPE_CAPTURES", repo.parent / "shared" / "data" / "captures"))
    return [folder / name for name in CAPTURES]


def bars(lines: Iterable[str]) -> dict[str, list[tuple[float, float, float]]]:
    """Per symbol, the ``(close, volume, imbalance)`` of each bookTicker bar, in capture order."""
    out: dict[str, list[tuple[float, float, float]]] = {}
    volume: dict[str, float] = {}
    for line in lines:
        head, sep, payload = line.partition(": ")
        if not sep or not head[:1].isdigit() or '"stream"' not in payload:  # received messages only
            continue
        message = orjson.loads(payload)
        stream, data = message["stream"], message["data"]
        symbol = data["s"]
        if stream.endswith("@aggTrade"):
            volume[symbol] = volume.get(symbol, 0.0) + float(data["q"])
        elif stream.endswith("@bookTicker"):
            bid, ask = float(data["b"]), float(data["a"])
            bid_qty, ask_qty = float(data["B"]), float(data["A"])
            if bid <= 0.0 or ask <= bid or bid_qty + ask_qty <= 0.0:
                continue
            imbalance = (bid_qty - ask_qty) / (bid_qty + ask_qty)
            out.setdefault(symbol, []).append(((bid + ask) / 2, volume.pop(symbol, 0.0), imbalance))
    return out


def dataset(series: dict[str, list[tuple[float, float, float]]]) -> tuple[FloatArray, FloatArray]:
    """Features of each bar with a changed next close, and 1.0 (next close higher) or 0.0 (lower)."""
    rows: list[FloatArray] = []
    labels: list[float] = []
    for symbol in sorted(series):
        features = SignalFeatures()
        bars_ = series[symbol]
        for (close, volume, imbalance), (next_close, _, _) in itertools.pairwise(bars_):
            x = features.update(close, volume, imbalance)
            if x is not None and next_close != close:
                rows.append(x)
                labels.append(1.0 if next_close > close else 0.0)
    return np.array(rows, dtype=np.float64).reshape(-1, len(FEATURES)), np.array(labels, dtype=np.float64)


def fit(x: FloatArray, y: FloatArray) -> tuple[FloatArray, float, FloatArray, FloatArray]:
    """``(weights, bias, mean, scale)`` of a logistic regression on standardized ``x``."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0.0] = 1.0
    z = (x - mean) / scale
    weights = np.zeros(z.shape[1])
    bias = 0.0
    n = len(y)
    for _ in range(STEPS):
        p = 1.0 / (1.0 + np.exp(-(z @ weights + bias)))
        error = p - y
        weights -= LEARNING_RATE * (z.T @ error / n + L2 * weights)
        bias -= LEARNING_RATE * float(error.mean())
    return weights, bias, mean, scale


def write_model(path: Path, arrays: dict[str, npt.NDArray[np.generic]]) -> None:
    """An ``.npz`` (numpy's zip of ``.npy`` files) with fixed timestamps: same arrays, same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", FIXED_ZIP_TIME), buffer.getvalue())


def train(captures: Sequence[Path]) -> tuple[dict[str, npt.NDArray[np.generic]], float]:
    """The model's arrays, fitted on ``captures``, and its accuracy on the bars it was fitted on."""
    series: dict[str, list[tuple[float, float, float]]] = {}
    provenance = []
    for path in captures:
        raw = path.read_bytes()
        provenance.append(f"{path.name} sha256:{hashlib.sha256(raw).hexdigest()}")
        for symbol, found in bars(raw.decode("utf-8").splitlines()).items():
            series.setdefault(symbol, []).extend(found)
    x, y = dataset(series)
    if len(y) < 2 * len(FEATURES):
        raise SystemExit(f"only {len(y)} labelled bars in {', '.join(map(str, captures))}: too few to fit")
    weights, bias, mean, scale = fit(x, y)
    hits = ((x - mean) / scale @ weights + bias > 0.0) == (y > 0.5)
    arrays: dict[str, npt.NDArray[np.generic]] = {
        "weights": weights,
        "bias": np.array(bias),
        "mean": mean,
        "scale": scale,
        "kind": np.array("logistic"),
        "features": np.array(FEATURES),
        "samples": np.array(len(y), dtype=np.int64),
        "trained_on": np.array(provenance),
    }
    return arrays, float(hits.mean())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the .npz to write")
    parser.add_argument("--capture", type=Path, action="append", help="a Binance capture (repeat; default: both)")
    args = parser.parse_args(argv)
    captures = args.capture or default_captures()
    arrays, accuracy = train(captures)
    write_model(args.out, arrays)
    weights = ", ".join(f"{n} {w:+.4f}" for n, w in zip(FEATURES, np.asarray(arrays["weights"]), strict=True))
    print(
        f"{args.out}: {int(arrays['samples'])} bars, {accuracy:.1%} right in sample; "
        f"weights {weights}; bias {float(arrays['bias']):+.4f}"
    )


if __name__ == "__main__":
    main()
