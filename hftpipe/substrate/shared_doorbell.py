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

A producer in the same process (a ring whose consumer is a sibling stage)
rings :attr:`SharedDoorbell.in_process` instead of the semaphore. On the loop's
thread it wakes the loop's waiters at once: no ``sem_post``, no worker thread
taking the GIL back, no ``call_soon_threadsafe``. This cannot miss a wake-up:
the producer and the waiters run on one thread, so a raised flag means a
waiter that is registered (it is woken) or already woken and not yet resumed
(it re-checks its rings when it resumes). From another thread of the process
it posts the semaphore, as a producer in another process does.

When no ring into the process comes from another process
(``remote_producers=False``: every ring of the default layout's composites),
nothing ever needs the semaphore, and the waiters park without the worker
thread: on one timer of the loop, ``park_timeout_s`` away, which keeps the
stages' duty cycles (housekeeping, timers, a stop) as frequent as before. An
in-process producer on another thread then wakes them with
``call_soon_threadsafe``; its store and the waiter's flag are both made under
the GIL, whose hand-over orders them, so that wake-up is not missed either.
On 2 shared cores the worker's park, its ``run_in_executor`` and its
``call_soon_threadsafe`` every park timeout took most of the trading
process's CPU (``py-spy``), and each in-process ring hop waited for them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import posix_ipc

from hftpipe.substrate.ends import ConsumerEnd


class SharedDoorbell:
    def __init__(self, bell: posix_ipc.Semaphore, park_timeout_s: float, *, remote_producers: bool = True) -> None:
        if park_timeout_s <= 0:
            raise ValueError("park_timeout_s must be > 0")
        self._bell = bell
        self._timeout_s = park_timeout_s
        self._remote = remote_producers
        self._waiters: list[asyncio.Future[None]] = []
        self._parker: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self.in_process = InProcessBell(self)
        """The bell a producer in this process attaches for a consumer in this process."""
        self.parks = 0
        """Parks begun: the worker's waits on the semaphore, or (no remote producers) the loop's timers."""
        self.local_wakes = 0
        """Wake-ups an in-process producer delivered on the loop thread (no semaphore post)."""
        self.posts = 0
        """Wake-ups an in-process producer sent from another thread (a post, or a ``call_soon_threadsafe``)."""

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
            if self._loop is not loop:
                self._loop, self._loop_thread = loop, threading.get_ident()
            woken: asyncio.Future[None] = loop.create_future()
            self._waiters.append(woken)
            if not self._remote:
                if self._timer is None:
                    self.parks += 1
                    self._timer = loop.call_later(self._timeout_s, self._on_timer)
            elif self._parker is None:
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

    def ring(self) -> None:
        """An in-process producer committed to a ring whose consumer is parked (see the module's doc)."""
        if threading.get_ident() == self._loop_thread:
            if self._waiters:
                self.local_wakes += 1
                self._wake_waiters()
            return
        self.posts += 1
        loop = self._loop
        if self._remote or loop is None:
            self._bell.release()
        else:
            loop.call_soon_threadsafe(self._wake_waiters)

    def _wake_all(self, parker: asyncio.Future[None]) -> None:
        """On the loop: the worker's park ended; every waiter re-checks its rings."""
        self._parker = None
        self._wake_waiters()

    def _on_timer(self) -> None:
        """On the loop: a park timeout passed (no remote producers); every waiter runs a duty cycle."""
        self._timer = None
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for woken in waiters:
            if not woken.done():
                woken.set_result(None)


class InProcessBell:
    """A :class:`~hftpipe.substrate.bell.Bell` for a ring whose producer and consumer share a process."""

    __slots__ = ("_doorbell",)

    def __init__(self, doorbell: SharedDoorbell) -> None:
        self._doorbell = doorbell

    def release(self) -> None:
        self._doorbell.ring()


Doorbell = posix_ipc.Semaphore | SharedDoorbell
"""A stage's doorbell: its own semaphore, or its process's shared one (a composite)."""
