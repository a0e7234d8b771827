"""The feed stage sends the resubscriptions its adapter asks for on the connection being read."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hftpipe.runtime import StageContext
from stages.marketdata.capture.format import CaptureWriter, EventKind, parse_line
from stages.marketdata.feed.stage import FeedStage
from tests.unit.marketdata.feed.pipeline import PAIR, FeedPipeline

URL = "wss://ws.kraken.com"


class FakeConnection:
    """What ``_read`` uses of a WebSocket connection: async iteration over messages, and ``send``."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        self.sent: list[str] = []

    def __aiter__(self) -> AsyncIterator[str]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[str]:
        for message in self.messages:
            yield message

    async def send(self, text: str) -> None:
        self.sent.append(text)


@pytest.fixture
def feed_ctx(feed_pipeline: Callable[..., FeedPipeline]) -> StageContext:
    return feed_pipeline().feed


def _levels(prices: list[str]) -> list[list[str]]:
    return [[price, "1.00000000", "1600000000.000000"] for price in prices]


def _kraken_messages() -> list[str]:
    snapshot = {"as": _levels([f"{100 + i}.00000" for i in range(1, 11)]),
                "bs": _levels([f"{100 - i}.00000" for i in range(10)])}
    return [
        json.dumps({"event": "systemStatus", "status": "online"}),
        json.dumps([7, snapshot, "book-10", PAIR]),
        json.dumps([7, {"a": _levels(["100.50000"]), "c": "12345"}, "book-10", PAIR]),  # the wrong checksum
        json.dumps([7, {"a": _levels(["100.60000"]), "c": "12345"}, "book-10", PAIR]),  # ignored: resyncing
    ]


def _expected_texts() -> list[dict[str, Any]]:
    book = {"name": "book", "depth": 10}
    return [
        {"event": "unsubscribe", "pair": [PAIR], "subscription": book},
        {"event": "subscribe", "pair": [PAIR], "subscription": book},
    ]


def test_should_send_the_resubscription_after_a_checksum_mismatch_on_the_connection(feed_ctx: StageContext) -> None:
    stage = FeedStage(feed_ctx)
    connection = FakeConnection(_kraken_messages())

    asyncio.run(stage._read(connection, URL))  # type: ignore[arg-type]

    assert [json.loads(text) for text in connection.sent] == _expected_texts()
    assert stage.adapter.stats[PAIR].checksum_failures == 1
    assert stage.adapter.stats[PAIR].dropped == 1
    assert not stage.adapter.synced[PAIR]
    assert feed_ctx.counters.add("resubscribes").value == 1
    assert stage.adapter.take_resubscribe_requests() == []  # all of it was sent


def test_should_record_the_resubscription_as_sent_events(feed_ctx: StageContext) -> None:
    stage = FeedStage(feed_ctx)
    recorded = io.StringIO()
    stage._recorder = CaptureWriter(recorded)
    connection = FakeConnection(_kraken_messages())

    asyncio.run(stage._read(connection, URL))  # type: ignore[arg-type]

    events = [e for e in map(parse_line, recorded.getvalue().splitlines()) if e is not None]
    sent = [e for e in events if e.kind is EventKind.SENT]
    assert [json.loads(e.payload) for e in sent] == _expected_texts()
    assert {e.url for e in sent} == {URL}
    assert sum(e.kind is EventKind.RECEIVED for e in events) == len(connection.messages)
