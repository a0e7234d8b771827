"""WebSocket API requests as JSON whose numbers keep the text they were sent as.

A signed request is verified against the parameters exactly as the client
wrote them (:func:`hftpipe.protocols.binance_signing.signature_payload`), so
``52000.00`` must not come back as the float ``52000.0``.
"""

from __future__ import annotations

import json
from typing import Any


class JsonNumber(str):
    """A JSON number kept as the text it was sent as (``json.loads(parse_int=..., parse_float=...)``)."""

    __slots__ = ()

    def to_python(self) -> int | float:
        try:
            return int(self)
        except ValueError:
            return float(self)


def loads_request(text: str | bytes) -> Any:
    """``json.loads`` that keeps numbers as their original text (for exact signature payloads).

    Raises ``ValueError`` for anything that is not JSON, nesting too deep for
    the decoder's recursion included: a hostile frame must be an error to
    answer, not a ``RecursionError`` that escapes the connection handler.
    """
    try:
        return json.loads(text, parse_int=JsonNumber, parse_float=JsonNumber)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
