"""``hftpipe process NAME -c CONFIG``: one OS process of a pipeline, one stage or a composite of several.

The supervisor starts every process this way, under systemd too (stages are
the owner unit's children: ``hftpipe/ops/units.py`` says why); ``hftpipe stage
NAME`` runs a stage that is alone in its process, the same code. A process of
several stages (``process = ...`` in the config) runs them under a
:class:`~hftpipe.runtime.composite.CompositeRunner`. The stage takes its core
and idle strategy from its slot in the control file (the owner decided them
once), attaches what its config names, and runs its agent until told to stop:
a polling :class:`~hftpipe.runtime.agent.Agent` under an
:class:`~hftpipe.runtime.runner.AgentRunner` with that idle strategy, an
:class:`~hftpipe.runtime.agent.AsyncAgent` under an
:class:`~hftpipe.runtime.runner.AsyncAgentRunner`, whose event loop does the waiting.
"""

from __future__ import annotations

import logging
import sys

import posix_ipc

from hftpipe.runtime.agent import Agent, AsyncAgent, Stage
from hftpipe.runtime.composite import CompositeRunner
from hftpipe.runtime.config import PipelineConfig
from hftpipe.runtime.context import StageContext
from hftpipe.runtime.error_router import ErrorRouter
from hftpipe.runtime.runner import (
    EX_NOPERM,
    EX_UNAVAILABLE,
    START_REFUSALS,
    AgentRunner,
    AsyncAgentRunner,
    RunnerSettings,
    StageRunner,
    refused_start_status,
)
from hftpipe.runtime.wiring import doorbell_name, open_stage_context
from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.control_layout import StageState
from hftpipe.substrate.idle import EVENT_LOOP, make_idle
from hftpipe.substrate.shared_doorbell import SharedDoorbell

LOG_FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
LOG_LEVEL_ENV = "HFTPIPE_LOG_LEVEL"
"""The supervisor passes its own log level to the stages it starts."""


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(stream=sys.stderr, level=level, format=LOG_FORMAT)


def run_process(config: PipelineConfig, process: str) -> int:
    """Run process ``process`` of the pipeline: its one stage, or its stages as a composite."""
    stages = config.process_stages(process)
    if len(stages) == 1:
        return run_stage(config, stages[0].name)
    return _run_composite(config, process, [s.name for s in stages])


def run_stage(config: PipelineConfig, stage: str) -> int:
    logger = logging.getLogger(f"hftpipe.{config.name}.{stage}")
    stage_config = config.stage(stage)
    try:
        control = ControlFile.attach(config.name)
    except PermissionError as exc:
        logger.error("cannot attach pipeline %r: %s", config.name, exc)
        return EX_NOPERM
    except (FileNotFoundError, RuntimeError) as exc:
        logger.error("pipeline %r is not running (%s): start its owner first (hftpipe run)", config.name, exc)
        return EX_UNAVAILABLE
    try:
        index = control.stage_index(stage)
        ctx = open_stage_context(config, control, stage)
    except (FileNotFoundError, KeyError) as exc:
        logger.error("cannot attach stage %r: %s", stage, exc)
        control.close()
        return EX_UNAVAILABLE
    try:
        try:
            agent = stage_config.agent_class(ctx)
        except START_REFUSALS as exc:
            ErrorRouter(ctx, logger).on_refused_start(exc)
            control.set_stage_state(index, StageState.FAILED)
            return refused_start_status(exc)
        settings = RunnerSettings(
            cpu=control.stage_cpu(index),
            realtime_priority=stage_config.realtime_priority,
            mlockall=stage_config.mlockall,
            max_consecutive_errors=config.max_consecutive_errors,
        )
        idle_alias = control.stage_idle(index)
        runner: StageRunner[AsyncAgent] | StageRunner[Agent]
        if isinstance(agent, AsyncAgent):
            runner = AsyncAgentRunner(agent, settings, logger)
        else:
            inputs = [port.ring for port in ctx.inputs.values()]
            runner = AgentRunner(agent, make_idle(idle_alias, config.idle, inputs, ctx.doorbell), settings, logger)
        runner.install_signal_handlers()
        logger.info("started: cpu=%s idle=%s", settings.cpu, idle_alias)
        return runner.run()
    finally:
        ctx.close()
        control.close()


def _attach(config: PipelineConfig, logger: logging.Logger) -> ControlFile | int:
    try:
        return ControlFile.attach(config.name)
    except PermissionError as exc:
        logger.error("cannot attach pipeline %r: %s", config.name, exc)
        return EX_NOPERM
    except (FileNotFoundError, RuntimeError) as exc:
        logger.error("pipeline %r is not running (%s): start its owner first (hftpipe run)", config.name, exc)
        return EX_UNAVAILABLE


def _run_composite(config: PipelineConfig, process: str, stages: list[str]) -> int:
    logger = logging.getLogger(f"hftpipe.{config.name}.{process}")
    control = _attach(config, logger)
    if isinstance(control, int):
        return control
    contexts: list[StageContext] = []
    doorbell: SharedDoorbell | None = None
    try:
        inputs = [ring for stage in stages for ring in config.inputs_of(stage)]
        if inputs:
            bell = posix_ipc.Semaphore(doorbell_name(config.name, process))
            remote = any(config.stage(ring.producer).process != process for ring in inputs)
            doorbell = SharedDoorbell(bell, config.idle.park_timeout_ns / 1e9, remote_producers=remote)
        for stage in stages:
            contexts.append(open_stage_context(config, control, stage, doorbell))
    except (FileNotFoundError, KeyError, posix_ipc.ExistentialError) as exc:
        logger.error("cannot attach process %r: %s", process, exc)
        _close_all(contexts, doorbell, control)
        return EX_UNAVAILABLE
    try:
        agents: list[Stage] = []
        for ctx in contexts:
            try:
                agents.append(config.stage(ctx.name).agent_class(ctx))
            except START_REFUSALS as exc:
                ErrorRouter(ctx, logger).on_refused_start(exc)
                control.set_stage_state(ctx.index, StageState.FAILED)
                return refused_start_status(exc)
        first = config.stage(stages[0])
        index = contexts[0].index
        settings = RunnerSettings(
            cpu=control.stage_cpu(index),
            realtime_priority=first.realtime_priority,
            mlockall=first.mlockall,
            max_consecutive_errors=config.max_consecutive_errors,
        )
        idle_alias = control.stage_idle(index)
        polled_inputs = [
            port.ring
            for ctx, a in zip(contexts, agents, strict=True)
            if isinstance(a, Agent)
            for port in ctx.inputs.values()
        ]
        idle = make_idle("blocking" if idle_alias == EVENT_LOOP else idle_alias, config.idle, polled_inputs, doorbell)
        runner = CompositeRunner(agents, idle, doorbell, settings, logger, loop_spins=config.idle.max_spins)
        runner.install_signal_handlers()
        logger.info("started process %s (%s): cpu=%s idle=%s", process, ", ".join(stages), settings.cpu, idle_alias)
        return runner.run()
    finally:
        _close_all(contexts, doorbell, control)


def _close_all(contexts: list[StageContext], doorbell: SharedDoorbell | None, control: ControlFile) -> None:
    for ctx in contexts:
        ctx.close()
    if doorbell is not None:
        doorbell.close()
    control.close()
