"""Micro benchmarks of record access: struct fast paths against numpy field access, and counters.

The runtime stamps and reads record headers with ``struct`` (``pack_into`` /
``unpack_from`` straight on the ring buffer); numpy field access on a record
is the alternative. Each benchmark checks the bytes it produced by reading
them back the other way.
"""

from __future__ import annotations

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from hftpipe.schema import SPECS
from hftpipe.schema.records import I64, PROBE_DTYPE, SEQ_OFFSET, TS_ORIGIN_OFFSET, U64, RecordType
from hftpipe.substrate.counters import Counter

PROBE = SPECS[RecordType.PROBE]
FIELDS = (int(RecordType.PROBE), 0, 7, 123_456, 1_700_000_000_000_000_000, 98_765, 1, 2, 3, 4)


def as_probe(raw: bytearray) -> np.void:
    return np.frombuffer(raw, dtype=PROBE_DTYPE)[0]


# ------------------------------------------------------------------- whole-record writes
@pytest.mark.benchmark(group="record-write")
def test_struct_pack_into_whole_record(benchmark: BenchmarkFixture) -> None:
    raw = bytearray(PROBE.itemsize)
    benchmark(PROBE.packer.pack_into, raw, 0, *FIELDS)
    record = as_probe(raw)
    assert (int(record["rtype"]), int(record["instrument"]), int(record["seq"])) == (1, 7, 123_456)
    assert int(record["ts_origin"]) == 98_765 and record["ts_hop"].tolist() == [1, 2, 3, 4]


@pytest.mark.benchmark(group="record-write")
def test_numpy_field_writes_whole_record(benchmark: BenchmarkFixture) -> None:
    raw = bytearray(PROBE.itemsize)
    record = np.frombuffer(raw, dtype=PROBE_DTYPE)

    def write() -> None:
        r = record[0]
        r["rtype"] = FIELDS[0]
        r["flags"] = FIELDS[1]
        r["instrument"] = FIELDS[2]
        r["seq"] = FIELDS[3]
        r["ts_venue"] = FIELDS[4]
        r["ts_origin"] = FIELDS[5]
        r["ts_hop"] = FIELDS[6:]

    benchmark(write)
    assert PROBE.packer.unpack_from(raw, 0) == FIELDS


# --------------------------------------------------------------- stamping one header field
@pytest.mark.benchmark(group="record-stamp")
def test_struct_pack_into_one_field(benchmark: BenchmarkFixture) -> None:
    raw = bytearray(PROBE.itemsize)
    benchmark(I64.pack_into, raw, TS_ORIGIN_OFFSET, 98_765)
    assert int(as_probe(raw)["ts_origin"]) == 98_765


@pytest.mark.benchmark(group="record-stamp")
def test_numpy_write_one_field(benchmark: BenchmarkFixture) -> None:
    raw = bytearray(PROBE.itemsize)
    ts_origin = np.frombuffer(raw, dtype=PROBE_DTYPE)["ts_origin"]

    def stamp() -> None:
        ts_origin[0] = 98_765

    benchmark(stamp)
    assert I64.unpack_from(raw, TS_ORIGIN_OFFSET)[0] == 98_765


# ------------------------------------------------------------------------------- reads
@pytest.mark.benchmark(group="record-read")
def test_struct_unpack_from_whole_record(benchmark: BenchmarkFixture) -> None:
    raw = bytearray(PROBE.packer.pack(*FIELDS))
    assert benchmark(PROBE.packer.unpack_from, raw, 0) == FIELDS


@pytest.mark.benchmark(group="record-read")
def test_struct_unpack_from_one_field(benchmark: BenchmarkFixture) -> None:
    raw = bytearray(PROBE.packer.pack(*FIELDS))
    assert benchmark(U64.unpack_from, raw, SEQ_OFFSET) == (123_456,)


@pytest.mark.benchmark(group="record-read")
def test_numpy_read_one_field(benchmark: BenchmarkFixture) -> None:
    raw = bytearray(PROBE.packer.pack(*FIELDS))
    seq = np.frombuffer(raw, dtype=PROBE_DTYPE)["seq"]

    def read() -> int:
        return int(seq[0])

    assert benchmark(read) == 123_456


# ----------------------------------------------------------------------------- counters
@pytest.mark.benchmark(group="counter")
@pytest.mark.parametrize("delta", [1, 64])
def test_counter_add(benchmark: BenchmarkFixture, delta: int) -> None:
    words = memoryview(bytearray(64)).cast("q")
    counter = Counter(words, 0, "messages_out")
    benchmark(counter.add, delta)
    # Every timed call added exactly ``delta``; then count a known number exactly.
    assert counter.value > 0 and counter.value % delta == 0
    counter.set(0)
    for _ in range(1000):
        counter.add(delta)
    assert counter.value == words[0] == 1000 * delta
