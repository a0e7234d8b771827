"""The market-data port: WebSocket streams and REST on one websockets server.

Paths, as on ``stream.binance.com``:

* ``/ws/<stream>`` (also ``/ws/<a>/<b>``): raw payloads; ``/ws`` alone starts
  with no stream and subscribes later with SUBSCRIBE;
* ``/stream?streams=<a>/<b>/<c>``: combined payloads
  ``{"stream": "<name>", "data": <payload>}``;
* any other request (any method, with or without a body): HTTP/1.1 through
  :mod:`stages.exchange.protocol.http_server`, answered by the read-only REST
  endpoints of :mod:`.rest` (JSON errors for unknown paths and methods).

A handshake naming a stream not served here is accepted, as Binance does
(ccxt.pro connects to ``/ws/<index>`` and then subscribes): the name is counted
in :attr:`MarketDataServer.unserved_names` and nothing is ever sent for it. An
unknown path is refused with 404, more than 1024 names with 400. Each connection gets a
:class:`~.session.ClientSession` (bounded queue, own writer task) and answers
its subscription requests through :class:`~.subscriptions.SubscriptionHandler`. Slow clients
are closed with 1008 and counted in :attr:`MarketDataServer.dropped_clients`; so are
clients sending more than ``stream_messages_per_second`` messages in a second
(:mod:`.message_rate`), counted in :attr:`MarketDataServer.rate_closes`.

Memory per connection is bounded whatever the client sends: a message of at most
``MAX_CLIENT_MESSAGE`` bytes, at most ``stream_messages_per_second`` of them a
second, at most 1024 subscribed names, each one of the catalog's (unserved
names in the handshake are counted and dropped), a queue of at most
``4 * max_client_queue`` frames, and nothing added to the shared stream catalog
(it is fixed at start), and a kernel send buffer of ``SEND_BUFFER`` (so a
backlog shows in the queue, and a dropped client's close frame is not stuck
behind megabytes the kernel took). HTTP requests on this port are bounded by
:mod:`stages.exchange.protocol.http_server` (head, body, idle time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from stages.exchange.protocol.http_server import CONTENT_TYPE, http_or_websocket
from stages.exchange.protocol.settings import ExchangeSettings
from stages.exchange.publisher.hub import StreamHub
from stages.exchange.publisher.market import SymbolMarket
from stages.exchange.publisher.message_rate import TOO_MANY_MESSAGES_CODE, MessageRate, too_many_messages_reason
from stages.exchange.publisher.rest import RestApi
from stages.exchange.publisher.session import SLOW_CONSUMER_CODE, SLOW_CONSUMER_REASON, ClientSession
from stages.exchange.publisher.streams import (
    MAX_STREAMS_PER_CONNECTION,
    StreamCatalog,
    StreamKind,
    StreamSpec,
)
from stages.exchange.publisher.subscriptions import TOO_MANY_STREAMS, SubscriptionHandler

LOGGER: Final = logging.getLogger("hftpipe.publisher")
WS_LOGGER: Final = logging.getLogger("hftpipe.publisher.websockets")
"""websockets logs every connection and HTTP answer at INFO: too chatty for a market-data port."""
WS_LOGGER.setLevel(logging.WARNING)
PING_INTERVAL_S: Final = 20.0
"""Binance pings every 20 s and drops a client that has not answered within a minute."""
PING_TIMEOUT_S: Final = 60.0
CLOSE_TIMEOUT_S: Final = 10.0
SEND_BUFFER: Final = 64 * 1024
"""``SO_SNDBUF`` of each market-data WebSocket (Linux doubles it for bookkeeping).

Left to autotuning, the kernel grows a connection's send buffer up to ``tcp_wmem``'s
maximum (4 MiB by default): a client that stops reading then hides megabytes of
backlog from the slow-consumer policy, which sees only its own queue, and the 1008
close frame is queued behind all of it; a slow reader cannot drain that within
``CLOSE_TIMEOUT_S``, so the connection was aborted without the close frame. Capped,
a backlog reaches the session's queue (where it is counted and dropped) after at most
this much, and the close frame is that close behind."""
MAX_CLIENT_MESSAGE: Final = 64 * 1024
"""Control messages are small; anything bigger is a protocol violation (close 1009)."""


@dataclass(frozen=True, slots=True)
class WsTarget:
    combined: bool
    streams: tuple[StreamSpec, ...]
    unserved: int = 0
    """Names in the path that are not served here (accepted, never sent anything)."""


@dataclass(frozen=True, slots=True)
class TargetError:
    status: int
    code: int
    msg: str


def parse_ws_target(target: str, catalog: StreamCatalog) -> WsTarget | TargetError:
    """What a WebSocket handshake's request target asks for."""
    parts = urlsplit(target)
    path = parts.path
    if path == "/ws" or path.startswith("/ws/"):
        combined = False
        names = [name for name in path[4:].split("/") if name]
    elif path in ("/stream", "/stream/"):
        combined = True
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        names = [name for name in query.get("streams", "").split("/") if name]
    else:
        return TargetError(404, -1, f"No such stream path: {path} (use /ws/<stream> or /stream?streams=...)")
    if len(names) > MAX_STREAMS_PER_CONNECTION:
        return TargetError(400, 2, TOO_MANY_STREAMS)
    specs = [catalog.parse(name) for name in dict.fromkeys(names)]
    served = tuple(spec for spec in specs if spec is not None)
    return WsTarget(combined, served, len(specs) - len(served))


def bound_send_buffer(connection: ServerConnection) -> None:
    """Cap the kernel's send buffer of this connection at ``SEND_BUFFER`` (see there for why)."""
    sock = connection.transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)


def json_response(connection: ServerConnection, status: int, body: bytes) -> Response:
    response = connection.respond(status, body.decode())
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


class MarketDataServer:
    def __init__(
        self,
        settings: ExchangeSettings,
        markets: Mapping[str, SymbolMarket],
        hub: StreamHub,
        clock_ms: Callable[[], int],
        *,
        max_client_queue: int | None = None,
    ) -> None:
        self.settings = settings
        self.markets = markets
        self.hub = hub
        self.clock_ms = clock_ms
        self.max_client_queue = max_client_queue or settings.max_client_queue
        if self.max_client_queue < 1:
            raise ValueError(f"max_client_queue must be >= 1, got {self.max_client_queue}")
        self.catalog = StreamCatalog(list(markets))
        self.rest = RestApi(settings, markets, clock_ms)
        self.subscriptions = SubscriptionHandler(self.catalog, self._subscribe, self._unsubscribe)
        self.sessions: set[ClientSession] = set()
        self.connections = 0
        self.dropped_clients = 0
        self.rate_closes = 0
        self.unserved_names = 0
        """Stream names in connection paths that are not served here (accepted and silent)."""
        """Connections closed for sending more than ``stream_messages_per_second`` messages in a second."""
        self.on_drop: Callable[[ClientSession], None] | None = None
        self._server: Server | None = None
        self._closers: set[asyncio.Task[None]] = set()
        self._backlogged: list[ClientSession] = []
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------
    async def start(self, listener: socket.socket | None = None) -> None:
        """Serve on ``listener`` (bound while the stage started) or, without one, bind the configured port."""
        settings = self.settings
        where: dict[str, Any] = {"host": settings.host, "port": settings.market_port}
        if listener is not None:
            where = {"sock": listener}
        self._server = await serve(
            self._serve,
            **where,
            process_request=self._process_request,
            create_connection=http_or_websocket(self.rest.serve),
            open_timeout=None,  # applied by the connection class (see http_or_websocket)
            compression=None,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_TIMEOUT_S,
            close_timeout=CLOSE_TIMEOUT_S,
            max_size=MAX_CLIENT_MESSAGE,
            logger=WS_LOGGER,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        LOGGER.info("market data on ws://%s:%d (%d symbols)", self.settings.host, self.port, len(self.markets))

    async def stop(self) -> None:
        """Close every connection (1001), wait for the handlers, free the port. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        for task in list(self._closers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- HTTP ------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """A WebSocket handshake (every other request went to the REST API): is its path served?"""
        target = parse_ws_target(request.path, self.catalog)
        if isinstance(target, TargetError):
            body = orjson.dumps({"code": target.code, "msg": target.msg})
            return json_response(connection, target.status, body)
        return None

    # -- WebSocket -------------------------------------------------------------------
    async def _serve(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        target = parse_ws_target(connection.request.path, self.catalog)
        assert isinstance(target, WsTarget)  # _process_request refused the rest
        session = ClientSession(
            connection,
            combined=target.combined,
            max_queue=self.max_client_queue,
            on_slow=self._on_slow,
            on_backlog=self._backlogged.append,
        )
        bound_send_buffer(connection)
        self.connections += 1
        self.unserved_names += target.unserved
        self.sessions.add(session)
        for spec in target.streams:
            session.streams[spec.name] = None
            self._subscribe(session, spec)
        writer = asyncio.create_task(session.write_loop())
        rate, closing = MessageRate(self.settings.stream_messages_per_second), False
        try:
            async for message in connection:
                if closing:
                    continue  # sent before the client saw our close: read, for its close frame to arrive
                if not rate.allow(time.monotonic_ns()):
                    closing = True
                    self._close_for_rate(session)
                    continue
                session.push(self.subscriptions.handle(session, message))
        except ConnectionClosed:
            pass
        finally:
            for name in session.streams:
                self.hub.unsubscribe(name, session)
            self.sessions.discard(session)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    def _close_for_rate(self, session: ClientSession) -> None:
        """Binance disconnects a client over its message rate; counted, and logged at powers of two."""
        self.rate_closes += 1
        per_second = self.settings.stream_messages_per_second
        if self.rate_closes & (self.rate_closes - 1) == 0:
            LOGGER.warning(
                "closed %d market-data connection(s) for sending more than %d messages in a second",
                self.rate_closes,
                per_second,
            )
        for name in session.streams:  # nothing more is queued for it while the close completes
            self.hub.unsubscribe(name, session)
        self._close(session, TOO_MANY_MESSAGES_CODE, too_many_messages_reason(per_second))

    def check_backlogs(self) -> None:
        """Drop the sessions reported behind during the last drain cycle that still are.

        Called at the start of each drain cycle: the event loop has run the writers
        since the report, so a fast client has emptied its queue by now.
        """
        if self._backlogged:
            reported, self._backlogged = self._backlogged, []
            for session in reported:
                session.behind()

    def _subscribe(self, session: ClientSession, spec: StreamSpec) -> None:
        if spec.kind is StreamKind.KLINE:
            self.markets[spec.symbol].ensure_kline(spec.interval, self.clock_ms())
        self.hub.subscribe(spec.name, session)

    def _unsubscribe(self, session: ClientSession, name: str) -> None:
        self.hub.unsubscribe(name, session)

    def _on_slow(self, session: ClientSession) -> None:
        """A client's queue overflowed (called from the drain): stop feeding it, close it."""
        self.dropped_clients += 1
        for name in session.streams:
            self.hub.unsubscribe(name, session)
        if self.on_drop is not None:
            self.on_drop(session)
        self._close(session, SLOW_CONSUMER_CODE, SLOW_CONSUMER_REASON)

    def _close(self, session: ClientSession, code: int, reason: str) -> None:
        """Start the close handshake without waiting for it (``stop`` cancels what is left)."""
        task = asyncio.get_running_loop().create_task(session.connection.close(code, reason))
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)
