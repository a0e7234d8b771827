"""``ws://HOST:REST_PORT/ws/<listenKey>``: a listenKey's user data events, served by the gateway.

On Binance this stream lives on the market stream host. Here the publisher
(the market port) never holds account data or a route to it, so the gateway
serves the stream on its REST port instead: the REST base and the stream base
of a client are then the same ``host:rest_port`` (point a client's user data
stream base URL there; its market streams stay on the market port).

The connection is accepted when the key is live (its only credential; no
weight, the per-IP connection limit as on the API port) and then carries the
account's ``executionReport`` / ``outboundAccountPosition`` / ``balanceUpdate``
events as bare JSON objects, as Binance's listenKey streams do, formatted by
the same :class:`~.user_data.UserData` as ``userDataStream.subscribe``. When
the key is stopped the connection closes (1000); when it expires, after
``{"e": "listenKeyExpired", ...}``. A handshake for an unknown or expired key is
refused with HTTP 400 and ``{"code": -1125, "msg": "This listenKey does not
exist."}``; any other WebSocket path with 404. Messages from the client are
read and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Final

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from hftpipe.schema.exchange_errors import INVALID_LISTEN_KEY
from hftpipe.substrate.counters import Counter
from stages.exchange.gateway.api import GatewayApi
from stages.exchange.gateway.session import Session
from stages.exchange.protocol.api_error import ApiError
from stages.exchange.protocol.http_server import CONTENT_TYPE

STREAM_PREFIX: Final = "/ws/"


def listen_key_of(path: str) -> str | None:
    """The key in ``/ws/<listenKey>`` (query string aside), or None for any other path."""
    path = path.partition("?")[0]
    if not path.startswith(STREAM_PREFIX):
        return None
    key = path[len(STREAM_PREFIX) :]
    return key if key and "/" not in key else None


def _json_response(connection: ServerConnection, error: ApiError) -> Response:
    response = connection.respond(error.status, orjson.dumps(error.error_object()).decode())
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ListenKeyStreams:
    """The REST port's WebSocket side: ``process_request`` and the connection handler for ``serve``."""

    def __init__(
        self, api: GatewayApi, max_queue: int, messages_out: Counter | None = None, refused: Counter | None = None
    ) -> None:
        self.api = api
        self.max_queue = max_queue
        self.messages_out = messages_out
        self.refused = refused
        """Handshakes refused (the gateway's ``connections_refused``)."""
        self.open = 0

    def _refuse(self, connection: ServerConnection, error: ApiError) -> Response:
        if self.refused is not None:
            self.refused.add()
        return _json_response(connection, error)

    def check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        key = listen_key_of(request.path)
        if key is None:
            return self._refuse(connection, ApiError.no_endpoint("GET", request.path.partition("?")[0]))
        now = _now_ms()
        if self.api.listen_keys.live(key, now) is None:
            return self._refuse(connection, ApiError.of(INVALID_LISTEN_KEY))
        if not self.api.limiter.add_connection(_ip_of(connection), now):
            return self._refuse(connection, ApiError(-1, "Too many connections.", status=429))
        return None

    async def serve(self, websocket: ServerConnection) -> None:
        assert websocket.request is not None
        key = listen_key_of(websocket.request.path)
        live = self.api.listen_keys.live(key, _now_ms()) if key is not None else None
        if live is None:  # it ended between the handshake's check and now
            await websocket.close(1000, "listenKey ended")
            return
        session = Session(
            ip=_ip_of(websocket),
            connected_since_ms=_now_ms(),
            max_queue=self.max_queue,
            websocket=websocket,
            messages_out=self.messages_out,
            bare_events=True,
        )
        live.streams.add(session)
        self.api.user_data.subscribe(session, live.account)
        self.open += 1
        writer = asyncio.create_task(session.write(websocket))
        reader = asyncio.create_task(_ignore_input(websocket))
        try:
            await asyncio.wait((writer, reader), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.open -= 1
            live.streams.discard(session)
            self.api.user_data.drop_session(session)
            session.close()
            reader.cancel()
            for task in (reader, writer):
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task
            await websocket.close()


async def _ignore_input(websocket: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _message in websocket:
            pass


def _ip_of(connection: ServerConnection) -> str:
    address = connection.remote_address
    if isinstance(address, tuple) and address:
        return str(address[0])
    return "local"
