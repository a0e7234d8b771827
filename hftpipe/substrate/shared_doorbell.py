"""The doorbell of a process that runs several stages: one semaphore, one waiter, every stage woken.

Producers post the doorbell of the *process* their consumer runs in, and only
when the consumer's ring is parked (the protocol of
:class:`~hftpipe.substrate.idle.BlockingIdle`). In a composite process several
parts may wait for rings at once (the polling stages' duty cycles and each
asyncio stage's reader): if each parked on the semaphore, one post would wake
one of them, maybe not the one whose ring got the record. So they never wait
on it themselves:

* a composite of polling stages has one thread and one
  :class:`~hftpipe.substrate.idle.BlockingIdle` over all their inputs, which
  uses this object as its semaphore (:meth:`acquire`, :meth:`release`);
* a composite with an event loop awaits :meth:`wait`: each waiter raises the
  parked flags of its own rings and re-checks them on the loop, then waits on
  one future; a single worker thread parks on the semaphore, and when it
  returns (a post or the timeout) every waiter wakes and re-checks. A waiter
  registers on the loop thread and the wake-up is delivered on it, so a post
  made after a waiter raised its flags always reaches it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import posix_ipc

from hftpipe.substrate.ends import ConsumerEnd


class SharedDoorbell:
    def __init__(self, bell: posix_ipc.Semaphore, park_timeout_s: float) -> None:
        if park_timeout_s <= 0:
            raise ValueError("park_timeout_s must be > 0")
        self._bell = bell
        self._timeout_s = park_timeout_s
        self._waiters: list[asyncio.Future[None]] = []
        self._parker: asyncio.Future[None] | None = None
        self.parks = 0
        """How many times the worker thread waited on the semaphore."""

    @property
    def waiters(self) -> int:
        """How many of the loop's waiters are parked now."""
        return len(self._waiters)

    # -- the semaphore's face (one thread: a composite of polling stages) -----------------------
    def acquire(self, timeout: float | None = None) -> None:
        self._bell.acquire(timeout)

    def release(self) -> None:
        self._bell.release()

    def close(self) -> None:
        self._bell.close()

    # -- an event loop's waiters ---------------------------------------------------------------
    async def wait(self, inputs: Sequence[ConsumerEnd]) -> None:
        """Return once one of ``inputs`` may have data: now, or after the next post or park timeout."""
        for ring in inputs:
            ring.set_parked(True)
        try:
            if any(ring.has_data() for ring in inputs):
                return
            loop = asyncio.get_running_loop()
            woken: asyncio.Future[None] = loop.create_future()
            self._waiters.append(woken)
            if self._parker is None:
                self.parks += 1
                self._parker = loop.run_in_executor(None, self._park)
                self._parker.add_done_callback(self._wake_all)
            await woken
        finally:
            for ring in inputs:
                ring.set_parked(False)

    def _park(self) -> None:
        """In the worker thread: wait for a post (or the timeout), then drain the posts that piled up."""
        bell = self._bell
        try:
            bell.acquire(self._timeout_s)
        except (posix_ipc.BusyError, posix_ipc.SignalError):
            return
        while True:
            try:
                bell.acquire(0)
            except posix_ipc.BusyError:
                return

    def _wake_all(self, parker: asyncio.Future[None]) -> None:
        """On the loop: the park ended; every waiter re-checks its rings."""
        self._parker = None
        waiters, self._waiters = self._waiters, []
        for woken in waiters:
            if not woken.done():
                woken.set_result(None)


Doorbell = posix_ipc.Semaphore | SharedDoorbell
"""A stage's doorbell: its own semaphore, or its process's shared one (a composite)."""
