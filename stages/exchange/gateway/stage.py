"""The order gateway: Binance's Spot WebSocket API at ws://HOST:API_PORT/ws-api/v3, its REST API at
http://HOST:REST_PORT/api/v3 (:mod:`.rest`: signed paths through the same methods, public ones
forwarded to the publisher), and listenKey user data streams at ws://HOST:REST_PORT/ws/<listenKey>
(:mod:`.listen_key_stream`: account data stays on the gateway's side, never the market port).

Clients written for Binance (``session.logon``, ``order.place``, the user data
stream, ...) talk to it unchanged; each request becomes an EX_COMMAND on the
gw-acct ring and its answer comes back as EX_EVENT records on acct-gw (see
:mod:`hftpipe.schema.exchange` and the modules of this package:
:mod:`.api` the methods, :mod:`.link` the correlation, :mod:`.user_data` the
stream, :mod:`.admin` the unix-socket admin server).

The listening sockets are bound in ``on_start``, before the stage reports
READY, so a client that connects as soon as the pipeline is up waits in the
backlog instead of being refused. Other paths than ``/ws-api/v3`` get HTTP 404;
an IP over its connection limit gets 429.

Counters: the ring ports count ``messages_in`` (acct-gw records),
``messages_out`` (gw-acct commands) and ``backpressure`` (commands a full
gw-acct refused: the request got -1008) and measure the acct-gw hop; the
WebSocket side is ``ws_messages_in`` (client messages) and ``ws_messages_out``
(frames written to clients), with ``requests``, ``error_responses``,
``malformed``, ``rate_limited``, ``timeouts``, ``connections``,
``connections_open``, ``connections_refused``, ``user_events``,
``unmatched_answers``, ``admin_requests``, ``rest_requests`` (HTTP requests on the
REST port, every path), ``listen_keys`` and ``listen_key_streams`` (live keys and their open
streams) and ``listen_keys_expired``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from hftpipe.runtime import AsyncAgent, StageContext
from hftpipe.runtime.listening import bind_tcp_listener
from hftpipe.schema.exchange_codec import EventRecord
from hftpipe.substrate.counters import CounterKind
from stages.exchange.gateway.admin import AdminServer, bind_admin_socket
from stages.exchange.gateway.api import ApiCounters, GatewayApi
from stages.exchange.gateway.formatter import Formatter
from stages.exchange.gateway.keys import KeyStore
from stages.exchange.gateway.link import AccountingLink
from stages.exchange.gateway.listen_key_stream import ListenKeyStreams
from stages.exchange.gateway.listen_keys import VALIDITY_MS, ListenKeys
from stages.exchange.gateway.rate_limits import RateLimiter
from stages.exchange.gateway.rest import RestApi
from stages.exchange.gateway.ring_reader import RingReader
from stages.exchange.gateway.session import Session
from stages.exchange.gateway.user_data import UserData
from stages.exchange.protocol.api_error import ApiError
from stages.exchange.protocol.http_server import close_http_connections, http_or_websocket
from stages.exchange.protocol.settings import ExchangeSettings, expect_settings
from stages.exchange.protocol.topology import ACCOUNTING_TO_GATEWAY, GATEWAY_TO_ACCOUNTING

API_PATH: Final = "/ws-api/v3"
CONNECT_WEIGHT: Final = 2
"""Binance: "Connecting to WebSocket API costs 2 weight"."""
MAX_MESSAGE_BYTES: Final = 1 << 20
SWEEP_INTERVAL_S: Final = 0.1
PING_INTERVAL_S: Final = 20.0
"""Binance: "The WebSocket server will send a ping frame every 20 seconds"."""
PONG_TIMEOUT_S: Final = 60.0

logger = logging.getLogger("hftpipe.gateway")
connection_logger = logging.getLogger("hftpipe.gateway.connections")
"""websockets logs every connection at INFO; here that is WARNING and up unless configured otherwise."""
if connection_logger.level == logging.NOTSET:
    connection_logger.setLevel(logging.WARNING)


class GatewayStage(AsyncAgent):
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        settings: ExchangeSettings
        """The parsed ``[exchange]`` table (the config expander parses it once per process)."""
        request_timeout_s: float = 10.0
        """A request with no answer by then gets -1007 (execution status unknown)."""
        admin_timeout_s: float = 120.0
        """Admin requests wait this long (``status`` waits for the journal replay)."""
        listen_key_validity_s: float = VALIDITY_MS / 1000
        """How long a listenKey lives past its last keepalive (Binance: 60 minutes)."""

        def __post_init__(self) -> None:
            expect_settings(self.settings)
            if self.request_timeout_s <= 0 or self.admin_timeout_s <= 0 or self.listen_key_validity_s <= 0:
                raise ValueError("request_timeout_s, admin_timeout_s and listen_key_validity_s must be > 0")

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params: GatewayStage.Params = ctx.params
        self.params = params
        self.settings = settings = params.settings
        self.keys = KeyStore(settings)
        self.limiter = RateLimiter(settings.rate_limits)
        self.formatter = Formatter(settings)
        self.user_data = UserData(self.formatter)
        self.link = AccountingLink(ctx.output_port(GATEWAY_TO_ACCOUNTING), self.user_data)
        counters = ctx.counters
        self.api = GatewayApi(
            settings=settings,
            keys=self.keys,
            limiter=self.limiter,
            link=self.link,
            user_data=self.user_data,
            counters=ApiCounters(
                requests=counters.add("requests"),
                errors=counters.add("error_responses"),
                malformed=counters.add("malformed"),
                rate_limited=counters.add("rate_limited"),
                timeouts=counters.add("timeouts"),
                unanswerable=counters.add("unanswerable"),
            ),
            request_timeout_s=params.request_timeout_s,
            report=ctx.errors.record,
            listen_keys=ListenKeys(round(params.listen_key_validity_s * 1000)),
        )
        self.reader = RingReader(ctx.input_port(ACCOUNTING_TO_GATEWAY), self._on_record, ctx.doorbell)
        self.admin = AdminServer(settings, self.keys, self.link, self.formatter, params.admin_timeout_s)
        self._ws_messages_in = counters.add("ws_messages_in")
        self._ws_messages_out = counters.add("ws_messages_out")
        self._connections = counters.add("connections")
        self._connections_open = counters.gauge("connections_open")
        self._refused = counters.add("connections_refused")
        self._user_events = counters.add("user_events")
        self._unmatched = counters.add("unmatched_answers")
        self._admin_requests = counters.add("admin_requests")
        self._rest_requests = counters.add("rest_requests")
        self.rest = RestApi(self.api, settings.host, settings.market_port)
        self.streams = ListenKeyStreams(self.api, settings.max_client_queue, self._ws_messages_out, self._refused)
        self._listen_keys = counters.gauge("listen_keys")
        self._listen_key_streams = counters.gauge("listen_key_streams")
        self._expired_listen_keys = counters.add("listen_keys_expired")
        self._rest_socket: socket.socket | None = None
        self._rest_http: set[ServerConnection] = set()
        """REST-port connections in their HTTP phase (closed at stop: keep-alive clients would hold it)."""
        self.rest_port = settings.rest_port
        """The bound REST port (differs from the configured one when that is 0)."""
        self._sessions: set[Session] = set()
        self._api_socket: socket.socket | None = None
        self._admin_socket: socket.socket | None = None
        self.api_port = settings.api_port
        """The bound port (differs from the configured one when that is 0)."""

    # -- lifecycle ------------------------------------------------------------------------------
    def on_start(self) -> None:
        self.settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.keys.load()
        self._api_socket = bind_tcp_listener(self.settings.host, self.settings.api_port, "exchange.api_port")
        self.api_port = self._api_socket.getsockname()[1]
        self._rest_socket = bind_tcp_listener(self.settings.host, self.settings.rest_port, "exchange.rest_port")
        self.rest_port = self._rest_socket.getsockname()[1]
        self._admin_socket = bind_admin_socket(self.settings.admin_socket)
        logger.info(
            "order gateway on ws://%s:%d%s, REST on http://%s:%d/api/v3, admin on %s",
            self.settings.host,
            self.api_port,
            API_PATH,
            self.settings.host,
            self.rest_port,
            self.settings.admin_socket,
        )

    async def run(self, stopping: asyncio.Event) -> None:
        if self._api_socket is None or self._admin_socket is None or self._rest_socket is None:
            self.on_start()
        assert self._api_socket is not None and self._admin_socket is not None and self._rest_socket is not None
        server: Server = await serve(
            self._connection,
            sock=self._api_socket,
            process_request=self._check_request,
            logger=connection_logger,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PONG_TIMEOUT_S,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,
        )
        rest_server: Server = await serve(
            self.streams.serve,
            sock=self._rest_socket,
            process_request=self.streams.check_request,
            create_connection=http_or_websocket(self.rest.serve, self._rest_http),
            open_timeout=None,  # applied by the connection class (see http_or_websocket)
            logger=connection_logger,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PONG_TIMEOUT_S,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,
        )
        await self.admin.start(self._admin_socket)
        tasks = [
            asyncio.create_task(self.reader.run(stopping), name="acct-gw reader"),
            asyncio.create_task(self._housekeeping(stopping), name="gateway housekeeping"),
        ]
        try:
            await stopping.wait()
        finally:
            self.link.fail_all()
            self.api.cancel_forwards()
            await asyncio.sleep(0)  # let the writers send those answers
            server.close()
            rest_server.close()
            close_http_connections(self._rest_http)
            await self.admin.close()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await server.wait_closed()
            await rest_server.wait_closed()
            self._publish_counters()
            self._api_socket = self._admin_socket = self._rest_socket = None

    def on_close(self) -> None:
        for sock in (self._api_socket, self._rest_socket, self._admin_socket):
            if sock is not None:
                sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.settings.admin_socket.unlink()

    # -- connections ----------------------------------------------------------------------------
    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path != API_PATH:
            self._refused.add()
            return connection.respond(HTTPStatus.NOT_FOUND, f"Not found: use {API_PATH}\n")
        ip = _ip_of(connection)
        now = time.time_ns() // 1_000_000
        if not self.limiter.add_connection(ip, now):
            self._refused.add()
            return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "Too many connections.\n")
        try:
            self.limiter.add_weight(ip, CONNECT_WEIGHT, now)
        except ApiError as error:
            self._refused.add()
            return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, f"{error.msg}\n")
        return None

    async def _connection(self, websocket: ServerConnection) -> None:
        query = parse_qs(urlsplit(websocket.request.path if websocket.request else "").query)
        return_rate_limits = query.get("returnRateLimits", ["true"])[-1].lower() != "false"
        session = Session(
            ip=_ip_of(websocket),
            connected_since_ms=time.time_ns() // 1_000_000,
            return_rate_limits=return_rate_limits,
            max_queue=self.settings.max_client_queue,
            websocket=websocket,
            messages_out=self._ws_messages_out,
        )
        self._sessions.add(session)
        self._connections.add()
        self._connections_open.set(len(self._sessions))
        writer = asyncio.create_task(session.write(websocket))
        try:
            async for message in websocket:
                self._ws_messages_in.add()
                self.api.handle_message(session, message)
        except ConnectionClosed:
            pass
        finally:
            self.user_data.drop_session(session)
            session.close()
            self._sessions.discard(session)
            self._connections_open.set(len(self._sessions))
            with contextlib.suppress(ConnectionClosed):
                await writer

    # -- the acct-gw side -----------------------------------------------------------------------
    def _on_record(self, record: EventRecord) -> None:
        try:
            self.link.feed(record)
        except Exception as exc:  # a record we cannot handle must not stop the others
            logger.exception("acct-gw record failed")
            self.ctx.errors.record(f"acct-gw record: {type(exc).__name__}: {exc}")
            self.ctx.counter(CounterKind.ERRORS).add()

    async def _housekeeping(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), SWEEP_INTERVAL_S)
            self.link.sweep()
            self._expired_listen_keys.add(self.api.expire_listen_keys(time.time_ns() // 1_000_000))
            self._publish_counters()

    def _publish_counters(self) -> None:
        self._user_events.set(self.user_data.pushed)
        self._unmatched.set(self.link.unmatched)
        self._admin_requests.set(self.admin.requests)
        self._rest_requests.set(self.rest.requests)
        self._listen_keys.set(len(self.api.listen_keys))
        self._listen_key_streams.set(self.streams.open)


def _ip_of(connection: ServerConnection) -> str:
    address = connection.remote_address
    if isinstance(address, tuple) and address:
        return str(address[0])
    return "local"
