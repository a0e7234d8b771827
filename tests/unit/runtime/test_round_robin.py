"""round_robin.py + shared_doorbell.py: a composite's duty cycles, by work counts (never timed), and one
doorbell waking every waiter of an event loop (polling agents' cycles and asyncio readers together)."""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable, Iterator

import posix_ipc
import pytest

from hftpipe.runtime import Agent, StageContext
from hftpipe.runtime.error_router import ErrorRouter
from hftpipe.runtime.round_robin import PolledStage, RoundRobin, StageFailedError, drive_on_loop
from hftpipe.substrate.async_idle import AsyncIdle
from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.ring import Ring
from hftpipe.substrate.ring_descriptor import PARKED_OFFSET
from hftpipe.substrate.shared_doorbell import SharedDoorbell

LOGGER = logging.getLogger("test.round_robin")
NO_WAKE_WITHOUT_POST_S = 60.0
"""Parks this long end only by a post: a lost wake-up hangs the test (and the wait_for bound fails it)."""


class Backlog(Agent):
    """Does ``per_cycle`` units of work per duty cycle while its backlog lasts (a ring's batch, by count)."""

    def __init__(self, ctx: StageContext, backlog: int, per_cycle: int) -> None:
        super().__init__(ctx)
        self.backlog = backlog
        self.per_cycle = per_cycle
        self.calls = 0

    def do_work(self) -> int:
        self.calls += 1
        done = min(self.backlog, self.per_cycle)
        self.backlog -= done
        return done


class Raising(Agent):
    def __init__(self, ctx: StageContext, message: str) -> None:
        super().__init__(ctx)
        self.message = message

    def do_work(self) -> int:
        raise RuntimeError(self.message)


class RingReader(Agent):
    """Takes one record per duty cycle from ``ring`` (no port: the ring alone), keeping the values."""

    def __init__(self, ctx: StageContext, ring: Ring) -> None:
        super().__init__(ctx)
        self.ring = ring
        self.values: list[int] = []

    def _take(self, buf: memoryview, offset: int) -> None:
        self.values.append(struct.unpack_from("<q", buf, offset)[0])

    def do_work(self) -> int:
        return self.ring.poll(self._take, 1)


@pytest.fixture
def control(pipeline_name: str) -> Iterator[ControlFile]:
    cf = ControlFile.create(pipeline_name, ["a", "b", "c"], [])
    try:
        yield cf
    finally:
        cf.close()
        cf.segment.unlink()


@pytest.fixture
def contexts(control: ControlFile) -> Iterator[list[StageContext]]:
    ctxs = [StageContext.of(control, name, 0) for name in ("a", "b", "c")]
    try:
        yield ctxs
    finally:
        for ctx in ctxs:
            ctx.close()


def _round_robin(agents: list[Agent], max_errors: int = 1000) -> RoundRobin:
    return RoundRobin([PolledStage(a, ErrorRouter(a.ctx, LOGGER)) for a in agents], max_errors, LOGGER)


def test_should_give_every_agent_one_duty_cycle_per_cycle_whatever_the_others_do(
    contexts: list[StageContext],
) -> None:
    busy = Backlog(contexts[0], backlog=10**9, per_cycle=64)  # always a full batch: never idle
    trickle = Backlog(contexts[1], backlog=30, per_cycle=1)
    idle = Backlog(contexts[2], backlog=0, per_cycle=1)
    rr = _round_robin([busy, trickle, idle])
    totals = [rr.cycle() for _ in range(40)]
    # The busy agent's batches never cost the others a turn: each was called once per cycle.
    assert (busy.calls, trickle.calls, idle.calls) == (40, 40, 40)
    assert trickle.backlog == 0 and [s.work for s in rr.stages] == [40 * 64, 30, 0]
    # The cycle's work is the sum of its agents', so one idle strategy backs off only when all are idle.
    assert totals == [64 + 1] * 30 + [64] * 10
    rr.publish()
    assert [ctx.counter(CounterKind.DUTY_CYCLES).value for ctx in contexts] == [40, 40, 40]


def test_should_report_zero_work_only_when_no_agent_found_any(contexts: list[StageContext]) -> None:
    first = Backlog(contexts[0], backlog=2, per_cycle=1)
    second = Backlog(contexts[1], backlog=3, per_cycle=1)
    rr = _round_robin([first, second])
    assert [rr.cycle() for _ in range(5)] == [2, 2, 1, 0, 0]


def test_should_route_an_agents_errors_to_its_own_log_and_fail_it_after_max_consecutive(
    contexts: list[StageContext], control: ControlFile
) -> None:
    sibling = Backlog(contexts[0], backlog=100, per_cycle=1)
    broken = Raising(contexts[1], "venue gone")
    rr = _round_robin([sibling, broken], max_errors=3)
    assert [rr.cycle() for _ in range(2)] == [1, 1]  # counted and logged, the sibling runs on
    assert contexts[1].counter(CounterKind.ERRORS).value == 2
    assert contexts[0].counter(CounterKind.ERRORS).value == 0
    with pytest.raises(StageFailedError, match="stage b failed 3 duty cycles in a row") as failed:
        rr.cycle()
    assert failed.value.stage == "b"
    assert [e.message for e in control.read_errors(1)] == ["RuntimeError: venue gone"]
    assert control.read_errors(0) == []
    assert sibling.calls == 3


def test_should_forgive_errors_that_are_not_consecutive(contexts: list[StageContext]) -> None:
    class Flaky(Agent):
        def __init__(self, ctx: StageContext) -> None:
            super().__init__(ctx)
            self.n = 0

        def do_work(self) -> int:
            self.n += 1
            if self.n % 2:
                raise ValueError("odd")
            return 1

    rr = _round_robin([Flaky(contexts[0])], max_errors=2)
    assert sum(rr.cycle() for _ in range(10)) == 5
    assert contexts[0].counter(CounterKind.ERRORS).value == 5


# --------------------------------------------------------------------- polling + asyncio on one loop
@pytest.fixture
def bell(pipeline_name: str) -> Iterator[posix_ipc.Semaphore]:
    sem = posix_ipc.Semaphore(f"/hftpipe.{pipeline_name}.bell.p", posix_ipc.O_CREX, initial_value=0)
    try:
        yield sem
    finally:
        sem.unlink()
        sem.close()


@pytest.fixture
def rings(ring_name: Callable[[str], str]) -> Iterator[list[Ring]]:
    """Two rings (created here, unlinked afterwards): one a polling agent reads, one an asyncio reader."""
    owners = [Ring.create(ring_name(n), 8, 16) for n in ("polled", "awaited")]
    try:
        yield owners
    finally:
        for ring in owners:
            ring.close()
            ring.unlink()


def test_should_drive_polling_agents_and_asyncio_readers_on_one_loop_with_one_doorbell(
    contexts: list[StageContext], rings: list[Ring], bell: posix_ipc.Semaphore
) -> None:
    """Both sides park on the one shared doorbell (a minute, unless a post wakes them); the producer,
    an asyncio task on the same loop, writes each record only once its reader is parked, alternating
    between the two rings. Every record arrives: no post meant for one waiter is lost to the other,
    and the loop keeps running (the producer is on it) while both wait."""
    polled_ring, awaited_ring = (Ring.attach(r.name) for r in rings)
    producers = [Ring.attach(r.name) for r in rings]
    for producer in producers:
        producer.attach_doorbell(bell)
    doorbell = SharedDoorbell(bell, NO_WAKE_WITHOUT_POST_S)
    reader = RingReader(contexts[0], polled_ring)
    rr = _round_robin([reader])
    count = 20
    awaited: list[int] = []

    async def asyncio_reader(stopping: asyncio.Event) -> None:
        idle = AsyncIdle([awaited_ring], doorbell, spins=2)

        def take(buf: memoryview, offset: int) -> None:
            awaited.append(struct.unpack_from("<q", buf, offset)[0])

        while not stopping.is_set():
            await idle.idle(awaited_ring.poll(take, 8))

    async def producer_task(stopping: asyncio.Event) -> None:
        for value in range(count):
            target = producers[value % 2]
            while doorbell.waiters < 2:  # both readers parked: only a post can wake the one it is for
                await asyncio.sleep(0)
            assert target.offer(struct.pack("<q", value))
            while len(reader.values) + len(awaited) <= value:
                await asyncio.sleep(0)
        stopping.set()

    async def scenario() -> None:
        stopping = asyncio.Event()
        driver = asyncio.create_task(drive_on_loop(rr, [polled_ring], doorbell, stopping, spins=3, max_sleep_s=1))
        awaiting = asyncio.create_task(asyncio_reader(stopping))
        await asyncio.wait_for(producer_task(stopping), timeout=30)
        await asyncio.sleep(0)
        bell.release()  # wake the last park so both tasks see stopping
        await asyncio.wait_for(asyncio.gather(driver, awaiting), timeout=30)

    try:
        asyncio.run(scenario())
        assert not polled_ring.has_data() and not awaited_ring.has_data()
        assert not polled_ring.segment.words[PARKED_OFFSET // 8]
        assert not awaited_ring.segment.words[PARKED_OFFSET // 8]
    finally:
        for ring in (polled_ring, awaited_ring, *producers):
            ring.close()
    assert reader.values == list(range(0, count, 2))
    assert awaited == list(range(1, count, 2))
    assert doorbell.parks >= count  # every record was written while both were parked
