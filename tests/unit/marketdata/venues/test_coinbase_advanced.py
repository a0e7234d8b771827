"""Coinbase Advanced Trade level2/market_trades/heartbeats, from messages in the documented format.

No capture of this feed exists; the messages below follow the Advanced Trade
WebSocket documentation (envelope ``channel``/``client_id``/``timestamp``/
``sequence_num``/``events``; ``l2_data`` sides ``bid``/``offer``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.marketdata import BookSide, BookState
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.venues.adapter import ResubscribeRequest
from stages.marketdata.venues.coinbase.advanced import CoinbaseAdvancedAdapter
from tests.unit.marketdata.venues.problems import assert_one_problem
from tests.unit.marketdata.venues.sink_books import book_as_decimals

BID, ASK = int(BookSide.BID), int(BookSide.ASK)
URL = "wss://advanced-trade-ws.coinbase.com"
PRODUCTS = ("BTC-USD", "ETH-USD")
STAMP = "2023-02-09T20:32:50.714964855Z"
STAMP_NS = 1675974770714964855


def envelope(channel: str, sequence: int, events: Any, timestamp: str = STAMP) -> str:
    return json.dumps(
        {"channel": channel, "client_id": "", "timestamp": timestamp, "sequence_num": sequence, "events": events}
    )


def level(side: str, price: str, qty: str, event_time: str = "2023-02-09T20:32:50.691612Z") -> dict[str, str]:
    return {"side": side, "event_time": event_time, "price_level": price, "new_quantity": qty}


def l2(sequence: int, kind: str, product: str, *updates: dict[str, str]) -> str:
    return envelope("l2_data", sequence, [{"type": kind, "product_id": product, "updates": list(updates)}])


def snapshot(sequence: int, product: str, bids: dict[str, str], asks: dict[str, str]) -> str:
    epoch = "1970-01-01T00:00:00Z"  # what the venue writes as event_time in snapshots
    return l2(sequence, "snapshot", product, *[level("bid", p, q, epoch) for p, q in bids.items()],
              *[level("offer", p, q, epoch) for p, q in asks.items()])


def heartbeat(sequence: int, counter: int) -> str:
    return envelope("heartbeats", sequence, [{"current_time": "2023-02-09 20:32:51.12 +0000 UTC m=+91717.52",
                                             "heartbeat_counter": counter}])


def trades(sequence: int, kind: str, *rows: dict[str, str]) -> str:
    return envelope("market_trades", sequence, [{"type": kind, "trades": list(rows)}])


def trade(trade_id: str, product: str, price: str, size: str, side: str, time: str) -> dict[str, str]:
    return {"trade_id": trade_id, "product_id": product, "price": price, "size": size, "side": side, "time": time}


BTC_BIDS = {"21921.73": "0.06317902", "21921.30": "0.00001000", "21920.00": "1.5"}
BTC_ASKS = {"21922.20": "0.01000000", "21925.00": "2", "21930.55": "0.1"}
ETH_BIDS = {"1640.10": "3.2", "1640.00": "10"}
ETH_ASKS = {"1640.50": "1.25", "1641.00": "4"}


def as_decimals(book: dict[str, str]) -> dict[Decimal, Decimal]:
    return {Decimal(p): Decimal(q) for p, q in book.items()}


def synced() -> tuple[CoinbaseAdvancedAdapter, BooksSink, InstrumentRegistry]:
    """Subscriptions acknowledged (seq 0..1), both books snapshotted (seq 2, 3): next sequence_num is 4."""
    registry = InstrumentRegistry()
    sink = BooksSink()
    adapter = CoinbaseAdvancedAdapter(sink, registry, symbols=PRODUCTS)
    adapter.on_message(envelope("subscriptions", 0, [{"subscriptions": {"level2": list(PRODUCTS)}}]), 1)
    adapter.on_message(envelope("subscriptions", 1, [{"subscriptions": {"level2": list(PRODUCTS),
                                                                         "market_trades": list(PRODUCTS)}}]), 2)
    adapter.on_message(snapshot(2, "BTC-USD", BTC_BIDS, BTC_ASKS), 3)
    adapter.on_message(snapshot(3, "ETH-USD", ETH_BIDS, ETH_ASKS), 4)
    return adapter, sink, registry


def state(sink: BooksSink, registry: InstrumentRegistry, symbol: str) -> BookState:
    return sink.states.get(registry.by_symbol("coinbase-advanced", symbol).id, BookState.RESYNCING)


# -- books -------------------------------------------------------------------------------------
def test_should_build_each_book_from_its_snapshot_and_updates_exactly() -> None:
    adapter, sink, registry = synced()
    for symbol, bids, asks in (("BTC-USD", BTC_BIDS, BTC_ASKS), ("ETH-USD", ETH_BIDS, ETH_ASKS)):
        assert state(sink, registry, symbol) is BookState.SYNCED
        assert book_as_decimals(sink, registry, symbol) == {"bids": as_decimals(bids), "asks": as_decimals(asks)}

    adapter.on_message(l2(4, "update", "BTC-USD", level("bid", "21921.73", "0"), level("bid", "21921.50", "0.2"),
                          level("offer", "21922.20", "0.005")), 5)
    adapter.on_message(heartbeat(5, 1), 6)
    adapter.on_message(l2(6, "update", "ETH-USD", level("offer", "1641.00", "0"), level("offer", "1640.90", "7")), 7)
    adapter.on_message(l2(7, "update", "BTC-USD", level("bid", "21900", "0")), 8)  # absent level: a no-op

    btc = book_as_decimals(sink, registry, "BTC-USD")
    assert btc["bids"] == {Decimal("21921.50"): Decimal("0.2"), Decimal("21921.30"): Decimal("0.00001"),
                           Decimal("21920"): Decimal("1.5")}
    assert btc["asks"] == {Decimal("21922.20"): Decimal("0.005"), Decimal("21925"): Decimal("2"),
                           Decimal("21930.55"): Decimal("0.1")}
    eth = book_as_decimals(sink, registry, "ETH-USD")
    assert eth == {"bids": as_decimals(ETH_BIDS),
                   "asks": {Decimal("1640.50"): Decimal("1.25"), Decimal("1640.90"): Decimal("7")}}
    # Update ids are the message's sequence_num; one END per atomic update.
    assert (adapter.update_ids["BTC-USD"], adapter.update_ids["ETH-USD"]) == (7, 6)
    ids = {registry.by_symbol("coinbase-advanced", s).id: s for s in PRODUCTS}
    assert {ids[i]: n for i, n in sink.updates.items()} == {"BTC-USD": 3, "ETH-USD": 2}
    for symbol, n in (("BTC-USD", 3), ("ETH-USD", 2)):
        stats = adapter.stats[symbol]
        assert (stats.messages, stats.applied, stats.dropped, stats.gaps, stats.resyncs) == (n, n, 0, 0, 0)
    assert adapter.last_sequence == 7
    assert sink.crossed_updates == {}
    assert (adapter.problems.malformed, adapter.problems.unknown, adapter.problems.rejected_values) == (0, 0, 0)


def test_should_apply_several_events_of_one_message_as_separate_atomic_updates() -> None:
    adapter, sink, registry = synced()
    adapter.on_message(envelope("l2_data", 4, [
        {"type": "update", "product_id": "BTC-USD", "updates": [level("bid", "21921.74", "1")]},
        {"type": "update", "product_id": "ETH-USD", "updates": [level("bid", "1640.20", "1")]},
    ]), 5)
    assert book_as_decimals(sink, registry, "BTC-USD")["bids"][Decimal("21921.74")] == 1
    assert book_as_decimals(sink, registry, "ETH-USD")["bids"][Decimal("1640.20")] == 1
    assert adapter.update_ids == {"BTC-USD": 4, "ETH-USD": 4}


def test_should_drop_updates_before_a_products_snapshot() -> None:
    registry = InstrumentRegistry()
    sink = BooksSink()
    adapter = CoinbaseAdvancedAdapter(sink, registry, symbols=PRODUCTS)
    adapter.on_message(l2(0, "update", "BTC-USD", level("bid", "1", "1")), 1)
    assert adapter.stats["BTC-USD"].dropped == 1
    assert state(sink, registry, "BTC-USD") is BookState.RESYNCING
    adapter.on_message(snapshot(1, "BTC-USD", BTC_BIDS, BTC_ASKS), 2)
    assert state(sink, registry, "BTC-USD") is BookState.SYNCED
    assert book_as_decimals(sink, registry, "BTC-USD") == {"bids": as_decimals(BTC_BIDS), "asks": as_decimals(BTC_ASKS)}


def test_should_resync_one_product_when_an_update_crosses_its_book() -> None:
    adapter, sink, registry = synced()
    adapter.on_message(l2(4, "update", "ETH-USD", level("bid", "1640.60", "1")), 5)  # above the 1640.50 ask
    assert state(sink, registry, "ETH-USD") is BookState.RESYNCING
    assert state(sink, registry, "BTC-USD") is BookState.SYNCED
    assert adapter.problems.rejected_values == 1
    [request] = adapter.take_resubscribe_requests()
    body = {"product_ids": ["ETH-USD"], "channel": "level2"}
    assert [json.loads(m) for m in request.messages] == [{"type": "unsubscribe", **body}, {"type": "subscribe", **body}]
    adapter.on_message(l2(5, "update", "ETH-USD", level("bid", "1600", "1")), 6)
    assert adapter.stats["ETH-USD"].dropped == 1
    assert adapter.stats["ETH-USD"].resyncs == 1
    assert adapter.stats["ETH-USD"].gaps == 0


# -- sequence gaps -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "jump",
    [
        l2(6, "update", "BTC-USD", level("bid", "21921.74", "1")),  # sequence 5 lost
        heartbeat(9, 2),  # any channel counts
        l2(3, "update", "BTC-USD", level("bid", "21921.74", "1")),  # backwards: a repeat or reordering
        trades(5000, "update", trade("1", "BTC-USD", "21922.20", "0.1", "BUY", "2023-02-09T20:32:51.1Z")),
    ],
    ids=["skipped-one", "heartbeat", "backwards", "trades"],
)
def test_should_resync_every_product_and_resubscribe_after_a_sequence_gap(jump: str) -> None:
    adapter, sink, registry = synced()
    adapter.on_message(l2(4, "update", "BTC-USD", level("bid", "21921.73", "0.5")), 5)
    btc_before = book_as_decimals(sink, registry, "BTC-USD")

    adapter.on_message(jump, 6)

    assert adapter.sequence_gaps == 1
    for symbol in PRODUCTS:
        assert state(sink, registry, symbol) is BookState.RESYNCING
        assert not adapter.synced[symbol]
        stats = adapter.stats[symbol]
        assert (stats.gaps, stats.resyncs) == (1, 1)
    [request] = adapter.take_resubscribe_requests()
    assert request == ResubscribeRequest(PRODUCTS, request.messages)
    body = {"product_ids": list(PRODUCTS), "channel": "level2"}
    assert [json.loads(m) for m in request.messages] == [{"type": "unsubscribe", **body}, {"type": "subscribe", **body}]
    # The gap's own update is not applied: the book is unknown until a snapshot.
    assert book_as_decimals(sink, registry, "BTC-USD") == btc_before

    # Counting continues from the gap's message; updates wait for the snapshots.
    sequence = json.loads(jump)["sequence_num"] + 1
    adapter.on_message(l2(sequence, "update", "ETH-USD", level("bid", "1600", "1")), 7)
    assert adapter.stats["ETH-USD"].dropped == 1
    adapter.on_message(snapshot(sequence + 1, "ETH-USD", {"1700": "1"}, {"1701": "2"}), 8)
    assert state(sink, registry, "ETH-USD") is BookState.SYNCED
    assert book_as_decimals(sink, registry, "ETH-USD") == {"bids": {Decimal(1700): Decimal(1)},
                                                           "asks": {Decimal(1701): Decimal(2)}}
    assert state(sink, registry, "BTC-USD") is BookState.RESYNCING
    assert adapter.sequence_gaps == 1
    assert adapter.take_resubscribe_requests() == []


def test_should_ask_again_after_a_second_gap_while_resyncing() -> None:
    adapter, _, _ = synced()
    adapter.on_message(heartbeat(10, 1), 1)
    adapter.on_message(heartbeat(20, 2), 2)  # the snapshots asked for may have been in this gap
    assert adapter.sequence_gaps == 2
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [PRODUCTS, PRODUCTS]
    assert adapter.stats["BTC-USD"].gaps == 2


def test_should_include_subscribed_products_not_seen_yet_in_the_resubscription() -> None:
    registry = InstrumentRegistry()
    adapter = CoinbaseAdvancedAdapter(BooksSink(), registry, symbols=("BTC-USD", "SOL-USD"))
    adapter.on_message(snapshot(0, "BTC-USD", BTC_BIDS, BTC_ASKS), 1)
    adapter.on_message(heartbeat(2, 1), 2)
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [("BTC-USD", "SOL-USD")]


def test_should_start_counting_afresh_on_a_new_connection() -> None:
    adapter, sink, registry = synced()
    adapter.on_disconnect(5)
    assert all(state(sink, registry, s) is BookState.RESYNCING for s in PRODUCTS)
    assert adapter.last_sequence is None
    adapter.on_message(envelope("subscriptions", 0, [{"subscriptions": {"level2": list(PRODUCTS)}}]), 6)
    adapter.on_message(snapshot(1, "BTC-USD", BTC_BIDS, BTC_ASKS), 7)
    assert adapter.sequence_gaps == 0
    assert state(sink, registry, "BTC-USD") is BookState.SYNCED
    assert adapter.take_resubscribe_requests() == []


# -- trades and heartbeats ----------------------------------------------------------------------
def test_should_pass_update_trades_on_with_side_as_the_aggressor_and_skip_the_history() -> None:
    adapter, sink, registry = synced()
    adapter.on_message(trades(4, "snapshot", trade("100", "BTC-USD", "21900.00", "1", "SELL", "2023-02-09T20:00:00Z")),
                       5)
    adapter.on_message(trades(5, "update",
                              trade("101", "BTC-USD", "21922.20", "0.005", "BUY", "2023-02-09T20:32:51.123456789Z"),
                              trade("102", "ETH-USD", "1640.10", "0.25", "SELL", "2023-02-09T20:32:51.2Z")), 6)
    btc = registry.by_symbol("coinbase-advanced", "BTC-USD")
    eth = registry.by_symbol("coinbase-advanced", "ETH-USD")
    [bought] = sink.trades[btc.id]
    assert (bought.price, bought.qty, bought.trade_id, bought.aggressor, bought.ts_venue) == (
        btc.price("21922.20"), btc.qty("0.005"), 101, BID, 1675974771123456789)
    [sold] = sink.trades[eth.id]
    assert (sold.price, sold.qty, sold.trade_id, sold.aggressor, sold.ts_venue) == (
        eth.price("1640.10"), eth.qty("0.25"), 102, ASK, 1675974771200000000)
    assert adapter.sequence_gaps == 0


def test_should_flip_the_trade_side_when_configured_as_the_makers() -> None:
    class MakerSide(CoinbaseAdvancedAdapter):
        trade_side_is_maker = True

    registry = InstrumentRegistry()
    sink = BooksSink()
    adapter = MakerSide(sink, registry)
    adapter.on_message(trades(0, "update", trade("7", "BTC-USD", "1", "1", "BUY", "2023-02-09T20:32:51Z")), 1)
    assert sink.trades[registry.by_symbol("coinbase-advanced", "BTC-USD").id][0].aggressor == ASK


def test_should_accept_heartbeats_and_subscriptions_without_counting_anything() -> None:
    adapter, sink, registry = synced()
    for sequence in range(4, 10):
        adapter.on_message(heartbeat(sequence, sequence), sequence)
    assert adapter.last_sequence == 9
    assert adapter.sequence_gaps == 0
    assert all(state(sink, registry, s) is BookState.SYNCED for s in PRODUCTS)
    assert (adapter.problems.malformed, adapter.problems.unknown, adapter.problems.rejected_values) == (0, 0, 0)


# -- connection ----------------------------------------------------------------------------------
def test_should_subscribe_to_one_channel_per_message() -> None:
    adapter = CoinbaseAdvancedAdapter(BooksSink(), InstrumentRegistry(), symbols=PRODUCTS)
    assert adapter.websocket_urls() == [URL]
    assert [json.loads(m) for m in adapter.subscriptions(URL)] == [
        {"type": "subscribe", "product_ids": list(PRODUCTS), "channel": "level2"},
        {"type": "subscribe", "product_ids": list(PRODUCTS), "channel": "market_trades"},
        {"type": "subscribe", "channel": "heartbeats"},
    ]


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("payload", "counter"),
    [
        ('{"channel":"l2_data","sequence_num":4,"events":[', "malformed"),
        ("[4]", "malformed"),
        ("null", "malformed"),
        (envelope("candles", 4, [{"type": "update", "candles": []}]), "unknown"),
        (envelope("market_trades", 4, [{"type": "update", "trades": [
            trade("1", "BTC-USD", "NaN", "1", "BUY", STAMP)]}]), "rejected_values"),
        (envelope("market_trades", 4, [{"type": "update", "trades": [
            trade("1", "BTC-USD", "1", "-1", "BUY", STAMP)]}]), "rejected_values"),
        (envelope("market_trades", 4, [{"type": "update", "trades": [
            trade("1", "BTC-USD", "99999999999999999999", "1", "BUY", STAMP)]}]), "rejected_values"),
        (envelope("market_trades", 4, [{"type": "update", "trades": [
            trade("1", "BTC-USD", "1", "1", "HOLD", STAMP)]}]), "malformed"),
        (envelope("market_trades", 4, [{"type": "update", "trades": "none"}]), "malformed"),
        (envelope("market_trades", 4, {"type": "update"}), "malformed"),
        (l2(4, "update", "BTC-USD"), "malformed"),  # no updates: nothing lost, the book stays
    ],
)
def test_should_count_bad_messages_that_cost_no_book_without_raising(payload: str, counter: str) -> None:
    adapter, sink, registry = synced()
    assert_one_problem(adapter, payload, counter, 0)
    assert all(state(sink, registry, s) is BookState.SYNCED for s in PRODUCTS)
    assert sink.trades == {}
    assert adapter.take_resubscribe_requests() == []


@pytest.mark.parametrize(
    ("bad", "counter"),
    [
        (level("bid", "NaN", "1"), "rejected_values"),
        (level("bid", "21000", "-1"), "rejected_values"),
        (level("bid", "-21000", "1"), "rejected_values"),
        (level("bid", "21000", "1e3"), "rejected_values"),
        (level("bid", "21000", "123456789012345678901234567890"), "rejected_values"),
        (level("middle", "21000", "1"), "malformed"),
        ({"side": "bid", "price_level": "21000"}, "malformed"),
        ({"side": "bid", "price_level": 21000.5, "new_quantity": "1"}, "malformed"),
    ],
    ids=["nan", "negative-qty", "negative-price", "exponent", "huge", "bad-side", "no-quantity", "float"],
)
def test_should_resync_instead_of_applying_an_update_with_bad_values(bad: dict[str, Any], counter: str) -> None:
    adapter, sink, registry = synced()
    before = book_as_decimals(sink, registry, "BTC-USD")
    adapter.on_message(l2(4, "update", "BTC-USD", level("bid", "21921.74", "1"), bad), 5)
    assert getattr(adapter.problems, counter) == 1
    assert adapter.problems.malformed + adapter.problems.rejected_values == 1
    assert book_as_decimals(sink, registry, "BTC-USD") == before  # atomic: the good level is not applied
    assert state(sink, registry, "BTC-USD") is BookState.RESYNCING
    assert state(sink, registry, "ETH-USD") is BookState.SYNCED
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [("BTC-USD",)]
    assert adapter.sequence_gaps == 0


@pytest.mark.parametrize(
    "payload",
    [
        envelope("l2_data", 4, [{"type": "update", "updates": [level("bid", "1", "1")]}]),  # no product
        envelope("l2_data", 4, "nope"),
        envelope("l2_data", 4, [{"type": "update", "product_id": "BTC-USD", "updates": []}], timestamp="soon"),
    ],
    ids=["no-product", "events-not-a-list", "bad-timestamp"],
)
def test_should_resync_every_product_when_an_l2_data_message_is_unreadable(payload: str) -> None:
    adapter, sink, registry = synced()
    adapter.on_message(payload, 0)
    assert adapter.problems.malformed == 1
    assert all(state(sink, registry, s) is BookState.RESYNCING for s in PRODUCTS)
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [PRODUCTS]


def test_should_resync_the_product_of_an_unreadable_event() -> None:
    adapter, sink, registry = synced()
    adapter.on_message(envelope("l2_data", 4, [{"type": "delta", "product_id": "ETH-USD", "updates": []}]), 0)
    assert adapter.problems.malformed == 1
    assert state(sink, registry, "ETH-USD") is BookState.RESYNCING
    assert state(sink, registry, "BTC-USD") is BookState.SYNCED
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [("ETH-USD",)]


def test_should_treat_a_message_without_a_usable_sequence_num_as_lost() -> None:
    adapter, sink, registry = synced()
    adapter.on_message(json.dumps({"channel": "heartbeats", "sequence_num": -1, "events": []}), 0)
    adapter.on_message(json.dumps({"channel": "heartbeats", "events": []}), 0)
    assert adapter.problems.malformed == 2
    assert adapter.sequence_gaps == 0
    adapter.on_message(heartbeat(5, 1), 1)  # 4 was one of the unreadable ones: a gap
    assert adapter.sequence_gaps == 1
    assert all(state(sink, registry, s) is BookState.RESYNCING for s in PRODUCTS)


def test_should_count_venue_errors() -> None:
    adapter, sink, registry = synced()
    adapter.on_message('{"type":"error","message":"failure to subscribe"}', 0)
    assert all(state(sink, registry, s) is BookState.SYNCED for s in PRODUCTS)
    assert adapter.venue_errors == 1
    assert (adapter.problems.malformed, adapter.problems.unknown, adapter.problems.rejected_values) == (0, 0, 0)
    assert adapter.last_sequence == 3
