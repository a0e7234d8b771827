"""AsyncIdle: an asyncio stage yields, then parks on its doorbell off the loop, and a producer wakes it."""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import Callable, Iterator

import posix_ipc
import pytest

from hftpipe.async_idle import AsyncIdle
from hftpipe.ring import Ring
from hftpipe.ring_descriptor import PARKED_OFFSET


@pytest.fixture
def consumer(ring_name: Callable[[str], str]) -> Iterator[Ring]:
    owner = Ring.create(ring_name("in"), 8, 16)
    try:
        yield owner
    finally:
        owner.close()
        owner.unlink()


@pytest.fixture
def bell(pipeline_name: str) -> Iterator[posix_ipc.Semaphore]:
    sem = posix_ipc.Semaphore(f"/hftpipe.{pipeline_name}.bell.x", posix_ipc.O_CREX, initial_value=0)
    try:
        yield sem
    finally:
        sem.unlink()
        sem.close()


def _parked(ring: Ring) -> bool:
    return bool(ring.segment.words[PARKED_OFFSET // 8])


def test_should_park_off_the_loop_until_the_producer_rings(consumer: Ring, bell: posix_ipc.Semaphore) -> None:
    producer = Ring.attach(consumer.name)
    producer.attach_doorbell(bell)

    def produce_once_parked() -> None:
        while not _parked(consumer):
            threading.Event().wait(0.001)
        assert producer.offer(struct.pack("<q", 7))

    async def scenario() -> tuple[int, int]:
        idle = AsyncIdle([consumer], bell, spins=2, park_timeout_s=60.0)  # a minute unless the post wakes it
        ticks = 0

        async def ticker() -> None:  # the loop keeps running while the stage is parked
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        thread = threading.Thread(target=produce_once_parked)
        thread.start()
        while not consumer.has_data():
            await idle.idle(0)
        thread.join()
        task.cancel()
        return idle.parks, ticks

    try:
        parks, ticks = asyncio.run(scenario())
    finally:
        producer.close()
    # Only the post could end the wait within the minute (or the record beat the park: no wait).
    assert parks <= 1
    assert ticks > 0
    assert not _parked(consumer)


def test_should_back_off_with_sleeps_without_a_doorbell(consumer: Ring) -> None:
    async def scenario() -> int:
        idle = AsyncIdle([consumer], None, spins=1, max_sleep_s=0.0001)
        for _ in range(5):
            await idle.idle(0)
        await idle.idle(1)
        return idle.parks

    assert asyncio.run(scenario()) == 0
    assert not _parked(consumer)


def test_should_refuse_nonsense_settings(consumer: Ring) -> None:
    with pytest.raises(ValueError, match="spins must be >= 0"):
        AsyncIdle([consumer], None, spins=-1)
