"""Binance's signature payload and HMAC-SHA256: one recipe for the gateway (verifies) and the flow (signs).

The payload is every request parameter except ``signature``, sorted by name,
written as ``name=value`` and joined with ``&`` (Binance ``web-socket-api.md``,
"SIGNED request example"). Values are written as the client sent them: strings
as they are (the gateway keeps JSON numbers as their original text, a ``str``
subclass, so ``price=52000.00`` stays ``52000.00``), booleans ``true``/``false``
as in JSON. HMAC signatures are lower-case hex.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


def param_text(value: Any) -> str:
    """A parameter value as it appears in the signature payload."""
    if isinstance(value, str):  # a JSON number kept as text included: its original text
        return str.__str__(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, separators=(",", ":"))


def signature_payload(params: Mapping[str, Any]) -> str:
    """``k=v&...`` over every parameter but ``signature``, sorted by name."""
    return "&".join(f"{name}={param_text(params[name])}" for name in sorted(params) if name != "signature")


def hmac_signature(secret: str, payload: str) -> str:
    """Lower-case hex HMAC-SHA256 of ``payload`` keyed with ``secret`` (both ASCII)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
