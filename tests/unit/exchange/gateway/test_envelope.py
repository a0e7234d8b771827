"""The request envelope: what an ``id`` may be, and frames that are no request."""

from __future__ import annotations

import pytest

from stages.exchange.gateway.envelope import Envelope, MalformedRequestError, parse_envelope


@pytest.mark.parametrize(
    ("text", "request_id"),
    [("9223372036854775807", 2**63 - 1), ("-9223372036854775808", -(2**63)), ("-0", 0),
     ('"' + "x" * 36 + '"', "x" * 36), ('"e9c1-ü"', "e9c1-ü"), ('""', ""), ("null", None)],
)
def test_should_keep_every_id_binance_allows(text: str, request_id: int | str | None) -> None:
    envelope = parse_envelope('{"id": ' + text + ', "method": "v3/ping"}')
    assert envelope == Envelope(request_id, "ping", {})
    assert type(envelope.id) is type(request_id)


@pytest.mark.parametrize(
    "text",
    ["9223372036854775808", "-9223372036854775809", "1" * 5000, "1.0", "1e3", "NaN", "true", "[]", "{}",
     '"' + "x" * 37 + '"', '"a\\u0000"', '"\\ud800"', '"tab\\t"'],
)
def test_should_refuse_any_other_id_with_no_id_to_echo(text: str) -> None:
    with pytest.raises(MalformedRequestError, match="'id' must be") as caught:
        parse_envelope('{"id": ' + text + ', "method": "ping"}')
    assert caught.value.request_id is None


@pytest.mark.parametrize(
    ("frame", "request_id"),
    [(b"\xff", None), ("", None), ("[1]", None), ("[" * 100_000, None), ('{"a": ' + "{" * 5000, None),
     ('{"id": 3, "method": "ping", "params": ' + "[" * 5000 + "]" * 5000 + "}", None),
     ('{"id": 4, "method": 7}', 4), ('{"id": "x", "method": "ping", "params": [1]}', "x"), ('{"id": 5}', 5)],
)
def test_should_call_everything_else_malformed_never_raise_otherwise(frame: str | bytes, request_id: object) -> None:
    with pytest.raises(MalformedRequestError) as caught:
        parse_envelope(frame)
    assert caught.value.request_id == request_id
