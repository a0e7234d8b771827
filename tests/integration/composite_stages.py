"""Stages for the composite-process tests, loaded by the stage processes as ``tests.integration.composite_stages:X``.

* :class:`AsyncRelay`: the probe relay as an asyncio stage (its loop reads the
  ring through :class:`~hftpipe.substrate.async_idle.AsyncIdle`), so a
  composite mixes polling and asyncio agents in a real pipeline;
* :class:`FailingRelay`: the probe relay that raises on every duty cycle once
  it has forwarded ``fail_after`` records (since its process started).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hftpipe.runtime import AsyncAgent, StageContext
from hftpipe.runtime.validation import at_least
from hftpipe.substrate.async_idle import AsyncIdle
from stages.probe import ProbeRelay


class AsyncRelay(AsyncAgent):
    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        self._in = ctx.input_port()
        self._out = ctx.output_port()
        self._size = self._in.ring.slot_size

    def _forward(self, buf: memoryview, offset: int, now: int) -> None:
        self._out.offer(buf[offset : offset + self._size], now)

    async def run(self, stopping: asyncio.Event) -> None:
        idle = AsyncIdle([self._in.ring], self.ctx.doorbell, spins=5, park_timeout_s=0.01)
        while not stopping.is_set():
            room = self._out.room()
            await idle.idle(self._in.poll(self._forward, min(64, room)) if room > 0 else 0)


class FailingRelay(ProbeRelay):
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        batch: int = 1
        fail_after: int = 100

        def __post_init__(self) -> None:
            at_least("fail_after", self.fail_after, 0)

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        self._left = ctx.params.fail_after

    def do_work(self) -> int:
        if self._left <= 0:
            raise RuntimeError("relay gave up")
        work = super().do_work()
        self._left -= work
        return work
