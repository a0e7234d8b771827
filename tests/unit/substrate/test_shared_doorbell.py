"""shared_doorbell.py's in-process bell: a producer in the consumer's own process wakes the loop's waiter
directly (no semaphore post, no worker-thread hop); from another thread it still wakes it (a post, or with no
remote producers a ``call_soon_threadsafe``). Counted, never timed."""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import Callable, Iterator

import posix_ipc
import pytest

from hftpipe.substrate.broadcast import BroadcastReceiver, BroadcastTransmitter
from hftpipe.substrate.ends import ConsumerEnd, ProducerEnd
from hftpipe.substrate.ring import Ring
from hftpipe.substrate.shared_doorbell import SharedDoorbell

NO_WAKE_WITHOUT_POST_S = 60.0
"""The worker's park ends only by a post: a lost wake-up hangs the test (and the wait_for bound fails it)."""
COUNT = 20
VALUE = struct.Struct("<q")

Pair = tuple[ProducerEnd, ConsumerEnd]
REMOTE = pytest.mark.parametrize("remote", [True, False], ids=["remote producers too", "in-process only"])


@pytest.fixture
def bell(pipeline_name: str) -> Iterator[posix_ipc.Semaphore]:
    sem = posix_ipc.Semaphore(f"/hftpipe.{pipeline_name}.bell.p", posix_ipc.O_CREX, initial_value=0)
    try:
        yield sem
    finally:
        sem.unlink()
        sem.close()


@pytest.fixture(params=["spsc", "broadcast"])
def pair(request: pytest.FixtureRequest, ring_name: Callable[[str], str]) -> Iterator[Pair]:
    """A producer end and its consumer end in this process (of an SPSC ring, or receiver 1 of 2 of a broadcast)."""
    if request.param == "spsc":
        owner: Ring | BroadcastTransmitter = Ring.create(ring_name("r"), 8, 16)
        ends: Pair = (Ring.attach(owner.name), Ring.attach(owner.name))
    else:
        owner = BroadcastTransmitter.create(ring_name("b"), 8, 16, 2)
        ends = (BroadcastTransmitter.attach(owner.name), BroadcastReceiver.attach(owner.name, 1))
    try:
        yield ends
    finally:
        for end in ends:
            end.close()
        owner.close()
        owner.unlink()


def _attach(producer: ProducerEnd, doorbell: SharedDoorbell) -> None:
    if isinstance(producer, BroadcastTransmitter):
        producer.attach_doorbell(1, doorbell.in_process)
    else:
        assert isinstance(producer, Ring)
        producer.attach_doorbell(doorbell.in_process)


async def _read(consumer: ConsumerEnd, doorbell: SharedDoorbell, got: list[int]) -> None:
    """Park on the doorbell whenever the ring is empty, until COUNT records came."""

    def take(buf: memoryview, offset: int) -> None:
        got.append(VALUE.unpack_from(buf, offset)[0])

    while len(got) < COUNT:
        if not consumer.poll(take, 8):
            await doorbell.wait([consumer])


def _run(scenario: Callable[[], object], bell: posix_ipc.Semaphore) -> None:
    async def main() -> None:
        try:
            await asyncio.wait_for(scenario(), timeout=30)  # type: ignore[arg-type]
        finally:
            bell.release()  # end the worker's park, so the loop's executor can shut down

    asyncio.run(main())


@REMOTE
def test_should_wake_a_waiter_of_the_same_loop_without_posting_the_semaphore(
    pair: Pair, bell: posix_ipc.Semaphore, remote: bool
) -> None:
    """Each record is written only once the reader is parked; the park could end only by a post (a minute
    otherwise), yet every record arrives, each by a direct wake-up, and the one park never ended."""
    producer, consumer = pair
    doorbell = SharedDoorbell(bell, NO_WAKE_WITHOUT_POST_S, remote_producers=remote)
    _attach(producer, doorbell)
    got: list[int] = []

    async def scenario() -> None:
        reader = asyncio.create_task(_read(consumer, doorbell, got))
        for value in range(COUNT):
            while doorbell.waiters < 1:
                await asyncio.sleep(0)
            assert producer.offer(VALUE.pack(value))
        await reader
        assert bell.value == 0  # nothing was posted

    _run(scenario, bell)
    assert got == list(range(COUNT))
    assert doorbell.local_wakes == COUNT
    assert doorbell.posts == 0
    assert doorbell.parks == 1  # the park never ended: no wake-up went through it


@REMOTE
def test_should_wake_the_loop_from_an_in_process_producer_on_another_thread(
    pair: Pair, bell: posix_ipc.Semaphore, remote: bool
) -> None:
    """Off the loop's thread the direct wake-up would not be safe: the bell posts (the worker wakes the loop)
    or, with no worker (no remote producers), hands the wake-up to the loop; each record ends one park."""
    producer, consumer = pair
    doorbell = SharedDoorbell(bell, NO_WAKE_WITHOUT_POST_S, remote_producers=remote)
    _attach(producer, doorbell)
    got: list[int] = []

    async def scenario() -> None:
        reader = asyncio.create_task(_read(consumer, doorbell, got))
        for value in range(COUNT):
            while doorbell.waiters < 1:
                await asyncio.sleep(0)
            assert await asyncio.to_thread(producer.offer, VALUE.pack(value))
            while len(got) <= value:
                await asyncio.sleep(0)
        await reader
        assert bell.value == 0  # posted and taken, or never posted

    _run(scenario, bell)
    assert got == list(range(COUNT))
    assert doorbell.local_wakes == 0
    assert doorbell.posts == COUNT
    assert doorbell.parks == COUNT if remote else doorbell.parks == 1  # a post ends the worker's park


@REMOTE
def test_should_post_until_a_loop_waited_and_then_neither_post_nor_wake_with_no_waiter_parked(
    pair: Pair, bell: posix_ipc.Semaphore, remote: bool
) -> None:
    """Before any waiter, the loop's thread is unknown: the bell posts. On the loop's thread, a raised flag
    with no waiter registered belongs to one already woken (it re-checks when it resumes): nothing to do."""
    producer, consumer = pair
    doorbell = SharedDoorbell(bell, NO_WAKE_WITHOUT_POST_S, remote_producers=remote)
    _attach(producer, doorbell)
    consumer.set_parked(True)
    assert producer.offer(VALUE.pack(0))
    assert (doorbell.posts, bell.value) == (1, 1)
    bell.acquire(0)
    got: list[int] = []

    async def scenario() -> None:
        reader = asyncio.create_task(_read(consumer, doorbell, got))
        while doorbell.waiters < 1:
            await asyncio.sleep(0)
        assert producer.offer(VALUE.pack(1))  # wakes the reader: it is no longer registered, its flag still up
        consumer.set_parked(True)
        assert producer.offer(VALUE.pack(2))
        assert (doorbell.local_wakes, doorbell.posts, bell.value) == (1, 1, 0)
        for value in range(3, COUNT):
            while doorbell.waiters < 1:
                await asyncio.sleep(0)
            assert producer.offer(VALUE.pack(value))
        await reader

    _run(scenario, bell)
    assert got == list(range(COUNT))


def test_should_end_each_park_at_the_timeout_on_the_loop_timer_with_no_remote_producers(
    pair: Pair, bell: posix_ipc.Semaphore
) -> None:
    """No record, no post: each wait still returns (one timer each, no worker thread), so the stages'
    duty cycles (housekeeping, their timers, a stop) go on while nothing arrives."""
    _, consumer = pair
    doorbell = SharedDoorbell(bell, 0.001, remote_producers=False)

    async def scenario() -> None:
        threads = threading.active_count()
        for _ in range(5):
            await doorbell.wait([consumer])
        assert threading.active_count() == threads  # no worker thread was started

    asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    assert (doorbell.parks, doorbell.local_wakes, doorbell.posts, bell.value) == (5, 0, 0, 0)
