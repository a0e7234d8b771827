"""Fixtures for the benchmarks: rings under a name of their own, unlinked after each test.

Micro benchmarks take ``make_ring`` (a producer and a consumer handle on one
fresh segment) or ``make_broadcast`` (a transmitter and its receivers); the
latency runs use ``bench<pid>`` names of their own. After
each test nothing of this test session may be left in /dev/shm.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import pytest

from hftpipe.substrate.broadcast import BroadcastReceiver, BroadcastTransmitter
from hftpipe.substrate.ring import Ring
from hftpipe.substrate.shm import PREFIX, SHM_DIR, remove_pipeline, segment_name, unlink_segment

MICRO_TAG = f"micro{os.getpid()}"
"""Pipeline part of every ring name the micro benchmarks create."""
BENCH_TAG = f"bench{os.getpid()}"
"""What ``run_ring_benchmark`` and ``run_pipeline_benchmark`` name their objects after (same pid)."""

MakeRing = Callable[..., tuple[Ring, Ring]]
MakeBroadcast = Callable[..., tuple[BroadcastTransmitter, list[BroadcastReceiver]]]


def leftovers() -> list[str]:
    stems = tuple(f"{PREFIX}.{tag}." for tag in (MICRO_TAG, BENCH_TAG))
    return sorted(f for f in os.listdir(SHM_DIR) if f.removeprefix("sem.").startswith(stems))


@pytest.fixture
def make_ring() -> Iterator[MakeRing]:
    """``make_ring(capacity, slot_size)`` -> ``(producer, consumer)`` handles on one new segment."""
    counter = itertools.count()
    names: list[str] = []
    handles: list[Ring] = []

    def make(capacity: int = 1024, slot_size: int = 64) -> tuple[Ring, Ring]:
        name = segment_name(MICRO_TAG, "ring", f"r{next(counter)}")
        producer = Ring.create(name, capacity, slot_size)
        names.append(name)
        handles.append(producer)
        consumer = Ring.attach(name)
        handles.append(consumer)
        return producer, consumer

    try:
        yield make
    finally:
        for ring in handles:
            ring.close()
        for name in names:
            unlink_segment(name)


@pytest.fixture
def make_broadcast() -> Iterator[MakeBroadcast]:
    """``make_broadcast(receivers, capacity, slot_size)`` -> ``(transmitter, receivers)`` on one new segment."""
    counter = itertools.count()
    names: list[str] = []
    handles: list[BroadcastTransmitter | BroadcastReceiver] = []

    def make(
        receivers: int = 1, capacity: int = 1024, slot_size: int = 64
    ) -> tuple[BroadcastTransmitter, list[BroadcastReceiver]]:
        name = segment_name(MICRO_TAG, "ring", f"b{next(counter)}")
        transmitter = BroadcastTransmitter.create(name, capacity, slot_size, receivers)
        names.append(name)
        handles.append(transmitter)
        ends = [BroadcastReceiver.attach(name, i) for i in range(receivers)]
        handles.extend(ends)
        return transmitter, ends

    try:
        yield make
    finally:
        for handle in handles:
            handle.close()
        for name in names:
            unlink_segment(name)


@pytest.fixture(autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    yield
    left = leftovers()
    for tag in (MICRO_TAG, BENCH_TAG):
        remove_pipeline(tag)
    assert not left, f"the benchmark left shared memory behind: {left}"
