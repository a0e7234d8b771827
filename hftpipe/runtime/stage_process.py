"""``hftpipe stage NAME -c CONFIG``: one stage in its own process.

The supervisor starts stages exactly this way, under systemd too (stages are
the owner unit's children: ``hftpipe/ops/units.py`` says why). The stage takes its core
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

from hftpipe.runtime.agent import Agent, AsyncAgent
from hftpipe.runtime.config import PipelineConfig
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
from hftpipe.runtime.wiring import open_stage_context
from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.control_layout import StageState
from hftpipe.substrate.idle import make_idle

LOG_FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
LOG_LEVEL_ENV = "HFTPIPE_LOG_LEVEL"
"""The supervisor passes its own log level to the stages it starts."""


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(stream=sys.stderr, level=level, format=LOG_FORMAT)


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
