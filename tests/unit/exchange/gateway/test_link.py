"""Answers correlated by request id; user data routed by account; slow readers dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from hftpipe.schema.exchange import Command, Event, OrderStatus
from hftpipe.schema.exchange_codec import CommandRecord, EventRecord, encode_id
from stages.exchange.gateway.formatter import Formatter
from stages.exchange.gateway.link import AccountingLink, Item
from stages.exchange.gateway.session import Session
from stages.exchange.gateway.user_data import UserData
from stages.exchange.protocol.api_error import ApiError
from stages.exchange.protocol.settings import ExchangeSettings
from tests.unit.exchange.gateway.harness import exchange_table

END = 1


class Outbox:
    """A stand-in for gw-acct's output port: keeps what was offered and the stamp it would carry,
    or refuses when ``full``."""

    def __init__(self) -> None:
        self.records: list[CommandRecord] = []
        self.stamps: list[int] = []
        self.full = False

    def offer(self, data: bytes, now: int) -> bool:
        if self.full:
            return False
        self.records.append(CommandRecord.unpack_from(data))
        self.stamps.append(now)
        return True


@pytest.fixture
def parts(tmp_path: Path) -> tuple[AccountingLink, UserData, Outbox]:
    settings = ExchangeSettings.from_raw(exchange_table(tmp_path))
    user_data = UserData(Formatter(settings))
    outbox = Outbox()
    link = AccountingLink(outbox, user_data=user_data)  # type: ignore[arg-type]  # the link only offers
    return link, user_data, outbox


def session() -> Session:
    return Session(ip="127.0.0.1", connected_since_ms=0, _queue=asyncio.Queue())


def sent(s: Session) -> list[dict[str, Any]]:
    out = []
    while not s._queue.empty():
        item = s._queue.get_nowait()
        if item is not None:
            out.append(orjson.loads(item))
    return out


def ev(event: Event, request_id: int, account: int, **fields: Any) -> EventRecord:
    body: dict[str, Any] = {"instrument": 1, "ts_venue": 10**18, **fields}
    return EventRecord(request_id=request_id, account=account, event=int(event), **body)


def test_should_collect_an_answer_until_its_done_and_route_user_data_by_account(
    parts: tuple[AccountingLink, UserData, Outbox],
) -> None:
    link, user_data, outbox = parts
    taker, maker = session(), session()
    user_data.subscribe(taker, 1)
    user_data.subscribe(maker, 2)
    answers: list[list[Item]] = []
    request_id = link.send(CommandRecord(command=int(Command.NEW_ORDER), account=1), answers.append, lambda: None, 5)
    command = outbox.records[-1]
    assert command.request_id == request_id and command.ts_origin == outbox.stamps[-1] > 0  # made, stamped now
    open_status = int(OrderStatus.PARTIALLY_FILLED)
    for record in (
        ev(Event.NEW, request_id, 1, order_id=9, price=5, qty=3, client_order_id=encode_id("t")),
        ev(Event.TRADE, 0, 2, order_id=4, is_maker=1, last_qty=1, cum_qty=1, status=open_status),
        ev(Event.TRADE, request_id, 1, order_id=9, last_qty=1, cum_qty=1, status=open_status),
        ev(Event.BALANCE, request_id, 2, commission_asset=2, qty=7),
        ev(Event.BALANCE, request_id, 1, commission_asset=1, qty=8),
    ):
        link.feed(record)
    assert not answers
    link.feed(ev(Event.DONE, request_id, 1, flags=END))
    # NEW, the taker's TRADE, two BALANCEs, DONE: the maker's TRADE (request id 0) is no part of the answer
    assert [record.event for record, _ in answers[0]] == [1, 2, 7, 7, 10]
    taker_events = [m["event"]["e"] for m in sent(taker)]
    maker_events = [m["event"] for m in sent(maker)]
    assert taker_events == ["executionReport", "executionReport", "outboundAccountPosition"]
    assert [e["e"] for e in maker_events] == ["executionReport", "outboundAccountPosition"]
    assert maker_events[0]["m"] is True
    assert maker_events[1]["B"] == [{"a": "USDT", "f": "0.00000007", "l": "0.00000000"}]
    assert len(link) == 0


def test_should_not_push_query_answers(parts: tuple[AccountingLink, UserData, Outbox]) -> None:
    link, user_data, _ = parts
    watcher = session()
    user_data.subscribe(watcher, 1)
    answers: list[list[Item]] = []
    query = CommandRecord(command=int(Command.ACCOUNT_STATUS), account=1)
    request_id = link.send(query, answers.append, lambda: None, 5)
    link.feed(ev(Event.BALANCE, request_id, 1, commission_asset=1, qty=8))
    link.feed(ev(Event.DONE, request_id, 1, flags=END))
    assert len(answers[0]) == 2 and sent(watcher) == []


def test_should_time_out_then_forget_late_answers(parts: tuple[AccountingLink, UserData, Outbox]) -> None:
    link, _, outbox = parts
    timeouts: list[int] = []
    answers: list[list[Item]] = []
    request_id = link.send(CommandRecord(command=int(Command.CANCEL)), answers.append, lambda: timeouts.append(1), 1)
    now = outbox.stamps[-1]
    link.sweep(now + 500_000_000)
    assert not timeouts
    link.sweep(now + 1_000_000_000)
    assert timeouts == [1] and len(link) == 1
    link.feed(ev(Event.DONE, request_id, 0, flags=END))  # late: consumed, not answered twice
    assert not answers and len(link) == 0 and link.unmatched == 0
    link.feed(ev(Event.DONE, 12345, 0, flags=END))
    assert link.unmatched == 1
    link.send(CommandRecord(command=int(Command.CANCEL)), answers.append, lambda: None, 1)
    link.sweep(now + 10**15)
    link.sweep(now + 10**15)
    assert len(link) == 0


def test_should_refuse_when_the_ring_is_full(parts: tuple[AccountingLink, UserData, Outbox]) -> None:
    link, _, outbox = parts
    outbox.full = True
    with pytest.raises(ApiError) as caught:
        link.send(CommandRecord(), lambda items: None, lambda: None, 1)
    assert (caught.value.status, caught.value.code) == (503, -1008) and link.full == 1


def test_should_drop_a_client_that_does_not_read() -> None:
    class Transport:
        aborted = False

        def abort(self) -> None:
            self.aborted = True

    class Socket:
        transport = Transport()

    reader = session()
    reader.max_queue = 2
    reader.websocket = Socket()  # type: ignore[assignment]
    for _ in range(3):
        reader.send({"x": 1})
    assert reader.overflowed and reader.closed and Socket.transport.aborted
    reader.send({"x": 2})  # after closing: ignored
    assert reader._queue.qsize() == 3  # two messages and the writer's stop mark
