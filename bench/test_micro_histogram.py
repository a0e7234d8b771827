"""Micro benchmarks of the latency histogram: recording (hot path) and reading percentiles."""

from __future__ import annotations

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from hftpipe.substrate.histogram import HISTOGRAM_SIZE, Histogram, HistogramSnapshot, bucket_index


def fresh_histogram() -> tuple[Histogram, memoryview]:
    buf = memoryview(bytearray(HISTOGRAM_SIZE))
    return Histogram(buf.cast("q"), 0), buf


@pytest.mark.benchmark(group="histogram")
@pytest.mark.parametrize("value", [100, 1_234, 5_000_000], ids=["linear-100ns", "1.2us", "5ms"])
def test_histogram_record(benchmark: BenchmarkFixture, value: int) -> None:
    histogram, buf = fresh_histogram()
    benchmark(histogram.record, value)
    snapshot = HistogramSnapshot.read(buf, 0)
    # Every timed call landed in the value's bucket, and min/max are exact.
    assert snapshot.count > 0
    assert int(snapshot.counts[bucket_index(value)]) == snapshot.count
    assert snapshot.max_value == snapshot.min_value == value
    assert abs(snapshot.value_at_percentile(50) - value) <= value / 128


@pytest.mark.benchmark(group="histogram")
def test_histogram_percentiles_of_a_snapshot(benchmark: BenchmarkFixture) -> None:
    """What a reader pays for p50/p99/p99.9/max of 100k recorded values."""
    histogram, buf = fresh_histogram()
    values = np.random.default_rng(1).lognormal(7, 1, 100_000).astype(np.int64)
    for v in values.tolist():
        histogram.record(v)

    def summarize() -> dict[str, int]:
        return HistogramSnapshot.read(buf, 0).summary()

    summary = benchmark(summarize)
    assert summary["count"] == 100_000
    assert summary["max_ns"] == int(values.max())
    exact = int(np.percentile(values, 50, method="inverted_cdf"))
    assert abs(summary["p50_ns"] - exact) <= exact / 128 + 1
