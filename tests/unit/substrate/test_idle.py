"""idle.py: what each strategy does with an idle duty cycle (counted, never timed)."""

from __future__ import annotations

import asyncio
import re
import struct
import threading
from collections.abc import Callable, Iterator

import posix_ipc
import pytest

from hftpipe.substrate import idle as idle_module
from hftpipe.substrate.async_idle import AsyncIdle
from hftpipe.substrate.idle import (
    IDLE_ALIASES,
    BackoffIdle,
    BlockingIdle,
    BusySpinIdle,
    IdleSettings,
    YieldIdle,
    check_memory_order,
    make_idle,
)
from hftpipe.substrate.ring import Ring
from hftpipe.substrate.ring_descriptor import PARKED_OFFSET

SHORT_PARK = IdleSettings(max_spins=0, park_timeout_ns=1_000_000)


class SyscallLog:
    """Replaces ``os.sched_yield`` and ``time.sleep`` for the idle module, recording calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, float | None]] = []
        monkeypatch.setattr(idle_module.os, "sched_yield", lambda: self.calls.append(("yield", None)))
        monkeypatch.setattr(idle_module.time, "sleep", lambda seconds: self.calls.append(("sleep", seconds)))

    def take(self) -> list[tuple[str, float | None]]:
        calls, self.calls = self.calls, []
        return calls


@pytest.fixture
def syscalls(monkeypatch: pytest.MonkeyPatch) -> SyscallLog:
    return SyscallLog(monkeypatch)


@pytest.fixture
def consumer(ring_name: Callable[[str], str]) -> Iterator[Ring]:
    """The consumer end of a fresh ring; a test that produces attaches its own handle."""
    name = ring_name("in")
    owner = Ring.create(name, 8, 16)
    try:
        ring = Ring.attach(name)
        try:
            yield ring
        finally:
            ring.close()
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


def _parked(ring: Ring) -> int:
    return int(ring.segment.words[PARKED_OFFSET // 8])


def _publish(ring: Ring) -> None:
    """Act as the producer: write the tail word the way ``Ring.offer`` does."""
    producer = Ring.attach(ring.name)
    try:
        assert producer.offer(struct.pack("<q", 1))
    finally:
        producer.close()


# ----------------------------------------------------------------------------- settings / factory
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_spins": -1}, "max_spins must be >= 0"),
        ({"max_yields": -1}, "max_yields must be >= 0"),
        ({"min_park_ns": 0}, "min_park_ns must be > 0 and <= max_park_ns"),
        ({"min_park_ns": 2_000, "max_park_ns": 1_000}, "min_park_ns must be > 0 and <= max_park_ns"),
        ({"park_timeout_ns": 0}, "park_timeout_ns must be > 0"),
    ],
)
def test_should_reject_invalid_idle_settings(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        IdleSettings(**kwargs)


@pytest.mark.parametrize(
    ("alias", "cls"),
    [("busy-spin", BusySpinIdle), ("yield", YieldIdle), ("backoff", BackoffIdle), ("blocking", BlockingIdle)],
)
def test_should_make_the_strategy_named_by_each_alias(alias: str, cls: type) -> None:
    strategy = make_idle(alias, IdleSettings())
    assert isinstance(strategy, cls)
    assert strategy.alias == alias
    assert alias in IDLE_ALIASES


def test_should_reject_an_unknown_idle_alias_with_the_exact_message() -> None:
    with pytest.raises(ValueError) as exc:
        make_idle("spin", IdleSettings())
    assert str(exc.value) == "unknown idle strategy 'spin'; expected one of busy-spin, yield, backoff, blocking"


# ----------------------------------------------------------------------------- busy-spin / yield
def test_should_make_no_syscall_when_busy_spinning(syscalls: SyscallLog) -> None:
    strategy = BusySpinIdle()
    for work in (0, 0, 1, 0):
        strategy.idle(work)
    strategy.reset()
    assert syscalls.take() == []


def test_should_yield_only_when_a_duty_cycle_found_no_work(syscalls: SyscallLog) -> None:
    strategy = YieldIdle()
    strategy.idle(0)
    strategy.idle(0)
    assert syscalls.take() == [("yield", None), ("yield", None)]
    strategy.idle(1)
    strategy.idle(64)
    assert syscalls.take() == []


# ----------------------------------------------------------------------------- backoff
BACKOFF = IdleSettings(max_spins=3, max_yields=2, min_park_ns=1_000, max_park_ns=4_000)


def test_should_walk_backoff_from_spins_to_yields_to_growing_parks(syscalls: SyscallLog) -> None:
    strategy = BackoffIdle(BACKOFF)
    for _ in range(3):
        strategy.idle(0)
    assert syscalls.take() == []
    assert (strategy._spins, strategy._yields) == (3, 0)
    for _ in range(2):
        strategy.idle(0)
    assert syscalls.take() == [("yield", None), ("yield", None)]
    for _ in range(4):
        strategy.idle(0)
    assert syscalls.take() == [("sleep", 1e-6), ("sleep", 2e-6), ("sleep", 4e-6), ("sleep", 4e-6)]


def test_should_reset_backoff_to_spinning_when_work_arrives(syscalls: SyscallLog) -> None:
    strategy = BackoffIdle(BACKOFF)
    for _ in range(7):
        strategy.idle(0)  # 3 spins, 2 yields, 2 parks
    syscalls.take()
    strategy.idle(5)
    assert (strategy._spins, strategy._yields, strategy._park_s) == (0, 0, 1e-6)
    assert syscalls.take() == []
    for _ in range(3):
        strategy.idle(0)
    assert syscalls.take() == []  # spinning again
    strategy.idle(0)
    assert syscalls.take() == [("yield", None)]


def test_should_restart_the_park_growth_after_a_reset(syscalls: SyscallLog) -> None:
    strategy = BackoffIdle(IdleSettings(max_spins=0, max_yields=0, min_park_ns=1_000, max_park_ns=8_000))
    strategy.idle(0)
    strategy.idle(0)
    strategy.reset()
    strategy.idle(0)
    assert syscalls.take() == [("sleep", 1e-6), ("sleep", 2e-6), ("sleep", 1e-6)]


# ----------------------------------------------------------------------------- blocking
def test_should_return_at_once_without_parking_when_the_input_already_has_data(
    consumer: Ring, bell: posix_ipc.Semaphore
) -> None:
    _publish(consumer)
    strategy = BlockingIdle(SHORT_PARK, [consumer], bell)
    strategy.idle(0)
    assert (strategy.parks, strategy.timeouts) == (0, 0)
    assert _parked(consumer) == 0


def test_should_park_and_time_out_when_nothing_arrives(consumer: Ring, bell: posix_ipc.Semaphore) -> None:
    strategy = BlockingIdle(SHORT_PARK, [consumer], bell)
    strategy.idle(0)
    strategy.idle(0)
    assert (strategy.parks, strategy.timeouts) == (2, 2)
    assert _parked(consumer) == 0


def test_should_consume_a_post_made_before_parking_and_drain_the_rest(
    consumer: Ring, bell: posix_ipc.Semaphore
) -> None:
    for _ in range(3):
        bell.release()
    strategy = BlockingIdle(IdleSettings(max_spins=0, park_timeout_ns=60 * 10**9), [consumer], bell)
    strategy.idle(0)  # would wait a minute if the post were not taken
    assert (strategy.parks, strategy.timeouts) == (1, 0)
    assert bell.value == 0
    assert _parked(consumer) == 0


def test_should_spin_max_spins_times_before_parking(consumer: Ring, bell: posix_ipc.Semaphore) -> None:
    strategy = BlockingIdle(IdleSettings(max_spins=2, park_timeout_ns=1_000_000), [consumer], bell)
    strategy.idle(0)
    strategy.idle(0)
    assert strategy.parks == 0
    strategy.idle(0)
    assert strategy.parks == 1
    strategy.idle(1)  # work resets the spins
    strategy.idle(0)
    assert strategy.parks == 1


class RecordingBell:
    """A doorbell that notes the parked flag while "waiting" and then times out."""

    def __init__(self, ring: Ring, outcome: type[BaseException] = posix_ipc.BusyError) -> None:
        self.ring = ring
        self.outcome = outcome
        self.waits: list[tuple[float, int]] = []

    def acquire(self, timeout: float) -> None:
        if timeout:
            self.waits.append((timeout, _parked(self.ring)))
            raise self.outcome()
        raise posix_ipc.BusyError()  # the drain's sem_trywait finds nothing


def test_should_raise_the_parked_flag_while_waiting_and_clear_it_after(consumer: Ring) -> None:
    bell = RecordingBell(consumer)
    strategy = BlockingIdle(IdleSettings(max_spins=0, park_timeout_ns=2_500_000), [consumer], bell)  # type: ignore[arg-type]
    strategy.idle(0)
    assert bell.waits == [(0.0025, 1)]
    assert _parked(consumer) == 0
    assert strategy.timeouts == 1


def test_should_treat_a_signal_while_parked_as_a_wake_up(consumer: Ring) -> None:
    bell = RecordingBell(consumer, posix_ipc.SignalError)
    strategy = BlockingIdle(SHORT_PARK, [consumer], bell)  # type: ignore[arg-type]
    strategy.idle(0)
    assert (strategy.parks, strategy.timeouts) == (1, 0)
    assert _parked(consumer) == 0


def test_should_clear_a_parked_flag_left_up_by_a_killed_predecessor(consumer: Ring) -> None:
    consumer.set_parked(True)
    BlockingIdle(SHORT_PARK, [consumer], None)
    assert _parked(consumer) == 0


def test_should_sleep_for_the_park_timeout_when_there_is_no_doorbell(syscalls: SyscallLog) -> None:
    strategy = BlockingIdle(IdleSettings(max_spins=1, park_timeout_ns=3_000_000), [], None)
    strategy.idle(0)
    assert syscalls.take() == []
    strategy.idle(0)
    assert syscalls.take() == [("sleep", 0.003)]
    assert strategy.parks == 0


def test_should_be_woken_by_a_producer_commit_while_parked(consumer: Ring, bell: posix_ipc.Semaphore) -> None:
    """The producer sees the parked flag and posts; the park then ends without a timeout."""
    producer = Ring.attach(consumer.name)
    try:
        producer.attach_doorbell(bell)

        class PostingBell:
            """Delivers the producer's commit at the moment the consumer parks."""

            def acquire(self, timeout: float) -> None:
                if timeout:
                    assert producer.offer(struct.pack("<q", 7))  # sees PARKED=1, posts
                bell.acquire(timeout)

        strategy = BlockingIdle(IdleSettings(max_spins=0, park_timeout_ns=60 * 10**9), [consumer], PostingBell())  # type: ignore[arg-type]
        strategy.idle(0)
        assert (strategy.parks, strategy.timeouts) == (1, 0)
        assert bell.value == 0
        assert consumer.has_data()
    finally:
        producer.close()


# --- AsyncIdle: the same park for asyncio stages, off the event loop ---------------------------


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


# ----------------------------------------------------------------------------- memory order
@pytest.mark.parametrize("alias", ["busy-spin", "yield", "backoff"])
def test_should_refuse_spinning_idle_strategies_on_weakly_ordered_cpus(alias: str) -> None:
    with pytest.raises(RuntimeError) as exc:
        check_memory_order(alias, machine="aarch64")
    assert str(exc.value) == (
        f'idle strategy {alias!r} relies on x86-64 store ordering; this CPU is aarch64: use idle = "blocking"'
    )


def test_should_allow_blocking_idle_on_weakly_ordered_cpus() -> None:
    check_memory_order("blocking", machine="aarch64")


@pytest.mark.parametrize("alias", ["busy-spin", "yield", "backoff", "blocking"])
def test_should_allow_every_idle_strategy_on_x86_64(alias: str) -> None:
    check_memory_order(alias, machine="x86_64")
