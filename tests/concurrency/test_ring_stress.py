"""Two processes, one small ring, random stalls on both sides: nothing lost, repeated or reordered.

The producer mixes single offers, claim/commit and batches of random size;
the consumer mixes handler polls, batch copies and zero-copy peeks. Every
record carries its sequence number and a checksum field derived from it, so a
torn or stale slot is caught as well as a missing one.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

import numpy as np
import pytest

from hftpipe.schema import SPECS
from hftpipe.schema.records import PROBE_DTYPE, RecordType
from hftpipe.substrate.ring import Ring

CAPACITY = 64
_PACK = SPECS[RecordType.PROBE].packer


def checksum(seq: int | np.ndarray) -> int | np.ndarray:
    return seq * 7 + 3


def _maybe_stall(rng: random.Random) -> None:
    roll = rng.random()
    if roll < 0.0005:
        time.sleep(rng.random() * 0.0005)
    elif roll < 0.01:
        os.sched_yield()


def produce(name: str, total: int, seed: int) -> None:
    ring = Ring.attach(name)
    rng = random.Random(seed)
    batch = np.zeros(256, dtype=PROBE_DTYPE)
    buf = ring.buffer
    seq = 0
    try:
        while seq < total:
            _maybe_stall(rng)
            roll = rng.random()
            if roll < 0.15:
                record = _PACK.pack(RecordType.PROBE, 0, 1, seq, 0, checksum(seq), 0, 0, 0, 0)
                if ring.offer(record):
                    seq += 1
            elif roll < 0.3:
                offset = ring.try_claim()
                if offset >= 0:
                    _PACK.pack_into(buf, offset, RecordType.PROBE, 0, 1, seq, 0, checksum(seq), 0, 0, 0, 0)
                    ring.commit()
                    seq += 1
            else:
                size = min(rng.randint(1, 256), total - seq)
                seqs = np.arange(seq, seq + size, dtype=np.uint64)
                batch["seq"][:size] = seqs
                batch["ts_origin"][:size] = checksum(seqs.astype(np.int64))
                seq += ring.offer_batch(batch[:size])
    finally:
        ring.close()


def consume(name: str, total: int, seed: int, report: Callable[[str], None]) -> int:
    """Returns how many records arrived in order; reports the first discrepancy."""
    ring = Ring.attach(name)
    rng = random.Random(seed)
    out = np.zeros(256, dtype=PROBE_DTYPE)
    expected = 0
    problem: list[str] = []

    def check_one(buffer: memoryview, offset: int) -> None:
        nonlocal expected
        fields = _PACK.unpack_from(buffer, offset)
        seq, origin = fields[3], fields[5]
        if not problem and (seq != expected or origin != checksum(seq)):
            problem.append(f"handler poll: got seq {seq} (checksum {origin}), expected {expected}")
        expected += 1

    def check_batch(records: np.ndarray, how: str) -> None:
        nonlocal expected
        n = len(records)
        want = np.arange(expected, expected + n, dtype=np.uint64)
        intact = np.array_equal(records["seq"], want) and np.array_equal(
            records["ts_origin"], checksum(want.astype(np.int64))
        )
        if not problem and not intact:
            bad = int(np.argmax(records["seq"] != want)) if not np.array_equal(records["seq"], want) else 0
            problem.append(f"{how}: got seq {int(records['seq'][bad])}, expected {int(want[bad])}")
        expected += n

    try:
        while expected < total and not problem:
            _maybe_stall(rng)
            roll = rng.random()
            if roll < 0.3:
                ring.poll(check_one, rng.randint(1, 64))
            elif roll < 0.65:
                n = ring.poll_into(out[: rng.randint(1, 256)])
                check_batch(out[:n], "poll_into")
            else:
                view = ring.peek_batch(rng.randint(1, 256))
                n = len(view)
                if n:
                    check_batch(view.view(PROBE_DTYPE).reshape(n), "peek_batch")
                    del view
                    ring.advance(n)
        if problem:
            report(problem[0])
        return expected
    finally:
        ring.close()


def _producer_main(name: str, total: int, seed: int, conn: Connection) -> None:
    try:
        produce(name, total, seed)
        conn.send("ok")
    except BaseException as exc:
        conn.send(f"producer failed: {exc!r}")
        raise


def run_stress(ring_name: str, total: int, seed: int) -> None:
    ring = Ring.create(ring_name, CAPACITY, PROBE_DTYPE.itemsize)
    parent, child = mp.get_context("fork").Pipe()
    producer = mp.get_context("fork").Process(target=_producer_main, args=(ring_name, total, seed, child))
    problems: list[str] = []
    try:
        producer.start()
        received = consume(ring_name, total, seed + 1, problems.append)
        producer.join(60)
        assert parent.recv() == "ok"
        assert not problems, problems[0]
        assert received == total
        assert ring.producer_position == ring.consumer_position == total
        assert ring.size() == 0
    finally:
        if producer.is_alive():
            producer.kill()
            producer.join()
        ring.close()
        ring.unlink()


def test_should_deliver_ten_million_records_in_order_through_small_ring_with_random_stalls(
    ring_name: Callable[[str], str],
) -> None:
    run_stress(ring_name("stress"), 10_000_000, seed=20261123)


@pytest.mark.slow
def test_should_deliver_hundred_million_records_in_order_through_small_ring_with_random_stalls(
    ring_name: Callable[[str], str],
) -> None:
    run_stress(ring_name("stress"), 100_000_000, seed=42)
