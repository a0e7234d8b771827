"""Single-writer log-linear latency histogram living in shared memory.

Values below 256 ns get one bucket each; above, every power of two is split
into 128 linear sub-buckets, so a bucket is never wider than 1/128 of its
lowest value (≤ 0.78 % relative error, ≤ 0.39 % reporting the midpoint). The
range is 0 ns .. 2^36 ns (~68.7 s, past the required 60 s) in 3840 int64
buckets (30 KiB). Recording is a ``bit_length``, two shifts and one counter
increment: no allocation, no lock. One process writes; readers copy the
counts and may see a count in flight, never a torn 8-byte value.

Layout (``HISTOGRAM_SIZE`` bytes, cache-line aligned)::

      0 +--------------+--------------+------------------------------+
        | max value    | min value+1  | (reserved to 128)            |
    128 +--------------+--------------+------------------------------+
        | bucket 0 | bucket 1 | ...                    | bucket 3839 |
        +-------------------------------------------------------------+
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

SUB_BUCKET_BITS: Final = 7  # 128 sub-buckets per power of two
LINEAR_LIMIT: Final = 1 << (SUB_BUCKET_BITS + 1)  # 256: exact below this
MAX_TRACKABLE_NS: Final = (1 << 36) - 1
BUCKET_COUNT: Final = ((MAX_TRACKABLE_NS.bit_length() - 8) << SUB_BUCKET_BITS) + 256
HEADER_BYTES: Final = 128
HISTOGRAM_SIZE: Final = HEADER_BYTES + BUCKET_COUNT * 8
_MAX: Final = 0
_MIN_PLUS_ONE: Final = 1  # 0 means "no value yet"

assert BUCKET_COUNT == 3840 and MAX_TRACKABLE_NS >= 60 * 10**9
assert (LINEAR_LIMIT, SUB_BUCKET_BITS, MAX_TRACKABLE_NS) == (256, 7, 68_719_476_735)  # inlined in record()


def bucket_index(value: int) -> int:
    if value < LINEAR_LIMIT:
        return value if value > 0 else 0
    value = min(value, MAX_TRACKABLE_NS)
    shift = value.bit_length() - 8
    return (shift << SUB_BUCKET_BITS) + (value >> shift)


def _bucket_bounds() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    index = np.arange(BUCKET_COUNT, dtype=np.int64)
    shift = np.maximum((index >> SUB_BUCKET_BITS) - 1, 0)
    mantissa = index - (shift << SUB_BUCKET_BITS)
    low = np.where(index < LINEAR_LIMIT, index, mantissa << shift)
    high = np.where(index < LINEAR_LIMIT, index, ((mantissa + 1) << shift) - 1)
    return low, high


BUCKET_LOW, BUCKET_HIGH = _bucket_bounds()
BUCKET_MID: Final = (BUCKET_LOW + BUCKET_HIGH) // 2


class Histogram:
    """The writer's handle: ``record(ns)`` into counts at ``words[base:]``.

    ``words`` is the whole segment cast to int64 and ``offset`` the byte offset
    of this histogram; keeping the segment-wide view avoids one view per histogram.
    """

    __slots__ = ("_base", "_hdr", "_max", "_min", "_w")

    def __init__(self, words: memoryview, offset: int) -> None:
        if offset % 64:
            raise ValueError(f"histogram offset {offset} is not cache-line aligned")
        self._w = words
        self._hdr = offset // 8
        self._base = self._hdr + HEADER_BYTES // 8
        self._max = int(words[self._hdr + _MAX])
        stored_min = int(words[self._hdr + _MIN_PLUS_ONE])
        self._min = stored_min - 1 if stored_min else MAX_TRACKABLE_NS + 1

    def record(self, value: int) -> None:
        # Constants are inlined (256 = LINEAR_LIMIT, 7 = SUB_BUCKET_BITS, 2^36-1 =
        # MAX_TRACKABLE_NS) and the clamp is an `if`, not min(): global lookups and
        # the call made this path ~40 % slower. The module asserts the constants.
        if value >= 256:
            if value > 68_719_476_735:  # noqa: PLR1730
                value = 68_719_476_735
            shift = value.bit_length() - 8
            self._w[self._base + (shift << 7) + (value >> shift)] += 1
        elif value > 0:
            self._w[self._base + value] += 1
        else:
            value = 0
            self._w[self._base] += 1
        if value > self._max:
            self._max = value
            self._w[self._hdr + _MAX] = value
        if value < self._min:
            self._min = value
            self._w[self._hdr + _MIN_PLUS_ONE] = value + 1

    def reset(self) -> None:
        """Only the writer may reset (readers would otherwise race it)."""
        for i in range(self._hdr, self._base + BUCKET_COUNT):
            self._w[i] = 0
        self._max = 0
        self._min = MAX_TRACKABLE_NS + 1


@dataclass(frozen=True, slots=True)
class HistogramSnapshot:
    """A reader's copy of the counts; percentiles, merging and export."""

    counts: npt.NDArray[np.int64]
    max_value: int
    min_value: int

    @classmethod
    def read(cls, buf: memoryview, offset: int) -> HistogramSnapshot:
        header = np.frombuffer(buf, dtype=np.int64, count=2, offset=offset)
        counts = np.frombuffer(buf, dtype=np.int64, count=BUCKET_COUNT, offset=offset + HEADER_BYTES).copy()
        max_value, min_plus_one = int(header[0]), int(header[1])
        return cls(counts, max_value, min_plus_one - 1 if min_plus_one else 0)

    @classmethod
    def empty(cls) -> HistogramSnapshot:
        return cls(np.zeros(BUCKET_COUNT, dtype=np.int64), 0, 0)

    @classmethod
    def from_values(cls, values: Iterable[int]) -> HistogramSnapshot:
        """Build from plain values (benchmarks measure locally, then report the same way)."""
        raw = values if isinstance(values, np.ndarray) else np.fromiter(values, dtype=np.int64)
        array = np.clip(np.asarray(raw, dtype=np.int64), 0, MAX_TRACKABLE_NS)
        if array.size == 0:
            return cls.empty()
        shift = np.maximum(np.frexp(array.astype(np.float64))[1].astype(np.int64) - 8, 0)
        index = np.where(array < LINEAR_LIMIT, array, (shift << SUB_BUCKET_BITS) + (array >> shift))
        counts = np.bincount(index, minlength=BUCKET_COUNT).astype(np.int64)
        return cls(counts, int(array.max()), int(array.min()))

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def merge(self, other: HistogramSnapshot) -> HistogramSnapshot:
        if not other.count:
            return self
        if not self.count:
            return other
        return HistogramSnapshot(
            self.counts + other.counts,
            max(self.max_value, other.max_value),
            min(self.min_value, other.min_value),
        )

    def value_at_percentile(self, percentile: float) -> int:
        """Smallest recorded value with at least ``percentile`` % of values at or below it.

        Reported as the bucket midpoint, clamped to the exact min and max.
        """
        total = self.count
        if total == 0:
            return 0
        rank = max(1, math.ceil(percentile / 100.0 * total))
        if rank >= total:
            return self.max_value
        index = int(np.searchsorted(np.cumsum(self.counts), rank))
        return int(min(max(BUCKET_MID[index], self.min_value), self.max_value))

    def mean(self) -> float:
        total = self.count
        return float((self.counts * BUCKET_MID).sum() / total) if total else 0.0

    def stddev(self) -> float:
        total = self.count
        if not total:
            return 0.0
        mean = self.mean()
        return float(math.sqrt((self.counts * (BUCKET_MID - mean) ** 2).sum() / total))

    def summary(self) -> dict[str, int]:
        return {
            "count": self.count,
            "p50_ns": self.value_at_percentile(50),
            "p99_ns": self.value_at_percentile(99),
            "p999_ns": self.value_at_percentile(99.9),
            "max_ns": self.max_value,
        }

    def _percentile_levels(self, ticks_per_half_distance: int) -> Iterator[float]:
        """HdrHistogram's percentile iteration: finer steps as 100 % approaches."""
        percentile = 0.0
        while percentile < 100.0:
            yield percentile
            half_distance = 2 ** (int(math.log2(100.0 / (100.0 - percentile))) + 1)
            percentile += 100.0 / (ticks_per_half_distance * half_distance)

    def to_hgrm(self, unit_ratio: float = 1000.0, ticks_per_half_distance: int = 5) -> str:
        """HdrHistogram percentile-distribution text; values divided by ``unit_ratio`` (µs)."""
        lines = [f"{'Value':>12} {'Percentile':>14} {'TotalCount':>10} {'1/(1-Percentile)':>14}", ""]
        total = self.count
        cumulative = np.cumsum(self.counts)
        if total:
            for percentile in self._percentile_levels(ticks_per_half_distance):
                value = self.value_at_percentile(percentile)
                below = int(cumulative[bucket_index(value)])
                fraction = percentile / 100.0
                if below >= total:
                    break
                lines.append(f"{value / unit_ratio:12.3f} {fraction:2.12f} {below:10d} {1 / (1 - fraction):14.2f}")
            lines.append(f"{self.max_value / unit_ratio:12.3f} {1.0:2.12f} {total:10d}")
        lines.append(
            f"#[Mean    = {self.mean() / unit_ratio:12.3f}, StdDeviation   = {self.stddev() / unit_ratio:12.3f}]"
        )
        lines.append(f"#[Max     = {self.max_value / unit_ratio:12.3f}, Total count    = {total:12d}]")
        lines.append(f"#[Buckets = {BUCKET_COUNT >> SUB_BUCKET_BITS:12d}, SubBuckets     = {1 << SUB_BUCKET_BITS:12d}]")
        return "\n".join(lines) + "\n"
