"""Agents: the unit of work every stage is written as (the Agrona/Aeron model).

A stage is a class with ``on_start``, ``do_work() -> int`` (how much work it
did, so the idle strategy knows whether to back off) and ``on_close``. It sees
the pipeline only through its :class:`~hftpipe.runtime.context.StageContext`.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from hftpipe.runtime.context import StageContext


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
