"""One subscriber connection: its streams, its bounded outgoing queue, and its writer.

The slow-consumer policy lives here. :meth:`ClientSession.push` is what the
ring drain calls (through the hub) for every event the client subscribed to:
it appends to the client's own queue and returns, never awaiting a socket. A
separate writer task per client empties that queue into the WebSocket. When
the client reads more slowly than events arrive, the kernel and websockets
buffers fill, the writer waits, and the queue grows.

A client is *behind* when more than ``max_queue`` messages are still queued
after its writer has had a turn: the drain reports a session whose queue
passes ``max_queue`` (``on_backlog``), and the owner checks it again at the
start of the next drain cycle (:meth:`ClientSession.behind`), after the event
loop ran the writers. That way one burst larger than ``max_queue`` (one taker
order sweeping many levels) does not drop a client that reads at full speed;
a client whose queue reaches ``HARD_LIMIT_FACTOR * max_queue`` within one cycle
is dropped at once, so memory stays bounded either way. A dropped client's
queue is discarded and ``on_slow`` closes it with code 1008 (policy violation)
and a reason. Nothing a client does can slow the drain or the other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Final, Protocol

from websockets.exceptions import ConnectionClosed

SLOW_CONSUMER_CODE: Final = 1008
SLOW_CONSUMER_REASON: Final = "slow consumer: too many messages queued"
HARD_LIMIT_FACTOR: Final = 4


class Sender(Protocol):
    """What a session needs of its WebSocket connection (a ``ServerConnection``, or a test double)."""

    async def send(self, message: bytes, *, text: bool | None = None) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


def _ignore(_session: ClientSession) -> None:
    pass


class ClientSession:
    __slots__ = (
        "_hard_limit",
        "_on_backlog",
        "_on_slow",
        "_queue",
        "_ready",
        "combined",
        "connection",
        "dropped",
        "max_queue",
        "reported",
        "streams",
    )

    def __init__(
        self,
        connection: Sender,
        *,
        combined: bool,
        max_queue: int,
        on_slow: Callable[[ClientSession], None],
        on_backlog: Callable[[ClientSession], None] = _ignore,
    ) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        self.connection = connection
        self.combined = combined
        self.max_queue = max_queue
        self.streams: dict[str, None] = {}
        """Subscribed stream names in subscription order (LIST_SUBSCRIPTIONS answers with them)."""
        self.dropped = False
        self.reported = False
        """``on_backlog`` was called and the owner has not checked the session since."""
        self._on_slow = on_slow
        self._on_backlog = on_backlog
        self._hard_limit = HARD_LIMIT_FACTOR * max_queue
        self._queue: deque[bytes] = deque()
        self._ready = asyncio.Event()

    def push(self, message: bytes) -> None:
        """Queue one text frame. Never blocks; may report a backlog or drop the client."""
        if self.dropped:
            return
        queue = self._queue
        queue.append(message)
        self._ready.set()
        size = len(queue)
        if size > self.max_queue:
            if size >= self._hard_limit:
                self.drop()
            elif not self.reported:
                self.reported = True
                self._on_backlog(self)

    def behind(self) -> bool:
        """Re-check a reported session (after its writer had a turn); drops it if still behind."""
        self.reported = False
        if not self.dropped and len(self._queue) > self.max_queue:
            self.drop()
        return self.dropped

    def drop(self) -> None:
        """Stop feeding this client: discard its queue and have ``on_slow`` close it."""
        if self.dropped:
            return
        self.dropped = True
        self._queue.clear()
        self._ready.set()
        self._on_slow(self)

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def write_loop(self) -> None:
        """Send queued frames in order until the client is dropped or the connection closes."""
        queue, ready, send = self._queue, self._ready, self.connection.send
        with contextlib.suppress(ConnectionClosed):
            while not self.dropped:
                await ready.wait()
                ready.clear()
                while queue and not self.dropped:
                    await send(queue.popleft(), text=True)
