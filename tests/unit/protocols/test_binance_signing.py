"""Request signatures, checked against the example in Binance's web-socket-api.md."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePrivateKey, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    KeySerializationEncryption,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from hftpipe.protocols.binance_signing import (
    ed25519_signature,
    hmac_signature,
    load_ed25519_private_key,
    load_ed25519_public_key,
    signature_payload,
    verify_ed25519,
    verify_hmac,
)
from stages.exchange.gateway.request_json import JsonNumber, loads_request
from tests.unit.protocols.signing_example import PAYLOAD, REQUEST, SECRET, SIGNATURE


def test_should_build_the_documented_payload_from_the_documented_request() -> None:
    params = loads_request(REQUEST)["params"]
    assert signature_payload(params) == PAYLOAD


def test_should_compute_the_documented_hmac_signature() -> None:
    assert hmac_signature(SECRET, PAYLOAD) == SIGNATURE


def test_should_accept_the_documented_signature_in_either_case_and_nothing_else() -> None:
    assert verify_hmac(SECRET, PAYLOAD, SIGNATURE)
    assert verify_hmac(SECRET, PAYLOAD, SIGNATURE.upper())
    assert not verify_hmac(SECRET, PAYLOAD.replace("SELL", "BUY"), SIGNATURE)
    assert not verify_hmac(SECRET, PAYLOAD, "0" * 64)
    assert not verify_hmac(SECRET, PAYLOAD, "not hex at all")


def test_should_call_non_ascii_and_unsignable_texts_invalid_rather_than_raise() -> None:
    for signature in ("é" * 64, SIGNATURE[:-1] + "\u0661", "\ud800"):
        assert not verify_hmac(SECRET, PAYLOAD, signature)
    assert not verify_hmac(SECRET, PAYLOAD + "\ud800", SIGNATURE)
    public = load_ed25519_public_key(
        Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    )
    assert not verify_ed25519(public, PAYLOAD, "é" * 88)
    assert not verify_ed25519(public, PAYLOAD + "\ud800", base64.b64encode(b"0" * 64).decode())


def test_should_sign_numbers_as_sent_not_as_floats() -> None:
    params = loads_request('{"price": 52000.00, "quantity": 1e-5, "flag": true, "n": 7}')
    assert isinstance(params["price"], JsonNumber)
    assert signature_payload(params) == "flag=true&n=7&price=52000.00&quantity=1e-5"
    assert params["n"].to_python() == 7 and params["price"].to_python() == 52000.0


def test_should_verify_ed25519_signatures_like_the_docs_python_example() -> None:
    private = Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    public = load_ed25519_public_key(pem)
    payload = signature_payload({"apiKey": "k", "symbol": "BTCUSDT", "timestamp": JsonNumber("1668481559918")})
    signature = base64.b64encode(private.sign(payload.encode("ASCII"))).decode("ASCII")
    assert verify_ed25519(public, payload, signature)
    assert not verify_ed25519(public, payload + "&x=1", signature)
    assert not verify_ed25519(public, payload, "%%%not base64")
    assert not verify_ed25519(load_ed25519_public_key(pem), payload, base64.b64encode(b"0" * 64).decode())


def _pkcs8(
    private: Ed25519PrivateKey | EllipticCurvePrivateKey, encryption: KeySerializationEncryption | None = None
) -> bytes:
    return private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption or NoEncryption())


def test_should_sign_with_a_pem_private_key_what_the_public_key_verifies() -> None:
    private = Ed25519PrivateKey.generate()
    pem = _pkcs8(private)
    public_pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    payload = signature_payload({"apiKey": "k", "timestamp": 1668481559918})
    for text in (pem, pem.decode()):
        signature = ed25519_signature(load_ed25519_private_key(text), payload)
        assert signature == base64.b64encode(private.sign(payload.encode("ASCII"))).decode("ASCII")
        assert verify_ed25519(load_ed25519_public_key(public_pem), payload, signature)


def test_should_refuse_a_private_key_that_is_not_ed25519_or_needs_a_password() -> None:
    with pytest.raises(ValueError, match="not an Ed25519 private key"):
        load_ed25519_private_key(_pkcs8(generate_private_key(SECP256R1())))
    locked = _pkcs8(Ed25519PrivateKey.generate(), BestAvailableEncryption(b"secret"))
    with pytest.raises(TypeError):
        load_ed25519_private_key(locked)
    assert isinstance(load_ed25519_private_key(locked, b"secret"), Ed25519PrivateKey)
