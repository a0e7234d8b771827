"""Request signatures, checked against the example in Binance's web-socket-api.md."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from stages.exchange.gateway.signing import (
    JsonNumber,
    hmac_signature,
    load_ed25519_public_key,
    loads_request,
    signature_payload,
    verify_ed25519,
    verify_hmac,
)

# "SIGNED request example (HMAC)" in Binance's web-socket-api.md.
DOCS_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOCS_REQUEST = """{
  "id": "4885f793-e5ad-4c3b-8f6c-55d891472b71",
  "method": "order.place",
  "params": {
    "symbol":           "BTCUSDT",
    "side":             "SELL",
    "type":             "LIMIT",
    "timeInForce":      "GTC",
    "quantity":         "0.01000000",
    "price":            "52000.00",
    "newOrderRespType": "ACK",
    "recvWindow":       100,
    "timestamp":        1645423376532,
    "apiKey":           "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
    "signature":        "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a"
  }
}"""
DOCS_PAYLOAD = (
    "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&newOrderRespType=ACK&price=52000.00"
    "&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
)
DOCS_SIGNATURE = "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a"


def test_should_build_the_documented_payload_from_the_documented_request() -> None:
    params = loads_request(DOCS_REQUEST)["params"]
    assert signature_payload(params) == DOCS_PAYLOAD


def test_should_compute_the_documented_hmac_signature() -> None:
    assert hmac_signature(DOCS_SECRET, DOCS_PAYLOAD) == DOCS_SIGNATURE


def test_should_accept_the_documented_signature_in_either_case_and_nothing_else() -> None:
    assert verify_hmac(DOCS_SECRET, DOCS_PAYLOAD, DOCS_SIGNATURE)
    assert verify_hmac(DOCS_SECRET, DOCS_PAYLOAD, DOCS_SIGNATURE.upper())
    assert not verify_hmac(DOCS_SECRET, DOCS_PAYLOAD.replace("SELL", "BUY"), DOCS_SIGNATURE)
    assert not verify_hmac(DOCS_SECRET, DOCS_PAYLOAD, "0" * 64)
    assert not verify_hmac(DOCS_SECRET, DOCS_PAYLOAD, "not hex at all")


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
