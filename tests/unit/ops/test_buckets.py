"""The project's histograms as Prometheus buckets: cumulative, exact to one bucket, nothing re-observed."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from hftpipe.ops.metrics.buckets import BOUNDARIES_NS, prometheus_buckets
from hftpipe.substrate.histogram import MAX_TRACKABLE_NS, HistogramSnapshot


def test_should_count_values_at_or_below_each_boundary_with_values_on_the_boundary_below_it() -> None:
    buckets, sum_s = prometheus_buckets(HistogramSnapshot.from_values([400, 999, 1_000, 1_500, 2_000_000]))
    by_le = dict(buckets)
    assert by_le["5e-07"] == 1
    assert by_le["1e-06"] == 3
    assert by_le["2e-06"] == 4
    assert by_le["0.001"] == 4
    assert by_le["0.002"] == 5
    assert by_le["+Inf"] == 5
    assert abs(sum_s - (400 + 999 + 1_000 + 1_500 + 2_000_000) / 1e9) < 0.01 * sum_s


def test_should_start_at_half_a_microsecond_and_reach_a_minute() -> None:
    buckets, _ = prometheus_buckets(HistogramSnapshot.empty())
    assert [le for le, _ in buckets][:3] == ["5e-07", "1e-06", "2e-06"]
    assert [le for le, _ in buckets][-2:] == ["60.0", "+Inf"]
    assert {count for _, count in buckets} == {0}
    assert len(buckets) == len(BOUNDARIES_NS) + 1


@given(st.lists(st.integers(min_value=0, max_value=MAX_TRACKABLE_NS), max_size=200))
def test_should_be_cumulative_and_within_one_bucket_of_the_exact_count(values: list[int]) -> None:
    buckets, _ = prometheus_buckets(HistogramSnapshot.from_values(values))
    counts = [count for _, count in buckets]
    assert counts == sorted(counts)
    assert counts[-1] == len(values)
    array = np.array(values, dtype=np.int64)
    for boundary, count in zip(BOUNDARIES_NS, counts, strict=False):
        # A bucket is at most 1/128 of its low value wide: only values that close above a boundary may join it.
        assert np.count_nonzero(array <= boundary) <= count <= np.count_nonzero(array <= boundary * (1 + 1 / 128))
