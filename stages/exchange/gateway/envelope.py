"""The request envelope ``{"id", "method", "params"}``, checked before anything runs.

Every answer echoes the request's ``id``, so an ``id`` the answer could not
carry would leave a command executed and never answered. Ids are what Binance
documents for them: a signed 64-bit integer, a string of at most 36
characters, or null. Strings must also be printable (no control characters, no
lone surrogates, which JSON output cannot hold). A frame that fails any of
this is :class:`MalformedRequestError`: answered with -1000, ``"id": null`` when
the ``id`` itself is the problem, and the connection stays open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from hftpipe.schema.fixedpoint import INT64_MAX, INT64_MIN
from stages.exchange.gateway.request_json import JsonNumber, loads_request

RequestId = int | str | None
MAX_ID_LENGTH: Final = 36
INVALID_ID: Final = (
    f"'id' must be a signed 64-bit integer, a string of at most {MAX_ID_LENGTH} printable characters, or null"
)
_INTEGER: Final = re.compile(r"-?[0-9]{1,19}")
"""At most 19 digits (2^63 has 19), so ``int()`` never meets a number too long to convert."""


class MalformedRequestError(ValueError):
    """A frame that is no request; ``request_id`` is what its answer echoes (None when it has no usable id)."""

    def __init__(self, detail: str, request_id: RequestId = None) -> None:
        super().__init__(detail)
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Envelope:
    id: RequestId
    method: str
    """Without a ``v3/`` prefix."""
    params: dict[str, Any]


def parse_envelope(data: str | bytes) -> Envelope:
    """One WebSocket frame as a request; :class:`MalformedRequestError` for anything else."""
    try:
        message = loads_request(data)
    except ValueError as exc:  # UnicodeDecodeError and too deep nesting included
        raise MalformedRequestError(str(exc)) from None
    if not isinstance(message, dict):
        raise MalformedRequestError("expected a JSON object")
    request_id = request_id_of(message.get("id"))
    method = message.get("method")
    params = message.get("params")
    if params is None:
        params = {}
    if not isinstance(method, str) or isinstance(method, JsonNumber) or not isinstance(params, dict):
        raise MalformedRequestError("'method' must be a string and 'params' an object", request_id)
    return Envelope(request_id, method.removeprefix("v3/"), params)


def request_id_of(value: Any) -> RequestId:
    """The ``id`` as the answer will echo it; :class:`MalformedRequestError` unless Binance allows it."""
    if value is None:
        return None
    if isinstance(value, JsonNumber):
        if _INTEGER.fullmatch(value) and INT64_MIN <= (number := int(value)) <= INT64_MAX:
            return number
    elif isinstance(value, str) and len(value) <= MAX_ID_LENGTH and value.isprintable():
        return value
    raise MalformedRequestError(INVALID_ID)
