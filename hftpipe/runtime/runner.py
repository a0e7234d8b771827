"""The runners: one stage's life in its process, around the loop that drives its agent.

:class:`StageRunner` owns what every stage goes through: CPU affinity,
optional SCHED_FIFO and mlockall (with a clear message when the OS refuses),
SIGTERM/SIGINT as an orderly close, ``on_start``, READY until the pipeline
runs, ``on_close``, and the stage's state in the control file. A stage that
refuses to start as configured (:data:`START_REFUSALS`, from its constructor
or ``on_start``) is reported in one line, which the supervisor repeats. It leaves
when the pipeline's owner is gone (a stage must not outlive the shared memory
it was given). What runs in between is the subclass's:

* :class:`AgentRunner`: ``while running: idle.idle(agent.do_work())``, keeping
  the max duty-cycle time and a heartbeat, routing exceptions to the error router;
* :class:`AsyncAgentRunner`: ``asyncio.run(agent.run(stopping))`` beside a
  watchdog task that heart-beats; it has no idle strategy (the loop waits).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import time
from dataclasses import dataclass
from types import FrameType
from typing import Final, Generic, TypeVar

from hftpipe.runtime.agent import Agent, AsyncAgent, Stage
from hftpipe.runtime.context import StageContext
from hftpipe.runtime.error_router import ErrorRouter
from hftpipe.runtime.validation import EX_CONFIG
from hftpipe.substrate.control_layout import PipelineState, StageState
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.idle import IdleStrategy, set_timer_slack

EX_OK: Final = 0
EX_SOFTWARE: Final = 70
EX_UNAVAILABLE: Final = 69
EX_NOPERM: Final = 77
"""sysexits.h: shared memory of another user (not ours to use, read or remove), or the OS said no."""
HEARTBEAT_INTERVAL_NS: Final = 10_000_000
OWNER_CHECK_INTERVAL_NS: Final = 200_000_000
_MCL_CURRENT_FUTURE: Final = 3
START_REFUSALS: Final = (ValueError, OSError)
"""What a stage raises to refuse to start as configured (a ring too small for its records, a port
out of range, a directory it cannot write): reported in one line, not as a traceback."""

S = TypeVar("S", bound=Stage)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerSettings:
    cpu: int | None = None
    realtime_priority: int | None = None
    mlockall: bool = False
    max_consecutive_errors: int = 1000


def refused_start_status(exc: BaseException) -> int:
    """A refused start's exit status: 78 for what the config gave it (a ``ValueError``), else 70."""
    return EX_CONFIG if isinstance(exc, ValueError) else EX_SOFTWARE


def apply_process_settings(settings: RunnerSettings, logger: logging.Logger) -> list[str]:
    """Affinity, SCHED_FIFO, mlockall and timer slack; returns the problems met."""
    problems = []
    if settings.cpu is not None:
        try:
            os.sched_setaffinity(0, {settings.cpu})
        except OSError as exc:
            problems.append(f"cannot pin to core {settings.cpu}: {exc.strerror}")
    if settings.realtime_priority is not None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(settings.realtime_priority))
        except PermissionError:
            problems.append(
                f"SCHED_FIFO priority {settings.realtime_priority} not permitted (needs CAP_SYS_NICE, "
                "or LimitRTPRIO= in the systemd unit); running SCHED_OTHER"
            )
    if settings.mlockall:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mlockall(_MCL_CURRENT_FUTURE) != 0:
            err = ctypes.get_errno()
            problems.append(
                f"mlockall failed: {os.strerror(err)} (raise LimitMEMLOCK= in the unit or ulimit -l); "
                "pages may be swapped"
            )
    set_timer_slack(1_000)
    for problem in problems:
        logger.warning("%s", problem)
    return problems


class StopsOnSignal:
    """Runs until SIGTERM / SIGINT (or :meth:`request_stop`) clears ``_running``: a stage's runner or a composite's."""

    _running: bool = True

    def request_stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        self._running = False

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)


class StageRunner(StopsOnSignal, Generic[S]):
    """A stage's lifecycle in its process; subclasses supply :meth:`_loop`, the part that drives the agent."""

    def __init__(self, agent: S, settings: RunnerSettings, logger: logging.Logger | None = None) -> None:
        self.agent = agent
        self.ctx: StageContext = agent.ctx
        self.settings = settings
        self.logger = logger or logging.getLogger(f"hftpipe.{agent.role_name}")
        self.errors = ErrorRouter(self.ctx, self.logger)
        self._running = True

    def run(self) -> int:
        ctx = self.ctx
        control = ctx.control
        for problem in apply_process_settings(self.settings, self.logger):
            ctx.errors.record(problem)
        control.register_stage_process(ctx.index, os.getpid())
        heartbeat = ctx.counter(CounterKind.HEARTBEAT_NS)
        try:
            self.agent.on_start()
        except START_REFUSALS as exc:
            self.errors.on_refused_start(exc)
            control.set_stage_state(ctx.index, StageState.FAILED)
            return refused_start_status(exc)
        except Exception as exc:  # noqa: BLE001 - reported, then the stage fails
            self.errors.on_error(exc)
            control.set_stage_state(ctx.index, StageState.FAILED)
            return EX_SOFTWARE
        control.set_stage_state(ctx.index, StageState.READY)
        # Hold until the supervisor says every stage is ready (or we must stop).
        while self._running and control.state is not PipelineState.RUNNING:
            if control.state in (PipelineState.STOPPING, PipelineState.STOPPED):
                self._running = False
                break
            heartbeat.set(time.monotonic_ns())
            if self._owner_gone():
                self._running = False
            time.sleep(0.001)
        exit_code = self._loop() if self._running else EX_OK
        control.set_stage_state(ctx.index, StageState.CLOSING)
        try:
            self.agent.on_close()
        except Exception as exc:  # noqa: BLE001
            self.errors.on_error(exc)
            exit_code = exit_code or EX_SOFTWARE
        control.set_stage_state(ctx.index, StageState.CLOSED if exit_code == EX_OK else StageState.FAILED)
        return exit_code

    def _loop(self) -> int:
        """Drive the agent from RUNNING until told to stop; the exit code."""
        raise NotImplementedError

    def _owner_gone(self) -> bool:
        control = self.ctx.control
        if control.segment.owner_is_alive():
            return False
        self.logger.error("pipeline owner (pid %d) is gone; closing", control.owner_pid)
        return True


class AgentRunner(StageRunner[Agent]):
    """Drives a polling :class:`Agent`: its duty cycles, idling between the empty ones."""

    def __init__(
        self,
        agent: Agent,
        idle: IdleStrategy,
        settings: RunnerSettings,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(agent, settings, logger)
        self.idle = idle

    def _loop(self) -> int:
        ctx = self.ctx
        ctx.control.set_stage_state(ctx.index, StageState.RUNNING)
        now = time.monotonic_ns
        do_work = self.agent.do_work
        idle = self.idle.idle
        errors = self.errors
        max_errors = self.settings.max_consecutive_errors
        heartbeat = ctx.counter(CounterKind.HEARTBEAT_NS)
        cycles_counter = ctx.counter(CounterKind.DUTY_CYCLES)
        max_duty_counter = ctx.counter(CounterKind.MAX_DUTY_CYCLE_NS)
        max_duty = max_duty_counter.value
        cycles = cycles_counter.value
        next_heartbeat = 0
        next_owner_check = now() + OWNER_CHECK_INTERVAL_NS
        while self._running:
            start = now()
            try:
                work = do_work()
                if errors.consecutive:
                    errors.on_success()
            except Exception as exc:  # noqa: BLE001 - routed, counted, logged once
                errors.on_error(exc)
                work = 0
                if errors.consecutive >= max_errors:
                    self.logger.error("%d consecutive errors; stage fails", errors.consecutive)
                    return EX_SOFTWARE
            end = now()
            cycles += 1
            if end - start > max_duty:
                max_duty = end - start
                max_duty_counter.set(max_duty)
            if end >= next_heartbeat:
                heartbeat.set(end)
                cycles_counter.set(cycles)
                next_heartbeat = end + HEARTBEAT_INTERVAL_NS
                if end >= next_owner_check:
                    next_owner_check = end + OWNER_CHECK_INTERVAL_NS
                    if self._owner_gone():
                        break
            idle(work)
        cycles_counter.set(cycles)
        return EX_OK


class AsyncAgentRunner(StageRunner[AsyncAgent]):
    """Drives an :class:`AsyncAgent`: asyncio in place of the duty-cycle loop, and no idle strategy.

    A watchdog task writes the heartbeat, records event-loop lag as the max
    duty-cycle time (a callback that blocks the loop shows up there), and sets
    ``stopping`` when the pipeline stops or its owner is gone.
    """

    def _loop(self) -> int:
        return asyncio.run(self._main())

    async def _main(self) -> int:
        ctx = self.ctx
        ctx.control.set_stage_state(ctx.index, StageState.RUNNING)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        watchdog = asyncio.create_task(self._watchdog(stopping))
        try:
            await self.agent.run(stopping)
            return EX_OK
        except Exception as exc:  # noqa: BLE001 - routed, then the stage fails
            self.errors.on_error(exc)
            return EX_SOFTWARE
        finally:
            watchdog.cancel()

    async def _watchdog(self, stopping: asyncio.Event) -> None:
        ctx = self.ctx
        control = ctx.control
        heartbeat = ctx.counter(CounterKind.HEARTBEAT_NS)
        max_lag_counter = ctx.counter(CounterKind.MAX_DUTY_CYCLE_NS)
        max_lag = max_lag_counter.value
        interval_s = HEARTBEAT_INTERVAL_NS / 1e9
        next_owner_check = 0
        while not stopping.is_set():
            expected = time.monotonic_ns() + HEARTBEAT_INTERVAL_NS
            await asyncio.sleep(interval_s)
            now = time.monotonic_ns()
            if now - expected > max_lag:
                max_lag = now - expected
                max_lag_counter.set(max_lag)
            heartbeat.set(now)
            if not self._running or control.state in (PipelineState.STOPPING, PipelineState.STOPPED):
                stopping.set()
            if now >= next_owner_check:
                next_owner_check = now + OWNER_CHECK_INTERVAL_NS
                if self._owner_gone():
                    stopping.set()
