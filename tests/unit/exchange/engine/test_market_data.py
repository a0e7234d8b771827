"""The engine's market data on md-<SYMBOL>: trades and level deltas per command, ids, drops and snapshots.

A replica that applies the BOOK_DELTA records (as the publisher does) must
equal the engine's own book after every command; update ids run 1, 2, 3, ...
with no gap while nothing is dropped; a full ring drops whole commands, counts
them and is healed by one snapshot that rebuilds exactly the engine's book.
"""

from __future__ import annotations

from typing import Any

from hftpipe.schema.exchange import Command, Event
from hftpipe.schema.marketdata import BookAction, BookSide
from hftpipe.schema.records import RecordType
from hftpipe.schema.trading import OrderSide
from hftpipe.substrate.counters import CounterKind
from tests.unit.exchange.engine.conftest import MakeHarness
from tests.unit.exchange.engine.flow import random_commands
from tests.unit.exchange.engine.harness import END, REPLAY, SNAPSHOT, EngineHarness, Replica, engine_depth

BID, ASK = int(BookSide.BID), int(BookSide.ASK)
BUY, SELL = int(OrderSide.BUY), int(OrderSide.SELL)


def groups(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Records split after each END_OF_UPDATE (one command's, or one snapshot)."""
    out: list[list[dict[str, Any]]] = [[]]
    for r in records:
        out[-1].append(r)
        if r["flags"] & END:
            out.append([])
    assert out[-1] == [], "market data ended inside an update"
    return out[:-1]


def test_should_publish_a_commands_trades_then_its_level_deltas_with_the_next_update_ids(
    make_harness: MakeHarness,
) -> None:
    h = make_harness()
    for price, qty in ((10000, 500), (10000, 300), (10100, 200)):
        h.send(Command.NEW_ORDER, account=1, side=SELL, order_type=0, tif=0, price=price, qty=qty)
    h.send(Command.NEW_ORDER, account=2, side=BUY, order_type=0, tif=0, price=9900, qty=100)
    h.run()
    assert [(r["update_id"], r["first_update_id"], r["price"], r["qty"]) for r in h.market_data()] == [
        (1, 1, 10000, 500), (2, 2, 10000, 800), (3, 3, 10100, 200), (4, 4, 9900, 100),
    ]  # fmt: skip
    sent = h.send(Command.NEW_ORDER, account=3, side=BUY, order_type=0, tif=0, price=10100, qty=1200, flags=REPLAY)
    h.run()
    records = h.market_data()
    assert [
        (r["rtype"], r["flags"], r["price"], r["qty"], r.get("trade_id"), r.get("aggressor"), r.get("update_id"),
         r.get("first_update_id"), r.get("side"))
        for r in records
    ] == [
        (RecordType.TRADE, REPLAY, 10000, 500, 1, BID, None, None, None),
        (RecordType.TRADE, REPLAY, 10000, 300, 2, BID, None, None, None),
        (RecordType.TRADE, REPLAY, 10100, 200, 3, BID, None, None, None),
        (RecordType.BOOK_DELTA, REPLAY, 10000, 0, None, None, 5, 5, ASK),
        (RecordType.BOOK_DELTA, REPLAY, 10100, 0, None, None, 6, 5, ASK),
        (RecordType.BOOK_DELTA, REPLAY | END, 10100, 200, None, None, 7, 5, BID),  # the taker's remainder rests
    ]  # fmt: skip
    assert all(
        (r["seq"], r["ts_venue"], r["ts_origin"], r["ts_hop"]) == (sent["seq"], sent["ts_venue"], sent["ts_origin"],
                                                                    h.stamped(sent["ts_hop"], r["ts_hop"]))
        for r in records
    )  # fmt: skip


def test_should_keep_a_replica_equal_to_the_engines_book_with_contiguous_update_ids(make_harness: MakeHarness) -> None:
    h = make_harness()
    replica = Replica()
    last_id = 0
    for cmd, fields in random_commands(1500, seed=11):
        h.send(cmd, **fields)
        h.run()
        events = h.events()
        records = h.market_data()
        taker_trades = [
            (e["last_price"], e["last_qty"], e["trade_id"], e["side"])
            for e in events
            if e["event"] == Event.TRADE and not e["is_maker"]
        ]
        assert [(r["price"], r["qty"], r["trade_id"], r["aggressor"]) for r in records
                if r["rtype"] == RecordType.TRADE] == taker_trades  # fmt: skip
        deltas = [r for r in records if r["rtype"] == RecordType.BOOK_DELTA]
        assert [r["update_id"] for r in deltas] == list(range(last_id + 1, last_id + 1 + len(deltas)))
        assert {r["first_update_id"] for r in deltas} <= {last_id + 1}
        if records:
            assert [r["flags"] & END for r in records] == [0] * (len(records) - 1) + [END]
            # Trades first, then deltas.
            kinds = [r["rtype"] for r in records]
            assert kinds == sorted(kinds, key=lambda k: k != RecordType.TRADE)
        last_id += len(deltas)
        replica.apply(records)
        assert replica.depth() == engine_depth(h)
    assert last_id == h.stage.processor.update_id > 1000
    assert h.counter(CounterKind.DROPS) == 0 and h.counter("md_snapshots") == 0


def test_should_drop_whole_commands_when_the_ring_is_full_and_heal_with_one_snapshot(
    make_harness: MakeHarness,
) -> None:
    h = make_harness(md_capacity=64)
    flow = random_commands(600, seed=5)
    replica = Replica()
    for cmd, fields in flow[:300]:  # nobody reads the market data: the ring fills, then commands drop
        h.send(cmd, **fields)
        h.run()
    h.events()
    dropped = h.counter(CounterKind.DROPS)
    assert dropped > 0 and h.stage.market_data.dirty
    before = groups(h.market_data())
    assert sum(len(g) for g in before) <= 64
    assert 1 + len(h.stage.engine.bids) + len(h.stage.engine.asks) <= 64  # a snapshot fits the ring
    replica.apply([r for g in before for r in g])
    h.run()  # room again: the snapshot goes out on the next duty cycle, with no command
    healed = groups(h.market_data())
    assert len(healed) == 1 and h.counter("md_snapshots") == 1 and not h.stage.market_data.dirty
    snapshot = healed[0]
    assert snapshot[0]["action"] == BookAction.CLEAR
    assert all(r["flags"] & SNAPSHOT and r["rtype"] == RecordType.BOOK_DELTA for r in snapshot)
    assert {r["update_id"] for r in snapshot} == {h.stage.processor.update_id}
    bids, asks = engine_depth(h)
    assert [(r["side"], r["price"], r["qty"]) for r in snapshot[1:]] == [(BID, p, q) for p, q in bids] + [
        (ASK, p, q) for p, q in asks
    ]
    replica.apply(snapshot)
    assert replica.depth() == engine_depth(h) and replica.snapshots == 1
    # Incremental again from the snapshot's update id on, read in time this time.
    for cmd, fields in flow[300:]:
        h.send(cmd, **fields)
        h.run()
        records = h.market_data()
        for r in records:
            if r["rtype"] == RecordType.BOOK_DELTA:
                assert r["update_id"] == replica.update_id + 1 and not r["flags"] & SNAPSHOT
                replica.apply([r])
            else:
                replica.apply([r])
        assert replica.depth() == engine_depth(h)
    assert h.counter(CounterKind.DROPS) == dropped
    assert h.counter("md_records") == len(h.md_bytes)


def test_should_publish_nothing_for_a_command_that_left_the_book_alone(make_harness: MakeHarness) -> None:
    h: EngineHarness = make_harness()
    h.step(Command.CANCEL, account=1, order_id=5)
    h.step(Command.NEW_ORDER, account=1, side=BUY, order_type=0, tif=0, price=10000, qty=0)
    h.step(Command.DEPTH, journaled=False, qty=5)
    assert h.market_data() == [] and h.stage.processor.update_id == 0
