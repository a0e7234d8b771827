"""Reads the acct-gw ring from the gateway's event loop without blocking it.

A coroutine polls the ring and hands each record to a callback. When the ring
is empty it spins a few loop iterations (``sleep(0)``: other tasks run), then
waits: on the stage's doorbell semaphore in a worker thread when there is one
(the producer posts it after a commit while the consumer is marked parked; the
flag is set and the ring checked again before waiting, so no post is missed),
otherwise in short sleeps that back off to ``max_sleep_s``. Waits are bounded
(``park_s``) so ``stopping`` is noticed promptly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import posix_ipc

from hftpipe.ring import Ring
from stages.exchange.gateway.codec import EventRecord, unpack_event


class RingReader:
    def __init__(
        self,
        ring: Ring,
        on_record: Callable[[EventRecord], None],
        doorbell: posix_ipc.Semaphore | None = None,
        *,
        batch: int = 256,
        spins: int = 20,
        park_s: float = 0.05,
        max_sleep_s: float = 0.001,
    ) -> None:
        self.ring = ring
        self._on_record = on_record
        self._bell = doorbell
        self._batch = batch
        self._spins = spins
        self._park_s = park_s
        self._max_sleep_s = max_sleep_s
        self.records = 0
        self.parks = 0

    def _handle(self, buffer: memoryview, offset: int) -> None:
        self._on_record(unpack_event(buffer, offset))

    def poll(self) -> int:
        """Deliver what is readable now (at most one batch); how many records."""
        count = self.ring.poll(self._handle, self._batch)
        self.records += count
        return count

    async def run(self, stopping: asyncio.Event) -> None:
        idle = 0
        sleep_s = 0.0
        while not stopping.is_set():
            if self.poll():
                idle = 0
                sleep_s = 0.0
                await asyncio.sleep(0)  # let the connections run between batches
                continue
            idle += 1
            if idle <= self._spins:
                await asyncio.sleep(0)
            elif self._bell is not None:
                await self._park()
            else:
                sleep_s = min(self._max_sleep_s, sleep_s * 2 or 0.00005)
                await asyncio.sleep(sleep_s)

    async def _park(self) -> None:
        bell = self._bell
        assert bell is not None
        self.ring.set_parked(True)
        try:
            if self.ring.has_data():
                return
            self.parks += 1
            await asyncio.get_running_loop().run_in_executor(None, _wait, bell, self._park_s)
        finally:
            self.ring.set_parked(False)


def _wait(bell: posix_ipc.Semaphore, timeout_s: float) -> None:
    try:
        bell.acquire(timeout_s)
    except (posix_ipc.BusyError, posix_ipc.SignalError):
        return
    while True:  # posts that piled up while we woke: one wake-up is enough
        try:
            bell.acquire(0)
        except posix_ipc.BusyError:
            return
