"""Serve one capture over real loopback WebSockets, and its REST snapshots over HTTP on the same port.

A feed adapter pointed at ``ws://127.0.0.1:PORT`` (and ``http://127.0.0.1:PORT``
for snapshots) runs its real client path — connect, subscribe, buffer, fetch
the snapshot, sync — end to end with no network. The capture line format is
:mod:`stages.marketdata.capture.format`.

WebSocket
    Any path is accepted (``/stream?streams=...``, ``/ws/...``, ``/``,
    ``/realtime``). Each ``URL <-> T`` line of the capture starts a *segment*;
    the n-th client connection is served the n-th segment (when the capture
    holds a single segment, every connection gets it). If the segment's first
    events are ``URL <- T: JSON`` lines (the client's subscriptions), the
    server waits for the client's first message before sending anything; it
    does not validate what the client sent. Client messages recorded later in
    a segment are not waited for. Every ``T: JSON`` line's payload is then
    sent, in order, as a text frame: at once (``pace="fast"``, throttled only
    by the client's reading through TCP back-pressure) or after the recorded
    gap divided by ``speed`` (``pace="original"``; the clock starts at the
    connection, or at the client's subscription when the segment has one).

End of a segment
    ``loop=False``: the connection stays open and idle (as a quiet venue's
    would) until the client closes it or the server stops; once every segment
    of a multi-segment capture has been served, further connections are closed
    at once with code 1000, reason ``replay: capture exhausted``.
    ``loop=True``: after the last message the server closes the connection
    with code 1000 (normal closure), so the client reconnects and resyncs from
    a fresh snapshot; the next connection starts the capture (or the next
    segment) again. Update ids are *not* shifted to make a looping stream
    continuous: every pass replays exactly what was recorded, and a client
    that kept its book across the reconnect would see the ids jump backwards,
    which is why it must resync.

HTTP (plain GET on the same port, no ``Upgrade: websocket`` header)
    A request matches a recorded ``URL -> T: JSON`` line on its path and its
    ``symbol`` query parameter; the host and other parameters (``limit``) are
    ignored. The answer is the recorded body, status 200,
    ``Content-Type: application/json``, sent at once. Repeated requests for
    the same path and symbol get the recordings in order; once they are used
    up the last one is served again. The order restarts whenever a connection
    starts the capture from its first segment (every pass of a loop, or a
    reconnect to a single-segment capture), so a resyncing client is served
    the snapshot again. Anything else gets 404 with a JSON error body
    ``{"code": -1, "msg": ...}``.

One client at a time is the intended use; concurrent connections each get
their own segment and share the snapshot order. The server sends no keepalive
pings of its own (the capture has none); it answers the client's.

Lifecycle: ``async with ReplayServer(...) as server`` inside a running loop,
``await server.serve_forever()`` in a stage's loop, blocking ``run_forever()``
(stops on SIGINT/SIGTERM), or ``start_in_thread()`` for synchronous code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Literal
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from stages.marketdata.capture.format import CaptureEvent, EventKind, read_capture

Pace = Literal["original", "fast"]

LOGGER: Final = logging.getLogger("stages.marketdata.capture.replay_server")
END_OF_CAPTURE_REASON: Final = "replay: end of capture, reconnect"
EXHAUSTED_REASON: Final = "replay: capture exhausted"
YIELD_EVERY: Final = 64
"""In fast pace, let other connections and HTTP requests run at least every this many frames."""


@dataclass(frozen=True, slots=True)
class ReplaySegment:
    """One recorded connection: what the client sent first, then what it received."""

    url: str
    opened_at: float
    start_time: float
    """Capture time the pacing clock starts from: the connection, or its last leading subscription."""
    subscriptions: tuple[str, ...]
    """Payloads of the ``URL <- T`` lines before the first received message: the server waits for one."""
    payloads: tuple[str, ...]
    times: tuple[float, ...]
    later_client_messages: int = 0
    """``URL <- T`` lines after the first received message (not waited for)."""


@dataclass(slots=True)
class ReplayCounters:
    connections_accepted: int = 0
    messages_sent: int = 0
    snapshots_served: int = 0
    clients_disconnected_early: int = 0
    """Client connections that closed before their segment was fully sent (server shutdown excluded)."""
    client_messages_received: int = 0
    segments_completed: int = 0
    passes_started: int = 0
    """Connections that started the capture from its first segment (snapshot order reset)."""
    http_not_found: int = 0
    connections_refused_exhausted: int = 0


def snapshot_key(url: str) -> tuple[str, str | None]:
    """``https://host/api/v3/depth?symbol=X&limit=1000`` or ``/api/v3/depth?symbol=X`` -> ``(path, "X")``."""
    parts = urlsplit(url)
    symbols = parse_qs(parts.query).get("symbol")
    return parts.path or "/", symbols[0] if symbols else None


def load_segments(events: Iterable[CaptureEvent]) -> list[ReplaySegment]:
    """Split WebSocket capture events into one segment per ``URL <-> T`` line, in file order.

    Events before any connect line form a segment of their own (URL ``""``). HTTP events are skipped.
    """
    segments: list[ReplaySegment] = []
    opening: CaptureEvent | None = None
    start = 0.0
    subscriptions: list[str] = []
    payloads: list[str] = []
    times: list[float] = []
    later = 0

    def flush(opening: CaptureEvent) -> None:
        url = opening.url if opening.kind is EventKind.CONNECT else ""
        segments.append(
            ReplaySegment(url, opening.time, start, tuple(subscriptions), tuple(payloads), tuple(times), later)
        )

    for event in events:
        if event.kind is EventKind.HTTP:
            continue
        if opening is None or event.kind is EventKind.CONNECT:
            if opening is not None:
                flush(opening)
            opening, start = event, event.time
            subscriptions, payloads, times, later = [], [], [], 0
        if event.kind is EventKind.SENT:
            if payloads:
                later += 1
            else:
                subscriptions.append(event.payload)
                start = event.time
        elif event.kind is EventKind.RECEIVED:
            payloads.append(event.payload)
            times.append(event.time)
    if opening is not None:
        flush(opening)
    return segments


def load_snapshots(events: Iterable[CaptureEvent]) -> dict[tuple[str, str | None], list[str]]:
    """Recorded HTTP answers by ``(path, symbol)``, in capture order."""
    table: dict[tuple[str, str | None], list[str]] = {}
    for event in events:
        if event.kind is EventKind.HTTP:
            table.setdefault(snapshot_key(event.url), []).append(event.payload)
    return table


def find_http_capture(capture: str | Path) -> Path | None:
    """``BINANCE.ws.1.0`` -> the one ``BINANCE.http.*`` beside it, if there is exactly one."""
    path = Path(capture)
    venue, sep, _ = path.name.partition(".ws.")
    if not sep:
        return None
    found = sorted(path.parent.glob(f"{venue}.http.*"))
    return found[0] if len(found) == 1 else None


class ReplayServer:
    """Serves one capture over loopback WebSockets and its REST snapshots over HTTP, on one port.

    ``capture`` is the WebSocket capture; ``http_capture`` its REST capture (``URL -> T`` lines
    found in ``capture`` itself are served too). ``port=0`` binds an ephemeral port, read it from
    :attr:`port` once started. ``subscribe_timeout`` (seconds, ``None`` = forever) bounds the wait
    for a client's subscription; past it the segment is sent anyway. ``close_timeout`` is the
    websockets closing-handshake timeout: a client that closes while leaving a large backlog unread
    completes the handshake only when it reads up to the server's close frame, or when this (or its
    own) timeout aborts the TCP connection, as it would with a live venue.
    """

    def __init__(
        self,
        capture: str | Path,
        http_capture: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        pace: Pace = "fast",
        speed: float = 1.0,
        loop: bool = False,
        subscribe_timeout: float | None = None,
        close_timeout: float = 10.0,
    ) -> None:
        if pace not in ("original", "fast"):
            raise ValueError(f"pace must be 'original' or 'fast', not {pace!r}")
        if not speed > 0:
            raise ValueError(f"speed must be > 0, not {speed!r}")
        events = list(read_capture(capture))
        http_events = list(read_capture(http_capture)) if http_capture is not None else []
        self.capture = Path(capture)
        self.http_capture = Path(http_capture) if http_capture is not None else None
        self.segments: Final = load_segments(events)
        if not self.segments:
            raise ValueError(f"{capture}: no WebSocket events to serve")
        self.snapshots: Final = load_snapshots([*events, *http_events])
        self.host = host
        self.requested_port = port
        self.pace: Pace = pace
        self.speed = speed
        self.loop = loop
        self.subscribe_timeout = subscribe_timeout
        self.close_timeout = close_timeout
        self.counters = ReplayCounters()
        self._cursors: dict[tuple[str, str | None], int] = {}
        self._next_connection = 0
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._stopping = False
        self._port: int | None = None

    # -- addresses -------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (the ephemeral one when constructed with ``port=0``)."""
        if self._port is None:
            raise RuntimeError("the replay server is not started")
        return self._port

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def serving(self) -> bool:
        return self._server is not None

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the replay server is already started")
        self._loop = asyncio.get_running_loop()
        self._shutdown = asyncio.Event()
        self._stopping = False
        self._server = await serve(
            self._handle,
            self.host,
            self.requested_port,
            process_request=self._process_request,
            compression=None,
            ping_interval=None,
            close_timeout=self.close_timeout,
        )
        self._port = int(self._server.sockets[0].getsockname()[1])
        LOGGER.info(
            "replay server on %s: %s (%d segment(s), %d recorded HTTP answer(s)), pace %s x%g, loop %s",
            self.ws_url,
            self.capture.name,
            len(self.segments),
            sum(map(len, self.snapshots.values())),
            self.pace,
            self.speed,
            self.loop,
        )

    async def stop(self) -> None:
        """Close open connections (code 1001), wait for every handler, release the port. Idempotent."""
        server, self._server = self._server, None
        if self._shutdown is not None:
            self._shutdown.set()
        if server is None:
            return
        self._stopping = True
        server.close()
        await server.wait_closed()
        LOGGER.info("replay server on port %s stopped: %s", self._port, self.counters)

    def request_stop(self) -> None:
        """Ask ``serve_forever`` to return; safe to call from any thread."""
        loop, shutdown = self._loop, self._shutdown
        if loop is None or shutdown is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(shutdown.set)

    async def serve_forever(self) -> None:
        """Serve until ``request_stop()``/``stop()`` or cancellation, then stop."""
        if self._server is None:
            await self.start()
        assert self._shutdown is not None
        try:
            await self._shutdown.wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> ReplayServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def run_forever(self, on_ready: Callable[[ReplayServer], None] | None = None) -> None:
        """Blocking: serve until SIGINT/SIGTERM (main thread) or ``request_stop()``."""

        async def main() -> None:
            await self.start()
            loop = asyncio.get_running_loop()
            installed: list[signal.Signals] = []
            if threading.current_thread() is threading.main_thread():
                for signum in (signal.SIGINT, signal.SIGTERM):
                    with contextlib.suppress(NotImplementedError, RuntimeError):
                        loop.add_signal_handler(signum, self.request_stop)
                        installed.append(signum)
            try:
                if on_ready is not None:
                    on_ready(self)
                await self.serve_forever()
            finally:
                for signum in installed:
                    loop.remove_signal_handler(signum)
                await self.stop()

        asyncio.run(main())

    def start_in_thread(self, timeout: float = 10.0) -> ReplayServerThread:
        """Serve from a background thread with its own event loop; returns once the port is bound."""
        ready = threading.Event()
        errors: list[BaseException] = []

        async def main() -> None:
            try:
                await self.start()
            except BaseException as exc:
                errors.append(exc)
                raise
            finally:
                ready.set()
            await self.serve_forever()

        def run() -> None:
            try:
                asyncio.run(main())
            except BaseException:
                if not errors:
                    LOGGER.exception("replay server thread failed")

        thread = threading.Thread(target=run, name=f"replay-server-{self.capture.name}", daemon=True)
        thread.start()
        if not ready.wait(timeout):
            self.request_stop()
            thread.join(timeout)
            raise TimeoutError(f"the replay server did not start within {timeout}s")
        if errors:
            thread.join(timeout)
            raise errors[0]
        return ReplayServerThread(self, thread)

    # -- HTTP ------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if "websocket" in request.headers.get("Upgrade", "").lower():
            return None  # go on with the WebSocket handshake
        key = snapshot_key(request.path)
        bodies = self.snapshots.get(key)
        if not bodies:
            self.counters.http_not_found += 1
            error = json.dumps({"code": -1, "msg": f"replay: no recorded answer for {request.path}"})
            return _json_response(connection, 404, error)
        cursor = self._cursors.get(key, 0)
        self._cursors[key] = cursor + 1
        self.counters.snapshots_served += 1
        return _json_response(connection, 200, bodies[min(cursor, len(bodies) - 1)])

    # -- WebSocket -------------------------------------------------------------
    def _segment_for(self, connection_index: int) -> int | None:
        count = len(self.segments)
        if count == 1:
            return 0
        if connection_index < count:
            return connection_index
        return connection_index % count if self.loop else None

    async def _handle(self, connection: ServerConnection) -> None:
        index = self._next_connection
        self._next_connection += 1
        self.counters.connections_accepted += 1
        which = self._segment_for(index)
        if which is None:
            self.counters.connections_refused_exhausted += 1
            await connection.close(1000, EXHAUSTED_REASON)
            return
        if which == 0:
            self.counters.passes_started += 1
            self._cursors.clear()
        segment = self.segments[which]
        subscribed = asyncio.Event()
        reader = asyncio.create_task(self._read_client(connection, subscribed))
        try:
            if not await self._play(connection, segment, reader, subscribed):
                # Early means the client went away: it started the closing handshake, or the
                # connection dropped while the server was not shutting down.
                if connection.protocol.close_rcvd_then_sent or not self._stopping:
                    self.counters.clients_disconnected_early += 1
                return
            self.counters.segments_completed += 1
            if self.loop:
                await connection.close(1000, END_OF_CAPTURE_REASON)
            else:
                await reader  # stay open, idle, until the client or the server closes
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _read_client(self, connection: ServerConnection, subscribed: asyncio.Event) -> None:
        """Drain client frames (so control frames keep flowing); returns when the connection closes."""
        with contextlib.suppress(ConnectionClosed):
            async for _message in connection:
                self.counters.client_messages_received += 1
                subscribed.set()

    async def _play(
        self,
        connection: ServerConnection,
        segment: ReplaySegment,
        reader: asyncio.Task[None],
        subscribed: asyncio.Event,
    ) -> bool:
        """Send the segment's messages; ``False`` if the connection closed first."""
        if segment.subscriptions and not subscribed.is_set():
            waiter = asyncio.ensure_future(subscribed.wait())
            try:
                await asyncio.wait(
                    {waiter, reader}, timeout=self.subscribe_timeout, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
            if reader.done():
                return False
        original = self.pace == "original"
        clock = asyncio.get_running_loop()
        started, origin, speed = clock.time(), segment.start_time, self.speed
        try:
            for number, (payload, stamp) in enumerate(zip(segment.payloads, segment.times, strict=True), 1):
                if original:
                    delay = started + (stamp - origin) / speed - clock.time()
                    if delay > 0:
                        await asyncio.wait({reader}, timeout=delay)
                elif number % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                if reader.done():
                    return False
                await connection.send(payload)
                self.counters.messages_sent += 1
        except ConnectionClosed:
            return False
        return True


@dataclass(frozen=True, slots=True)
class ReplayServerThread:
    """A :class:`ReplayServer` running on its own thread and event loop."""

    server: ReplayServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    @property
    def http_url(self) -> str:
        return self.server.http_url

    @property
    def counters(self) -> ReplayCounters:
        return self.server.counters

    def stop(self, timeout: float = 15.0) -> None:
        """Stop serving, wait for the thread; the port is free when this returns."""
        self.server.request_stop()
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError(f"the replay server thread did not stop within {timeout}s")

    def __enter__(self) -> ReplayServerThread:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _json_response(connection: ServerConnection, status: int, body: str) -> Response:
    response = connection.respond(status, body)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response
