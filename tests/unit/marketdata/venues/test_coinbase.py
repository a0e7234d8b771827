"""Coinbase Exchange level2/ticker/matches, checked against the shipped capture."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.marketdata import BookSide, BookState
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import CaptureEvent, EventKind
from stages.marketdata.capture.replay import replay
from stages.marketdata.venues.adapter import ResubscribeRequest
from stages.marketdata.venues.coinbase.exchange import CoinbaseAdapter
from stages.marketdata.venues.coinbase.fields import iso8601_ns
from tests.captures import capture as load_capture
from tests.unit.marketdata.venues.problems import assert_one_problem
from tests.unit.marketdata.venues.sink_books import book_as_decimals

CAPTURE = "COINBASE.ws.28.0"
PRODUCTS = ("BAND-BTC", "BAND-GBP", "CRV-EUR", "DASH-BTC", "NMR-EUR", "NU-GBP", "SKL-BTC", "SKL-GBP", "SKL-USD",
            "YFI-BTC")
BID, ASK = int(BookSide.BID), int(BookSide.ASK)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
URL = "wss://ws-feed.exchange.coinbase.com"


@functools.cache
def _capture(name: str) -> tuple[CaptureEvent, ...]:
    return tuple(load_capture(name))


def capture(name: str) -> list[CaptureEvent]:
    """The capture's events (read once per session; events are immutable)."""
    return list(_capture(name))


class CountingSink(BooksSink):
    """A books sink that also keeps every BBO and every book state it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.bbo_log: dict[int, list[tuple[int, int, int, int, int, int]]] = {}
        self.state_log: list[tuple[int, BookState]] = []

    def bbo(self, instrument: int, bid_price: int, bid_qty: int, ask_price: int, ask_qty: int, update_id: int,
            ts_venue: int, ts_recv: int) -> None:
        super().bbo(instrument, bid_price, bid_qty, ask_price, ask_qty, update_id, ts_venue, ts_recv)
        self.bbo_log.setdefault(instrument, []).append((bid_price, bid_qty, ask_price, ask_qty, update_id, ts_venue))

    def book_state(self, instrument: int, state: BookState, ts_recv: int) -> None:
        super().book_state(instrument, state, ts_recv)
        self.state_log.append((instrument, state))


def messages(events: list[CaptureEvent]) -> list[dict[str, Any]]:
    return [json.loads(e.payload) for e in events if e.kind is EventKind.RECEIVED]


def run(events: list[CaptureEvent]) -> tuple[CoinbaseAdapter, CountingSink, InstrumentRegistry]:
    registry = InstrumentRegistry()
    sink = CountingSink()
    adapter = CoinbaseAdapter(sink, registry, symbols=PRODUCTS)
    replay(adapter, events)
    return adapter, sink, registry


def reference_books(received: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The documented procedure, written independently with Decimals and plain dicts."""
    books: dict[str, dict[str, Any]] = {}
    for message in received:
        if message["type"] == "snapshot":
            books[message["product_id"]] = {
                "bids": {Decimal(p): Decimal(q) for p, q in message["bids"] if Decimal(q)},
                "asks": {Decimal(p): Decimal(q) for p, q in message["asks"] if Decimal(q)},
                "messages": 1,
            }
        elif message["type"] == "l2update" and message["product_id"] in books:
            book = books[message["product_id"]]
            book["messages"] += 1
            for side, price, size in message["changes"]:
                levels = book["bids" if side == "buy" else "asks"]
                if Decimal(size) == 0:
                    levels.pop(Decimal(price), None)
                else:
                    levels[Decimal(price)] = Decimal(size)
    return books


def iso_ns(text: str) -> int:
    """Independent of the adapter: datetime keeps microseconds, which is all the capture has."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


# -- the capture -----------------------------------------------------------------------------
def test_should_rebuild_every_product_book_exactly_from_the_capture() -> None:
    events = capture(CAPTURE)
    adapter, sink, registry = run(events)
    expected = reference_books(messages(events))
    assert sorted(expected) == sorted(PRODUCTS)
    for symbol, book in expected.items():
        instrument = registry.by_symbol("coinbase", symbol)
        assert sink.states[instrument.id] is BookState.SYNCED, symbol
        assert adapter.synced[symbol]
        actual = book_as_decimals(sink, registry, symbol)
        assert actual["bids"] == book["bids"], symbol
        assert actual["asks"] == book["asks"], symbol
        replica = adapter.replicas[instrument.id]
        assert replica.bids() == sink.books[instrument.id].bids()
        assert replica.asks() == sink.books[instrument.id].asks()
        assert not replica.is_crossed()
        # One book update id per level2 message (the venue has none): the snapshot and every l2update.
        assert adapter.update_ids[symbol] == book["messages"] == sink.updates[instrument.id]
        stats = adapter.stats[symbol]
        assert (stats.messages, stats.applied, stats.dropped) == (book["messages"], book["messages"], 0)
        assert (stats.gaps, stats.resyncs) == (0, 0)
        assert [state for iid, state in sink.state_log if iid == instrument.id] == [BookState.SYNCED]
    assert sink.crossed_updates == {}
    assert adapter.take_resubscribe_requests() == []
    assert (adapter.problems.malformed, adapter.problems.unknown, adapter.problems.rejected_values) == (0, 0, 0)
    assert adapter.venue_errors == 0


def test_should_emit_every_match_with_the_aggressor_opposite_the_maker_side() -> None:
    events = capture(CAPTURE)
    _, sink, registry = run(events)
    expected: dict[str, list[tuple[Decimal, Decimal, int, int, int]]] = {}
    for m in messages(events):
        if m["type"] in ("match", "last_match"):
            aggressor = ASK if m["side"] == "buy" else BID
            expected.setdefault(m["product_id"], []).append(
                (Decimal(m["price"]), Decimal(m["size"]), m["trade_id"], aggressor, iso_ns(m["time"]))
            )
    assert sum(len(v) for v in expected.values()) == 107  # 97 match + 10 last_match
    assert sorted(expected) == sorted(PRODUCTS)
    for symbol, trades in expected.items():
        instrument = registry.by_symbol("coinbase", symbol)
        seen = [
            (Decimal(instrument.price_text(t.price)), Decimal(instrument.qty_text(t.qty)), t.trade_id, t.aggressor,
             t.ts_venue)
            for t in sink.trades[instrument.id]
        ]
        assert seen == trades, symbol
    # A maker "buy" is a resting bid being hit: the aggressor sold.
    skl = sink.trades[registry.by_symbol("coinbase", "SKL-GBP").id][0]
    assert (skl.trade_id, skl.aggressor) == (82007, ASK)


def test_should_pass_every_ticker_on_as_bbo_with_zero_sizes_when_the_venue_sends_none() -> None:
    events = capture(CAPTURE)
    _, sink, registry = run(events)
    tickers: dict[str, list[dict[str, Any]]] = {}
    for m in messages(events):
        if m["type"] == "ticker":
            tickers.setdefault(m["product_id"], []).append(m)
    assert sum(len(v) for v in tickers.values()) == 107
    for symbol, ticks in tickers.items():
        instrument = registry.by_symbol("coinbase", symbol)
        log = sink.bbo_log[instrument.id]
        assert len(log) == len(ticks), symbol
        assert [
            (Decimal(instrument.price_text(b)), bq, Decimal(instrument.price_text(a)), aq, uid, ts)
            for b, bq, a, aq, uid, ts in log
        ] == [(Decimal(t["best_bid"]), 0, Decimal(t["best_ask"]), 0, t["sequence"], iso_ns(t["time"])) for t in ticks]


def test_should_read_ticker_sizes_when_the_venue_sends_them() -> None:
    adapter, sink, registry = _synced()
    ticker = {"type": "ticker", "sequence": 5, "product_id": "SKL-USD", "best_bid": "0.79", "best_bid_size": "10.5",
              "best_ask": "0.7901", "best_ask_size": "0.00000001", "time": "2024-01-02T03:04:05.123456Z"}
    adapter.on_message(json.dumps(ticker), 1)
    instrument = registry.by_symbol("coinbase", "SKL-USD")
    assert sink.bbo_log[instrument.id][-1] == (79_000_000, 1_050_000_000, 79_010_000, 1, 5, 1704164645123456000)


def test_should_drop_updates_of_a_product_whose_snapshot_never_came() -> None:
    events = capture(CAPTURE)
    first = next(i for i, e in enumerate(events) if '"type":"snapshot","product_id":"NU-GBP"' in e.payload)
    adapter, sink, registry = run(events[:first] + events[first + 1 :])
    updates = sum(1 for m in messages(events) if m["type"] == "l2update" and m["product_id"] == "NU-GBP")
    stats = adapter.stats["NU-GBP"]
    assert (stats.messages, stats.applied, stats.dropped) == (updates, 0, updates)
    assert not adapter.synced.get("NU-GBP")
    instrument = registry.by_symbol("coinbase", "NU-GBP")
    assert sink.states.get(instrument.id, BookState.RESYNCING) is BookState.RESYNCING
    assert instrument.id not in sink.books or sink.books[instrument.id].depth() == (0, 0)
    assert all(adapter.synced[p] for p in PRODUCTS if p != "NU-GBP")


# -- crossed book ------------------------------------------------------------------------------
def _synced() -> tuple[CoinbaseAdapter, CountingSink, InstrumentRegistry]:
    return run(capture(CAPTURE))


def _l2update(product: str, *changes: list[str]) -> str:
    return json.dumps({"type": "l2update", "product_id": product, "changes": list(changes),
                       "time": "2021-04-17T16:44:08.000001Z"})


def test_should_resync_and_ask_for_a_new_snapshot_when_an_update_crosses_the_book() -> None:
    events = capture(CAPTURE)
    adapter, sink, registry = run(events)
    instrument = registry.by_symbol("coinbase", "SKL-USD")
    replica = adapter.replicas[instrument.id]
    best_ask = replica.best_ask()
    assert best_ask is not None
    above = instrument.price_text(best_ask[0] + 100_000)  # one tick (0.0001) above the best ask
    before = adapter.update_ids["SKL-USD"]

    adapter.on_message(_l2update("SKL-USD", ["buy", above, "5"]), 10)

    assert adapter.problems.rejected_values == 1  # "crossed book"
    assert sink.states[instrument.id] is BookState.RESYNCING
    assert not adapter.synced["SKL-USD"]
    stats = adapter.stats["SKL-USD"]
    assert (stats.resyncs, stats.gaps) == (1, 0)
    body = {"product_ids": ["SKL-USD"], "channels": ["level2_batch"]}
    [request] = adapter.take_resubscribe_requests()
    assert request == ResubscribeRequest(("SKL-USD",), request.messages)
    assert [json.loads(m) for m in request.messages] == [{"type": "unsubscribe", **body}, {"type": "subscribe", **body}]
    assert adapter.update_ids["SKL-USD"] == before + 1

    # Until the next snapshot, its updates are ignored (and no second request is made).
    frozen = (replica.bids(), replica.asks())
    dropped = stats.dropped
    adapter.on_message(_l2update("SKL-USD", ["sell", "0.9999", "1"]), 11)
    adapter.on_message(_l2update("SKL-USD", ["buy", above, "0"]), 12)
    assert stats.dropped == dropped + 2
    assert (replica.bids(), replica.asks()) == frozen
    assert adapter.take_resubscribe_requests() == []
    assert all(adapter.synced[p] for p in PRODUCTS if p != "SKL-USD")

    # The snapshot the resubscription brings syncs it again.
    snapshot = next(e for e in events if '"type":"snapshot","product_id":"SKL-USD"' in e.payload)
    adapter.on_message(snapshot.payload, 13)
    assert sink.states[instrument.id] is BookState.SYNCED
    expected = reference_books([json.loads(snapshot.payload)])["SKL-USD"]
    actual = book_as_decimals(sink, registry, "SKL-USD")
    assert (actual["bids"], actual["asks"]) == (expected["bids"], expected["asks"])
    adapter.on_message(_l2update("SKL-USD", ["sell", "0.9999", "1"]), 14)
    assert replica.qty_at(ASK, instrument.price("0.9999")) == instrument.qty("1")
    assert sink.books[instrument.id].qty_at(ASK, instrument.price("0.9999")) == instrument.qty("1")


def test_should_resync_a_book_left_crossed_by_its_snapshot() -> None:
    adapter, sink, registry = _synced()
    snapshot = {"type": "snapshot", "product_id": "SKL-USD", "bids": [["0.80", "1"]], "asks": [["0.79", "1"]]}
    adapter.on_message(json.dumps(snapshot), 1)
    assert sink.states[registry.by_symbol("coinbase", "SKL-USD").id] is BookState.RESYNCING
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [("SKL-USD",)]


def test_should_forget_pending_resubscriptions_on_disconnect() -> None:
    adapter, sink, registry = _synced()
    adapter.on_message(_l2update("SKL-USD", ["buy", "5", "1"]), 1)  # crosses
    adapter.on_disconnect(2)
    assert adapter.take_resubscribe_requests() == []
    assert all(sink.states[registry.by_symbol("coinbase", p).id] is BookState.RESYNCING for p in PRODUCTS)
    assert not any(adapter.synced[p] for p in PRODUCTS)


# -- scales ------------------------------------------------------------------------------------
def test_should_never_need_more_than_eight_decimals_in_the_capture() -> None:
    most = 0
    for m in messages(capture(CAPTURE)):
        texts = [v for k, v in m.items() if k in ("price", "size", "best_bid", "best_ask", "last_size")]
        texts += [t for level in m.get("bids", []) + m.get("asks", []) for t in level]
        texts += [t for change in m.get("changes", []) for t in change[1:]]
        most = max([most, *(len(t.partition(".")[2]) for t in texts)])
    assert most == 8
    _, _, registry = _synced()
    assert {(i.price_scale, i.qty_scale) for i in registry} == {(8, 8)}


def test_should_widen_the_scale_of_a_new_product_to_fit_its_snapshot() -> None:
    adapter, sink, registry = _synced()
    snapshot = {"type": "snapshot", "product_id": "TINY-USD", "bids": [["0.0000000001", "12345.0000000001"]],
                "asks": [["0.0000000003", "1"]]}
    adapter.on_message(json.dumps(snapshot), 1)
    instrument = registry.by_symbol("coinbase", "TINY-USD")
    assert (instrument.price_scale, instrument.qty_scale) == (10, 10)
    assert book_as_decimals(sink, registry, "TINY-USD") == {
        "bids": {Decimal("0.0000000001"): Decimal("12345.0000000001")},
        "asks": {Decimal("0.0000000003"): Decimal("1")},
    }
    assert adapter.synced["TINY-USD"]


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("payload", "counter"),
    [
        ('{"type":"l2update","product_id":"SKL-USD"', "malformed"),
        ("[1, 2, 3]", "malformed"),
        ('"just a string"', "malformed"),
        ("", "malformed"),
        ('{"type":"status","products":[]}', "unknown"),
        ('{"no_type":1}', "unknown"),
        ('{"type":"l2update","product_id":"SKL-USD","changes":[],"time":"2021-04-17T16:44:08Z"}', "malformed"),
        ('{"type":"match","product_id":"SKL-USD","side":"both","price":"1","size":"1","trade_id":1,'
         '"time":"2021-04-17T16:44:08Z"}', "malformed"),
        ('{"type":"match","product_id":"SKL-USD","side":"buy","price":"NaN","size":"1","trade_id":1,'
         '"time":"2021-04-17T16:44:08Z"}', "rejected_values"),
        ('{"type":"match","product_id":"SKL-USD","side":"buy","price":"1","size":"-1","trade_id":1,'
         '"time":"2021-04-17T16:44:08Z"}', "rejected_values"),
        ('{"type":"match","product_id":"SKL-USD","side":"buy","price":"1","size":"1","trade_id":1,'
         '"time":"yesterday"}', "malformed"),
        ('{"type":"ticker","product_id":"SKL-USD","sequence":1,"best_ask":"1"}', "malformed"),
        ('{"type":"ticker","product_id":"SKL-USD","sequence":1,"best_bid":"1e3","best_ask":"1"}', "rejected_values"),
        ('{"type":"ticker","product_id":["SKL-USD"],"sequence":1,"best_bid":"1","best_ask":"1"}', "malformed"),
    ],
)
def test_should_count_bad_messages_that_cost_no_book_without_raising(payload: str, counter: str) -> None:
    adapter, sink, _ = _synced()
    trades, states = sum(len(t) for t in sink.trades.values()), len(sink.state_log)
    assert_one_problem(adapter, payload, counter, 0)
    assert all(adapter.synced[p] for p in PRODUCTS)
    assert (sum(len(t) for t in sink.trades.values()), len(sink.state_log)) == (trades, states)
    assert adapter.take_resubscribe_requests() == []


@pytest.mark.parametrize(
    ("change", "counter"),
    [
        (["buy", "NaN", "1"], "rejected_values"),
        (["buy", "0.79", "-5"], "rejected_values"),
        (["buy", "-0.79", "5"], "rejected_values"),
        (["buy", "0", "5"], "rejected_values"),
        (["buy", "0.79", "1e5"], "rejected_values"),
        (["buy", "0.79", "99999999999999999999999"], "rejected_values"),
        (["buy", "0.123456789", "1"], "rejected_values"),
        (["hold", "0.79", "1"], "malformed"),
        (["buy", "0.79"], "malformed"),
        (["buy", 0.79, "1"], "malformed"),
        ("buy", "malformed"),
    ],
    ids=["nan", "negative-size", "negative-price", "zero-price", "exponent", "huge", "too-many-decimals",
         "bad-side", "short", "float", "not-a-list"],
)
def test_should_resync_instead_of_applying_an_update_with_bad_values(change: Any, counter: str) -> None:
    adapter, sink, registry = _synced()
    instrument = registry.by_symbol("coinbase", "SKL-USD")
    book = sink.books[instrument.id]
    before = (book.bids(), book.asks())
    # A good change first: the update is atomic, so it must not be applied either.
    adapter.on_message(_l2update("SKL-USD", ["sell", "0.9999", "1"], change), 0)
    assert getattr(adapter.problems, counter) == 1
    assert adapter.problems.malformed + adapter.problems.rejected_values == 1
    assert (book.bids(), book.asks()) == before
    assert sink.states[instrument.id] is BookState.RESYNCING
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [("SKL-USD",)]
    assert all(adapter.synced[p] for p in PRODUCTS if p != "SKL-USD")


def test_should_resync_every_book_when_an_update_names_no_readable_product() -> None:
    adapter, sink, registry = _synced()
    assert all(sink.states[registry.by_symbol("coinbase", p).id] is BookState.SYNCED for p in PRODUCTS)
    adapter.on_message('{"type":"l2update","changes":[["buy","1","1"]],"time":"2021-04-17T16:44:08Z"}', 0)
    assert adapter.problems.malformed == 1
    assert not any(adapter.synced[p] for p in PRODUCTS)
    assert all(sink.states[registry.by_symbol("coinbase", p).id] is BookState.RESYNCING for p in PRODUCTS)
    assert sorted(s for r in adapter.take_resubscribe_requests() for s in r.symbols) == sorted(PRODUCTS)


def test_should_ask_again_for_a_snapshot_it_could_not_read() -> None:
    adapter, sink, registry = _synced()
    adapter.on_message('{"type":"snapshot","product_id":"SKL-USD","bids":[["0.79","NaN"]],"asks":[]}', 0)
    assert adapter.problems.rejected_values == 1
    assert sink.states[registry.by_symbol("coinbase", "SKL-USD").id] is BookState.RESYNCING
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [("SKL-USD",)]
    adapter.on_message('{"type":"snapshot","product_id":"NEW-USD","bids":7,"asks":[]}', 0)
    assert adapter.problems.malformed == 1
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [("NEW-USD",)]


def test_should_count_venue_errors_and_ignore_heartbeats_and_subscriptions() -> None:
    adapter, sink, _ = _synced()
    states = len(sink.state_log)
    adapter.on_message('{"type":"error","message":"Failed to subscribe","reason":"level2 requires auth"}', 0)
    adapter.on_message('{"type":"error","message":"again"}', 0)
    adapter.on_message('{"type":"heartbeat","sequence":90,"last_trade_id":20,"product_id":"SKL-USD",'
                       '"time":"2021-04-17T16:44:08.000001Z"}', 0)
    adapter.on_message('{"type":"subscriptions","channels":[{"name":"level2","product_ids":["SKL-USD"]}]}', 0)
    assert adapter.venue_errors == 2
    assert (adapter.problems.malformed, adapter.problems.unknown, adapter.problems.rejected_values) == (0, 0, 0)
    assert all(adapter.synced[p] for p in PRODUCTS)
    assert len(sink.state_log) == states


# -- connection and helpers ------------------------------------------------------------------------
def test_should_subscribe_to_level2_ticker_and_matches_for_every_product() -> None:
    adapter = CoinbaseAdapter(BooksSink(), InstrumentRegistry(), symbols=("BTC-USD", "ETH-EUR"))
    assert adapter.websocket_urls() == [URL]
    assert [json.loads(m) for m in adapter.subscriptions(URL)] == [
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-EUR"], "channels": ["level2_batch", "ticker", "matches"]}
    ]
    assert CoinbaseAdapter(BooksSink(), InstrumentRegistry()).subscriptions(URL) == []


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2021-04-17T16:43:37.075687Z", 1618677817075687000),
        ("1970-01-01T00:00:00Z", 0),
        ("2023-02-09T20:32:50.714964855Z", 1675974770714964855),
        ("2023-02-09T20:32:50.7149648559Z", 1675974770714964855),
        ("2023-02-09T20:32:50Z", 1675974770000000000),
        ("2023-02-09T20:32:50.5", 1675974770500000000),
        ("2023-02-09T21:32:50.5+01:00", 1675974770500000000),
        ("2024-02-29T00:00:00Z", 1709164800000000000),
    ],
)
def test_should_convert_iso_times_to_exact_nanoseconds(text: str, ns: int) -> None:
    assert iso8601_ns(text) == ns


@pytest.mark.parametrize(
    "text",
    ["", "2021-04-17", "2021-04-17T16:43:3x.1Z", "2021-13-17T16:43:37Z", "2023-02-29T00:00:00Z",
     "2021-04-17T16:43:37.Z", "2021-04-17T16:43:37,5Z", "9999-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
     "２021-04-17T16:43:37Z"],
)
def test_should_refuse_times_that_are_not_plain_iso_8601(text: str) -> None:
    with pytest.raises(ValueError):
        iso8601_ns(text)
