"""Binance request signatures: HMAC-SHA256 (hex) and Ed25519 (base64) over the sorted query string.

The payload (:func:`stages.exchange.protocol.signing.signature_payload`) is every
request parameter except ``signature``, sorted by name, written as
``name=value`` and joined with ``&`` (Binance ``web-socket-api.md``, "SIGNED
request example"). Values are written as the client sent them: the gateway
parses JSON numbers as their original text (:class:`JsonNumber`), so a client
that signed ``price=52000.00`` is verified against ``52000.00``, not against a
float's repr. Booleans are ``true``/``false`` as in JSON.

HMAC signatures are case-insensitive hex (Binance says so); Ed25519 ones are
base64 and checked with the ``cryptography`` package. RSA keys are not offered.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from stages.exchange.protocol.signing import hmac_signature


class JsonNumber(str):
    """A JSON number kept as the text it was sent as (``json.loads(parse_int=..., parse_float=...)``)."""

    __slots__ = ()

    def to_python(self) -> int | float:
        try:
            return int(self)
        except ValueError:
            return float(self)


def loads_request(text: str | bytes) -> Any:
    """``json.loads`` that keeps numbers as their original text (for exact signature payloads)."""
    return json.loads(text, parse_int=JsonNumber, parse_float=JsonNumber)


def verify_hmac(secret: str, payload: str, signature: str) -> bool:
    expected = hmac_signature(secret, payload)
    return hmac.compare_digest(expected, signature.lower())


def load_ed25519_public_key(pem: str) -> Ed25519PublicKey:
    """The public key of a PEM text; ``ValueError`` unless it is an Ed25519 public key."""
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"not an Ed25519 public key: {type(key).__name__}")
    return key


def verify_ed25519(key: Ed25519PublicKey, payload: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, payload.encode())
    except InvalidSignature:
        return False
    return True
