"""Idle strategies: what a stage does with a duty cycle that found no work.

A runner calls ``idle(work_count)`` after every ``do_work()``; a non-zero count
resets the strategy. The aliases below are the names used in config files.

``blocking`` is the one to use when there are fewer cores than stages. The
consumer raises a *parked* flag on each input ring, re-checks the rings, then
waits on its doorbell semaphore; a producer posts the semaphore after a commit
only if it sees the flag, so a consumer that is busy costs no syscall. Raising
the flag and the producer's check form Dekker's pattern, which x86-64 may
break (a store can pass a later load), so a post can be missed: the wait
therefore has a timeout, and a missed post costs at most ``park_timeout_ns``.
"""

from __future__ import annotations

import ctypes
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import posix_ipc

from hftpipe.substrate.ends import ConsumerEnd
from hftpipe.substrate.ring import is_total_store_order
from hftpipe.substrate.shared_doorbell import Doorbell

SPINNING_ALIASES: Final = ("busy-spin", "yield", "backoff")
"""The strategies that watch rings with plain loads only (no semaphore): they need x86-64 store order."""
IDLE_ALIASES: Final = (*SPINNING_ALIASES, "blocking")
EVENT_LOOP: Final = "event-loop"
"""What an asyncio stage idles in (its loop's epoll wait): recorded, never configured."""
RECORDED_IDLE: Final = (*IDLE_ALIASES, EVENT_LOOP)


def check_memory_order(idle_alias: str, machine: str | None = None) -> None:
    """Refuse the spinning strategies where plain stores are not ordered."""
    if idle_alias in SPINNING_ALIASES and not is_total_store_order(machine):
        raise RuntimeError(
            f"idle strategy {idle_alias!r} relies on x86-64 store ordering; this CPU is "
            f'{machine or platform.machine()}: use idle = "blocking"'
        )


class IdleStrategy(Protocol):
    alias: str

    def idle(self, work_count: int) -> None: ...

    def reset(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class IdleSettings:
    """Tunables shared by the strategies.

    Spin and yield budgets are small because on shared cores a spinning
    consumer steals the core its producer needs: on 2 cores with 5 stages,
    100 spins before parking made the probe's end-to-end p50 ~7x worse than 10.
    Dedicated cores use busy-spin, which ignores them.
    """

    max_spins: int = 10
    max_yields: int = 5
    min_park_ns: int = 1_000
    max_park_ns: int = 1_000_000
    park_timeout_ns: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("max_spins", "max_yields"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if not 0 < self.min_park_ns <= self.max_park_ns:
            raise ValueError("min_park_ns must be > 0 and <= max_park_ns")
        if self.park_timeout_ns <= 0:
            raise ValueError("park_timeout_ns must be > 0")


class BusySpinIdle:
    """Burn the core: lowest latency, needs a dedicated core per stage."""

    alias = "busy-spin"

    def idle(self, work_count: int) -> None:
        pass

    def reset(self) -> None:
        pass


class YieldIdle:
    """``sched_yield`` (~0.5 µs) when idle; ``time.sleep(0)`` would cost ~76 µs."""

    alias = "yield"

    def idle(self, work_count: int) -> None:
        if work_count <= 0:
            os.sched_yield()

    def reset(self) -> None:
        pass


class BackoffIdle:
    """Spin, then yield, then park with exponentially growing sleeps."""

    alias = "backoff"

    def __init__(self, settings: IdleSettings) -> None:
        self._max_spins = settings.max_spins
        self._max_yields = settings.max_yields
        self._min_park_s = settings.min_park_ns / 1e9
        self._max_park_s = settings.max_park_ns / 1e9
        self.reset()

    def reset(self) -> None:
        self._spins = 0
        self._yields = 0
        self._park_s = self._min_park_s

    def idle(self, work_count: int) -> None:
        if work_count > 0:
            if self._spins or self._yields or self._park_s != self._min_park_s:
                self.reset()
            return
        if self._spins < self._max_spins:
            self._spins += 1
        elif self._yields < self._max_yields:
            self._yields += 1
            os.sched_yield()
        else:
            time.sleep(self._park_s)
            self._park_s = min(self._park_s * 2, self._max_park_s)


class BlockingIdle:
    """Spin briefly, then park on the doorbell semaphore until a producer posts.

    With no input rings (a source stage) it parks for ``park_timeout_ns``.
    """

    alias = "blocking"

    def __init__(self, settings: IdleSettings, inputs: Sequence[ConsumerEnd], doorbell: Doorbell | None) -> None:
        self._max_spins = settings.max_spins
        self._timeout_s = settings.park_timeout_ns / 1e9
        self._inputs = tuple(inputs)
        self._bell = doorbell
        for ring in self._inputs:
            ring.set_parked(False)  # a predecessor killed while parked may have left it up
        self._spins = 0
        self.parks = 0
        """How many times the consumer actually waited."""
        self.timeouts = 0
        """Waits that ended by timeout rather than a post (missed or no work)."""

    def reset(self) -> None:
        self._spins = 0

    def idle(self, work_count: int) -> None:
        if work_count > 0:
            self._spins = 0
            return
        if self._spins < self._max_spins:
            self._spins += 1
            return
        if self._bell is None:
            time.sleep(self._timeout_s)
            return
        for ring in self._inputs:
            ring.set_parked(True)
        try:
            if any(ring.has_data() for ring in self._inputs):
                return
            self.parks += 1
            try:
                self._bell.acquire(self._timeout_s)
            except posix_ipc.BusyError:
                self.timeouts += 1
            except posix_ipc.SignalError:
                pass  # SIGTERM while parked: let the runner see it
            self._drain()
        finally:
            for ring in self._inputs:
                ring.set_parked(False)

    def _drain(self) -> None:
        """Consume posts that piled up while we were waking (sem_trywait: no syscall)."""
        bell = self._bell
        assert bell is not None
        while True:
            try:
                bell.acquire(0)
            except posix_ipc.BusyError:
                return


def make_idle(
    alias: str,
    settings: IdleSettings,
    inputs: Sequence[ConsumerEnd] = (),
    doorbell: Doorbell | None = None,
) -> IdleStrategy:
    if alias == "busy-spin":
        return BusySpinIdle()
    if alias == "yield":
        return YieldIdle()
    if alias == "backoff":
        return BackoffIdle(settings)
    if alias == "blocking":
        return BlockingIdle(settings, inputs, doorbell)
    raise ValueError(f"unknown idle strategy {alias!r}; expected one of {', '.join(IDLE_ALIASES)}")


_PR_SET_TIMERSLACK: Final = 29


def set_timer_slack(ns: int) -> bool:
    """Shrink the kernel's timer slack (default 50 µs) so short parks are short."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_TIMERSLACK, ctypes.c_ulong(ns), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
