"""HTTP/1.1 for the exchange's ports: h11 parses, one handler answers, WebSocket upgrades pass through.

Binance clients send every method with bodies and keep connections alive
(python-binance POSTs form bodies, ccxt sends DELETE with a query, the official
SDK reuses one connection), so both the publisher's market port and the
gateway's REST port (which also serves ``/ws/<listenKey>`` streams) speak real
HTTP/1.1 through this one module: :func:`http_or_websocket` is a ``websockets``
connection class that reads the request head first and routes on it: a ``GET``
with ``Upgrade: websocket`` goes to websockets untouched (the bytes read are
handed over as they came), anything else to an :class:`HttpSession`.
:func:`close_http_connections` ends the HTTP keep-alive connections when the
server stops (websockets would wait for them to go idle).

Every request is parsed by h11 (methods, ``Content-Length`` and chunked
bodies, keep-alive, pipelining); a request h11 refuses gets 400 and the
connection closes. Memory per connection is bounded: a head of at most
``MAX_HEAD`` bytes, a body of at most ``MAX_BODY`` (413), reading paused while
unread input exceeds ``MAX_BODY``; idle connections close after
``IDLE_TIMEOUT_S``. The handler's answer is sent as JSON with its status and
extra headers; a handler that raises is answered 500 and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import h11
import orjson
from websockets.asyncio.server import ServerConnection

from stages.exchange.protocol.api_error import ApiError

LOGGER: Final = logging.getLogger("hftpipe.exchange.http")
CONTENT_TYPE: Final = "application/json;charset=UTF-8"
MAX_HEAD: Final = 16 * 1024
MAX_BODY: Final = 64 * 1024
"""Binance's order requests are a few hundred bytes; anything near this is not one."""
IDLE_TIMEOUT_S: Final = 60.0
OPEN_TIMEOUT_S: Final = 10.0
"""A connection that has not sent a complete request head (or WebSocket handshake) by then is closed."""
SERVER_HEADER: Final = b"hftpipe-exchange"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    target: str
    """Path and query string, as sent."""
    path: str
    query: str
    headers: dict[str, str]
    """Lower-case names; a repeated header keeps its last value."""
    body: bytes
    peer: str
    """The client's IP address (per-IP limits key on it)."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def json(cls, status: int, value: Any, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
        return cls(status, value if isinstance(value, bytes) else orjson.dumps(value), headers)

    @classmethod
    def error(cls, error: ApiError, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
        return cls(error.status, orjson.dumps(error.error_object()), headers)


HttpHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]


def _internal_error() -> HttpResponse:
    return HttpResponse.json(500, {"code": -1000, "msg": "An unknown error occurred while processing the request."})


class HttpSession:
    """One connection's requests, in order: bytes in (:meth:`feed`), answers written to the transport."""

    def __init__(self, transport: asyncio.Transport, handler: HttpHandler, peer: str) -> None:
        self._transport = transport
        self._handler = handler
        self._peer = peer
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self._chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self._pending = 0
        self._paused = False
        self.requests = 0

    def feed(self, data: bytes) -> None:
        self._chunks.put_nowait(data)
        self._pending += len(data)
        if self._pending > MAX_BODY and not self._paused:
            self._paused = True
            self._transport.pause_reading()

    def eof(self) -> None:
        self._chunks.put_nowait(b"")

    async def _receive(self, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            data = await self._chunks.get()
        self._pending -= len(data)
        if self._paused and self._pending <= MAX_BODY // 2:
            self._paused = False
            self._transport.resume_reading()
        self._h11.receive_data(data)

    async def _next_request(self) -> HttpRequest | HttpResponse | None:
        """The next complete request, an error to answer before closing, or None (closed, or idle)."""
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = self._h11.next_event()
            if event is h11.NEED_DATA:
                await self._receive(IDLE_TIMEOUT_S if head is None and self.requests else OPEN_TIMEOUT_S)
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    return HttpResponse.json(413, {"code": -1, "msg": f"Request body larger than {MAX_BODY} bytes."})
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return self._request(head, bytes(body))
            elif isinstance(event, h11.ConnectionClosed):
                return None
            # h11.PAUSED cannot happen: a cycle is only restarted after its answer

    def _request(self, head: h11.Request, body: bytes) -> HttpRequest:
        target = head.target.decode("latin-1")
        parts = urlsplit(target)
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in head.headers}
        return HttpRequest(
            method=head.method.decode("latin-1"),
            target=target,
            path=parts.path,
            query=parts.query,
            headers=headers,
            body=body,
            peer=self._peer,
        )

    def _send(self, request_method: str, response: HttpResponse) -> None:
        headers = [
            (b"Content-Type", CONTENT_TYPE.encode()),
            (b"Content-Length", str(len(response.body)).encode()),
            (b"Server", SERVER_HEADER),
        ]
        headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
        data = self._h11.send(h11.Response(status_code=response.status, headers=headers))
        if request_method != "HEAD":
            data = (data or b"") + (self._h11.send(h11.Data(data=response.body)) or b"")
        data = (data or b"") + (self._h11.send(h11.EndOfMessage()) or b"")
        self._transport.write(data)

    async def serve(self) -> None:
        """Answer requests until the client closes, goes idle, or breaks the protocol; then close."""
        try:
            while True:
                try:
                    request = await self._next_request()
                except h11.RemoteProtocolError as exc:
                    if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                        status = exc.error_status_hint
                        detail = str(exc)[:200]  # h11's text may quote the client's bytes: bounded
                        self._send("GET", HttpResponse.json(status, {"code": -1, "msg": f"Bad HTTP request: {detail}"}))
                    return
                if request is None:
                    return
                if isinstance(request, HttpResponse):
                    self._send("GET", request)
                    return
                self.requests += 1
                try:
                    response = await self._handler(request)
                except Exception:
                    LOGGER.exception("%s %s: the handler failed", request.method, request.path)
                    response = _internal_error()
                self._send(request.method, response)
                if self._h11.our_state is not h11.DONE or self._h11.their_state is not h11.DONE:
                    return
                self._h11.start_next_cycle()
        except (TimeoutError, h11.LocalProtocolError):
            return
        finally:
            self._transport.close()


def _peer_ip(peer: Any) -> str:
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "local"


def is_websocket_upgrade(head: bytes) -> bool:
    """Does this request head (up to the blank line) ask for a WebSocket? A GET with ``Upgrade: websocket``."""
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"GET "):
        return False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"upgrade" and b"websocket" in value.strip().lower():
            return True
    return False


_UNDECIDED: Final = 0
_WEBSOCKET: Final = 1
_HTTP: Final = 2
_CLOSED: Final = 3


def http_or_websocket(handler: HttpHandler, http_phase: set[ServerConnection] | None = None) -> type[ServerConnection]:
    """A ``websockets`` connection class (``serve(create_connection=...)``) that answers every request
    other than a WebSocket upgrade over HTTP with ``handler``.

    ``http_phase``, when given, holds the connections not (yet) WebSocket ones, for
    :func:`close_http_connections` when the server stops.

    Pass ``open_timeout=None`` to ``serve``: the class applies ``OPEN_TIMEOUT_S`` to the handshake
    itself, since an HTTP keep-alive connection lives inside what websockets sees as its handshake.
    """

    class HttpOrWebSocket(ServerConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head = bytearray()
            self._mode = _UNDECIDED
            self._decided: asyncio.Future[int] = self.loop.create_future()
            self._http: HttpSession | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            if http_phase is not None:
                http_phase.add(self)
            super().connection_made(transport)

        def _decide(self, mode: int) -> None:
            """The first decision holds: a WebSocket that closes stays a WebSocket."""
            if not self._decided.done():
                self._mode = mode
                self._decided.set_result(mode)
                if mode == _WEBSOCKET and http_phase is not None:
                    http_phase.discard(self)

        def data_received(self, data: bytes) -> None:
            if self._mode == _WEBSOCKET:
                super().data_received(data)
                return
            if self._http is not None:
                self._http.feed(data)
                return
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0 and len(self._head) <= MAX_HEAD:
                return
            buffered, self._head = bytes(self._head), bytearray()
            if end >= 0 and is_websocket_upgrade(buffered[:end]):
                self._decide(_WEBSOCKET)
                super().data_received(buffered)
                return
            self._http = HttpSession(self.transport, handler, _peer_ip(self.transport.get_extra_info("peername")))
            self._http.feed(buffered)
            self._decide(_HTTP)

        def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio: True keeps the socket open
            if self._mode == _WEBSOCKET:
                super().eof_received()
                return None
            if self._http is not None:
                self._http.eof()
                return True
            self._decide(_CLOSED)
            return None

        def connection_lost(self, exc: Exception | None) -> None:
            if http_phase is not None:
                http_phase.discard(self)
            if self._http is not None:
                self._http.eof()
            self._decide(_CLOSED)
            super().connection_lost(exc)

        async def handshake(self, *args: Any, **kwargs: Any) -> None:
            try:
                async with asyncio.timeout(OPEN_TIMEOUT_S):
                    mode = await asyncio.shield(self._decided)
            except TimeoutError:
                self.transport.abort()
                return
            if mode == _WEBSOCKET:
                async with asyncio.timeout(OPEN_TIMEOUT_S):
                    await super().handshake(*args, **kwargs)
            elif mode == _HTTP and self._http is not None:
                await self._http.serve()  # the WebSocket state stays CONNECTING: websockets then drops it

    return HttpOrWebSocket


def close_http_connections(connections: set[ServerConnection]) -> None:
    """After the server's ``close()``: close the connections still in their HTTP phase (keep-alive
    HTTP clients, handshakes not done), which websockets would otherwise wait for until idle."""
    for connection in list(connections):
        connection.transport.close()
