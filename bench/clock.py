"""What the per-update benchmarks share: the cost of reading the clock, and nanoseconds shown as µs."""

from __future__ import annotations

import time

import numpy as np


def clock_ns(n: int = 20_000) -> float:
    """Median cost of one ``perf_counter_ns`` pair: it is inside every per-update figure."""
    clock = time.perf_counter_ns
    samples = [0] * n
    for i in range(n):
        t0 = clock()
        t1 = clock()
        samples[i] = t1 - t0
    return float(np.median(samples))


def us(ns: float) -> float:
    """Nanoseconds as microseconds, to the nanosecond."""
    return round(ns / 1000, 3)
