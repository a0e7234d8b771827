"""The two kinds of stage (the Agrona/Aeron agent model) and the lifecycle they share.

Every stage class derives from one of two siblings, and neither pretends to
be the other:

* :class:`Agent`: a polling stage. The runner calls ``do_work() -> int`` (how
  much work it did) in a loop and hands that count to the idle strategy, so an
  empty duty cycle can back off.
* :class:`AsyncAgent`: a stage whose work arrives on sockets. ``run`` owns an
  asyncio loop, which does the waiting: no idle strategy applies.

Both have :class:`Stage`'s lifecycle (``on_start``, ``on_close``) and see the
pipeline only through their :class:`~hftpipe.runtime.context.StageContext`.
Each declares how it is driven in ``drive``; the config loads every stage
class once and keeps it, so placement and the stage process read ``drive``
from there instead of importing and inspecting the class again.
"""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import ClassVar

from hftpipe.runtime.context import StageContext


class Drive(Enum):
    """How a stage is driven: what its runner is, and whether an idle strategy applies."""

    DUTY_CYCLE = "duty-cycle"
    """An :class:`Agent`: the runner's ``do_work`` loop with an idle strategy."""
    EVENT_LOOP = "event-loop"
    """An :class:`AsyncAgent`: its asyncio loop waits in epoll."""


class Stage:
    """What every stage class has: a context, optional ``Params`` and a start/close lifecycle.

    Subclass :class:`Agent` or :class:`AsyncAgent`, never this; set ``Params``
    to a frozen dataclass if the stage takes any (the config checks its
    ``[stages.NAME.params]`` table against it).
    """

    Params: ClassVar[type | None] = None
    drive: ClassVar[Drive]

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx

    @property
    def role_name(self) -> str:
        return self.ctx.name

    def on_start(self) -> None:
        """Called once in the stage process before any work."""

    def on_close(self) -> None:
        """Called once on orderly shutdown, after the last work."""


class Agent(Stage):
    """A polling stage: ``do_work`` returns how much it did, 0 when it found nothing."""

    drive: ClassVar[Drive] = Drive.DUTY_CYCLE

    def do_work(self) -> int:
        raise NotImplementedError


class AsyncAgent(Stage):
    """A stage whose work arrives on sockets: its asyncio loop is its idle strategy.

    ``run`` owns the loop until ``stopping`` is set (SIGTERM, pipeline stop,
    owner gone); the runner keeps heart-beating meanwhile. Exceptions escaping
    ``run`` fail the stage, so the supervisor's policy applies.
    """

    drive: ClassVar[Drive] = Drive.EVENT_LOOP

    async def run(self, stopping: asyncio.Event) -> None:
        raise NotImplementedError
