"""histogram.py: log-linear buckets, percentile accuracy, shared-memory recording, export."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest

from hftpipe.substrate.control import ControlFile, RingEntry
from hftpipe.substrate.histogram import (
    BUCKET_COUNT,
    BUCKET_HIGH,
    BUCKET_LOW,
    LINEAR_LIMIT,
    MAX_TRACKABLE_NS,
    Histogram,
    HistogramSnapshot,
    bucket_index,
)

SECOND = 10**9
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def _distributions() -> dict[str, npt.NDArray[np.int64]]:
    rng = np.random.default_rng(20240601)
    log_uniform = np.exp(rng.uniform(np.log(1), np.log(10**6), 50_000))  # 1 ns .. 1 ms, every decade alike
    bimodal = np.concatenate([rng.normal(800, 40, 40_000), rng.normal(250_000, 5_000, 10_000)])
    return {
        "uniform": rng.integers(0, 1_000_000, 50_000),
        "lognormal": np.maximum(rng.lognormal(np.log(20_000), 2.0, 50_000), 1).astype(np.int64),
        "log-uniform": log_uniform.astype(np.int64),
        "bimodal": np.maximum(bimodal, 1).astype(np.int64),
        "up-to-60s": rng.integers(1, 60 * SECOND + 1, 50_000),
        "small": rng.integers(0, 300, 10_000),
    }


DISTRIBUTIONS = _distributions()


@pytest.fixture
def control(pipeline_name: str) -> Iterator[ControlFile]:
    cf = ControlFile.create(pipeline_name, ["a", "b"], [RingEntry("a-b", 64, 64, 0, 1, 0)])
    try:
        yield cf
    finally:
        cf.close()
        cf.segment.unlink()


# ----------------------------------------------------------------------------- buckets
def _probe_values() -> npt.NDArray[np.int64]:
    powers = [1 << k for k in range(37)]
    around = [p + d for p in powers for d in (-1, 0, 1)]
    rng = np.random.default_rng(7)
    spread = np.exp(rng.uniform(0, np.log(MAX_TRACKABLE_NS), 20_000)).astype(np.int64)
    values = np.concatenate([np.arange(0, 4096), around, spread, [60 * SECOND, MAX_TRACKABLE_NS]])
    return np.unique(np.clip(values, 0, MAX_TRACKABLE_NS))


def test_should_map_values_to_monotonically_non_decreasing_bucket_indexes() -> None:
    indexes = np.array([bucket_index(int(v)) for v in _probe_values()])
    assert np.all(np.diff(indexes) >= 0)
    assert indexes[0] == 0 and indexes[-1] == BUCKET_COUNT - 1


def test_should_put_every_value_in_a_bucket_whose_bounds_contain_it() -> None:
    for value in _probe_values().tolist():
        index = bucket_index(value)
        assert BUCKET_LOW[index] <= value <= BUCKET_HIGH[index], value


def test_should_tile_the_range_with_contiguous_buckets_no_wider_than_1_128th() -> None:
    assert BUCKET_LOW[0] == 0 and BUCKET_HIGH[-1] == MAX_TRACKABLE_NS
    assert np.all(BUCKET_LOW[1:] == BUCKET_HIGH[:-1] + 1)
    wide = BUCKET_LOW >= LINEAR_LIMIT
    assert np.all((BUCKET_HIGH[wide] - BUCKET_LOW[wide] + 1) * 128 <= BUCKET_LOW[wide])
    assert np.all(BUCKET_LOW[:LINEAR_LIMIT] == BUCKET_HIGH[:LINEAR_LIMIT])  # exact below 256 ns


def test_should_represent_1_ns_and_60_s() -> None:
    one = HistogramSnapshot.from_values([1])
    assert one.value_at_percentile(50) == 1
    assert bucket_index(1) == 1
    sixty = HistogramSnapshot.from_values([60 * SECOND])
    assert sixty.max_value == 60 * SECOND
    assert sixty.value_at_percentile(50) == 60 * SECOND  # clamped to the exact max
    index = bucket_index(60 * SECOND)
    assert index < BUCKET_COUNT - 1
    assert BUCKET_LOW[index] <= 60 * SECOND <= BUCKET_HIGH[index]


def test_should_clamp_values_beyond_the_trackable_range_and_below_zero() -> None:
    snap = HistogramSnapshot.from_values([-5, 1 << 40])
    assert (snap.min_value, snap.max_value) == (0, MAX_TRACKABLE_NS)
    assert bucket_index(1 << 40) == BUCKET_COUNT - 1
    assert bucket_index(-5) == 0


def test_should_agree_with_bucket_index_when_building_from_values() -> None:
    values = _probe_values()
    snap = HistogramSnapshot.from_values(values.tolist())
    expected = np.bincount([bucket_index(int(v)) for v in values], minlength=BUCKET_COUNT)
    assert np.array_equal(snap.counts, expected)


# ----------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_should_report_percentiles_within_1_percent_of_numpy(name: str) -> None:
    values = DISTRIBUTIONS[name]
    snap = HistogramSnapshot.from_values(values.tolist())
    assert snap.count == len(values)
    for p in PERCENTILES:
        exact = float(np.percentile(values, p, method="inverted_cdf"))
        got = snap.value_at_percentile(p)
        assert abs(got - exact) <= 0.01 * exact, (name, p, got, exact)


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_should_keep_min_and_max_exact(name: str) -> None:
    values = DISTRIBUTIONS[name]
    snap = HistogramSnapshot.from_values(values.tolist())
    low, high = int(values.min()), int(values.max())
    assert (snap.min_value, snap.max_value) == (low, high)
    # The extreme percentiles report their bucket's midpoint, clamped into [min, max].
    assert BUCKET_LOW[bucket_index(high)] <= snap.value_at_percentile(100) <= high
    assert low <= snap.value_at_percentile(0) <= BUCKET_HIGH[bucket_index(low)]


def test_should_compute_the_mean_within_the_bucket_error() -> None:
    values = DISTRIBUTIONS["lognormal"]
    snap = HistogramSnapshot.from_values(values.tolist())
    assert abs(snap.mean() - values.mean()) <= 0.004 * values.mean()
    assert abs(snap.stddev() - values.std()) <= 0.01 * values.std()


def test_should_report_zero_for_an_empty_histogram() -> None:
    snap = HistogramSnapshot.from_values([])
    assert snap.count == 0
    assert snap.value_at_percentile(99) == 0
    assert (snap.mean(), snap.stddev()) == (0.0, 0.0)
    assert snap.summary() == {"count": 0, "p50_ns": 0, "p99_ns": 0, "p999_ns": 0, "max_ns": 0}


def test_should_match_numpy_inverted_cdf_exactly_below_256_ns() -> None:
    values = np.repeat(np.arange(1, 201), 5)
    snap = HistogramSnapshot.from_values(values.tolist())
    for p in (0.1, 1, 10, 12.3, 25, 50, 75, 90, 99, 99.9, 99.99, 100):
        assert snap.value_at_percentile(p) == int(np.percentile(values, p, method="inverted_cdf")), p


def test_should_summarise_count_percentiles_and_max() -> None:
    snap = HistogramSnapshot.from_values(np.repeat(np.arange(1, 201), 5).tolist())
    assert snap.summary() == {"count": 1000, "p50_ns": 100, "p99_ns": 198, "p999_ns": 200, "max_ns": 200}


# ----------------------------------------------------------------------------- shared memory
def test_should_read_back_from_shared_memory_exactly_what_from_values_builds(control: ControlFile) -> None:
    values = [*DISTRIBUTIONS["bimodal"][:5000].tolist(), 0, -3, 1, 60 * SECOND, 1 << 40]
    writer = control.end_to_end_histogram(1)
    for value in values:
        writer.record(value)
    reader = ControlFile.attach(control.pipeline_name, readonly=True)
    try:
        got = HistogramSnapshot.read(reader.segment.buf, reader.layout.end_to_end_histogram(1))
    finally:
        reader.close()
    expected = HistogramSnapshot.from_values(values)
    assert np.array_equal(got.counts, expected.counts)
    assert (got.min_value, got.max_value) == (0, MAX_TRACKABLE_NS) == (expected.min_value, expected.max_value)
    assert control.read_end_to_end_histogram(0).count == 0  # neighbours untouched
    assert control.read_hop_histogram(0).count == 0


def test_should_keep_min_and_max_exact_in_shared_memory(control: ControlFile) -> None:
    writer = control.hop_histogram(0)
    for value in (1234, 987_654_321, 777):
        writer.record(value)
    snap = control.read_hop_histogram(0)
    assert (snap.min_value, snap.max_value, snap.count) == (777, 987_654_321, 3)


def test_should_continue_min_and_max_when_a_restarted_writer_reopens_the_histogram(control: ControlFile) -> None:
    control.hop_histogram(0).record(500)
    control.hop_histogram(0).record(5000)
    again = control.hop_histogram(0)
    again.record(1000)  # neither a new min nor a new max
    snap = control.read_hop_histogram(0)
    assert (snap.min_value, snap.max_value, snap.count) == (500, 5000, 3)


def test_should_clear_counts_min_and_max_on_reset(control: ControlFile) -> None:
    writer = control.hop_histogram(0)
    writer.record(10)
    writer.record(10_000)
    writer.reset()
    cleared = control.read_hop_histogram(0)
    assert (cleared.count, cleared.min_value, cleared.max_value) == (0, 0, 0)
    writer.record(300)
    snap = control.read_hop_histogram(0)
    assert (snap.min_value, snap.max_value, snap.count) == (300, 300, 1)


def test_should_reject_a_histogram_offset_that_is_not_cache_line_aligned(control: ControlFile) -> None:
    with pytest.raises(ValueError, match=re.escape("histogram offset 8 is not cache-line aligned")):
        Histogram(control.segment.words, 8)


# ----------------------------------------------------------------------------- merge
def test_should_add_counts_when_merging() -> None:
    a_values, b_values = [5, 10, 300, 70_000], [7, 10, 2 * SECOND]
    merged = HistogramSnapshot.from_values(a_values).merge(HistogramSnapshot.from_values(b_values))
    expected = HistogramSnapshot.from_values(a_values + b_values)
    assert np.array_equal(merged.counts, expected.counts)
    assert (merged.min_value, merged.max_value, merged.count) == (5, 2 * SECOND, 7)


def test_should_ignore_an_empty_side_when_merging() -> None:
    snap = HistogramSnapshot.from_values([100, 200])
    empty = HistogramSnapshot.empty()
    assert snap.merge(empty) is snap
    assert empty.merge(snap) is snap  # the empty side's min of 0 must not leak in


# ----------------------------------------------------------------------------- hgrm export
def _hgrm_rows(text: str) -> list[tuple[float, float, int]]:
    rows = []
    for line in text.splitlines()[2:]:
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        rows.append((float(fields[0]), float(fields[1]), int(fields[2])))
    return rows


def test_should_export_hdrhistogram_percentile_distribution_text() -> None:
    values = DISTRIBUTIONS["lognormal"]
    text = HistogramSnapshot.from_values(values.tolist()).to_hgrm()
    lines = text.splitlines()
    assert lines[0] == "       Value     Percentile TotalCount 1/(1-Percentile)"
    assert lines[1] == ""
    rows = _hgrm_rows(text)
    assert len(rows) > 20
    assert all(a[0] <= b[0] and a[1] <= b[1] and a[2] <= b[2] for a, b in itertools.pairwise(rows))
    assert rows[0][1] == 0.0
    assert rows[-1] == (round(values.max() / 1000, 3), 1.0, len(values))
    assert lines[-3].startswith("#[Mean    = ")
    assert lines[-2] == f"#[Max     = {values.max() / 1000:12.3f}, Total count    = {len(values):12d}]"
    assert lines[-1] == "#[Buckets =           30, SubBuckets     =          128]"
    assert text.endswith("\n")


def test_should_export_values_in_the_requested_unit() -> None:
    text = HistogramSnapshot.from_values([2_000_000]).to_hgrm(unit_ratio=1e6)
    assert "#[Max     =        2.000, Total count    =            1]" in text


def test_should_export_only_the_header_and_footer_for_an_empty_histogram() -> None:
    lines = HistogramSnapshot.empty().to_hgrm().splitlines()
    assert len(lines) == 5
    assert lines[-2] == "#[Max     =        0.000, Total count    =            0]"


def test_should_report_the_exact_max_at_the_100th_percentile() -> None:
    snapshot = HistogramSnapshot.from_values([1_000, 2_000, 999_211])
    assert snapshot.value_at_percentile(100) == 999_211
    assert snapshot.summary()["max_ns"] == 999_211
