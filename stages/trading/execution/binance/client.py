"""The venue client: Binance's spot WebSocket API (``/ws-api/v3``) on one connection, asyncio.

Authentication, as ``web-socket-api.md`` offers it:

* **Ed25519** (:class:`Ed25519Credentials`, the normal mode): ``session.logon``
  signed once with the private key (a PEM file); every later request on the
  connection carries only ``timestamp`` (and ``recvWindow``).
* **HMAC** (:class:`HmacCredentials`, the fallback): no logon (Binance allows
  it for Ed25519 keys only); every request that needs a key is signed on its
  own (``apiKey``, ``timestamp``, ``signature``), and the user data stream is
  opened with ``userDataStream.subscribe.signature``.

Requests: a fresh integer ``id`` each, one future per request, matched by id
whatever the order of the answers. :meth:`BinanceWsApiClient.start` writes a
request's frame to the transport from synchronous code when the connection
can take it at once (:mod:`.ws_send`: no task, no turn of the event loop
before the bytes leave) and :meth:`BinanceWsApiClient.answer` awaits its
answer; the coroutines (``place``, ``cancel``, ...) are the two in a row. The answer's ``result`` is returned; an
error answer raises the exception of its class (:mod:`.errors`: unknown
outcome, transient, back off, banned, never retry). No answer within
``request_timeout_s``, or the connection closing after the request was sent,
raises :class:`~.errors.OutcomeUnknown`: the order may or may not exist, so it
is never reported as a rejection; an answer that still arrives later goes to
``on_late_reply``. Nothing is retried here: what to do next is the caller's.

Every answer's ``rateLimits`` goes to ``on_rate_limits``. ``-1021``
(timestamp outside ``recvWindow``) makes the client measure its clock against
the venue's ``time`` again (:attr:`BinanceWsApiClient.clock_offset_ms`) before
the error is raised.

Binance closes a connection after 24 hours. After ``max_connection_age_s``
the client reconnects on its own, make before break: a new connection, logon,
the user data stream subscribed again, then requests move over and the old
connection closes once its answers are in. ``on_ready`` is awaited on the
new connection, once it is current and before the old one is closed (what a
stage reconciles: orders whose outcome it does not know; a failure there is
logged, the switch goes on), then ``on_reconnect`` is told. Events that both
connections deliver while they overlap are passed on once. A connection
that drops on its own is reported to ``on_disconnect``; :meth:`reconnect`
brings the client back.

User data (``executionReport``, ``outboundAccountPosition``) arrives on the
same connection once :meth:`BinanceWsApiClient.subscribe_user_data` was
called, parsed into fixed point (:mod:`.messages`) for the instruments the
client was given; anything else (another event, a symbol it does not know, a
payload it cannot read) is passed on as :class:`OtherEvent`, never dropped.

Callbacks run on the event loop and must not block; one that raises is logged
and does not disturb the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Final

import orjson
import websockets
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import ClientConnection, connect

from hftpipe.protocols.binance_signing import (
    ed25519_signature,
    hmac_signature,
    load_ed25519_private_key,
    signature_payload,
)
from hftpipe.schema.instruments import Instrument
from stages.trading.execution.binance.errors import (
    INVALID_TIMESTAMP,
    NO_OPEN_ORDERS,
    BinanceError,
    NotConnectedError,
    OutcomeUnknown,
    RejectedError,
    error_for,
)
from stages.trading.execution.binance.messages import (
    AccountPosition,
    ExecutionReport,
    MessageError,
    OrderParams,
    RateLimit,
    cancel_params,
    cancel_replace_params,
    check_client_id,
    parse_account_position,
    parse_execution_report,
    parse_rate_limits,
)
from stages.trading.execution.binance.ws_send import write_now

DEFAULT_RECV_WINDOW_MS: Final = 5000
DEFAULT_MAX_CONNECTION_AGE_S: Final = 23 * 3600.0
"""Binance drops a WebSocket API connection at 24 hours; reconnect an hour before."""
LATE_IDS_KEPT: Final = 1024
"""Requests that raised OutcomeUnknown whose late answers are still recognised."""
SEEN_EXECUTIONS_KEPT: Final = 4096
"""Recent executionReports remembered to pass on once what two overlapping connections both deliver."""
_CLOSED: Final = object()

logger = logging.getLogger("hftpipe.execution.binance")
ParamValue = str | int | bool | list[str]
"""A request parameter: ``symbols`` (exchangeInfo) is a JSON array on the WebSocket API."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


# ------------------------------------------------------------------------------------------ credentials
@dataclass(frozen=True, slots=True)
class Ed25519Credentials:
    """An Ed25519 API key: its id and the private key's PEM file (PKCS#8; ``password`` if encrypted)."""

    api_key: str
    private_key_path: Path | str
    password: bytes | None = field(default=None, repr=False)

    def load(self) -> Ed25519PrivateKey:
        return load_ed25519_private_key(Path(self.private_key_path).read_bytes(), self.password)


@dataclass(frozen=True, slots=True)
class HmacCredentials:
    """An HMAC-SHA256 API key and its secret: every request signed on its own."""

    api_key: str
    secret: str = field(repr=False)


Credentials = Ed25519Credentials | HmacCredentials


# ------------------------------------------------------------------------------------------ events
@dataclass(frozen=True, slots=True)
class OtherEvent:
    """A user data event passed on as it came: another kind (``balanceUpdate``,
    ``eventStreamTerminated``, ...), a symbol the client was not given, or one it could not read (``error``)."""

    kind: str
    raw: Mapping[str, Any]
    error: str = ""


UserDataEvent = ExecutionReport | AccountPosition | OtherEvent


class UserDataStream:
    """The user data events of a subscription: ``async for event in stream``, or a callback for each."""

    def __init__(self, on_event: Callable[[UserDataEvent], None] | None = None) -> None:
        self.subscription_id: int | None = None
        self._on_event = on_event
        self._queue: asyncio.Queue[object] = asyncio.Queue()

    def _deliver(self, event: UserDataEvent) -> None:
        if self._on_event is None:
            self._queue.put_nowait(event)
            return
        try:
            self._on_event(event)
        except Exception:
            logger.exception("the user data callback raised")

    def _close(self) -> None:
        self._queue.put_nowait(_CLOSED)

    def __aiter__(self) -> UserDataStream:
        return self

    async def __anext__(self) -> UserDataEvent:
        item = await self._queue.get()
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # every later read ends too
            raise StopAsyncIteration
        assert isinstance(item, ExecutionReport | AccountPosition | OtherEvent)
        return item


# ------------------------------------------------------------------------------------------ the client
class Auth(Enum):
    NONE = 0
    """Public: no key (``time``, ``exchangeInfo``)."""
    USER = 1
    """Needs the key: the session's logon (Ed25519) or a signature on the request (HMAC)."""
    SIGNED = 2
    """Signed on its own whatever the mode (``session.logon``, ``userDataStream.subscribe.signature``)."""


@dataclass(slots=True)
class ClientStats:
    requests: int = 0
    unanswered: int = 0
    """Requests sent that got no answer in time (timeouts, closed connections, callers that gave up)."""
    late_replies: int = 0
    unmatched: int = 0
    """Answers whose id no request (pending or late) has."""
    malformed: int = 0
    events: int = 0
    duplicate_events: int = 0
    unparsed_events: int = 0
    connects: int = 0
    disconnects: int = 0
    """Connections that closed while they were the current one, not by the client."""
    clock_syncs: int = 0


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[dict[str, Any]]
    method: str


@dataclass(eq=False, slots=True)
class _Connection:
    ws: ClientConnection
    opened_at: float
    pending: dict[int, _Pending] = field(default_factory=dict)
    reader: asyncio.Task[None] | None = None
    age_watch: asyncio.Task[None] | None = None
    retiring: bool = False
    """Replaced (or being closed) by the client: its end is not a disconnect."""


@dataclass(eq=False, slots=True)
class Sent:
    """A request of :meth:`BinanceWsApiClient.start`: registered on its connection, its bytes on the socket
    (``written``) or still to be written by :meth:`BinanceWsApiClient.answer`, which awaits its answer."""

    conn: _Connection
    request_id: int
    method: str
    future: asyncio.Future[dict[str, Any]]
    data: bytes
    timeout_s: float
    on_sent: Callable[[int], None] | None
    written: bool = False


class BinanceWsApiClient:
    """One connection to a Binance spot WebSocket API: logon, orders, queries, user data.

    ``instruments``: the symbols whose execution reports are parsed (prices and
    quantities in their fixed point). Use ``async with`` or :meth:`connect` /
    :meth:`close`.
    """

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        instruments: Iterable[Instrument] = (),
        *,
        recv_window_ms: int | None = DEFAULT_RECV_WINDOW_MS,
        request_timeout_s: float = 10.0,
        open_timeout_s: float = 10.0,
        max_connection_age_s: float = DEFAULT_MAX_CONNECTION_AGE_S,
        reconnect_retry_s: float = 5.0,
        sync_clock_on_connect: bool = True,
        clock_ms: Callable[[], int] = wall_clock_ms,
        on_rate_limits: Callable[[tuple[RateLimit, ...]], None] | None = None,
        on_reconnect: Callable[[str], None] | None = None,
        on_ready: Callable[[str], Awaitable[None]] | None = None,
        on_disconnect: Callable[[str], None] | None = None,
        on_late_reply: Callable[[str, int, Mapping[str, Any]], None] | None = None,
    ) -> None:
        if request_timeout_s <= 0 or open_timeout_s <= 0 or max_connection_age_s <= 0 or reconnect_retry_s <= 0:
            raise ValueError("timeouts, the connection age and the retry pause must be positive")
        self.url = url
        self.credentials = credentials
        self._private_key = credentials.load() if isinstance(credentials, Ed25519Credentials) else None
        self._instruments = {instrument.symbol: instrument for instrument in instruments}
        self.recv_window_ms = recv_window_ms
        self.request_timeout_s = request_timeout_s
        self.open_timeout_s = open_timeout_s
        self.max_connection_age_s = max_connection_age_s
        self.reconnect_retry_s = reconnect_retry_s
        self.sync_clock_on_connect = sync_clock_on_connect
        self.clock_ms = clock_ms
        self.on_rate_limits = on_rate_limits
        self.on_reconnect = on_reconnect
        self.on_ready = on_ready
        self.on_disconnect = on_disconnect
        self.on_late_reply = on_late_reply
        self.stats = ClientStats()
        self.rate_limits: tuple[RateLimit, ...] = ()
        """The last answer's ``rateLimits``."""
        self.session_status: Mapping[str, Any] = {}
        """The last ``session.logon`` result (Ed25519 mode)."""
        self._clock_offset_ms = 0
        self.clock_error_ms = 0
        """How far :attr:`clock_offset_ms` may be off: half the measuring round trip, plus both clocks' ms rounding."""
        self._conn: _Connection | None = None
        self._next_id = 0
        self._late: OrderedDict[int, str] = OrderedDict()
        self._seen: OrderedDict[tuple[str, int, int], None] = OrderedDict()
        self._stream: UserDataStream | None = None
        self._resync: asyncio.Task[int] | None = None
        self._replacing: asyncio.Lock | None = None
        self._retiring: set[asyncio.Task[None]] = set()
        self._overlaps = 0
        """Reconnects under way whose old and new connections may both deliver user data."""
        self._closed = False

    # -- state --------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def clock_offset_ms(self) -> int:
        """The venue's clock minus ours, as last measured; request timestamps are ``clock_ms() + this``."""
        return self._clock_offset_ms

    @property
    def connection_age_s(self) -> float:
        return time.monotonic() - self._conn.opened_at if self._conn is not None else 0.0

    def now_ms(self) -> int:
        """The venue's time as we estimate it: what ``timestamp`` carries."""
        return self.clock_ms() + self._clock_offset_ms

    # -- connection ---------------------------------------------------------------------------------
    async def __aenter__(self) -> BinanceWsApiClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the connection, measure the clock, log on (Ed25519)."""
        if self._conn is not None:
            raise RuntimeError("already connected")
        self._closed = False
        await self._replace_connection()

    async def reconnect(self, reason: str = "requested") -> None:
        """A new connection, ready (logged on, user data subscribed again) before it replaces the current one
        (if any); the old one closes once its answers are in. Then ``on_reconnect(reason)``."""
        if self._closed:
            raise NotConnectedError("the client is closed")
        await self._replace_connection(reason)
        logger.info("reconnected to %s (%s)", self.url, reason)
        self._call_hook(self.on_reconnect, reason)

    async def _replace_connection(self, ready: str | None = None) -> None:
        """``ready``: the reconnect's reason, for ``on_ready`` (None on the first connect: nothing to catch up)."""
        if self._replacing is None:
            self._replacing = asyncio.Lock()
        async with self._replacing:
            new = await self._open()
            overlap = self._stream is not None and self._conn is not None
            self._overlaps += overlap
            try:
                await self._prepare(new)
                self._seen.clear()
                if self._stream is not None:
                    await self._subscribe(self._stream, new)
                if self._closed:
                    raise NotConnectedError("the client was closed meanwhile")
            except BaseException:
                self._overlaps -= overlap
                await self._retire(new, drain=False)
                raise
            old = self._conn
            self._make_current(new)
            if ready is not None and self.on_ready is not None:
                try:
                    await self.on_ready(ready)
                except Exception:
                    logger.exception("on_ready after a reconnect to %s raised", self.url)
            if old is not None:
                if old.age_watch is asyncio.current_task():
                    old.age_watch = None  # the watcher is the one reconnecting: it ends by itself
                self._retire_later(old, overlap)

    async def close(self) -> None:
        """Close the connection; requests still waiting raise OutcomeUnknown, the user data stream ends."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._retire(conn, drain=False)
        for task in list(self._retiring):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._stream is not None:
            self._stream._close()
            self._stream = None

    async def _open(self) -> _Connection:
        try:
            ws = await connect(self.url, open_timeout=self.open_timeout_s, max_size=2**24, compression=None)
        except (OSError, websockets.WebSocketException, TimeoutError) as exc:
            raise NotConnectedError(f"cannot connect to {self.url}: {exc}") from exc
        conn = _Connection(ws, time.monotonic())
        conn.reader = asyncio.create_task(self._read(conn))
        self.stats.connects += 1
        return conn

    async def _prepare(self, conn: _Connection) -> None:
        if self.sync_clock_on_connect:
            await self.sync_clock(conn)
        if self._private_key is not None:
            await self._logon(conn)

    def _make_current(self, conn: _Connection) -> None:
        self._conn = conn
        conn.age_watch = asyncio.create_task(self._watch_age(conn))

    async def _logon(self, conn: _Connection) -> None:
        try:
            status = await self._call("session.logon", {}, Auth.SIGNED, conn)
        except RejectedError as exc:
            if exc.code != INVALID_TIMESTAMP:
                raise
            status = await self._call("session.logon", {}, Auth.SIGNED, conn)  # the clock was just measured again
        self.session_status = status if isinstance(status, Mapping) else {}

    async def _watch_age(self, conn: _Connection) -> None:
        await asyncio.sleep(max(conn.opened_at + self.max_connection_age_s - time.monotonic(), 0.0))
        while self._conn is conn and not self._closed:
            try:
                await self.reconnect("max_connection_age")
                return
            except Exception:
                logger.exception("proactive reconnect to %s failed; trying again", self.url)
            await asyncio.sleep(self.reconnect_retry_s)

    def _retire_later(self, conn: _Connection, overlap: bool) -> None:
        """Close ``conn`` once its answers are in; until then both connections may deliver user data."""
        task = asyncio.create_task(self._retire(conn, drain=True))
        self._retiring.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._retiring.discard(task)
            self._overlaps -= overlap

        task.add_done_callback(done)

    async def _retire(self, conn: _Connection, *, drain: bool) -> None:
        """Close ``conn`` (after its pending answers, or ``request_timeout_s``, when ``drain``)."""
        conn.retiring = True
        if conn.age_watch is not None:
            conn.age_watch.cancel()
        if drain and conn.pending:
            futures = [pending.future for pending in conn.pending.values()]
            await asyncio.wait(futures, timeout=self.request_timeout_s)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.ws.close(), 2.0)
        if conn.reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await conn.reader
        self._fail_pending(conn, "the connection was closed")

    async def _read(self, conn: _Connection) -> None:
        try:
            async for message in conn.ws:
                self._dispatch(conn, message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self._fail_pending(conn, "the connection closed before the answer")
            if self._conn is conn and not conn.retiring:
                self._conn = None
                self._seen.clear()
                self.stats.disconnects += 1
                if conn.age_watch is not None:
                    conn.age_watch.cancel()
                reason = f"connection closed: {conn.ws.close_code} {conn.ws.close_reason or ''}".rstrip()
                logger.warning("lost the connection to %s (%s)", self.url, reason)
                self._call_hook(self.on_disconnect, reason)

    def _fail_pending(self, conn: _Connection, why: str) -> None:
        for request_id, pending in list(conn.pending.items()):
            if not pending.future.done():
                pending.future.set_exception(
                    OutcomeUnknown(f"{pending.method}: {why}", method=pending.method, request_id=request_id)
                )
        conn.pending.clear()

    # -- requests ----------------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        params: Mapping[str, ParamValue] | None = None,
        *,
        auth: Auth = Auth.USER,
        timeout_s: float | None = None,
    ) -> Any:
        """Any method: its ``result``, or the error's exception (:mod:`.errors`)."""
        return await self._call(method, params or {}, auth, None, timeout_s)

    async def _call(
        self,
        method: str,
        params: Mapping[str, ParamValue],
        auth: Auth,
        conn: _Connection | None = None,
        timeout_s: float | None = None,
        on_sent: Callable[[int], None] | None = None,
    ) -> Any:
        return await self.answer(self.start(method, params, auth, conn, timeout_s, on_sent))

    def start(
        self,
        method: str,
        params: Mapping[str, ParamValue],
        auth: Auth,
        conn: _Connection | None = None,
        timeout_s: float | None = None,
        on_sent: Callable[[int], None] | None = None,
    ) -> Sent:
        """A request registered and, when the socket takes it at once, its bytes written and ``on_sent`` told:
        synchronous, no turn of the event loop. :meth:`answer` writes it otherwise, then awaits its answer.

        Raises :class:`~.errors.NotConnectedError` when there is no connection.
        """
        conn = conn or self._conn
        if conn is None:
            raise NotConnectedError(f"{method}: not connected to {self.url}")
        body = self._authorise(dict(params), auth)
        self._next_id += 1
        request_id = self._next_id
        data = orjson.dumps({"id": request_id, "method": method, "params": body})
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        sent = Sent(conn, request_id, method, future, data, timeout_s or self.request_timeout_s, on_sent)
        conn.pending[request_id] = _Pending(future, method)
        self.stats.requests += 1
        try:
            if write_now(conn.ws, data):
                sent.written = True
                if on_sent is not None:
                    on_sent(time.monotonic_ns())
        except BaseException:
            conn.pending.pop(request_id, None)
            raise
        return sent

    async def answer(self, sent: Sent) -> Any:
        """The answer to a request of :meth:`start` (written first if the socket could not take it then):
        its ``result``, or the error's exception; :class:`~.errors.OutcomeUnknown` when none comes in time."""
        conn, request_id, method, future = sent.conn, sent.request_id, sent.method, sent.future
        try:
            if not sent.written:
                await conn.ws.send(sent.data.decode())
                sent.written = True
                if sent.on_sent is not None:
                    sent.on_sent(time.monotonic_ns())
            answer = await asyncio.wait_for(future, sent.timeout_s)
        except websockets.ConnectionClosed as exc:  # from send: nothing went out
            if future.done() and not future.cancelled():
                future.exception()  # the reader failed it meanwhile; this answer is the one that counts
            raise NotConnectedError(f"{method}: the connection to {self.url} is closed") from exc
        except TimeoutError:
            self._remember_unanswered(request_id, method)
            message = f"{method}: no answer within {sent.timeout_s} s"
            raise OutcomeUnknown(message, method=method, request_id=request_id) from None
        except OutcomeUnknown:  # the connection closed after the request went out
            self._remember_unanswered(request_id, method)
            raise
        except asyncio.CancelledError:
            if sent.written:
                self._remember_unanswered(request_id, method)
            raise
        finally:
            conn.pending.pop(request_id, None)
        return await self._result(method, answer, conn)

    def abandon(self, sent: Sent) -> None:
        """Nobody will await ``sent``'s answer (its task was cancelled before it ran): forgotten as a request
        cancelled while it waited is. Nothing when :meth:`answer` already saw it through."""
        if sent.conn.pending.pop(sent.request_id, None) is None:
            return
        if sent.written:
            self._remember_unanswered(sent.request_id, sent.method)
        sent.future.cancel()

    def _authorise(self, body: dict[str, ParamValue], auth: Auth) -> dict[str, ParamValue]:
        if auth is Auth.NONE:
            return body
        body["timestamp"] = self.now_ms()
        if self.recv_window_ms is not None:
            body["recvWindow"] = self.recv_window_ms
        if auth is Auth.USER and self._private_key is not None:
            return body  # the session is logged on
        body["apiKey"] = self.credentials.api_key
        payload = signature_payload(body)
        if self._private_key is not None:
            body["signature"] = ed25519_signature(self._private_key, payload)
        else:
            assert isinstance(self.credentials, HmacCredentials)
            body["signature"] = hmac_signature(self.credentials.secret, payload)
        return body

    async def _result(self, method: str, answer: Mapping[str, Any], conn: _Connection) -> Any:
        status = answer.get("status")
        if status == 200:
            return answer.get("result")
        error = answer.get("error")
        if not isinstance(status, int) or not isinstance(error, Mapping) or not isinstance(error.get("code"), int):
            self.stats.malformed += 1
            raise OutcomeUnknown(f"{method}: an answer neither a result nor an error: {answer!r}", method=method)
        exc = error_for(error["code"], str(error.get("msg", "")), status, error.get("data"), method)
        if exc.code == INVALID_TIMESTAMP:
            await self._resync_clock(conn)
        raise exc

    def _remember_unanswered(self, request_id: int, method: str) -> None:
        self.stats.unanswered += 1
        self._late[request_id] = method
        while len(self._late) > LATE_IDS_KEPT:
            self._late.popitem(last=False)

    # -- answers and events ------------------------------------------------------------------------
    def _dispatch(self, conn: _Connection, raw: str | bytes) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.stats.malformed += 1
            return
        if not isinstance(message, dict):
            self.stats.malformed += 1
            return
        event = message.get("event")
        if isinstance(event, dict) and "id" not in message:
            self._on_user_data(event)
            return
        if "rateLimits" in message:
            self._on_rate_limits(message["rateLimits"])
        request_id = message.get("id")
        if not isinstance(request_id, int):
            self.stats.unmatched += 1
            return
        pending = conn.pending.get(request_id)
        if pending is not None:
            if not pending.future.done():
                pending.future.set_result(message)
            return
        method = self._late.pop(request_id, None)
        if method is None:
            self.stats.unmatched += 1
            return
        self.stats.late_replies += 1
        logger.warning("%s (request %d): an answer after the request gave up: %s", method, request_id, message)
        if self.on_late_reply is not None:
            try:
                self.on_late_reply(method, request_id, message)
            except Exception:
                logger.exception("the late reply callback raised")

    def _on_rate_limits(self, raw: object) -> None:
        try:
            limits = parse_rate_limits(raw)
        except MessageError:
            self.stats.malformed += 1
            return
        self.rate_limits = limits
        if self.on_rate_limits is not None:
            try:
                self.on_rate_limits(limits)
            except Exception:
                logger.exception("the rate limits callback raised")

    def _on_user_data(self, event: Mapping[str, Any]) -> None:
        self.stats.events += 1
        parsed = self._parse_event(event)
        if isinstance(parsed, ExecutionReport) and parsed.execution_id and self._duplicate(parsed):
            self.stats.duplicate_events += 1
            return
        if self._stream is not None:
            self._stream._deliver(parsed)

    def _duplicate(self, report: ExecutionReport) -> bool:
        """Seen already while two connections overlapped (a reconnect: both deliver every event then).

        Keys are only kept from an overlap until the next connect or disconnect, so a venue whose
        execution ids start again after a restart never has a new event taken for an old one.
        """
        key = (report.symbol, report.order_id, report.execution_id)
        if key in self._seen:
            return True
        if self._overlaps:
            self._seen[key] = None
            while len(self._seen) > SEEN_EXECUTIONS_KEPT:
                self._seen.popitem(last=False)
        return False

    def _parse_event(self, event: Mapping[str, Any]) -> UserDataEvent:
        kind = event.get("e")
        kind_text = kind if isinstance(kind, str) else ""
        try:
            if kind == "executionReport":
                symbol = event.get("s")
                instrument = self._instruments.get(symbol) if isinstance(symbol, str) else None
                if instrument is None:
                    return OtherEvent(kind_text, event, f"symbol {event.get('s')!r} is not one of the client's")
                return parse_execution_report(event, instrument)
            if kind == "outboundAccountPosition":
                return parse_account_position(event)
        except MessageError as exc:
            self.stats.unparsed_events += 1
            logger.error("a user data event that cannot be read: %s", exc)
            return OtherEvent(kind_text, event, str(exc))
        return OtherEvent(kind_text, event)

    # -- clock --------------------------------------------------------------------------------------
    async def time(self) -> int:
        """The venue's ``serverTime`` (ms)."""
        result = await self._call("time", {}, Auth.NONE)
        return _server_time(result)

    async def sync_clock(self, conn: _Connection | None = None) -> int:
        """Measure :attr:`clock_offset_ms` against ``time`` (the midpoint of the round trip); returns it."""
        before = self.clock_ms()
        result = await self._call("time", {}, Auth.NONE, conn)
        after = self.clock_ms()
        self._clock_offset_ms = _server_time(result) - (before + after) // 2
        self.clock_error_ms = (after - before + 1) // 2 + 2
        self.stats.clock_syncs += 1
        return self._clock_offset_ms

    async def _resync_clock(self, conn: _Connection) -> None:
        """After -1021, on the connection that answered it (the current one may not be ready yet):
        one measurement at a time, however many requests were refused together."""
        if self._resync is None or self._resync.done():
            self._resync = asyncio.create_task(self.sync_clock(conn))
        try:
            offset = await asyncio.shield(self._resync)
        except (BinanceError, OutcomeUnknown, NotConnectedError) as exc:
            logger.warning("could not measure the venue's clock after -1021: %s", exc)
            return
        logger.warning("timestamp outside recvWindow: clock offset now %d ms", offset)

    # -- session and user data ---------------------------------------------------------------------
    async def subscribe_user_data(self, on_event: Callable[[UserDataEvent], None] | None = None) -> UserDataStream:
        """Subscribe this connection to the account's user data; the stream follows reconnects.

        Events go to ``on_event`` when given, otherwise they queue for ``async for``.
        """
        if self._stream is not None:
            return self._stream
        conn = self._conn
        if conn is None:
            raise NotConnectedError(f"userDataStream.subscribe: not connected to {self.url}")
        stream = UserDataStream(on_event)
        self._stream = stream
        try:
            await self._subscribe(stream, conn)
        except BaseException:
            self._stream = None
            raise
        return stream

    async def _subscribe(self, stream: UserDataStream, conn: _Connection) -> None:
        if self._private_key is not None:
            result = await self._call("userDataStream.subscribe", {}, Auth.NONE, conn)
        else:
            result = await self._call("userDataStream.subscribe.signature", {}, Auth.SIGNED, conn)
        subscription = result.get("subscriptionId") if isinstance(result, Mapping) else None
        stream.subscription_id = subscription if isinstance(subscription, int) else None

    # -- trading ------------------------------------------------------------------------------------
    async def place(self, order: OrderParams, *, on_sent: Callable[[int], None] | None = None) -> Any:
        """``order.place`` with parameters from :func:`.messages.order_params` / ``intent_order_params``.

        ``on_sent(monotonic_ns)`` is called once the request's bytes are handed to the socket: where
        tick-to-order ends and the order's round trip starts.
        """
        return await self.answer(self.send_place(order, on_sent=on_sent))

    def send_place(self, order: OrderParams, *, on_sent: Callable[[int], None] | None = None) -> Sent:
        """:meth:`place`'s request, written now when the socket takes it (:meth:`start`); :meth:`answer` awaits it."""
        return self.start("order.place", order, Auth.USER, on_sent=on_sent)

    async def cancel(
        self,
        symbol: str,
        *,
        client_order_id: str | None = None,
        order_id: int | None = None,
        new_client_order_id: str | None = None,
    ) -> Any:
        """``order.cancel`` of the order with ``client_order_id`` (``origClientOrderId``) and/or ``order_id``."""
        return await self.answer(
            self.send_cancel(
                symbol, client_order_id=client_order_id, order_id=order_id, new_client_order_id=new_client_order_id
            )
        )

    def send_cancel(
        self,
        symbol: str,
        *,
        client_order_id: str | None = None,
        order_id: int | None = None,
        new_client_order_id: str | None = None,
    ) -> Sent:
        """:meth:`cancel`'s request, written now when the socket takes it (:meth:`start`)."""
        params = cancel_params(
            symbol, client_order_id=client_order_id, order_id=order_id, new_client_order_id=new_client_order_id
        )
        return self.start("order.cancel", params, Auth.USER)

    async def cancel_replace(
        self,
        new_order: OrderParams,
        *,
        cancel_client_order_id: str | None = None,
        cancel_order_id: int | None = None,
        cancel_new_client_order_id: str | None = None,
        mode: str = "STOP_ON_FAILURE",
        on_sent: Callable[[int], None] | None = None,
    ) -> Any:
        """``order.cancelReplace``: cancel one order, place ``new_order`` on its symbol. A half that failed
        raises -2021 (partially failed) or -2022 (both) with Binance's ``data`` on the exception.
        ``on_sent`` as for :meth:`place`."""
        return await self.answer(
            self.send_cancel_replace(
                new_order,
                cancel_client_order_id=cancel_client_order_id,
                cancel_order_id=cancel_order_id,
                cancel_new_client_order_id=cancel_new_client_order_id,
                mode=mode,
                on_sent=on_sent,
            )
        )

    def send_cancel_replace(
        self,
        new_order: OrderParams,
        *,
        cancel_client_order_id: str | None = None,
        cancel_order_id: int | None = None,
        cancel_new_client_order_id: str | None = None,
        mode: str = "STOP_ON_FAILURE",
        on_sent: Callable[[int], None] | None = None,
    ) -> Sent:
        """:meth:`cancel_replace`'s request, written now when the socket takes it (:meth:`start`)."""
        params = cancel_replace_params(
            new_order,
            cancel_client_order_id=cancel_client_order_id,
            cancel_order_id=cancel_order_id,
            cancel_new_client_order_id=cancel_new_client_order_id,
            mode=mode,
        )
        return self.start("order.cancelReplace", params, Auth.USER, on_sent=on_sent)

    async def cancel_all(self, symbol: str) -> list[Any]:
        """``openOrders.cancelAll``: the cancel reports; ``[]`` when nothing was open (the venue's -2011)."""
        try:
            result = await self._call("openOrders.cancelAll", {"symbol": symbol}, Auth.USER)
        except RejectedError as exc:
            if exc.code == NO_OPEN_ORDERS:
                return []
            raise
        return list(result) if isinstance(result, list) else [result]

    async def order_status(self, symbol: str, client_order_id: str) -> Any:
        """``order.status`` by client order id (:func:`.messages.parse_order` reads it)."""
        params = {"symbol": symbol, "origClientOrderId": check_client_id(client_order_id, "origClientOrderId")}
        return await self._call("order.status", params, Auth.USER)

    async def open_orders(self, symbol: str | None = None) -> list[Any]:
        """``openOrders.status``: one symbol's open orders, or every symbol's."""
        result = await self._call("openOrders.status", {"symbol": symbol} if symbol else {}, Auth.USER)
        return list(result) if isinstance(result, list) else []

    async def exchange_info(self, symbols: Iterable[str] = ()) -> Any:
        """``exchangeInfo`` (of ``symbols``, or every symbol): its ``rateLimits`` seed a rate limiter."""
        names = list(symbols)
        return await self._call("exchangeInfo", {"symbols": names} if names else {}, Auth.NONE)

    async def account_status(self) -> Any:
        """``account.status``: balances, commission rates, permissions."""
        return await self._call("account.status", {}, Auth.USER)

    # -- hooks --------------------------------------------------------------------------------------
    @staticmethod
    def _call_hook(hook: Callable[[str], None] | None, reason: str) -> None:
        if hook is None:
            return
        try:
            hook(reason)
        except Exception:
            logger.exception("a connection hook raised")


def _server_time(result: Any) -> int:
    server = result.get("serverTime") if isinstance(result, Mapping) else None
    if not isinstance(server, int):
        raise OutcomeUnknown(f"time: no serverTime in {result!r}", method="time")
    return server
