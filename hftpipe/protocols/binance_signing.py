"""Binance request signatures, in one place: the exchange's gateway verifies, its flow and the venue client sign.

The payload is every request parameter except ``signature``, sorted by name,
written as ``name=value`` and joined with ``&`` (Binance ``web-socket-api.md``,
"SIGNED request example"). Values are written as the client sent them:
strings as they are (the gateway keeps JSON numbers as their original text, a
``str`` subclass, so a client that signed ``price=52000.00`` is verified
against ``52000.00``, not against a float's repr), booleans ``true``/``false``
as in JSON.

HMAC-SHA256 signatures are hex, lower case when made here and accepted in
either case (Binance says so); Ed25519 ones are base64, made with a PEM
private key and checked with a PEM public key (the ``cryptography`` package).
RSA keys are not offered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key


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


def verify_hmac(secret: str, payload: str, signature: str) -> bool:
    """False, never an exception, for any text a client sends (a hex signature is ASCII; a payload
    with a lone surrogate cannot be encoded, so no client can have signed it)."""
    if not signature.isascii():
        return False
    try:
        expected = hmac_signature(secret, payload)
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, signature.lower())


def load_ed25519_public_key(pem: str) -> Ed25519PublicKey:
    """The public key of a PEM text; ``ValueError`` unless it is an Ed25519 public key."""
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"not an Ed25519 public key: {type(key).__name__}")
    return key


def load_ed25519_private_key(pem: str | bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    """The private key of a PEM text (PKCS#8, as ``openssl genpkey -algorithm ed25519`` writes it);
    ``ValueError`` unless it is an Ed25519 private key, ``TypeError`` if a password is missing or not needed."""
    key = load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"not an Ed25519 private key: {type(key).__name__}")
    return key


def ed25519_signature(key: Ed25519PrivateKey, payload: str) -> str:
    """Base64 Ed25519 signature of ``payload`` (ASCII), as Binance's docs make it."""
    return base64.b64encode(key.sign(payload.encode("ascii"))).decode("ascii")


def verify_ed25519(key: Ed25519PublicKey, payload: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, payload.encode())
    except (InvalidSignature, UnicodeEncodeError):
        return False
    return True
