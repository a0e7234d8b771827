"""Binance error codes and messages (``errors.md``), as one exception the request path raises.

Messages are Binance's own texts, with ``%s`` filled in where the docs have one,
so a client that matches on them keeps working.
"""

from __future__ import annotations

from typing import Any, Final

from hftpipe.schema.exchange import REJECT_MESSAGES


class ApiError(Exception):
    """A request failed: HTTP-like ``status``, Binance ``code`` and ``msg``, optional ``data``."""

    def __init__(self, code: int, msg: str, status: int = 400, data: Any = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.data = data

    def error_object(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.data is not None:
            error["data"] = self.data
        return error


UNKNOWN: Final = -1000
TIMEOUT: Final = -1007
SERVER_BUSY: Final = -1008
INVALID_MESSAGE: Final = -1013
UNSUPPORTED_OPERATION: Final = -1020
INVALID_TIMESTAMP: Final = -1021
INVALID_SIGNATURE: Final = -1022
ILLEGAL_CHARS: Final = -1100
MANDATORY_PARAM: Final = -1102
PARAM_NOT_REQUIRED: Final = -1106
BAD_PRECISION: Final = -1111
INVALID_TIF: Final = -1115
INVALID_ORDER_TYPE: Final = -1116
INVALID_SIDE: Final = -1117
BAD_SYMBOL: Final = -1121
PARAMS_BAD_COMBO: Final = -1128
INVALID_CANCEL_RESTRICTIONS: Final = -1145
NEW_ORDER_REJECTED: Final = -2010
CANCEL_REJECTED: Final = -2011
NO_SUCH_ORDER: Final = -2013
BAD_API_KEY_FMT: Final = -2014
REJECTED_MBX_KEY: Final = -2015
CANCEL_REPLACE_PARTIAL: Final = -2021
CANCEL_REPLACE_FAILED: Final = -2022
TOO_MANY_REQUESTS: Final = -1003
TOO_MANY_ORDERS: Final = -1015

_DEFAULT_MESSAGES: Final = {
    UNKNOWN: "An unknown error occurred while processing the request.",
    TIMEOUT: "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
    SERVER_BUSY: "Server is currently overloaded with other requests. Please try again in a few minutes.",
    INVALID_MESSAGE: "The request is rejected by the API.",
    UNSUPPORTED_OPERATION: "This operation is not supported.",
    INVALID_SIGNATURE: "Signature for this request is not valid.",
    BAD_SYMBOL: "Invalid symbol.",
    NEW_ORDER_REJECTED: "NEW_ORDER_REJECTED",
    CANCEL_REJECTED: "CANCEL_REJECTED",
    NO_SUCH_ORDER: "Order does not exist.",
    BAD_API_KEY_FMT: "API-key format invalid.",
    REJECTED_MBX_KEY: "Invalid API-key, IP, or permissions for action.",
}


def api_error(code: int, msg: str | None = None, status: int = 400, data: Any = None) -> ApiError:
    return ApiError(code, msg if msg is not None else _DEFAULT_MESSAGES.get(code, "Request rejected."), status, data)


def mandatory(name: str) -> ApiError:
    return ApiError(MANDATORY_PARAM, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def one_of(first: str, second: str) -> ApiError:
    return ApiError(MANDATORY_PARAM, f"Param '{first}' or '{second}' must be sent, but both were empty/null!")


def not_required(name: str) -> ApiError:
    return ApiError(PARAM_NOT_REQUIRED, f"Parameter '{name}' sent when not required.")


def illegal(name: str, legal: str) -> ApiError:
    return ApiError(ILLEGAL_CHARS, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def too_precise(name: str) -> ApiError:
    return ApiError(BAD_PRECISION, f"Parameter '{name}' has too much precision.")


def bad_symbol() -> ApiError:
    return api_error(BAD_SYMBOL)


def timestamp_outside_window() -> ApiError:
    return ApiError(INVALID_TIMESTAMP, "Timestamp for this request is outside of the recvWindow.")


def timestamp_ahead() -> ApiError:
    return ApiError(INVALID_TIMESTAMP, "Timestamp for this request was 1000ms ahead of the server's time.")


def invalid_key() -> ApiError:
    return api_error(REJECTED_MBX_KEY, status=401)


def reject_error(code: int, reason: int) -> ApiError:
    """An EX_EVENT REJECTED as the Binance error it stands for."""
    message = REJECT_MESSAGES[reason] if 0 < reason < len(REJECT_MESSAGES) else ""
    return api_error(code, message or None)
