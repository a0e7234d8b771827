"""Micro benchmarks of the ring's hot paths, producer and consumer handles in one process.

Nothing crosses a core here: these time the Python cost of each call, the
floor under the two-process numbers of ``hftpipe bench ring``. Every benchmark
checks afterwards that what it timed did what it should (positions, content).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from hftpipe.schema.records import PROBE_DTYPE
from hftpipe.substrate.ring import Ring

MakeRing = Callable[..., tuple[Ring, Ring]]

PAYLOAD = struct.Struct("<8xQ8xq32x")  # seq at 8, ts_origin at 24: a 64-byte probe record
BATCH = 1024


def drain(consumer: Ring, expect: bytes | None = None) -> int:
    """Consume everything readable in O(1) calls per wrap; optionally check the last record."""
    drained = 0
    while True:
        view = consumer.peek_batch(consumer.capacity)
        n = len(view)
        if not n:
            return drained
        if expect is not None:
            assert bytes(view[n - 1]) == expect
        del view
        consumer.advance(n)
        drained += n


@pytest.mark.benchmark(group="ring")
def test_offer_then_poll_one_record(benchmark: BenchmarkFixture, make_ring: MakeRing) -> None:
    producer, consumer = make_ring(1024, 64)
    payload = PAYLOAD.pack(42, 1234)
    unpack = PAYLOAD.unpack_from
    seen = [0, (0, 0)]

    def on_record(buf: memoryview, offset: int) -> None:
        seen[0] += 1
        seen[1] = unpack(buf, offset)

    offer, poll = producer.offer, consumer.poll

    def offer_poll() -> int:
        offer(payload)
        return poll(on_record, 1)

    assert benchmark(offer_poll) == 1
    assert seen[0] == producer.producer_position == consumer.consumer_position > 0
    assert seen[1] == (42, 1234)
    assert consumer.size() == 0 and producer.full_count == 0


@pytest.mark.benchmark(group="ring")
def test_try_claim_pack_into_commit(benchmark: BenchmarkFixture, make_ring: MakeRing) -> None:
    producer, consumer = make_ring(1 << 16, 64)
    buf = producer.buffer
    pack = PAYLOAD.pack_into
    claim, commit = producer.try_claim, producer.commit
    drained = [0]

    def claim_pack_commit() -> int:
        offset = claim()
        if offset < 0:  # once per 65536 records: the consumer frees the ring in two calls
            drained[0] += drain(consumer, PAYLOAD.pack(7, 99))
            offset = claim()
        pack(buf, offset, 7, 99)
        commit()
        return offset

    assert benchmark(claim_pack_commit) >= 0
    drained[0] += drain(consumer, PAYLOAD.pack(7, 99))
    assert drained[0] == producer.producer_position == consumer.consumer_position > 0
    assert consumer.size() == 0


@pytest.mark.benchmark(group="ring")
def test_offer_batch_then_poll_into_1024(benchmark: BenchmarkFixture, make_ring: MakeRing) -> None:
    producer, consumer = make_ring(16384, PROBE_DTYPE.itemsize)
    batch = np.zeros(BATCH, dtype=PROBE_DTYPE)
    batch["rtype"] = 1
    batch["seq"] = np.arange(BATCH)
    batch["ts_origin"] = np.arange(BATCH) * 3
    out = np.zeros(BATCH, dtype=PROBE_DTYPE)

    def offer_poll_batch() -> int:
        sent = producer.offer_batch(batch)
        received = consumer.poll_into(out)
        assert sent == received == BATCH
        return received

    assert benchmark(offer_poll_batch) == BATCH
    assert np.array_equal(out, batch)
    assert producer.producer_position == consumer.consumer_position
    assert producer.producer_position % BATCH == 0 and consumer.size() == 0


@pytest.mark.benchmark(group="ring")
def test_poll_empty_ring(benchmark: BenchmarkFixture, make_ring: MakeRing) -> None:
    """What one turn of a consumer's busy-spin costs when there is nothing to read."""
    _, consumer = make_ring(1024, 64)

    def on_record(buf: memoryview, offset: int) -> None:
        raise AssertionError("nothing was offered")

    assert benchmark(consumer.poll, on_record, 1) == 0
    assert consumer.consumer_position == 0
