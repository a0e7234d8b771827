"""The supervisor owns a pipeline's shared memory and its stage processes.

Start: refuse if the pipeline is live or another user holds objects under
its name, remove segments whose owner is dead, check that it fits in the free
shared memory, create control file, rings and doorbells (a failure there
removes what was made and becomes :class:`StartupFailedError`), start every
process as ``hftpipe process NAME`` (downstream first, so consumers exist
before producers), wait until all its stages report READY, then flip the
pipeline to RUNNING. A process runs one stage, or several (a composite,
:mod:`hftpipe.runtime.composite`): it is watched, restarted and stopped as one.

Watch: a process that exits or has a stage that stops heart-beating is
recorded (why, in the owner's error log), each of its stages keeps the state
it wrote itself (the one that failed FAILED, siblings it closed CLOSED) or is
marked FAILED, the pipeline is HALTED so every stage can see it, and then, per
``on_failure``: the process is restarted (``restart``), every process is
stopped and the pipeline started afresh with new shared memory
(``restart-pipeline``: for pipelines whose stages hold state that only makes
sense together, like the exchange, which rebuilds it from its journal), or the
pipeline is stopped (``stop``). Restarts are rate-limited
(:mod:`hftpipe.runtime.restart_limit`): ``max_restarts`` within
``restart_window_s``, per stage or of the pipeline; one more stops it.

Stop: upstream first (sources, then each consumer once its producers are
gone), SIGTERM then SIGKILL after ``stop_timeout_ms``, then unlink every
shared object, so nothing of ours is left in /dev/shm.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from hftpipe.runtime.config import PipelineConfig, check_shared_memory
from hftpipe.runtime.placement import PlacementPlan, plan_placement
from hftpipe.runtime.restart_limit import RestartLimiter
from hftpipe.runtime.runner import EX_SOFTWARE
from hftpipe.runtime.service_notify import PipelineNotifier
from hftpipe.runtime.stage_process import LOG_LEVEL_ENV
from hftpipe.runtime.validation import EX_CONFIG, ConfigError
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects
from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.control_layout import PipelineState, StageState
from hftpipe.substrate.shm import clean_stale, list_entries

WATCH_INTERVAL_S: Final = 0.05
_HEART_BEATING: Final = (StageState.READY, StageState.RUNNING)
"""States in which a stage's runner writes its heartbeat (STARTING is bounded by startup_timeout_ms)."""


class PipelineAlreadyRunningError(RuntimeError):
    pass


class PipelineNameTakenError(PermissionError):
    """Another user owns objects under the pipeline's name: we can neither create ours nor remove theirs."""


class StartupFailedError(RuntimeError):
    """The pipeline did not start; ``exit_status`` is what ``hftpipe run`` exits with."""

    def __init__(self, message: str, exit_status: int = EX_SOFTWARE) -> None:
        super().__init__(message)
        self.exit_status = exit_status


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


@dataclass
class StageProcess:
    """One OS process of the pipeline: a stage alone (named after it) or a composite of several."""

    name: str
    stages: tuple[str, ...]
    indices: tuple[int, ...]
    """The control-file slots of its stages."""
    process: subprocess.Popen[bytes] | None = None
    spawned_wall_ns: int = 0
    """When it was last started: errors it recorded since then say why a start failed."""

    @property
    def label(self) -> str:
        """How messages name it: ``stage NAME`` alone, ``process NAME (a, b, c)`` for a composite."""
        if self.stages == (self.name,):
            return f"stage {self.name}"
        return f"process {self.name} ({', '.join(self.stages)})"


class Supervisor:
    def __init__(
        self, config: PipelineConfig, logger: logging.Logger | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """``clock``: monotonic seconds, for the restart rate limits (a test steps its own)."""
        if not config.source:
            raise ValueError("the supervisor starts stages from a config file: config.source is empty")
        self.config = config
        self.logger = logger or logging.getLogger(f"hftpipe.{config.name}.supervisor")
        self.objects: OwnedObjects | None = None
        self.plan: PlacementPlan | None = None
        self.failure: str | None = None
        self.processes = [
            StageProcess(name, tuple(s.name for s in members), tuple(config.stage_index(s.name) for s in members))
            for name, members in config.processes().items()
        ]
        self.pipeline_restarts = 0
        """Every restart of the whole pipeline (``restart-pipeline``) so far."""
        limit = (config.max_restarts, config.restart_window_s, clock)
        self._restart_limits = {p.name: RestartLimiter(*limit) for p in self.processes}
        self._pipeline_restart_limit = RestartLimiter(*limit)
        depths = config.depths()
        order = sorted(self.processes, key=lambda p: (-max(depths[s] for s in p.stages), p.indices[0]))
        self.start_order = order
        self.stop_order = list(reversed(order))
        self.notify = PipelineNotifier.from_environment(config, self.logger)
        """systemd's view (READY, WATCHDOG, STATUS, STOPPING); a no-op unless run by systemd."""

    @property
    def control(self) -> ControlFile:
        assert self.objects is not None, "start() first"
        return self.objects.control

    # -- start -----------------------------------------------------------------
    def start(self) -> None:
        name = self.config.name
        entries = list_entries(name)
        live = [e for e in entries if e.alive and e.owner_pid is not None]
        if live:
            raise PipelineAlreadyRunningError(f"pipeline {name!r} is already running (owner pid {live[0].owner_pid})")
        foreign = [e for e in entries if e.foreign]
        if foreign:
            raise PipelineNameTakenError(
                f"pipeline {name!r} cannot create its shared memory: {foreign[0].path} belongs to uid"
                f" {foreign[0].owner_uid}, not to us (uid {os.geteuid()}); its owner must remove it,"
                " or run under another --name"
            )
        removed = clean_stale(name)
        if removed:
            self.logger.warning(
                "removed %d stale shared-memory objects of a dead owner: %s", len(removed), ", ".join(removed)
            )
        check_shared_memory(self.config)
        self.plan = plan_placement(self.config, sorted(os.sched_getaffinity(0)))
        self.logger.info("%s", self.plan.explanation)
        try:
            self.objects = create_pipeline_objects(self.config)
        except PermissionError:
            raise  # another user took a name between our look and our create: say so as such
        except OSError as exc:
            where = f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
            raise StartupFailedError(f"cannot create the shared memory of pipeline {name!r}: {where}") from exc
        try:
            for index, stage_config in enumerate(self.config.stages):
                placement = self.plan.stages[stage_config.name]
                self.control.set_stage_cpu(index, placement.cpu)
                self.control.set_stage_idle(index, placement.idle)
            for process in self.start_order:
                self._spawn(process)
            self._wait_ready(self.processes)
        except BaseException:
            self.destroy()
            raise
        self.control.set_state(PipelineState.RUNNING)
        self.notify.ready(self.control)
        self.logger.info(
            "pipeline %r running with %d stages in %d processes", name, len(self.config.stages), len(self.processes)
        )

    def _spawn(self, stage: StageProcess) -> None:
        command = [
            sys.executable,
            "-m",
            "hftpipe",
            "process",
            stage.name,
            "-c",
            self.config.source,
            "--name",
            self.config.name,
        ]
        for index in stage.indices:
            self.control.set_stage_state(index, StageState.NOT_STARTED)
        # Stages log to stderr; their stdout goes there too so ours stays clean for --json.
        env = {**os.environ, LOG_LEVEL_ENV: logging.getLevelName(logging.getLogger().getEffectiveLevel())}
        stage.spawned_wall_ns = time.time_ns()
        stage.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=2, env=env)

    def _why_not_started(self, stage: StageProcess) -> str:
        """``": <reason>"``: the last error ``stage`` recorded since it was started (a refused start records one);
        for a composite, the stage that recorded it too."""
        errors = [
            (e, name)
            for index, name in zip(stage.indices, stage.stages, strict=True)
            for e in self.control.read_errors(index)
            if e.last_wall_ns >= stage.spawned_wall_ns
        ]
        if not errors:
            return ""
        error, name = max(errors, key=lambda pair: pair[0].last_wall_ns)
        return f": {error.message}" if len(stage.stages) == 1 else f": stage {name}: {error.message}"

    def _wait_ready(self, stages: list[StageProcess]) -> None:
        deadline = time.monotonic() + self.config.startup_timeout_ms / 1000
        pending = list(stages)
        while pending:
            for stage in list(pending):
                assert stage.process is not None
                returncode = stage.process.poll()
                if returncode is not None:
                    why = f"{describe_exit(returncode)} during startup{self._why_not_started(stage)}"
                    status = EX_CONFIG if returncode == EX_CONFIG else EX_SOFTWARE
                    kind = "stage" if len(stage.stages) == 1 else "process"
                    raise StartupFailedError(f"{kind} {stage.name!r} {why}", status)
                ready = (StageState.READY, StageState.RUNNING)
                if all(self.control.stage_state(index) in ready for index in stage.indices):
                    pending.remove(stage)
            if pending and time.monotonic() > deadline:
                names = ", ".join(s.name for s in pending)
                raise StartupFailedError(f"stages not ready after {self.config.startup_timeout_ms} ms: {names}")
            time.sleep(0.005)

    # -- watch -------------------------------------------------------------------
    def check(self) -> bool:
        """One watch pass; False once the pipeline has been stopped by a failure."""
        if self.failure is not None:
            return False
        now = time.monotonic_ns()
        timeout_ns = self.config.heartbeat_timeout_ms * 1_000_000
        for stage in self.processes:
            assert stage.process is not None
            returncode = stage.process.poll()
            if returncode is not None:
                self._on_failure(stage, describe_exit(returncode), returncode)
                if self.failure is not None:
                    return False
                continue
            silent_ns = max(
                (
                    now - self.control.heartbeat_ns(index)
                    for index in stage.indices
                    if self.control.stage_state(index) in _HEART_BEATING
                ),
                default=0,
            )
            if silent_ns > timeout_ns:
                stage.process.kill()
                returncode = stage.process.wait()
                self._on_failure(stage, f"stopped heart-beating for {silent_ns // 1_000_000} ms (killed)", returncode)
            if self.failure is not None:
                return False
        return True

    def _on_failure(self, stage: StageProcess, reason: str, returncode: int) -> None:
        control = self.control
        message = f"{stage.label} {reason}{self._failed_stages(stage)}"
        self.logger.error("%s; pipeline halted", message)
        for index in stage.indices:
            control.set_stage_exit(index, returncode)
            if control.stage_state(index) not in (StageState.CLOSED, StageState.FAILED):
                control.set_stage_state(index, StageState.FAILED)
        control.error_log(None).record(message)
        control.set_state(PipelineState.HALTED)
        if self.config.on_failure == "restart-pipeline":
            self._restart_pipeline(message)
            return
        limit = self._restart_limits[stage.name]
        if self.config.on_failure == "restart" and limit.allow():
            for index in stage.indices:
                control.count_restart(index)
            self.logger.warning(
                "restarting %s (restart %d of %d within %g s)",
                stage.label,
                limit.recent(),
                limit.burst,
                limit.window_s,
            )
            try:
                self._spawn(stage)
                self._wait_ready([stage])
            except StartupFailedError as exc:
                self.failure = f"{message}; restart failed: {exc}"
                self.logger.error("%s", self.failure)
                return
            control.set_state(PipelineState.RUNNING)
            self.logger.info("%s restarted; pipeline running", stage.label)
            return
        if self.config.on_failure == "stop":
            self.failure = f"{message} (on_failure = stop)"
            self.logger.error("stopping pipeline: %s", self.failure)
            return
        self.failure = f"{message} ({limit.recent()} restarts used)"
        self._log_stop(limit)

    def _failed_stages(self, stage: StageProcess) -> str:
        """For a composite, which of its stages failed (they say so in their slots): ``"; stage risk failed"``."""
        if len(stage.stages) == 1:
            return ""
        failed = [
            name
            for index, name in zip(stage.indices, stage.stages, strict=True)
            if self.control.stage_state(index) is StageState.FAILED
        ]
        return f"; stage {', '.join(failed)} failed" if failed else ""

    def _log_stop(self, limit: RestartLimiter) -> None:
        self.logger.error(
            "stopping pipeline: %s; at most %d restarts within %g s (max_restarts, restart_window_s)",
            self.failure,
            limit.burst,
            limit.window_s,
        )

    def _restart_pipeline(self, message: str) -> None:
        """Stop every stage, unlink everything, then start again as if from scratch."""
        limit = self._pipeline_restart_limit
        if not limit.allow():
            self.failure = f"{message} ({limit.recent()} pipeline restarts used)"
            self._log_stop(limit)
            return
        self.pipeline_restarts += 1
        self.logger.warning(
            "restarting every stage of pipeline %s (restart %d of %d within %g s)",
            self.config.name,
            limit.recent(),
            limit.burst,
            limit.window_s,
        )
        self.destroy()
        try:
            self.start()
        except (StartupFailedError, OSError, ConfigError) as exc:
            self.failure = f"{message}; pipeline restart failed: {exc}"
            self.logger.error("%s", self.failure)
            return
        self.control.error_log(None).record(f"{message}; pipeline restarted ({self.pipeline_restarts})")

    def run(
        self,
        duration_s: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_tick: Callable[[], None] = lambda: None,
    ) -> None:
        """Watch until ``duration_s`` passes, a failure stops the pipeline, or ``should_stop()``."""
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while deadline is None or time.monotonic() < deadline:
            if should_stop() or not self.check():
                break
            self.notify.tick(self.control)
            on_tick()
            time.sleep(WATCH_INTERVAL_S)
        if self.objects is not None:
            self.notify.stopping(self.control, self.failure or "stop requested")

    # -- stop ----------------------------------------------------------------------
    def stop(self) -> None:
        """Stop stages upstream first, then unlink every shared object. Idempotent."""
        if self.objects is None:
            return
        control = self.control
        if control.state is not PipelineState.STOPPED:
            control.set_state(PipelineState.STOPPING)
        timeout_s = self.config.stop_timeout_ms / 1000
        for stage in self.stop_order:
            process = stage.process
            if process is None:
                continue
            if process.poll() is None:  # an asyncio process may have left already, seeing STOPPING
                self._terminate(stage, process, timeout_s)
            for index in stage.indices:
                control.set_stage_exit(index, process.returncode)
        control.set_state(PipelineState.STOPPED)

    def _terminate(self, stage: StageProcess, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``."""
        control = self.control
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.logger.error("%s ignored SIGTERM for %.1f s; killing it", stage.label, timeout_s)
            control.error_log(None).record(f"{stage.label} killed after stop timeout")
            process.kill()
            process.wait()

    def destroy(self) -> None:
        """Unlink everything; the last step of any stop, also after errors."""
        if self.objects is not None:
            self.stop()
            self.objects.destroy()
            self.objects = None
