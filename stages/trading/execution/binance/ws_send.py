"""A text message handed to a ``websockets`` asyncio connection's transport now, without a turn of the event loop.

``await ws.send(text)`` writes its frame before it yields when the connection
is open and the transport has room, but it is a coroutine: a request sent from
synchronous code (the execution stage's ring callback) would need a task, and
so a turn of the loop (an ``epoll`` and whatever else is ready) before its
bytes leave. :func:`write_now` does what ``send`` does on that path (frame the
message, write it to the transport) from synchronous code, and only there:
whenever ``send`` could wait (a fragmented message under way, the transport
paused over its high-water mark, the connection not open or closing) it does
nothing and says so, and the caller awaits ``ws.send`` as before.
"""

from __future__ import annotations

from websockets.asyncio.connection import Connection
from websockets.protocol import State


def write_now(ws: Connection, data: bytes) -> bool:
    """Frame ``data`` (UTF-8 JSON) as one text message and write it to ``ws``'s transport; False: nothing was done."""
    if (
        ws.protocol.state is not State.OPEN
        or getattr(ws, "send_in_progress", None) is not None  # a fragmented send (websockets >= 14)
        or getattr(ws, "fragmented_send_waiter", None) is not None  # the same before 14
        or ws.paused
        or ws.transport.is_closing()
    ):
        return False
    ws.protocol.send_text(data)
    ws.send_data()
    return True
