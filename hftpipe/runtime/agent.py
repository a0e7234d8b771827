"""Agents: the unit of work every stage is written as (the Agrona/Aeron model).

A stage is a class with ``on_start``, ``do_work() -> int`` (how much work it
did, so the idle strategy knows whether to back off) and ``on_close``. It sees
the pipeline only through its :class:`StageContext`: the rings it reads and
writes, its counters, its error log and the histograms it owns. Stages never
import one another; they meet only through records and rings.

:class:`AgentInvoker` drives an agent with no process and no runner, so tests
can step it one duty cycle at a time (Agrona ``AgentInvoker``).
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from dataclasses import dataclass, field
from typing import Any, ClassVar

import posix_ipc

from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.counters import Counter, CounterBlock, CounterKind
from hftpipe.substrate.errorlog import ErrorLog
from hftpipe.substrate.histogram import Histogram
from hftpipe.substrate.ring import Ring


@dataclass(slots=True)
class InputPort:
    """A ring this stage consumes, with the histogram of that hop (which it writes)."""

    ring: Ring
    hop_histogram: Histogram
    producer_hop: int
    """Index into ``ts_hop`` that the producer stamps when it publishes."""


@dataclass(slots=True)
class StageContext:
    name: str
    index: int
    hop: int
    """This stage's index into ``ts_hop`` (its depth from the source, capped)."""
    control: ControlFile
    inputs: dict[str, InputPort]
    outputs: dict[str, Ring]
    counters: CounterBlock
    errors: ErrorLog
    end_to_end: Histogram
    params: Any = None
    doorbell: posix_ipc.Semaphore | None = None
    _semaphores: list[posix_ipc.Semaphore] = field(default_factory=list)

    @classmethod
    def of(cls, control: ControlFile, name: str, hop: int, params: Any = None) -> StageContext:
        """Stage ``name``'s own slots of ``control`` (counters, error log, end-to-end histogram), no rings yet."""
        index = control.stage_index(name)
        return cls(
            name=name,
            index=index,
            hop=hop,
            control=control,
            inputs={},
            outputs={},
            counters=control.counters(index),
            errors=control.error_log(index),
            end_to_end=control.end_to_end_histogram(index),
            params=params,
        )

    @property
    def halted(self) -> bool:
        """True unless the pipeline is RUNNING: act on nothing irreversible then."""
        return self.control.halted

    def the_input(self) -> InputPort:
        if len(self.inputs) != 1:
            raise RuntimeError(f"stage {self.name!r} needs exactly one input ring, has {len(self.inputs)}")
        return next(iter(self.inputs.values()))

    def the_output(self) -> Ring:
        if len(self.outputs) != 1:
            raise RuntimeError(f"stage {self.name!r} needs exactly one output ring, has {len(self.outputs)}")
        return next(iter(self.outputs.values()))

    def counter(self, kind: CounterKind) -> Counter:
        return self.counters.standard(kind)

    def close(self) -> None:
        for port in self.inputs.values():
            port.ring.close()
        for ring in self.outputs.values():
            ring.close()
        for sem in self._semaphores:
            sem.close()
        self._semaphores.clear()


class Agent:
    """Base class for stages; subclasses set ``Params`` to a frozen dataclass if they take any."""

    Params: ClassVar[type | None] = None

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx

    @property
    def role_name(self) -> str:
        return self.ctx.name

    def on_start(self) -> None:
        """Called once in the stage process before the first ``do_work``."""

    def do_work(self) -> int:
        raise NotImplementedError

    def on_close(self) -> None:
        """Called once on orderly shutdown, after the last ``do_work``."""


class AsyncAgent(Agent):
    """A stage whose work arrives on sockets: its asyncio loop is its idle strategy.

    ``run`` owns the loop until ``stopping`` is set (SIGTERM, pipeline stop,
    owner gone); the runner keeps heart-beating meanwhile. Exceptions escaping
    ``run`` fail the stage, so the supervisor's policy applies.
    """

    async def run(self, stopping: asyncio.Event) -> None:
        raise NotImplementedError

    def do_work(self) -> int:
        raise TypeError(f"{type(self).__name__} is driven by run(), not do_work()")


class ErrorRouter:
    """Where a duty cycle's exception goes: counter, distinct-error log, stderr once."""

    def __init__(self, ctx: StageContext, logger: logging.Logger) -> None:
        self._errors = ctx.counter(CounterKind.ERRORS)
        self._log = ctx.errors
        self._logger = logger
        self._seen: set[str] = set()
        self.consecutive = 0

    def on_error(self, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        self._errors.add()
        self._log.record(message)
        self.consecutive += 1
        if message not in self._seen:
            self._seen.add(message)
            self._logger.error("%s\n%s", message, "".join(traceback.format_exception(exc)).rstrip())

    def on_success(self) -> None:
        self.consecutive = 0


class AgentInvoker:
    """Drive an agent by hand: ``start()``, ``invoke()`` per duty cycle, ``close()``."""

    def __init__(self, agent: Agent, logger: logging.Logger | None = None) -> None:
        self.agent = agent
        self.errors = ErrorRouter(agent.ctx, logger or logging.getLogger(f"hftpipe.{agent.role_name}"))
        self.started = False
        self.closed = False

    def start(self) -> None:
        self.agent.on_start()
        self.started = True

    def invoke(self) -> int:
        if not self.started or self.closed:
            raise RuntimeError("invoke() needs start() first and no close()")
        try:
            work = self.agent.do_work()
        except Exception as exc:  # noqa: BLE001 - every stage error is routed, none escapes
            self.errors.on_error(exc)
            return 0
        self.errors.on_success()
        return work

    def close(self) -> None:
        if self.started and not self.closed:
            self.closed = True
            self.agent.on_close()
