"""The error a request path raises: a catalogued Binance error plus how it is answered.

The gateway's WebSocket API and the publisher's REST API both answer a failed
request with Binance's ``{"code", "msg"}`` object (and an HTTP-like status);
the codes and texts come from :mod:`hftpipe.schema.exchange_errors`.
"""

from __future__ import annotations

from typing import Any

from hftpipe.schema.exchange_errors import RejectReason, from_wire, generic


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
