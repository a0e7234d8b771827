"""SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY and Binance's error replies."""

from __future__ import annotations

import gc
import tracemalloc
import uuid
from typing import Any

import orjson
import pytest

from stages.exchange.publisher.session import ClientSession
from stages.exchange.publisher.streams import (
    MAX_STREAMS_PER_CONNECTION,
    STREAMS_PER_SYMBOL,
    StreamCatalog,
    StreamSpec,
)
from stages.exchange.publisher.subscriptions import SubscriptionHandler


class NoConnection:
    async def send(self, message: bytes, *, text: bool | None = None) -> None:
        raise AssertionError("not used")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        raise AssertionError("not used")


class Rig:
    def __init__(self) -> None:
        self.session = ClientSession(NoConnection(), combined=False, max_queue=10, on_slow=lambda s: None)
        self.subscribed: list[str] = []
        self.unsubscribed: list[str] = []
        self.handler = SubscriptionHandler(StreamCatalog(["BTCUSDT", "ETHUSDT"]), self._sub, self._unsub)

    def _sub(self, session: ClientSession, spec: StreamSpec) -> None:
        self.subscribed.append(spec.name)

    def _unsub(self, session: ClientSession, name: str) -> None:
        self.unsubscribed.append(name)

    def send(self, request: Any) -> Any:
        text = request if isinstance(request, str) else orjson.dumps(request).decode()
        return orjson.loads(self.handler.handle(self.session, text))


def test_subscribe_list_unsubscribe_round_trip() -> None:
    rig = Rig()
    assert rig.send({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "btcusdt@depth"], "id": 1}) == {
        "result": None, "id": 1,
    }
    assert rig.send({"method": "LIST_SUBSCRIPTIONS", "id": 3}) == {
        "result": ["btcusdt@aggTrade", "btcusdt@depth"], "id": 3,
    }
    assert rig.send({"method": "UNSUBSCRIBE", "params": ["btcusdt@depth", "ethusdt@trade"], "id": 312}) == {
        "result": None, "id": 312,
    }
    assert rig.send({"method": "LIST_SUBSCRIPTIONS", "id": "abc"}) == {"result": ["btcusdt@aggTrade"], "id": "abc"}
    assert rig.subscribed == ["btcusdt@aggTrade", "btcusdt@depth"]
    assert rig.unsubscribed == ["btcusdt@depth"]  # not subscribed to ethusdt@trade: nothing to undo


def test_uuid_ids_are_accepted_and_echoed_as_sent() -> None:
    rig = Rig()
    request_id = str(uuid.uuid4())
    assert rig.send({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": request_id}) == {
        "result": None, "id": request_id,
    }
    assert rig.send({"method": "LIST_SUBSCRIPTIONS", "id": request_id.upper()}) == {
        "result": ["btcusdt@trade"], "id": request_id.upper(),
    }
    assert rig.send({"method": "LIST_SUBSCRIPTIONS", "id": -(2**63)})["id"] == -(2**63)
    assert rig.send({"method": "LIST_SUBSCRIPTIONS", "id": None}) == {"result": ["btcusdt@trade"], "id": None}


def test_subscribing_twice_subscribes_once() -> None:
    rig = Rig()
    rig.send({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1})
    rig.send({"method": "SUBSCRIBE", "params": ["btcusdt@trade", "btcusdt@trade"], "id": 2})
    assert rig.subscribed == ["btcusdt@trade"]


def test_an_invalid_stream_refuses_the_whole_subscribe() -> None:
    rig = Rig()
    reply = rig.send({"method": "SUBSCRIBE", "params": ["btcusdt@trade", "btcusdt@nope"], "id": 7})
    assert reply == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 7}
    assert rig.subscribed == [] and rig.session.streams == {}


def test_combined_property_can_be_read_and_set() -> None:
    rig = Rig()
    assert rig.send({"method": "GET_PROPERTY", "params": ["combined"], "id": 2}) == {"result": False, "id": 2}
    assert rig.send({"method": "SET_PROPERTY", "params": ["combined", True], "id": 5}) == {"result": None, "id": 5}
    assert rig.session.combined is True
    assert rig.send({"method": "GET_PROPERTY", "params": ["combined"], "id": 6}) == {"result": True, "id": 6}


@pytest.mark.parametrize(
    ("request_text", "code", "msg"),
    [
        ('{"method": "SUBSCRIBE", ', 3, "Invalid JSON: "),
        ("[1, 2]", 2, "Invalid request: invalid type"),
        ('{"method": "SUBSCRIBE", "params": []}', 2, "Invalid request: request ID must be an unsigned integer"),
        ('{"method": "SUBSCRIBE", "params": [], "id": 1.5}', 2, "Invalid request: request ID must be an unsigned"),
        ('{"method": "SUBSCRIBE", "params": [], "id": "a_b"}', 2, "Invalid request: request ID must be an unsigned"),
        ('{"method": "SUBSCRIBE", "params": [], "id": "%s"}' % ("a" * 37), 2, "Invalid request: request ID must be"),
        ('{"method": "SUBSCRIBE", "params": [], "id": ""}', 2, "Invalid request: request ID must be an unsigned"),
        ('{"method": "SUBSCRIBE", "params": [], "id": true}', 2, "Invalid request: request ID must be an unsigned"),
        ('{"params": [], "id": 1}', 2, "Invalid request: missing field `method` at line 1 column"),
        (
            '{"method": "FOO", "id": 1}',
            2,
            "Invalid request: unknown variant `FOO`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, "
            "`LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 column",
        ),
        ('{"method": "SUBSCRIBE", "id": 1}', 2, "Invalid request: missing field `params`"),
        ('{"method": "SUBSCRIBE", "params": [1], "id": 1}', 2, "Invalid request: invalid stream"),
        ('{"method": "SUBSCRIBE", "params": "btcusdt@trade", "id": 1}', 2, "Invalid request: invalid stream"),
        ('{"method": "LIST_SUBSCRIPTIONS", "params": ["x"], "id": 1}', 2, "Invalid request: too many parameters"),
        ('{"method": "SET_PROPERTY", "params": ["nope", true], "id": 1}', 0, "Unknown property"),
        ('{"method": "SET_PROPERTY", "params": ["combined", 1], "id": 1}', 1, "Invalid value type: expected Boolean"),
        ('{"method": "SET_PROPERTY", "params": [1, true], "id": 1}', 2, "Invalid request: property name must be a"),
        ('{"method": "GET_PROPERTY", "params": ["combined", 1], "id": 1}', 2, "Invalid request: too many parameters"),
    ],
)
def test_bad_requests_get_binance_errors(request_text: str, code: int, msg: str) -> None:
    reply = Rig().send(request_text)
    assert reply["error"]["code"] == code
    assert reply["error"]["msg"].startswith(msg), reply
    if code == 3 or "request ID" in msg or "invalid type" in msg:
        assert "id" not in reply  # the id could not be read
    else:
        assert reply["id"] == 1


def test_a_connection_holds_at_most_1024_streams() -> None:
    rig = Rig()
    intervals = ["1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d"]
    kinds = ["trade", "aggTrade", "bookTicker", "ticker", "miniTicker", "depth", "depth@100ms"]
    kinds += [f"depth{n}{s}" for n in (5, 10, 20) for s in ("", "@100ms")] + [f"kline_{i}" for i in intervals]
    names = [f"{sym}@{kind}" for sym in ("btcusdt", "ethusdt") for kind in kinds]
    assert rig.send({"method": "SUBSCRIBE", "params": names, "id": 1}) == {"result": None, "id": 1}
    assert len(names) < MAX_STREAMS_PER_CONNECTION  # every stream of both symbols fits
    rig.session.streams.update(dict.fromkeys(f"x{i}" for i in range(MAX_STREAMS_PER_CONNECTION - len(names))))
    reply = rig.send({"method": "SUBSCRIBE", "params": ["btcusdt@trade", "ethusdt@depth5@100ms"], "id": 2})
    assert reply == {"result": None, "id": 2}  # already subscribed: nothing new
    rig.send({"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 3})
    rig.session.streams["y"] = None
    reply = rig.send({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 4})
    assert reply["error"]["code"] == 2 and "too many streams" in reply["error"]["msg"]


def test_a_subscribe_naming_more_than_1024_streams_is_refused_before_any_lookup() -> None:
    rig = Rig()
    too_many = {"error": {"code": 2, "msg": "Invalid request: too many streams (at most 1024)"}, "id": 1}
    assert rig.send({"method": "SUBSCRIBE", "params": ["btcusdt@trade"] * 1025, "id": 1}) == too_many
    assert rig.send({"method": "SUBSCRIBE", "params": [f"x{i}" for i in range(1025)], "id": 1}) == too_many
    assert rig.subscribed == [] and rig.session.streams == {}
    assert rig.send({"method": "SUBSCRIBE", "params": ["btcusdt@trade"] * 1024, "id": 2}) == {"result": None, "id": 2}


def test_a_reply_never_grows_with_what_the_client_sent() -> None:
    rig = Rig()
    huge = "X" * 60_000
    reply = rig.handler.handle(rig.session, orjson.dumps({"method": huge, "id": 1}))
    assert len(reply) < 400
    assert orjson.loads(reply)["error"]["msg"].startswith(f"Invalid request: unknown variant `{'X' * 64}...`")
    reply = rig.handler.handle(rig.session, orjson.dumps({"method": "SUBSCRIBE", "params": [huge], "id": 2}))
    assert orjson.loads(reply) == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 2}


def test_a_flood_of_unique_oversized_names_leaves_no_memory_behind() -> None:
    """The reported defect: each unique invalid name used to be cached (64 KB each, up to 65,536 of them)."""
    rig = Rig()
    name_bytes = 64 * 1024 - 64  # what fits in one control message
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(256):  # 16 MB of names
            name = f"{i:08d}".ljust(name_bytes, "x")
            reply = rig.handler.handle(rig.session, orjson.dumps({"method": "SUBSCRIBE", "params": [name], "id": i}))
            assert orjson.loads(reply)["error"]["msg"] == "Invalid request: invalid stream"
        del name, reply
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert retained < 256 * 1024, f"{retained} bytes retained"
    assert len(rig.handler.catalog) == 2 * STREAMS_PER_SYMBOL
