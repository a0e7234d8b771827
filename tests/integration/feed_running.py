"""The feed stage run in the test's own event loop, next to a loopback venue, on a real ring."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from stages.marketdata.feed.stage import FeedStage


@contextlib.asynccontextmanager
async def running(stage: FeedStage) -> AsyncIterator[asyncio.Task[None]]:
    """The stage's ``run`` as a task of this loop, stopped on the way out."""
    stopping = asyncio.Event()
    task = asyncio.create_task(stage.run(stopping))
    try:
        yield task
    finally:
        stopping.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)


async def until(
    task: asyncio.Task[None], done: Callable[[], bool], timeout_s: float = 30.0, poll_s: float = 0.001
) -> None:
    """Let the stage run until ``done``; fails if the stage does, or after ``timeout_s`` (a safety bound)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not done():
        if task.done():
            task.result()
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(poll_s)
