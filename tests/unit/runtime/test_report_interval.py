"""``LatencySnapshot.since``: an interval's histogram is the interval's alone, extremes included."""

from __future__ import annotations

from hftpipe.runtime.report import LatencySnapshot
from hftpipe.substrate.histogram import HistogramSnapshot


def _snapshot(values: list[int]) -> LatencySnapshot:
    histogram = HistogramSnapshot.from_values(values)
    return LatencySnapshot({"hop": histogram}, histogram, {"sink": histogram})


def test_should_not_let_an_earlier_maximum_become_the_intervals_p99() -> None:
    earlier = _snapshot([1_000_000] * 10)
    later = _snapshot([1_000_000] * 10 + [2_000] * 50)
    delta = later.since(earlier)
    for histogram in (delta.hops["hop"], delta.end_to_end, delta.by_stage["sink"]):
        assert histogram.count == 50
        # Known to its bucket (2000..2007 ns), no longer the 1 ms of before.
        assert 2_000 <= histogram.value_at_percentile(99) <= histogram.max_value <= 2_007
        assert histogram.min_value == 2_000


def test_should_keep_the_exact_extremes_when_the_interval_holds_them() -> None:
    earlier = _snapshot([500])
    later = _snapshot([500, 1_234_567, 3_001])
    delta = later.since(earlier)
    assert (delta.end_to_end.max_value, delta.end_to_end.min_value) == (1_234_567, 2_992)  # min: its bucket's low


def test_should_be_empty_when_nothing_was_recorded_in_the_interval() -> None:
    same = _snapshot([700, 900])
    delta = same.since(same)
    assert delta.end_to_end.count == 0
    assert delta.end_to_end.value_at_percentile(99) == 0
