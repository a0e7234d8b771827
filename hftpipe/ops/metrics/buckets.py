"""The project's histograms as Prometheus buckets, from the recorded counts (nothing re-observed).

A :class:`~hftpipe.substrate.histogram.HistogramSnapshot` has 3840 log-linear
buckets (exact below 256 ns, then 1/128 of a power of two wide); Prometheus
wants a few cumulative ``le`` boundaries. Each boundary takes every bucket that
starts at or below it, so a value exactly on a boundary counts below it and a
boundary is exact to within one bucket (≤ 0.78 % of its value; the boundaries
below 256 ns would be exact). ``_sum`` is the sum of bucket midpoints, as the
project's ``mean()`` computes it.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from hftpipe.substrate.histogram import BUCKET_LOW, BUCKET_MID, HistogramSnapshot

BOUNDARIES_NS: Final = (
    500,
    *(m * 10**e for e in range(3, 10) for m in (1, 2, 5)),
    10_000_000_000,
    30_000_000_000,
    60_000_000_000,
)
"""0.5 µs to 60 s on a 1-2-5 ladder: microsecond hops and second-long stalls both resolve."""

_LAST_BUCKET_AT: Final = np.searchsorted(BUCKET_LOW, np.array(BOUNDARIES_NS), side="right") - 1
"""For each boundary, the last bucket that starts at or below it."""
_LE: Final = (*(repr(ns / 1e9) for ns in BOUNDARIES_NS), "+Inf")
"""As Python writes the floats (``1e-06``, ``0.002``, ``60.0``): Prometheus parses ``le`` as a number."""


def prometheus_buckets(histogram: HistogramSnapshot) -> tuple[list[tuple[str, float]], float]:
    """``([(le, cumulative count), ..., ("+Inf", count)], sum in seconds)`` of one snapshot."""
    cumulative = np.cumsum(histogram.counts)
    total = int(cumulative[-1])
    counts = [int(cumulative[i]) for i in _LAST_BUCKET_AT]
    buckets = list(zip(_LE, [*counts, total], strict=True))
    sum_s = float((histogram.counts * BUCKET_MID).sum()) / 1e9
    return [(le, float(n)) for le, n in buckets], sum_s
