"""Kraken WebSocket v1: books checked by every CRC32 of the shipped capture, trades, bad input."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.marketdata import BookSide, BookState
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import CaptureEvent, EventKind
from stages.marketdata.capture.replay import replay
from stages.marketdata.venues.kraken.v1 import KrakenV1Adapter
from tests.captures import capture
from tests.unit.marketdata.venues.kraken_reference import reference_checksum
from tests.unit.marketdata.venues.problems import PROBLEM_KINDS, assert_one_problem
from tests.unit.marketdata.venues.sink_books import book_as_decimals

BOOKS = "KRAKEN.ws.50.0"
TRADES = "KRAKEN.ws.48.0"
PAIRS = ("WAVES/EUR", "XMR/USD", "KSM/XBT", "GRT/ETH", "SC/EUR", "ETH/CHF", "OCEAN/XBT", "OMG/USD", "XBT/CHF",
         "ADA/XBT")  # fmt: skip


def run(events: list[CaptureEvent], **kwargs: Any) -> tuple[KrakenV1Adapter, BooksSink, InstrumentRegistry]:
    registry = InstrumentRegistry()
    sink = BooksSink()
    adapter = KrakenV1Adapter(sink, registry, **kwargs)
    replay(adapter, events)
    return adapter, sink, registry


def channel_messages(events: list[CaptureEvent]) -> list[tuple[int, list[Any]]]:
    """(index in ``events``, decoded array) of every channel message."""
    out = []
    for index, event in enumerate(events):
        if event.kind is EventKind.RECEIVED:
            message = json.loads(event.payload)
            if isinstance(message, list):
                out.append((index, message))
    return out


# -- an independent reference: Decimal books of the venue's own strings -----------------
@dataclasses.dataclass
class RefBook:
    depth: int
    asks: dict[Decimal, tuple[str, str]] = dataclasses.field(default_factory=dict)
    bids: dict[Decimal, tuple[str, str]] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, depth: int, snapshot: dict[str, Any]) -> RefBook:
        book = cls(depth)
        book.apply_parts([{"a": snapshot.get("as", []), "b": snapshot.get("bs", [])}])
        return book

    def apply(self, side: dict[Decimal, tuple[str, str]], price: str, qty: str) -> None:
        if Decimal(qty) == 0:
            side.pop(Decimal(price), None)
        else:
            side[Decimal(price)] = (price, qty)

    def apply_parts(self, parts: list[dict[str, Any]]) -> None:
        """Every level of an update message's ``{"a": ...}`` / ``{"b": ...}`` parts, in order (not truncated)."""
        for part in parts:
            for price, qty, *_ in part.get("a", []):
                self.apply(self.asks, price, qty)
            for price, qty, *_ in part.get("b", []):
                self.apply(self.bids, price, qty)

    def truncate(self) -> None:
        for price in sorted(self.asks)[self.depth :]:
            del self.asks[price]
        for price in sorted(self.bids, reverse=True)[self.depth :]:
            del self.bids[price]

    def checksum(self) -> int:
        """Kraken's documented construction, straight from the strings the venue sent."""
        asks = [self.asks[p] for p in sorted(self.asks)]
        return reference_checksum(asks, [self.bids[p] for p in sorted(self.bids, reverse=True)])

    def as_decimals(self) -> dict[str, dict[Decimal, Decimal]]:
        return {
            "asks": {p: Decimal(q) for p, (_, q) in self.asks.items()},
            "bids": {p: Decimal(q) for p, (_, q) in self.bids.items()},
        }


def reference_books(messages: list[tuple[int, list[Any]]]) -> tuple[dict[str, RefBook], Counter[str]]:
    """Every pair's book after the capture, and how many update checksums it reproduced."""
    books: dict[str, RefBook] = {}
    matched: Counter[str] = Counter()
    for _, message in messages:
        channel, pair = message[-2], message[-1]
        if not channel.startswith("book-"):
            continue
        parts = message[1:-2]
        if "as" in parts[0] or "bs" in parts[0]:
            books[pair] = RefBook.from_snapshot(int(channel.split("-")[1]), parts[0])
            continue
        book = books[pair]
        book.apply_parts(parts)
        book.truncate()
        checksum = next((int(part["c"]) for part in parts if "c" in part), None)
        if checksum is not None:
            assert book.checksum() == checksum, (pair, message)
            matched[pair] += 1
    return books, matched


def updates_with_checksum(messages: list[tuple[int, list[Any]]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _, message in messages:
        if message[-2].startswith("book-") and any(isinstance(p, dict) and "c" in p for p in message[1:-2]):
            counts[message[-1]] += 1
    return counts


# -- the capture ------------------------------------------------------------------------
def test_should_verify_every_checksum_in_the_capture() -> None:
    events = capture(BOOKS)
    adapter, sink, registry = run(events)
    expected = updates_with_checksum(channel_messages(events))
    assert sorted(expected) == sorted(PAIRS)
    assert sum(expected.values()) == 4269  # every update of the file carries "c"
    for pair in PAIRS:
        stats = adapter.stats[pair]
        assert sink.states[registry.by_symbol("kraken", pair).id] is BookState.SYNCED, pair
        assert stats.checksums_ok == expected[pair], pair
        assert (stats.checksum_failures, stats.resyncs, stats.dropped) == (0, 0, 0), pair
        assert stats.messages == stats.applied == expected[pair] + 1  # the snapshot, then the updates
    assert adapter.take_resubscribe_requests() == []
    assert (adapter.problems.malformed, adapter.problems.unknown, adapter.problems.rejected_values) == (0, 0, 0)
    assert sink.crossed_updates == {}


def test_should_register_each_pair_at_the_decimals_the_venue_sends() -> None:
    _, _, registry = run(capture(BOOKS))
    scales = {i.symbol: (i.price_scale, i.qty_scale) for i in registry}
    assert scales == {
        "ADA/XBT": (9, 8), "XBT/CHF": (5, 8), "OMG/USD": (6, 8), "OCEAN/XBT": (9, 8), "ETH/CHF": (5, 8),
        "SC/EUR": (6, 8), "GRT/ETH": (9, 8), "KSM/XBT": (8, 8), "XMR/USD": (8, 8), "WAVES/EUR": (6, 8),
    }  # fmt: skip
    assert all(i.venue == "kraken" for i in registry)


def test_should_rebuild_every_book_exactly_as_a_naive_decimal_reference() -> None:
    events = capture(BOOKS)
    adapter, sink, registry = run(events)
    messages = channel_messages(events)
    books, matched = reference_books(messages)
    assert matched == updates_with_checksum(messages)  # the reference itself reproduces every checksum
    for pair, book in books.items():
        expected = book.as_decimals()
        assert book_as_decimals(sink, registry, pair) == expected, pair
        replica = adapter.replicas[registry.by_symbol("kraken", pair).id]
        assert (len(replica.bids()), len(replica.asks())) == (len(expected["bids"]), len(expected["asks"]))


def test_should_emit_each_update_as_one_atomic_update_with_venue_times() -> None:
    events = capture(BOOKS)
    ends: Counter[int] = Counter()
    last_ts: dict[int, int] = {}

    class Recording(BooksSink):
        def book_level(self, instrument: int, side: int, price: int, qty: int, update_id: int, ts_venue: int,
                       ts_recv: int, end: bool, snapshot: bool) -> None:  # fmt: skip
            super().book_level(instrument, side, price, qty, update_id, ts_venue, ts_recv, end, snapshot)
            if end:
                ends[update_id] += 1
                last_ts[instrument] = ts_venue

    registry = InstrumentRegistry()
    sink = Recording()
    adapter = KrakenV1Adapter(sink, registry)
    replay(adapter, events)
    assert sum(sink.updates.values()) == 4269 + 10  # one END per update message and per snapshot
    # The last book message of XMR/USD: its time is its newest level's.
    last = [m for _, m in channel_messages(events) if m[-1] == "XMR/USD"][-1]
    newest = max(Decimal(level[2]) for part in last[1:-2] for key in ("a", "b") for level in part.get(key, []))
    assert last_ts[registry.by_symbol("kraken", "XMR/USD").id] == int(newest * 10**9)
    assert adapter.update_ids["XMR/USD"] == adapter.stats["XMR/USD"].messages


def _altered_update(events: list[CaptureEvent], pair: str) -> tuple[int, str]:
    """An update of ``pair`` past the middle of the capture whose level lands in the top 10, with that
    level's quantity raised by one unit of its last decimal (format kept)."""
    messages = channel_messages(events)
    books: dict[str, RefBook] = {}
    ours = [i for i, m in messages if m[-1] == pair]
    middle = ours[len(ours) // 2]
    for index, message in messages:
        parts = message[1:-2]
        if message[-1] != pair:
            continue
        if "as" in parts[0]:
            books[pair] = RefBook.from_snapshot(1000, parts[0])
            continue
        book = books[pair]
        book.apply_parts(parts)
        if index < middle or "a" not in parts[0] or len(parts[0]["a"]) != 1:
            continue
        price, qty = parts[0]["a"][0][:2]
        if Decimal(qty) != 0 and Decimal(price) in sorted(book.asks)[:10]:
            whole, frac = qty.split(".")
            bumped = str(int(whole + frac) + 1).rjust(len(whole + frac), "0")
            parts[0]["a"][0][1] = f"{bumped[: len(whole)]}.{bumped[len(whole) :]}"
            return index, json.dumps(message, separators=(",", ":"))
    raise AssertionError("no suitable update")


def test_should_resync_only_the_pair_whose_update_was_altered() -> None:
    events = capture(BOOKS)
    index, payload = _altered_update(events, "XMR/USD")
    edited = [*events[:index], dataclasses.replace(events[index], payload=payload), *events[index + 1 :]]
    adapter, sink, registry = run(edited)
    later = sum(1 for i, m in channel_messages(events) if m[-1] == "XMR/USD" and i > index)
    stats = adapter.stats["XMR/USD"]
    assert (stats.checksum_failures, stats.resyncs) == (1, 1)
    assert stats.dropped == later  # ignored until a new snapshot
    assert sink.states[registry.by_symbol("kraken", "XMR/USD").id] is BookState.RESYNCING
    [request] = adapter.take_resubscribe_requests()
    assert adapter.take_resubscribe_requests() == []
    assert request.symbols == ("XMR/USD",)
    assert [json.loads(m) for m in request.messages] == [
        {"event": "unsubscribe", "pair": ["XMR/USD"], "subscription": {"name": "book", "depth": 1000}},
        {"event": "subscribe", "pair": ["XMR/USD"], "subscription": {"name": "book", "depth": 1000}},
    ]
    plain, _, _ = run(events)
    for pair in PAIRS:
        if pair != "XMR/USD":
            assert sink.states[registry.by_symbol("kraken", pair).id] is BookState.SYNCED
            assert adapter.stats[pair] == plain.stats[pair]


def test_should_resync_from_the_new_snapshot_after_a_resubscription() -> None:
    events = capture(BOOKS)
    index, payload = _altered_update(events, "XMR/USD")
    adapter, sink, registry = run([*events[:index], dataclasses.replace(events[index], payload=payload)])
    assert sink.states[registry.by_symbol("kraken", "XMR/USD").id] is BookState.RESYNCING
    # What the venue sends after the resubscription: its book at that moment (the true one).
    books, _ = reference_books(channel_messages(events[: index + 1]))
    book = books["XMR/USD"]
    snapshot = [
        1,
        {
            "as": [[*book.asks[p], "1618678200.000001"] for p in sorted(book.asks)],
            "bs": [[*book.bids[p], "1618678200.000002"] for p in sorted(book.bids, reverse=True)],
        },
        "book-1000",
        "XMR/USD",
    ]
    adapter.on_message(json.dumps(snapshot), 5)
    assert sink.states[registry.by_symbol("kraken", "XMR/USD").id] is BookState.SYNCED
    assert book_as_decimals(sink, registry, "XMR/USD") == book.as_decimals()
    ok = adapter.stats["XMR/USD"].checksums_ok
    after = [m for i, m in channel_messages(events) if m[-1] == "XMR/USD" and i > index]
    for message in after:
        adapter.on_message(json.dumps(message), 6)
    assert adapter.stats["XMR/USD"].checksums_ok == ok + len(after)
    assert adapter.stats["XMR/USD"].checksum_failures == 1


def test_should_not_compute_checksums_when_validation_is_off() -> None:
    events = capture(BOOKS)
    index, payload = _altered_update(events, "XMR/USD")
    edited = [*events[:index], dataclasses.replace(events[index], payload=payload), *events[index + 1 :]]
    adapter, sink, registry = run(edited, validate_checksums=False)
    stats = adapter.stats["XMR/USD"]
    assert (stats.checksums_ok, stats.checksum_failures) == (0, 0)
    assert sink.states[registry.by_symbol("kraken", "XMR/USD").id] is BookState.SYNCED


# -- trades ------------------------------------------------------------------------------
def test_should_pass_on_every_trade_of_the_capture_with_exact_sides_and_prices() -> None:
    events = capture(TRADES)
    adapter, sink, registry = run(events)
    expected: dict[str, list[list[str]]] = {}
    for _, message in channel_messages(events):
        assert message[-2] == "trade"
        expected.setdefault(message[-1], []).extend(message[1])
    assert {pair: len(t) for pair, t in expected.items()} == {"XMR/USD": 4, "SC/EUR": 6}
    for pair, trades in expected.items():
        instrument = registry.by_symbol("kraken", pair)
        seen = sink.trades[instrument.id]
        assert len(seen) == len(trades), pair
        for number, (trade, raw) in enumerate(zip(seen, trades, strict=True), 1):
            assert Decimal(instrument.price_text(trade.price)) == Decimal(raw[0])
            assert Decimal(instrument.qty_text(trade.qty)) == Decimal(raw[1])
            assert trade.ts_venue == int(Decimal(raw[2]) * 10**9)
            assert trade.aggressor == {"b": BookSide.BID, "s": BookSide.ASK}[raw[3]]
            assert trade.trade_id == number
    assert set(sink.trades) == {registry.by_symbol("kraken", pair).id for pair in expected}
    assert (adapter.problems.malformed, adapter.problems.unknown, adapter.problems.rejected_values) == (0, 0, 0)


# -- depth truncation and republished levels ----------------------------------------------
def _levels(prices: list[str], qty: str = "1.00000000") -> list[list[str]]:
    return [[price, qty, "1600000000.000000"] for price in prices]


def _book10(channel: str = "book-10") -> tuple[KrakenV1Adapter, BooksSink, RefBook, InstrumentRegistry]:
    """XBT/USD subscribed at depth 10: asks 101..110, bids 100..91, 1 each."""
    registry = InstrumentRegistry()
    sink = BooksSink()
    adapter = KrakenV1Adapter(sink, registry, symbols=["XBT/USD"], depth=10)
    asks = [f"{100 + i}.00000" for i in range(1, 11)]  # 101..110
    bids = [f"{100 - i}.00000" for i in range(10)]  # 100..91
    adapter.on_message(json.dumps([7, {"as": _levels(asks), "bs": _levels(bids)}, channel, "XBT/USD"]), 1)
    ref = RefBook(10)
    for price in asks:
        ref.apply(ref.asks, price, "1.00000000")
    for price in bids:
        ref.apply(ref.bids, price, "1.00000000")
    return adapter, sink, ref, registry


def _update(ref: RefBook, asks: list[list[str]], bids: list[list[str]]) -> str:
    for price, qty, *_ in asks:
        ref.apply(ref.asks, price, qty)
    for price, qty, *_ in bids:
        ref.apply(ref.bids, price, qty)
    ref.truncate()
    parts: list[dict[str, Any]] = []
    if asks:
        parts.append({"a": asks})
    if bids:
        parts.append({"b": bids})
    parts[-1]["c"] = str(ref.checksum())
    return json.dumps([7, *parts, "book-10", "XBT/USD"])


def test_should_truncate_to_the_subscribed_depth_before_the_checksum() -> None:
    adapter, sink, ref, registry = _book10()
    iid = registry.by_symbol("kraken", "XBT/USD").id
    updates_before = sink.updates[iid]
    # A better ask pushes 110 out of scope: Kraken sends no removal for it.
    adapter.on_message(_update(ref, _levels(["100.50000"]), []), 2)
    assert sink.updates[iid] == updates_before + 1  # the insert and the removal: one atomic update
    assert len(sink.books[iid].asks()) == 10
    assert sink.books[iid].qty_at(int(BookSide.ASK), 110_00000) == 0
    # 110 is then removed at the venue while out of scope (no message); deleting 100.5 brings
    # back 111, republished with the "r" flag. Only a truncated book reproduces this checksum.
    republished = [["111.00000", "2.00000000", "1600000001.000000", "r"]]
    adapter.on_message(_update(ref, [["100.50000", "0.00000000", "1600000001.000000"], *republished], []), 3)
    # Both sides in one message, the bid side pushing 91 out.
    adapter.on_message(_update(ref, _levels(["101.00000"], "3.00000000"), _levels(["100.20000"])), 4)
    stats = adapter.stats["XBT/USD"]
    assert (stats.checksums_ok, stats.checksum_failures) == (3, 0)
    assert sink.states[iid] is BookState.SYNCED
    book = sink.books[iid]
    assert [p for p, _ in book.asks()] == [p * 10**5 for p in (101, 102, 103, 104, 105, 106, 107, 108, 109, 111)]
    assert [p for p, _ in book.bids()] == [100_20000] + [p * 10**5 for p in range(100, 91, -1)]


def test_should_fail_the_checksum_of_an_untruncated_book() -> None:
    """The same messages on a book the adapter keeps at 1000 levels (the depth its channel names):
    the stale 110 stays in the top 10 and the CRC fails."""
    adapter, sink, ref, registry = _book10("book-1000")
    adapter.on_message(_update(ref, _levels(["100.50000"]), []), 2)
    republished = [["111.00000", "2.00000000", "1600000001.000000", "r"]]
    adapter.on_message(_update(ref, [["100.50000", "0.00000000", "1600000001.000000"], *republished], []), 3)
    assert adapter.stats["XBT/USD"].checksums_ok == 1
    assert adapter.stats["XBT/USD"].checksum_failures == 1
    assert sink.states[registry.by_symbol("kraken", "XBT/USD").id] is BookState.RESYNCING


# -- connection ------------------------------------------------------------------------------
def test_should_subscribe_to_book_and_trades_of_the_configured_pairs() -> None:
    adapter = KrakenV1Adapter(BooksSink(), InstrumentRegistry(), symbols=["XBT/USD", "ETH/EUR"], depth=25)
    assert adapter.websocket_urls() == ["wss://ws.kraken.com"]
    assert [json.loads(m) for m in adapter.subscriptions("wss://ws.kraken.com")] == [
        {"event": "subscribe", "pair": ["XBT/USD", "ETH/EUR"], "subscription": {"name": "book", "depth": 25}},
        {"event": "subscribe", "pair": ["XBT/USD", "ETH/EUR"], "subscription": {"name": "trade"}},
    ]


def test_should_refuse_a_depth_kraken_does_not_offer() -> None:
    with pytest.raises(ValueError, match="depth"):
        KrakenV1Adapter(BooksSink(), InstrumentRegistry(), depth=20)


def test_should_wait_for_a_new_snapshot_after_a_disconnect() -> None:
    adapter, sink, ref, registry = _book10()
    adapter.on_disconnect(9)
    iid = registry.by_symbol("kraken", "XBT/USD").id
    assert sink.states[iid] is BookState.RESYNCING
    adapter.on_message(_update(ref, _levels(["100.50000"]), []), 10)
    assert adapter.stats["XBT/USD"].dropped == 1
    assert adapter.take_resubscribe_requests() == []  # reconnecting resubscribes everything


# -- bad input ------------------------------------------------------------------------------
SILENT = [
    '{"event":"heartbeat"}',
    '{"connectionID":1,"event":"systemStatus","status":"online","version":"1.8.3"}',
    '{"channelID":992,"channelName":"book-1000","event":"subscriptionStatus","pair":"XMR/USD","status":"subscribed",'
    '"subscription":{"depth":1000,"name":"book"}}',
    '{"event":"subscriptionStatus","status":"error","errorMessage":"Currency pair not supported","pair":"X/Y"}',
    '{"event":"pong","reqid":1}',
]


@pytest.mark.parametrize("payload", SILENT)
def test_should_handle_events_silently(payload: str) -> None:
    adapter, _, _, _ = _book10()
    adapter.on_message(payload, 5)
    assert (adapter.problems.malformed, adapter.problems.unknown, adapter.problems.rejected_values) == (0, 0, 0)


@pytest.mark.parametrize(
    ("payload", "counter", "resyncs"),
    [
        ('[7,{"a":[["101.00000","1.0","1600000000.0"]]', "malformed", 0),
        ("42", "malformed", 0),
        ('"book"', "malformed", 0),
        ('{"event":"somethingNew"}', "unknown", 0),
        ('[7,{"a":[]},"spread","XBT/USD"]', "unknown", 0),
        ('[7,"book-10","XBT/USD"]', "malformed", 0),
        ('[7,{"a":[]},7,"XBT/USD"]', "malformed", 0),
        ('[7,{"x":[]},"book-10","XBT/USD"]', "malformed", 1),
        ('[7,{"a":[],"c":"crc"},"book-10","XBT/USD"]', "malformed", 1),
        ('[7,{"a":[["101.00000"]],"c":"1"},"book-10","XBT/USD"]', "rejected_values", 1),
        ('[7,{"a":[[]],"c":"1"},"book-10","XBT/USD"]', "rejected_values", 1),
        ('[7,{"a":{"p":1},"c":"1"},"book-10","XBT/USD"]', "rejected_values", 1),
        ('[7,{"a":[["101.00000","1.00000000","t"]],"c":"1"},"book-10","XBT/USD"]', "rejected_values", 1),
        ('[7,{"a":[["101.00000","NaN","1600000000.1"]],"c":"1"},"book-10","XBT/USD"]', "rejected_values", 1),
        ('[7,{"b":[["99.00000","-1.00000000","1600000000.1"]],"c":"1"},"book-10","XBT/USD"]', "rejected_values", 1),
        ('[7,{"b":[["-99.00000","1.00000000","1600000000.1"]],"c":"1"},"book-10","XBT/USD"]', "rejected_values", 1),
        ('[7,{"b":[["99999999999999999.00000","1.0","1600000000.1"]],"c":"1"},"book-10","XBT/USD"]',
         "rejected_values", 1),
        ('[7,{"b":[["99.00000","1e5","1600000000.1"]],"c":"1"},"book-10","XBT/USD"]', "rejected_values", 1),
        ('[7,{"b":[["99.000001","1.00000000","1600000000.1"]],"c":"1"},"book-10","XBT/USD"]', "rejected_values", 1),
        ('[7,{"b":[[99.0,"1.00000000","1600000000.1"]],"c":"1"},"book-10","XBT/USD"]', "rejected_values", 1),
        ('[7,[["101.00000","NaN","1600000000.1","b","l",""]],"trade","XBT/USD"]', "rejected_values", 0),
        ('[7,[["101.00000","-1.00000000","1600000000.1","b","l",""]],"trade","XBT/USD"]', "rejected_values", 0),
        ('[7,[["101.00000","1.00000000","1600000000.1","x","l",""]],"trade","XBT/USD"]', "rejected_values", 0),
        ('[7,[["101.00000","1.00000000"]],"trade","XBT/USD"]', "malformed", 0),
        ('[7,{"p":1},"trade","XBT/USD"]', "malformed", 0),
    ],
)  # fmt: skip
def test_should_count_bad_messages_without_raising(payload: str, counter: str, resyncs: int) -> None:
    adapter, sink, _, registry = _book10()
    after = assert_one_problem(adapter, payload, counter, 5)
    assert sum(after[k] for k in PROBLEM_KINDS) == 1
    state = sink.states[registry.by_symbol("kraken", "XBT/USD").id]
    assert adapter.stats["XBT/USD"].resyncs == resyncs
    assert state is (BookState.RESYNCING if resyncs else BookState.SYNCED)
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == ([("XBT/USD",)] if resyncs else [])
    assert sink.trades == {}


def test_should_ignore_an_empty_update_except_for_its_checksum() -> None:
    adapter, sink, ref, registry = _book10()
    adapter.on_message(json.dumps([7, {"a": [], "c": str(ref.checksum())}, "book-10", "XBT/USD"]), 2)
    assert (adapter.stats["XBT/USD"].checksums_ok, adapter.stats["XBT/USD"].checksum_failures) == (1, 0)
    assert sink.states[registry.by_symbol("kraken", "XBT/USD").id] is BookState.SYNCED


def test_should_ask_again_when_the_snapshot_answering_a_resubscription_is_unusable() -> None:
    adapter, sink, ref, registry = _book10()
    iid = registry.by_symbol("kraken", "XBT/USD").id
    adapter.on_message(json.dumps([7, {"a": _levels(["100.50000"]), "c": "1"}, "book-10", "XBT/USD"]), 2)
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [("XBT/USD",)]
    adapter.on_message(_update(ref, _levels(["100.60000"]), []), 3)  # ignored: the request is still pending
    assert adapter.take_resubscribe_requests() == []
    bad = {"as": [["101.00000", "NaN", "1600000000.000000"]], "bs": _levels(["100.00000"])}
    adapter.on_message(json.dumps([7, bad, "book-10", "XBT/USD"]), 4)
    assert sink.states[iid] is BookState.RESYNCING
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [("XBT/USD",)]
    adapter.on_message(json.dumps([7, {"as": _levels(["101.00000"]), "bs": _levels(["100.00000"])}, "book-10",
                                   "XBT/USD"]), 5)
    assert sink.states[iid] is BookState.SYNCED
    assert adapter.take_resubscribe_requests() == []
