"""A market-data client's subscription requests: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS (and the properties).

Requests and replies follow ``web-socket-streams.md``: ``{"method", "params",
"id"}`` in, ``{"result": ..., "id": ...}`` out, or ``{"error": {"code", "msg"},
"id": ...}`` for a bad request (``id`` left out when it could not be read).
Request ids are what Binance takes: a 64-bit integer, null, or a text of at
most 36 letters, digits and ``-`` (the official SDK sends ``uuid4`` strings);
every reply echoes the id as sent. Error codes and texts are Binance's: 0 unknown property, 1 wrong value type,
2 invalid request, 3 invalid JSON. A SUBSCRIBE naming any stream not served
here is refused as a whole (``"Invalid request: invalid stream"``) and changes
nothing; so is one naming more than 1024 streams, before any name is looked up.
A reply never grows with what the client sent: an unknown method is echoed
truncated, and stream names are never echoed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import orjson

from stages.exchange.publisher.session import ClientSession
from stages.exchange.publisher.streams import MAX_STREAMS_PER_CONNECTION, StreamCatalog, StreamSpec

METHODS: Final = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_ID_TEXT: Final = re.compile(r"[A-Za-z0-9-]{1,36}")
"""A text id as Binance takes it: up to 36 letters, digits and ``-`` (so a ``uuid4`` string fits)."""
_ECHO_MAX: Final = 64
"""At most this much of an unknown method is echoed back in the error."""
_INT64: Final = range(-(2**63), 2**63)
INVALID_STREAM: Final = "Invalid request: invalid stream"
TOO_MANY_STREAMS: Final = f"Invalid request: too many streams (at most {MAX_STREAMS_PER_CONNECTION})"
BAD_ID: Final = "Invalid request: request ID must be an unsigned integer"
_NO_ID: Final = object()


class SubscriptionError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def _valid_id(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value in _INT64
    return isinstance(value, str) and _ID_TEXT.fullmatch(value) is not None


def _echo(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _ECHO_MAX else f"{text[:_ECHO_MAX]}..."


def _column(text: str | bytes) -> int:
    return len(text) + 1


class SubscriptionHandler:
    """Answers one client's control messages; (un)subscribes through the given callbacks."""

    def __init__(
        self,
        catalog: StreamCatalog,
        subscribe: Callable[[ClientSession, StreamSpec], None],
        unsubscribe: Callable[[ClientSession, str], None],
    ) -> None:
        self.catalog = catalog
        self._subscribe = subscribe
        self._unsubscribe = unsubscribe

    def handle(self, session: ClientSession, message: str | bytes) -> bytes:
        """The reply to one message (always exactly one)."""
        request_id: Any = _NO_ID
        try:
            try:
                request = orjson.loads(message)
            except orjson.JSONDecodeError as exc:
                raise SubscriptionError(3, f"Invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
            if not isinstance(request, dict):
                raise SubscriptionError(2, "Invalid request: invalid type, expected a JSON object at line 1 column 1")
            if "id" not in request or not _valid_id(request["id"]):
                raise SubscriptionError(2, BAD_ID)
            request_id = request["id"]
            if "method" not in request:
                raise SubscriptionError(
                    2, f"Invalid request: missing field `method` at line 1 column {_column(message)}"
                )
            method = request["method"]
            if method not in METHODS:
                expected = ", ".join(f"`{m}`" for m in METHODS)
                raise SubscriptionError(
                    2,
                    f"Invalid request: unknown variant `{_echo(method)}`, expected one of {expected} "
                    f"at line 1 column {_column(message)}",
                )
            result = self._dispatch(session, method, request.get("params"))
        except SubscriptionError as exc:
            error: dict[str, Any] = {"error": {"code": exc.code, "msg": exc.msg}}
            if request_id is not _NO_ID:
                error["id"] = request_id
            return orjson.dumps(error)
        return orjson.dumps({"result": result, "id": request_id})

    def _dispatch(self, session: ClientSession, method: str, params: Any) -> Any:
        if method == "LIST_SUBSCRIPTIONS":
            if params:
                raise SubscriptionError(2, "Invalid request: too many parameters")
            return list(session.streams)
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            names = self._stream_names(params)
            if method == "UNSUBSCRIBE":
                for name in names:
                    if name in session.streams:
                        del session.streams[name]
                        self._unsubscribe(session, name)
                return None
            specs = [self.catalog.parse(name) for name in names]
            if any(spec is None for spec in specs):
                raise SubscriptionError(2, INVALID_STREAM)
            new = {spec.name: spec for spec in specs if spec is not None and spec.name not in session.streams}
            if len(session.streams) + len(new) > MAX_STREAMS_PER_CONNECTION:
                raise SubscriptionError(2, TOO_MANY_STREAMS)
            for spec in new.values():
                session.streams[spec.name] = None
                self._subscribe(session, spec)
            return None
        # SET_PROPERTY / GET_PROPERTY: "combined" is the only property.
        if not isinstance(params, list) or not params or not isinstance(params[0], str):
            raise SubscriptionError(2, "Invalid request: property name must be a string")
        if len(params) > (2 if method == "SET_PROPERTY" else 1):
            raise SubscriptionError(2, "Invalid request: too many parameters")
        if params[0] != "combined":
            raise SubscriptionError(0, "Unknown property")
        if method == "GET_PROPERTY":
            return session.combined
        if len(params) < 2 or not isinstance(params[1], bool):
            raise SubscriptionError(1, "Invalid value type: expected Boolean")
        session.combined = params[1]
        return None

    @staticmethod
    def _stream_names(params: Any) -> list[str]:
        if params is None:
            raise SubscriptionError(2, "Invalid request: missing field `params`")
        if not isinstance(params, list) or not all(isinstance(name, str) for name in params):
            raise SubscriptionError(2, INVALID_STREAM)
        if len(params) > MAX_STREAMS_PER_CONNECTION:
            raise SubscriptionError(2, TOO_MANY_STREAMS)
        return list(params)
