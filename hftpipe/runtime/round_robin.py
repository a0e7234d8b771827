"""The duty cycles of several polling agents in one thread (Agrona's ``CompositeAgent``).

One composite duty cycle calls every agent's ``do_work`` once, in declared
order, and returns the sum of their work, so one idle strategy backs off only
when none of them found anything. Each agent keeps what is its own in the
control file: its duty-cycle count and longest duty cycle, and its errors,
routed by its own :class:`~hftpipe.runtime.error_router.ErrorRouter`. An agent
that fails ``max_consecutive_errors`` duty cycles in a row raises
:class:`StageFailedError`: the composite process fails (and is restarted as a
whole by the supervisor's policy) rather than silently running on without it.

:func:`drive_on_loop` runs the same cycles as a task of an asyncio loop (a
composite with asyncio stages): between empty cycles it yields to the loop,
then waits on the process's shared doorbell, so the loop keeps serving the
asyncio stages' sockets meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from hftpipe.runtime.agent import Agent
from hftpipe.runtime.error_router import ErrorRouter
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.ends import ConsumerEnd
from hftpipe.substrate.shared_doorbell import SharedDoorbell


class StageFailedError(RuntimeError):
    """A stage of a composite failed; its process must fail with it (the error is already routed)."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"stage {stage} {reason}")
        self.stage = stage


class PolledStage:
    """One polling agent in a composite: its agent, its error router and its own duty-cycle counters."""

    def __init__(self, agent: Agent, errors: ErrorRouter) -> None:
        ctx = agent.ctx
        self.agent = agent
        self.name = ctx.name
        self.errors = errors
        self.do_work = agent.do_work
        self._cycles_counter = ctx.counter(CounterKind.DUTY_CYCLES)
        self._max_duty_counter = ctx.counter(CounterKind.MAX_DUTY_CYCLE_NS)
        self.cycles = self._cycles_counter.value
        self.max_duty_ns = self._max_duty_counter.value
        self.work = 0
        """Work it reported since it started (records handled, by its own count)."""

    def note(self, duty_ns: int) -> None:
        if duty_ns > self.max_duty_ns:
            self.max_duty_ns = duty_ns
            self._max_duty_counter.set(duty_ns)

    def publish(self) -> None:
        """The duty-cycle count into the control file (with the heartbeat, not every cycle)."""
        self._cycles_counter.set(self.cycles)


class RoundRobin:
    """Every polling agent's ``do_work`` once per cycle, in order; the cycle's work is the sum."""

    def __init__(self, stages: Sequence[PolledStage], max_consecutive_errors: int, logger: logging.Logger) -> None:
        self.stages = tuple(stages)
        self._max_errors = max_consecutive_errors
        self._logger = logger

    def cycle(self) -> int:
        now = time.monotonic_ns
        total = 0
        for stage in self.stages:
            start = now()
            try:
                work = stage.do_work()
                if stage.errors.consecutive:
                    stage.errors.on_success()
            except Exception as exc:
                stage.errors.on_error(exc)
                work = 0
                if stage.errors.consecutive >= self._max_errors:
                    self._logger.error(
                        "stage %s: %d consecutive errors; it fails", stage.name, stage.errors.consecutive
                    )
                    raise StageFailedError(
                        stage.name, f"failed {stage.errors.consecutive} duty cycles in a row"
                    ) from exc
            stage.note(now() - start)
            stage.cycles += 1
            stage.work += work
            total += work
        return total

    def publish(self) -> None:
        for stage in self.stages:
            stage.publish()


async def drive_on_loop(
    round_robin: RoundRobin,
    inputs: Sequence[ConsumerEnd],
    doorbell: SharedDoorbell | None,
    stopping: asyncio.Event,
    *,
    spins: int,
    max_sleep_s: float,
) -> None:
    """Run ``round_robin``'s cycles on the running loop until ``stopping``; never block the loop.

    After ``spins`` empty cycles (each yielding to the loop once) it waits on
    ``doorbell`` for ``inputs`` (all its agents' input rings); with no doorbell
    (agents with no inputs) it sleeps, at most ``max_sleep_s``.
    """
    empty = 0
    while not stopping.is_set():
        if round_robin.cycle():
            empty = 0
            await asyncio.sleep(0)
            continue
        empty += 1
        if empty <= spins:
            await asyncio.sleep(0)
        elif doorbell is not None and inputs:
            await doorbell.wait(inputs)
        else:
            await asyncio.sleep(max_sleep_s)
