"""What a failed Binance request means for the caller: one classification table, one exception per class.

Binance answers a failed request with an HTTP-like ``status`` and an error
``{"code", "msg"}`` (``errors.md``, ``web-socket-api.md``). What matters to a
trading system is not the text but what it may do next:

================  ======================================================================================
class             meaning and what to do
================  ======================================================================================
UNKNOWN_OUTCOME   the request may or may not have executed (any 5xx; -1006, -1007): never call it a
                  rejection, reconcile (``order.status`` by client order id) before acting
TRANSIENT         refused before it ran, the venue is busy (-1001, -1008): the same request may be sent
                  again after a short pause
BACK_OFF          over a rate limit (-1003, -1015, status 429): nothing more until ``retry_after_ms``
                  (or a backoff); continuing leads to a ban
BANNED            status 418: the IP is banned until ``retry_after_ms``
NEVER_RETRY       refused for what it asked (-1013 filters, -2010 new order rejected, -2011 cancel
                  rejected, -2013 no such order, -1021 timestamp, -1022 signature, and every code not
                  listed): sending it again gets the same answer
================  ======================================================================================

The status decides first (5xx, 418, 429), then the code. A request that got
no answer at all (a timeout, a connection lost after it was sent) raises
:class:`OutcomeUnknown` from the client; an :class:`UnknownOutcomeError` is
one too, so one ``except OutcomeUnknown`` covers both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from stages.trading.execution.error_class import ErrorClass

ERROR_CLASSES: Final[Mapping[int, ErrorClass]] = {
    -1006: ErrorClass.UNKNOWN_OUTCOME,  # UNEXPECTED_RESP: execution status unknown
    -1007: ErrorClass.UNKNOWN_OUTCOME,  # TIMEOUT: send status unknown, execution status unknown
    -1001: ErrorClass.TRANSIENT,  # DISCONNECTED: internal error, try again
    -1008: ErrorClass.TRANSIENT,  # SERVER_BUSY: overloaded, try again later
    -1003: ErrorClass.BACK_OFF,  # TOO_MANY_REQUESTS: request weight over the limit
    -1015: ErrorClass.BACK_OFF,  # TOO_MANY_ORDERS: order count over the limit
    -1013: ErrorClass.NEVER_RETRY,  # INVALID_MESSAGE: filter failure
    -1021: ErrorClass.NEVER_RETRY,  # INVALID_TIMESTAMP: outside recvWindow (the client resyncs its clock)
    -1022: ErrorClass.NEVER_RETRY,  # INVALID_SIGNATURE
    -2010: ErrorClass.NEVER_RETRY,  # NEW_ORDER_REJECTED
    -2011: ErrorClass.NEVER_RETRY,  # CANCEL_REJECTED
    -2013: ErrorClass.NEVER_RETRY,  # NO_SUCH_ORDER
}
"""Binance error code -> class, where the code alone decides (``errors.md`` names in the comments)."""

DEFAULT_CLASS: Final = ErrorClass.NEVER_RETRY
"""Every code not in the table: a malformed or refused request does not get better by repetition."""

INVALID_TIMESTAMP: Final = -1021
NO_OPEN_ORDERS: Final = -2011
"""``openOrders.cancelAll`` on a symbol with nothing open answers ``-2011``."""


def classify(code: int, status: int) -> ErrorClass:
    """The class of an error answer: its status first (5xx, 418, 429), then its code."""
    if status >= 500:
        return ErrorClass.UNKNOWN_OUTCOME
    if status == 418:
        return ErrorClass.BANNED
    if status == 429:
        return ErrorClass.BACK_OFF
    return ERROR_CLASSES.get(code, DEFAULT_CLASS)


# ------------------------------------------------------------------------------------------ exceptions
class VenueError(Exception):
    """Anything the venue client raises for a request."""


class NotConnectedError(VenueError):
    """The request was not sent: no connection (it cannot have executed)."""


class OutcomeUnknown(VenueError):  # noqa: N818 - the name is the instruction: the order may or may not exist
    """The request may or may not have executed: no answer in time, or the connection closed after it was
    sent, or the venue said so (:class:`UnknownOutcomeError`). Never a rejection: reconcile first."""

    def __init__(self, message: str, *, method: str = "", request_id: int | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.request_id = request_id


class BinanceError(VenueError):
    """The venue answered with an error: HTTP-like ``status``, Binance ``code`` and ``msg``, optional ``data``.

    ``retry_after_ms`` is the venue's ``data.retryAfter`` (a wall-clock time in ms) when it sent one.
    """

    error_class: ErrorClass = DEFAULT_CLASS

    def __init__(self, code: int, msg: str, status: int = 400, data: Any = None, method: str = "") -> None:
        super().__init__(f"{method + ': ' if method else ''}{code} {msg} (status {status})")
        self.code = code
        self.msg = msg
        self.status = status
        self.data = data
        self.method = method
        retry_after = data.get("retryAfter") if isinstance(data, Mapping) else None
        self.retry_after_ms: int | None = retry_after if isinstance(retry_after, int) else None


class UnknownOutcomeError(BinanceError, OutcomeUnknown):
    """5xx, -1006, -1007: the venue itself does not know whether the request executed."""

    error_class = ErrorClass.UNKNOWN_OUTCOME


class TransientError(BinanceError):
    """-1001, -1008: refused before it ran; the same request may be sent again after a pause."""

    error_class = ErrorClass.TRANSIENT


class BackOffError(BinanceError):
    """-1003, -1015, status 429: over a rate limit; wait (``retry_after_ms`` when given)."""

    error_class = ErrorClass.BACK_OFF


class BannedError(BackOffError):
    """Status 418: the IP is banned until ``retry_after_ms``."""

    error_class = ErrorClass.BANNED


class RejectedError(BinanceError):
    """Refused for what it asked: sending it again gets the same answer."""

    error_class = ErrorClass.NEVER_RETRY


_EXCEPTIONS: Final[Mapping[ErrorClass, type[BinanceError]]] = {
    ErrorClass.UNKNOWN_OUTCOME: UnknownOutcomeError,
    ErrorClass.TRANSIENT: TransientError,
    ErrorClass.BACK_OFF: BackOffError,
    ErrorClass.BANNED: BannedError,
    ErrorClass.NEVER_RETRY: RejectedError,
}


def error_for(code: int, msg: str, status: int, data: Any = None, method: str = "") -> BinanceError:
    """The exception of an error answer, of its class."""
    return _EXCEPTIONS[classify(code, status)](code, msg, status, data, method)
