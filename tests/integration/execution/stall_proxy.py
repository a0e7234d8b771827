"""A loopback TCP proxy that can stall: what the upstream answers stops reaching the client, the socket stays open.

A stalled socket is the fault a timeout alone cannot tell from a slow venue:
the request went out (the client-to-upstream direction keeps forwarding, so
the venue acts on it), the answer never comes, and nothing closes. New
connections wait (accepted, not forwarded) until :meth:`StallProxy.release`,
so what a client does while stalled can be looked at before it recovers;
then they forward normally.
"""

from __future__ import annotations

import asyncio
import contextlib


class StallProxy:
    """``127.0.0.1:port`` forwarding to ``upstream_host:upstream_port``; :meth:`stall` freezes the open links."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._stalled: list[asyncio.Event] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self._open = asyncio.Event()
        self._open.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stall(self) -> int:
        """Stop forwarding answers on every connection open now (how many), new ones held until :meth:`release`."""
        self._open.clear()
        for flag in self._stalled:
            flag.set()
        stalled = len(self._stalled)
        self._stalled = []
        return stalled

    def release(self) -> None:
        """New connections (and those waiting) forward again; the stalled ones stay stalled."""
        self._open.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(client_writer)
        await self._open.wait()
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        self._writers.append(upstream_writer)
        stalled = asyncio.Event()
        self._stalled.append(stalled)
        for task in (
            asyncio.create_task(self._pump(client_reader, upstream_writer, None)),
            asyncio.create_task(self._pump(upstream_reader, client_writer, stalled)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stalled: asyncio.Event | None) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if stalled is not None and stalled.is_set():
                    await asyncio.Event().wait()  # held for good: nothing more reaches the client
                writer.write(data)
                await writer.drain()
        writer.close()
