"""The error a request path raises: a catalogued Binance error plus how it is answered.

The gateway's WebSocket API and the publisher's REST API both answer a failed
request with Binance's ``{"code", "msg"}`` object (and an HTTP-like status);
the codes and texts come from :mod:`hftpipe.schema.exchange_errors`.
"""

from __future__ import annotations

from typing import Any, Final

from hftpipe.schema.exchange_errors import RejectReason, from_wire, generic

NO_ENDPOINT_CODE: Final = -1
"""The code of an HTTP 404 (no such path) or 405 (path known, method not): no Binance code names those."""


class ApiError(Exception):
    """A request failed: HTTP-like ``status``, Binance ``code`` and ``msg``, optional ``data``."""

    def __init__(self, code: int, msg: str, status: int = 400, data: Any = None) -> None:
        super().__init__(f"{int(code)}: {msg}")
        self.code = int(code)
        self.msg = msg
        self.status = status
        self.data = data

    @classmethod
    def of(cls, reason: RejectReason, status: int = 400, data: Any = None) -> ApiError:
        """The catalogued error ``reason``."""
        return cls(reason.code, reason.message, status, data)

    @classmethod
    def for_code(cls, code: int, status: int = 400) -> ApiError:
        """``code`` with its generic text."""
        return cls.of(generic(code), status)

    @classmethod
    def rejected(cls, code: int, reason: int) -> ApiError:
        """An EX_EVENT REJECTED (its ``reject_code`` and ``reject_reason``) as the error it stands for."""
        return cls.of(from_wire(code, reason))

    def error_object(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.data is not None:
            error["data"] = self.data
        return error

    @classmethod
    def no_endpoint(cls, method: str, path: str) -> ApiError:
        """HTTP 404: nothing is served at ``path``."""
        return cls(NO_ENDPOINT_CODE, f"No such endpoint: {method[:16]} {path[:128]}", status=404)

    @classmethod
    def wrong_method(cls, method: str, path: str, allowed: tuple[str, ...]) -> ApiError:
        """HTTP 405: ``path`` exists, but not for ``method``."""
        return cls(
            NO_ENDPOINT_CODE, f"Method {method[:16]} not allowed for {path[:128]}: use {', '.join(allowed)}", status=405
        )
