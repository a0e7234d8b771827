"""A composite process: several stages' agents in one OS process (Aeron's shared threading mode).

The stages stay joined by their rings, and each keeps its own slot in the
control file: state, pid, heartbeat, counters, errors, histograms and status.
What they share is the process: its core, its idle strategy, its doorbell
(:class:`~hftpipe.substrate.shared_doorbell.SharedDoorbell`) and its fate.

* Only polling agents: one thread runs :class:`~hftpipe.runtime.round_robin.RoundRobin`
  cycles, one idle strategy over the sum of their work (``blocking`` parks on the
  shared doorbell with every agent's inputs flagged).
* With asyncio agents: one event loop runs every asyncio agent's ``run`` and
  the polling agents' cycles as one more task
  (:func:`~hftpipe.runtime.round_robin.drive_on_loop`), which yields to the loop
  while they have nothing to do; a watchdog task heart-beats every stage.

Failure is the process's: a stage that refuses to start, whose ``run``
raises, or whose duty cycles fail ``max_consecutive_errors`` times in a row is
marked FAILED with its error in its own error log, its siblings are closed in
order (CLOSED), and the process exits non-zero, so the supervisor applies
``on_failure`` to the whole process (a restart restarts every stage of it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Sequence

from hftpipe.runtime.agent import Agent, AsyncAgent, Stage
from hftpipe.runtime.error_router import ErrorRouter
from hftpipe.runtime.round_robin import PolledStage, RoundRobin, StageFailedError, drive_on_loop
from hftpipe.runtime.runner import (
    EX_OK,
    EX_SOFTWARE,
    HEARTBEAT_INTERVAL_NS,
    OWNER_CHECK_INTERVAL_NS,
    START_REFUSALS,
    RunnerSettings,
    StopsOnSignal,
    apply_process_settings,
    refused_start_status,
)
from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.control_layout import PipelineState, StageState
from hftpipe.substrate.counters import Counter, CounterKind
from hftpipe.substrate.idle import IdleStrategy
from hftpipe.substrate.shared_doorbell import SharedDoorbell

LOOP_MAX_SLEEP_S = 0.001
"""Longest sleep of the loop's duty cycles when they have no doorbell (no input rings)."""


class CompositeRunner(StopsOnSignal):
    """Runs ``agents`` (at least one) in this process until told to stop; :meth:`run` is the exit code."""

    def __init__(
        self,
        agents: Sequence[Stage],
        idle: IdleStrategy,
        doorbell: SharedDoorbell | None,
        settings: RunnerSettings,
        logger: logging.Logger,
        *,
        loop_spins: int = 10,
    ) -> None:
        if not agents:
            raise ValueError("a composite runs at least one agent")
        self.agents = tuple(agents)
        self.control: ControlFile = agents[0].ctx.control
        self.idle = idle
        self.doorbell = doorbell
        self.settings = settings
        self.logger = logger
        self._loop_spins = loop_spins
        self.errors = {a.ctx.name: ErrorRouter(a.ctx, logging.getLogger(f"{logger.name}.{a.ctx.name}")) for a in agents}
        self.failed: set[str] = set()
        """The stages that failed (each with its error in its own log)."""
        self._heartbeats: list[Counter] = [a.ctx.counter(CounterKind.HEARTBEAT_NS) for a in agents]
        polled = [PolledStage(a, self.errors[a.ctx.name]) for a in agents if isinstance(a, Agent)]
        self.round_robin = RoundRobin(polled, settings.max_consecutive_errors, logger)
        self.asynchronous = [a for a in agents if isinstance(a, AsyncAgent)]
        self._inputs = [port.ring for stage in polled for port in stage.agent.ctx.inputs.values()]
        self._running = True

    @property
    def names(self) -> list[str]:
        return [a.ctx.name for a in self.agents]

    # -- lifecycle -------------------------------------------------------------------------------
    def run(self) -> int:
        control = self.control
        problems = apply_process_settings(self.settings, self.logger)
        for agent in self.agents:
            for problem in problems:
                agent.ctx.errors.record(problem)
            control.register_stage_process(agent.ctx.index, os.getpid())
        started: list[Stage] = []
        for agent in self.agents:
            try:
                agent.on_start()
            except Exception as exc:  # noqa: BLE001 - reported as the stage's, then the process fails
                if isinstance(exc, START_REFUSALS):
                    self.errors[agent.ctx.name].on_refused_start(exc)
                    code = refused_start_status(exc)
                else:
                    self.errors[agent.ctx.name].on_error(exc)
                    code = EX_SOFTWARE
                self.failed.add(agent.ctx.name)
                control.set_stage_state(agent.ctx.index, StageState.FAILED)
                self._close(started, code)
                for rest in self.agents[len(started) + 1 :]:
                    control.set_stage_state(rest.ctx.index, StageState.CLOSED)
                return code
            started.append(agent)
        for agent in self.agents:
            control.set_stage_state(agent.ctx.index, StageState.READY)
        while self._running and control.state is not PipelineState.RUNNING:
            if control.state in (PipelineState.STOPPING, PipelineState.STOPPED):
                self._running = False
                break
            self._beat(time.monotonic_ns())
            if self._owner_gone():
                self._running = False
            time.sleep(0.001)
        code = EX_OK
        if self._running:
            for agent in self.agents:
                control.set_stage_state(agent.ctx.index, StageState.RUNNING)
            code = asyncio.run(self._on_loop()) if self.asynchronous else self._poll()
        self._close(started, code)
        return code

    def _close(self, started: Sequence[Stage], code: int) -> None:
        """Close the started stages in order; each ends FAILED if it failed, else CLOSED."""
        for agent in started:
            self.control.set_stage_state(agent.ctx.index, StageState.CLOSING)
            try:
                agent.on_close()
            except Exception as exc:  # noqa: BLE001
                self.errors[agent.ctx.name].on_error(exc)
                self.failed.add(agent.ctx.name)
            failed = agent.ctx.name in self.failed
            self.control.set_stage_state(agent.ctx.index, StageState.FAILED if failed else StageState.CLOSED)
        if self.failed and code == EX_OK:
            self.logger.error("stages failed while closing: %s", ", ".join(sorted(self.failed)))

    def _beat(self, now: int) -> None:
        for heartbeat in self._heartbeats:
            heartbeat.set(now)

    def _owner_gone(self) -> bool:
        if self.control.segment.owner_is_alive():
            return False
        self.logger.error("pipeline owner (pid %d) is gone; closing", self.control.owner_pid)
        return True

    def _fail(self, exc: StageFailedError) -> int:
        self.failed.add(exc.stage)
        self.logger.error("%s; process %s fails", exc, "+".join(self.names))
        return EX_SOFTWARE

    # -- polling agents only ---------------------------------------------------------------------
    def _poll(self) -> int:
        now = time.monotonic_ns
        cycle = self.round_robin.cycle
        idle = self.idle.idle
        next_heartbeat = 0
        next_owner_check = now() + OWNER_CHECK_INTERVAL_NS
        try:
            while self._running:
                work = cycle()
                end = now()
                if end >= next_heartbeat:
                    self._beat(end)
                    self.round_robin.publish()
                    next_heartbeat = end + HEARTBEAT_INTERVAL_NS
                    if end >= next_owner_check:
                        next_owner_check = end + OWNER_CHECK_INTERVAL_NS
                        if self._owner_gone():
                            break
                idle(work)
        except StageFailedError as exc:
            return self._fail(exc)
        finally:
            self.round_robin.publish()
        return EX_OK

    # -- with asyncio agents -----------------------------------------------------------------------
    async def _on_loop(self) -> int:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        tasks = [asyncio.create_task(self._run_async(agent, stopping)) for agent in self.asynchronous]
        if self.round_robin.stages:
            tasks.append(asyncio.create_task(self._drive(stopping)))
        watchdog = asyncio.create_task(self._watchdog(stopping))
        try:
            await asyncio.gather(*tasks)
        finally:
            watchdog.cancel()
            self.round_robin.publish()
        return EX_SOFTWARE if self.failed else EX_OK

    async def _run_async(self, agent: AsyncAgent, stopping: asyncio.Event) -> None:
        """One asyncio agent's ``run``; when it ends, for whatever reason, every stage of the process stops."""
        try:
            await agent.run(stopping)
        except Exception as exc:  # noqa: BLE001 - routed to the stage's own log; the process fails
            self.errors[agent.ctx.name].on_error(exc)
            self.failed.add(agent.ctx.name)
            self.logger.error("stage %s failed; process %s fails", agent.ctx.name, "+".join(self.names))
        finally:
            stopping.set()

    async def _drive(self, stopping: asyncio.Event) -> None:
        try:
            await drive_on_loop(
                self.round_robin,
                self._inputs,
                self.doorbell,
                stopping,
                spins=self._loop_spins,
                max_sleep_s=LOOP_MAX_SLEEP_S,
            )
        except StageFailedError as exc:
            self._fail(exc)
        finally:
            stopping.set()

    async def _watchdog(self, stopping: asyncio.Event) -> None:
        """Heart-beats every stage; the loop's lag is each asyncio stage's longest duty cycle."""
        control = self.control
        lag_counters = [a.ctx.counter(CounterKind.MAX_DUTY_CYCLE_NS) for a in self.asynchronous]
        max_lag = max((c.value for c in lag_counters), default=0)
        interval_s = HEARTBEAT_INTERVAL_NS / 1e9
        next_owner_check = 0
        while not stopping.is_set():
            expected = time.monotonic_ns() + HEARTBEAT_INTERVAL_NS
            await asyncio.sleep(interval_s)
            now = time.monotonic_ns()
            if now - expected > max_lag:
                max_lag = now - expected
                for counter in lag_counters:
                    counter.set(max_lag)
            self._beat(now)
            self.round_robin.publish()
            if not self._running or control.state in (PipelineState.STOPPING, PipelineState.STOPPED):
                stopping.set()
            if now >= next_owner_check:
                next_owner_check = now + OWNER_CHECK_INTERVAL_NS
                if self._owner_gone():
                    stopping.set()
