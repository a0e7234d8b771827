"""Per-update cost of ``EMA.update`` and ``RSI.update`` against TA-Lib and pandas, same data, same run.

Every variant answers the indicator's value at price ``i`` of one seeded
random walk (12,000 prices around 100):

``ours``
    ``EMA(20).update(x)`` / ``RSI(14).update(x)``: O(1), pure Python.
``talib-stream``
    TA-Lib 0.8's streaming handle, ``talib.stream.EMA(history, timeperiod=20)``
    opened on the first ``window`` prices, then ``handle.update(x)``: O(1) in C
    behind one Cython call. Bit-identical to ours (checked).
``talib-window``
    ``talib.stream.EMA(window, timeperiod=20).value``: a handle opened on the
    last ``window`` prices for every price, i.e. a recompute over the window
    (what a stateless caller does).
``pandas-window``
    ``pd.Series(window).ewm(span=20, adjust=False).mean().iloc[-1]`` for the
    EMA; for the RSI, Wilder's averages of the window's gains and losses by
    ``ewm(alpha=1/14, adjust=False)``.

A recompute over a window equals the running value only once the window's
seed has decayed: ``window`` is the smallest length whose seed weight
``(1 - alpha) ** (window - lookback - 1)`` is below 1e-12 (EMA(20): 297
prices, alpha 2/21; RSI(14): 388 prices, alpha 1/14). The recomputed values
are checked against ours to 1e-9 relative.

Timing: rounds of ``block`` consecutive prices per variant (1,000 for the
O(1) variants, 50 for the recomputes), variants interleaved within each
round so drift hits all alike; a variant's figure is the median over rounds
of (block time / block). The O(1) variants are fed by a plain ``for``
loop over a list of floats calling the bound method (the loop costs ~10 ns
of each figure), the recomputes by index.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import talib
from talib import stream

from hftpipe.strategy.indicators import EMA, RSI

EMA_PERIOD = 20
RSI_PERIOD = 14
SEED = 2026
FAST_BLOCK = 1_000
SLOW_BLOCK = 50

Step = Callable[[int], float]
"""The variant's value at price ``i`` (called with consecutive ``i``)."""
Run = Callable[[int, int], object]
"""Feeds prices ``first .. first + count - 1``: the timed loop."""


def window_for(alpha: float, lookback: int, weight: float = 1e-12) -> int:
    """Prices a recompute needs for its seed to weigh less than ``weight``."""
    return lookback + 1 + math.ceil(math.log(weight) / math.log1p(-alpha))


def prices(n: int, seed: int = SEED) -> npt.NDArray[np.float64]:
    return 100.0 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0.0, 1e-3, n)))


@dataclass(frozen=True)
class Variant:
    name: str
    block: int
    step: Step
    run: Run


def stepwise(name: str, step: Step) -> Variant:
    """A recompute: each price is its own call."""

    def run(first: int, count: int) -> object:
        value = 0.0
        for i in range(first, first + count):
            value = step(i)
        return value

    return Variant(name, SLOW_BLOCK, step, run)


def streaming(name: str, update: Callable[[float], float | None], values: list[float]) -> Variant:
    """An O(1) update, fed from a list the way a strategy's loop would."""

    def step(i: int) -> float:
        value = update(values[i])
        assert value is not None, f"{name} is still warming up at price {i}"
        return value

    def run(first: int, count: int) -> object:
        value = None
        for x in values[first : first + count]:
            value = update(x)
        return value

    return Variant(name, FAST_BLOCK, step, run)


def ema_variants(x: npt.NDArray[np.float64], start: int) -> list[Variant]:
    """EMA(20) variants, each ready to answer from price ``start`` on."""
    window = window_for(2.0 / (EMA_PERIOD + 1), EMA_PERIOD - 1)
    values = x.tolist()
    ours = EMA(EMA_PERIOD)
    for v in values[:start]:
        ours.update(v)
    handle = stream.EMA(x[:start], timeperiod=EMA_PERIOD)

    def recompute_talib(i: int) -> float:
        return float(stream.EMA(x[i - window + 1 : i + 1], timeperiod=EMA_PERIOD).value)

    def recompute_pandas(i: int) -> float:
        return float(pd.Series(x[i - window + 1 : i + 1]).ewm(span=EMA_PERIOD, adjust=False).mean().iloc[-1])

    return [
        streaming("ours", ours.update, values),
        streaming("talib-stream", handle.update, values),
        stepwise(f"talib-window({window})", recompute_talib),
        stepwise(f"pandas-window({window})", recompute_pandas),
    ]


def rsi_variants(x: npt.NDArray[np.float64], start: int) -> list[Variant]:
    """RSI(14) variants, each ready to answer from price ``start`` on."""
    window = window_for(1.0 / RSI_PERIOD, RSI_PERIOD)
    values = x.tolist()
    ours = RSI(RSI_PERIOD)
    for v in values[:start]:
        ours.update(v)
    handle = stream.RSI(x[:start], timeperiod=RSI_PERIOD)

    def recompute_talib(i: int) -> float:
        return float(stream.RSI(x[i - window + 1 : i + 1], timeperiod=RSI_PERIOD).value)

    def recompute_pandas(i: int) -> float:
        moves = np.diff(x[i - window + 1 : i + 1])
        gains = pd.Series(np.maximum(moves, 0.0)).ewm(alpha=1.0 / RSI_PERIOD, adjust=False).mean().iloc[-1]
        losses = pd.Series(np.maximum(-moves, 0.0)).ewm(alpha=1.0 / RSI_PERIOD, adjust=False).mean().iloc[-1]
        return float(100.0 * gains / (gains + losses))

    return [
        streaming("ours", ours.update, values),
        streaming("talib-stream", handle.update, values),
        stepwise(f"talib-window({window})", recompute_talib),
        stepwise(f"pandas-window({window})", recompute_pandas),
    ]


def check(indicator: str, variants: list[Variant], start: int, n: int) -> None:
    """Every variant's values at prices ``start..start+n`` against ours: the stream bit for bit, the rest 1e-9."""
    answers = {v.name: [v.step(i) for i in range(start, start + n)] for v in variants}
    ours = answers["ours"]
    for name, values in answers.items():
        if name == "talib-stream":
            assert values == ours, f"{indicator}: TA-Lib's stream differs from ours"
        for a, b in zip(values, ours, strict=True):
            assert abs(a - b) <= 1e-9 * abs(b), f"{indicator} {name}: {a!r} vs ours {b!r}"


def measure(variants: list[Variant], start: int, rounds: int) -> dict[str, float]:
    """Median over rounds of ns per update, rounds interleaved across variants."""
    samples: dict[str, list[float]] = {v.name: [] for v in variants}
    clock = time.perf_counter_ns
    for r in range(rounds):
        first = start + r * FAST_BLOCK
        for v in variants:
            began = clock()
            v.run(first, v.block)
            samples[v.name].append((clock() - began) / v.block)
    return {name: statistics.median(s) for name, s in samples.items()}


def run(rounds: int) -> dict[str, object]:
    start = max(window_for(2.0 / (EMA_PERIOD + 1), EMA_PERIOD - 1), window_for(1.0 / RSI_PERIOD, RSI_PERIOD))
    x = prices(start + (rounds + 1) * FAST_BLOCK)
    report: dict[str, object] = {
        "setup": {
            "prices": len(x),
            "rounds": rounds,
            "blocks": {"O(1)": FAST_BLOCK, "recompute": SLOW_BLOCK},
            "python": platform.python_version(),
            "talib": getattr(talib, "__ta_version__", b"?").decode().split()[0],
            "pandas": pd.__version__,
        }
    }
    for indicator, make in (("EMA(20)", ema_variants), ("RSI(14)", rsi_variants)):
        check(indicator, make(x, start), start, 200)
        medians = measure(make(x, start), start, rounds)
        ours = medians["ours"]
        report[indicator] = {
            name: {"median_ns": round(ns, 1), "ratio_to_ours": round(ns / ours, 2)} for name, ns in medians.items()
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.indicators_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per variant (default 15)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = parser.parse_args(argv)
    report = run(args.rounds)
    if args.json:
        print(json.dumps(report))
        return 0
    print(json.dumps(report["setup"]))
    for indicator in ("EMA(20)", "RSI(14)"):
        rows = report[indicator]
        assert isinstance(rows, dict)
        print(f"\n{indicator:<28} {'median/update':>14} {'x ours':>8}")
        for name, row in rows.items():
            print(f"{name:<28} {row['median_ns'] / 1000:>11.3f} µs {row['ratio_to_ours']:>7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
