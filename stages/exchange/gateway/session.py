"""One WebSocket connection: its authentication, user data subscriptions and ordered output.

Everything a connection sends (responses and user data events) goes through
one queue and one writer task, so it leaves in the order it was produced and a
slow reader never blocks the gateway: a client more than ``max_queue``
messages behind is disconnected at once (Binance drops slow consumers too).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from hftpipe.substrate.counters import Counter
from stages.exchange.gateway.keys import ApiKey


@dataclass(eq=False, slots=True)
class Session:
    ip: str
    connected_since_ms: int
    return_rate_limits: bool = True
    """Connection default (``?returnRateLimits=false`` in the URL turns it off)."""
    max_queue: int = 1000
    api_key: ApiKey | None = None
    authorized_since_ms: int | None = None
    subscriptions: dict[int, int] = field(default_factory=dict)
    """subscriptionId -> account id."""
    logon_subscription: int | None = None
    """The subscription ``userDataStream.subscribe`` made (``session.logout`` ends it)."""
    next_subscription_id: int = 0
    bare_events: bool = False
    """A ``/ws/<listenKey>`` stream: events go out as themselves, without the WebSocket API's envelope."""
    closed: bool = False
    overflowed: bool = False
    websocket: ServerConnection | None = None
    messages_out: Counter | None = None
    _queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)

    def send(self, message: dict[str, Any]) -> None:
        """Queue ``message`` as JSON; ``orjson.JSONEncodeError`` for what JSON output cannot carry
        (answers go through ``GatewayApi._send``, which answers those with a generic error)."""
        self.send_text(orjson.dumps(message).decode())

    def send_text(self, data: str) -> None:
        """Queue one text frame (JSON is text: Binance sends text frames)."""
        if self.closed:
            return
        if self._queue.qsize() >= self.max_queue:
            self.overflowed = True
            self.close()
            if self.websocket is not None:  # its buffers are full: a close frame would not get out either
                self.websocket.transport.abort()
            return
        self._queue.put_nowait(data)

    def push_event(self, subscription_id: int, event: dict[str, Any]) -> None:
        self.send(event if self.bare_events else {"subscriptionId": subscription_id, "event": event})

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)

    async def next_text(self) -> str | None:
        """The next queued message (None once closed): how a REST request, which has no socket of
        its own here, takes the one answer the API queued for it."""
        return await self._queue.get()

    async def write(self, websocket: ServerConnection) -> None:
        """The writer task: sends queued messages until ``close`` or the connection drops."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                data = await self._queue.get()
                if data is None:
                    break
                await websocket.send(data)
                if self.messages_out is not None:
                    self.messages_out.add()
