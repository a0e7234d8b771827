"""Reads the acct-gw ring from the gateway's event loop without blocking it.

A coroutine polls the ring's input port (which records the accounting ->
gateway hop of each record and counts it in) and hands each record to a
callback; between polls :class:`~hftpipe.substrate.async_idle.AsyncIdle`
yields to the loop, then parks on the stage's doorbell (or sleeps with
backoff when there is none).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hftpipe.runtime import InputPort
from hftpipe.schema.exchange_codec import EventRecord
from hftpipe.substrate.async_idle import AsyncIdle
from hftpipe.substrate.shared_doorbell import Doorbell


class RingReader:
    def __init__(
        self,
        port: InputPort,
        on_record: Callable[[EventRecord], None],
        doorbell: Doorbell | None = None,
        *,
        batch: int = 256,
        spins: int = 20,
        park_s: float = 0.05,
        max_sleep_s: float = 0.001,
    ) -> None:
        self.port = port
        self._poll = port.poll
        self._on_record = on_record
        self._batch = batch
        self._idle = AsyncIdle([port.ring], doorbell, spins=spins, park_timeout_s=park_s, max_sleep_s=max_sleep_s)

    @property
    def parks(self) -> int:
        return self._idle.parks

    def _handle(self, buffer: memoryview, offset: int, now: int) -> None:
        self._on_record(EventRecord.unpack_from(buffer, offset))

    def poll(self) -> int:
        """Deliver what is readable now (at most one batch); how many records."""
        return self._poll(self._handle, self._batch)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await self._idle.idle(self.poll())
