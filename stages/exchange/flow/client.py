"""A small asyncio client of the Binance WebSocket API (``/ws-api/v3``).

Why our own: the flow generator needs only request/response with HMAC
signing, must survive the gateway starting late or restarting (the exchange
restarts as a whole and replays its journal), and must never crash on either.

* Signing follows Binance's "SIGNED request example (HMAC)": every param but
  ``signature`` (``apiKey``, ``timestamp`` and ``recvWindow`` included),
  sorted by name, as ``name=value`` joined by ``&``; HMAC-SHA256 with the
  secret as key; lower-case hex (:mod:`hftpipe.protocols.binance_signing`, the recipe
  the gateway verifies with).
* Requests carry a fresh integer ``id``; the reply with that id completes the
  caller's future. Messages without a known id (user-data events, late
  replies to timed-out requests) go to ``on_event`` or are dropped.
* :meth:`WsApiClient.run` keeps the connection up: connect, read until it
  closes, fail every pending request with :class:`ConnectionLostError`, back
  off (exponential with jitter; reset only by a connection that lasted),
  connect again. ``session`` counts successful
  connects, so a caller can tell that its earlier state may be stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
import websockets
from websockets.asyncio.client import ClientConnection, connect

from hftpipe.protocols.binance_signing import hmac_signature, signature_payload

ParamValue = str | int | bool
DEFAULT_RECV_WINDOW_MS: Final = 5000


class ConnectionLostError(ConnectionError):
    """The request could not be sent, or its connection closed before the reply."""


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """One reply: ``status`` as in HTTP; ``result`` on 200, ``code``/``msg``/``data`` otherwise."""

    status: int
    result: Any = None
    code: int = 0
    msg: str = ""
    data: Any = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @staticmethod
    def from_message(message: Mapping[str, Any]) -> ApiResponse:
        status = message.get("status")
        if not isinstance(status, int):
            raise ValueError(f"reply without an integer status: {message!r}")
        error = message.get("error")
        if isinstance(error, Mapping):
            return ApiResponse(
                status=status,
                result=message.get("result"),
                code=int(error.get("code", 0)),
                msg=str(error.get("msg", "")),
                data=error.get("data"),
            )
        return ApiResponse(status=status, result=message.get("result"))


# ------------------------------------------------------------------------------------------ signing
def sign_params(
    params: Mapping[str, ParamValue],
    api_key: str,
    secret: str,
    timestamp_ms: int,
    recv_window_ms: int | None = DEFAULT_RECV_WINDOW_MS,
) -> dict[str, ParamValue]:
    """``params`` plus ``apiKey``, ``timestamp``, ``recvWindow`` and the ``signature`` over all of them."""
    signed: dict[str, ParamValue] = {**params, "apiKey": api_key, "timestamp": timestamp_ms}
    if recv_window_ms is not None:
        signed["recvWindow"] = recv_window_ms
    signed["signature"] = hmac_signature(secret, signature_payload(signed))
    return signed


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


# ------------------------------------------------------------------------------------------ client
@dataclass(slots=True)
class ClientStats:
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    malformed: int = 0
    """Replies that were not JSON objects with an integer status."""


class WsApiClient:
    def __init__(
        self,
        url: str,
        api_key: str = "",
        secret: str = "",
        *,
        recv_window_ms: int | None = DEFAULT_RECV_WINDOW_MS,
        request_timeout_s: float = 10.0,
        open_timeout_s: float = 5.0,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 5.0,
        clock_ms: Callable[[], int] = wall_clock_ms,
        on_event: Callable[[Mapping[str, Any]], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if not 0 < backoff_min_s <= backoff_max_s:
            raise ValueError("backoff_min_s must be > 0 and <= backoff_max_s")
        self.url = url
        self.api_key = api_key
        self.secret = secret
        self.recv_window_ms = recv_window_ms
        self.request_timeout_s = request_timeout_s
        self.open_timeout_s = open_timeout_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.clock_ms = clock_ms
        self.on_event = on_event
        self.logger = logger or logging.getLogger("hftpipe.flow.client")
        self.stats = ClientStats()
        self.session = 0
        """Successful connects so far; a caller's per-connection state is stale once this moves."""
        self._ws: ClientConnection | None = None
        self._pending: dict[int, asyncio.Future[ApiResponse]] = {}
        self._next_id = 0
        self._jitter = random.Random()  # pacing only: never part of the seeded flow
        self._connected = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def wait_connected(self) -> None:
        await self._connected.wait()

    # -- requests ----------------------------------------------------------------------------------
    async def request(
        self, method: str, params: Mapping[str, ParamValue] | None = None, *, signed: bool = True
    ) -> ApiResponse:
        """Send one request and wait for its reply.

        Raises :class:`ConnectionLostError` when not connected or the connection
        drops first, :class:`TimeoutError` after ``request_timeout_s``.
        """
        ws = self._ws
        if ws is None:
            raise ConnectionLostError(f"not connected to {self.url}")
        self._next_id += 1
        request_id = self._next_id
        body: dict[str, ParamValue] = dict(params or {})
        if signed:
            body = sign_params(body, self.api_key, self.secret, self.clock_ms(), self.recv_window_ms)
        future: asyncio.Future[ApiResponse] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await ws.send(orjson.dumps({"id": request_id, "method": method, "params": body}).decode())
            return await asyncio.wait_for(future, self.request_timeout_s)
        except websockets.ConnectionClosed as exc:
            raise ConnectionLostError(f"connection to {self.url} closed: {exc}") from exc
        finally:
            self._pending.pop(request_id, None)

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.stats.malformed += 1
            return
        if not isinstance(message, dict):
            self.stats.malformed += 1
            return
        request_id = message.get("id")
        future = self._pending.get(request_id) if isinstance(request_id, int) else None
        if future is None:
            if "event" in message and self.on_event is not None:
                self.on_event(message["event"])
            return
        try:
            response = ApiResponse.from_message(message)
        except (ValueError, TypeError):
            self.stats.malformed += 1
            response = ApiResponse(status=500, code=-1000, msg="malformed reply")
        if not future.done():
            future.set_result(response)

    # -- connection ----------------------------------------------------------------------------------
    async def run(self, stopping: asyncio.Event) -> None:
        """Keep connected until ``stopping``; never raises for network trouble."""
        delay = self.backoff_min_s
        stop_waiter = asyncio.ensure_future(stopping.wait())
        try:
            while not stopping.is_set():
                try:
                    ws = await connect(self.url, open_timeout=self.open_timeout_s, max_size=2**22, compression=None)
                except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                    self.stats.connect_failures += 1
                    if self.stats.connect_failures == 1 or self.stats.connect_failures % 100 == 0:
                        self.logger.info("cannot connect to %s yet (%s); retrying", self.url, exc)
                    await self._pause(stopping, delay)
                    delay = min(delay * 2, self.backoff_max_s)
                    continue
                opened = time.monotonic()
                await self._serve(ws, stop_waiter)
                if stopping.is_set():
                    break
                # A connection that held a while resets the backoff; one closed at once does not
                # (a server that accepts and drops must not be hammered: it counts connections).
                if time.monotonic() - opened >= self.backoff_max_s:
                    delay = self.backoff_min_s
                await self._pause(stopping, delay)
                delay = min(delay * 2, self.backoff_max_s)
        finally:
            stop_waiter.cancel()
            self._fail_pending("client stopped")

    async def _serve(self, ws: ClientConnection, stop_waiter: asyncio.Future[Any]) -> None:
        self._ws = ws
        self.session += 1
        self.stats.connects += 1
        self._connected.set()
        reader = asyncio.ensure_future(self._read(ws))
        try:
            await asyncio.wait({reader, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._ws = None
            self._connected.clear()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)
            self._fail_pending(f"connection to {self.url} closed")
            if not stop_waiter.done():
                self.stats.disconnects += 1
                self.logger.warning("lost connection to %s; reconnecting", self.url)

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in ws:
                self._dispatch(message)

    def _fail_pending(self, why: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionLostError(why))
        self._pending.clear()

    async def _pause(self, stopping: asyncio.Event, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), self._jitter.uniform(delay / 2, delay))
