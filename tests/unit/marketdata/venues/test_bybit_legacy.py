"""Bybit legacy inverse (v2) ``orderBookL2_25`` + ``trade``: checked against the shipped capture.

Run as a module to measure delta throughput over the capture::

    .venv/bin/python -m tests.unit.marketdata.venues.test_bybit_legacy
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from hftpipe.schema.instruments import Instrument, InstrumentRegistry
from hftpipe.schema.marketdata import BookSide, BookState
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import CaptureEvent, EventKind
from stages.marketdata.capture.replay import replay
from stages.marketdata.venues.adapter import NullSink, ResubscribeRequest
from stages.marketdata.venues.bybit import base as bybit_base
from stages.marketdata.venues.bybit.legacy import BybitLegacyAdapter
from tests.captures import capture
from tests.unit.marketdata.venues.problems import (
    assert_bad_trade_skipped,
    assert_counted_without_a_book,
    assert_unusable_delta_resyncs,
)

CAPTURE = "BYBIT.ws.26.0"
BID, ASK = int(BookSide.BID), int(BookSide.ASK)


def capture_events() -> list[CaptureEvent]:
    return capture(CAPTURE)


def make() -> tuple[BybitLegacyAdapter, BooksSink, InstrumentRegistry]:
    registry = InstrumentRegistry()
    sink = BooksSink()
    return BybitLegacyAdapter(sink, registry, symbols=["BTCUSD"]), sink, registry


def decimal_levels(instrument: Instrument, levels: list[tuple[int, int]]) -> list[tuple[Decimal, int]]:
    return [(Decimal(instrument.price_text(p)), q) for p, q in levels]


# -- the capture ------------------------------------------------------------------


class _Reference:
    """Bybit's documented book procedure, written independently: Decimals and id-keyed dicts."""

    def __init__(self) -> None:
        self.books: dict[str, dict[int, tuple[str, Decimal, int]]] = {}

    def apply(self, message: dict[str, Any]) -> str:
        symbol: str = message["topic"].split(".", 1)[1]
        if message["type"] == "snapshot":
            self.books[symbol] = {e["id"]: (e["side"], Decimal(e["price"]), e["size"]) for e in message["data"]}
            return symbol
        book = self.books[symbol]
        for entry in message["data"]["delete"]:
            del book[entry["id"]]
        for entry in message["data"]["update"]:
            side, price, _ = book[entry["id"]]
            book[entry["id"]] = (side, price, entry["size"])
        for entry in message["data"]["insert"]:
            book[entry["id"]] = (entry["side"], Decimal(entry["price"]), entry["size"])
        return symbol

    def side(self, symbol: str, side: str) -> list[tuple[Decimal, int]]:
        levels = [(price, size) for s, price, size in self.books[symbol].values() if s == side]
        return sorted(levels, reverse=side == "Buy")


class _CheckedAdapter(BybitLegacyAdapter):
    """After every book message, the sink's book and the replica must equal the reference, level for level."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reference = _Reference()
        self.compared = 0

    def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        super().on_message(raw, recv_ns)
        message = json.loads(raw)
        if not message.get("topic", "").startswith("orderBookL2_25."):
            return
        symbol = self.reference.apply(message)
        instrument = self.registry.by_symbol(self.venue, symbol)
        assert isinstance(self.sink, BooksSink)
        for book in (self.sink.books[instrument.id], self.replicas[instrument.id]):
            assert decimal_levels(instrument, book.bids(25)) == self.reference.side(symbol, "Buy"), raw
            assert decimal_levels(instrument, book.asks(25)) == self.reference.side(symbol, "Sell"), raw
            assert book.depth() == (25, 25)  # the venue's depth, kept by its own deletes and inserts
            assert not book.is_crossed()
            assert book.update_id == message["cross_seq"]
        assert self.synced[symbol]
        self.compared += 1


@pytest.mark.parametrize("price_cache", [bybit_base.PRICE_CACHE_SIZE, 3], ids=["price-cache", "cache-mostly-cold"])
def test_should_rebuild_each_symbol_book_exactly_from_the_capture(
    price_cache: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bybit_base, "PRICE_CACHE_SIZE", price_cache)
    registry = InstrumentRegistry()
    sink = BooksSink()
    adapter = _CheckedAdapter(sink, registry)
    result = replay(adapter, capture_events())
    assert result.messages == 1098
    assert adapter.compared == 2 + 510 + 506  # both snapshots, then every delta
    assert {i.symbol: sink.states[i.id] for i in registry} == {"EOSUSD": BookState.SYNCED, "BTCUSD": BookState.SYNCED}
    assert sink.crossed_updates == {}
    stats = {symbol: s.as_json() for symbol, s in adapter.stats.items()}
    assert stats["BTCUSD"] == {
        **stats["BTCUSD"],
        "messages": 507,
        "applied": 506,
        "dropped": 0,
        "gaps": 0,
        "resyncs": 0,
    }
    assert stats["EOSUSD"] == {
        **stats["EOSUSD"],
        "messages": 511,
        "applied": 510,
        "dropped": 0,
        "gaps": 0,
        "resyncs": 0,
    }
    assert (adapter.problems.malformed, adapter.problems.unknown, adapter.problems.rejected_values) == (0, 0, 0)
    assert adapter.take_resubscribe_requests() == []
    assert adapter.failed_requests == 0
    btc = registry.by_symbol("bybit-legacy", "BTCUSD")
    assert sink.books[btc.id].best_bid() == (6062250000000, 12836512)  # "60622.50" x 12836512 contracts
    assert sink.books[btc.id].best_ask() == (6062300000000, 1656505)
    assert btc.qty_scale == 0


def test_should_report_every_trade_with_exact_price_size_side_and_id() -> None:
    events = capture_events()
    registry = InstrumentRegistry()
    sink = BooksSink()
    adapter = BybitLegacyAdapter(sink, registry)
    replay(adapter, events)
    expected: dict[str, list[tuple[Decimal, int, int, int, int]]] = {}
    for event in events:
        if event.kind is not EventKind.RECEIVED:
            continue
        message = json.loads(event.payload, parse_float=Decimal)
        if not message.get("topic", "").startswith("trade."):
            continue
        for t in message["data"]:
            expected.setdefault(t["symbol"], []).append(
                (
                    Decimal(t["price"]),
                    t["size"],
                    int(t["trade_id"].replace("-", "")[:16], 16),
                    BID if t["side"] == "Buy" else ASK,
                    t["trade_time_ms"] * 1_000_000,
                )
            )
    got = {
        i.symbol: [
            (Decimal(i.price_text(t.price)), t.qty, t.trade_id, t.aggressor, t.ts_venue) for t in sink.trades[i.id]
        ]
        for i in registry
    }
    assert got == expected
    sides = {s: (sum(t[3] == BID for t in trades), sum(t[3] == ASK for t in trades)) for s, trades in got.items()}
    assert sides == {"BTCUSD": (92, 39), "EOSUSD": (17, 2)}  # (taker bought, taker sold)
    btc = registry.by_symbol("bybit-legacy", "BTCUSD")
    first = sink.trades[btc.id][0]
    # {"trade_time_ms":1618677786614,"side":"Sell","size":4,"price":60621.5,"trade_id":"5ffb8b77-900c-..."}
    assert (first.price, first.qty, first.trade_id, first.aggressor, first.ts_venue) == (
        6062150000000,
        4,
        0x5FFB8B77900C507D,
        ASK,
        1618677786614_000_000,
    )


# -- injected inconsistencies -------------------------------------------------------


def level(level_id: int, side: str, price: str, size: int) -> dict[str, Any]:
    return {"price": price, "symbol": "BTCUSD", "id": level_id, "side": side, "size": size}


def snapshot(cross_seq: int, levels: list[dict[str, Any]] | None = None) -> str:
    if levels is None:
        levels = [
            level(1000, "Buy", "100.0", 5),
            level(1005, "Buy", "100.5", 7),
            level(1010, "Sell", "101.0", 3),
            level(1015, "Sell", "101.5", 9),
        ]
    return json.dumps(
        {
            "topic": "orderBookL2_25.BTCUSD",
            "type": "snapshot",
            "data": levels,
            "cross_seq": cross_seq,
            "timestamp_e6": 1_700_000_000_000_000,
        }
    )


def delta(cross_seq: int, delete: Any = (), update: Any = (), insert: Any = ()) -> str:
    data = {"delete": list(delete), "update": list(update), "insert": list(insert), "transactTimeE6": 0}
    return json.dumps(
        {
            "topic": "orderBookL2_25.BTCUSD",
            "type": "delta",
            "data": data,
            "cross_seq": cross_seq,
            "timestamp_e6": 1_700_000_000_000_001,
        }
    )


def book_of(sink: BooksSink, registry: InstrumentRegistry) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    book = sink.books[registry.by_symbol("bybit-legacy", "BTCUSD").id]
    return book.bids(), book.asks()


def state_of(sink: BooksSink, registry: InstrumentRegistry) -> BookState:
    return sink.states[registry.by_symbol("bybit-legacy", "BTCUSD").id]


P = 100_000_000  # price scale 8


def test_should_apply_a_delete_that_names_only_the_id_through_the_id_map() -> None:
    adapter, sink, registry = make()
    adapter.on_message(snapshot(10), 1)
    adapter.on_message(
        delta(11, delete=[{"id": 1005, "side": "Buy", "symbol": "BTCUSD"}], insert=[level(995, "Buy", "99.5", 2)]), 2
    )
    assert book_of(sink, registry) == ([(100 * P, 5), (995 * P // 10, 2)], [(101 * P, 3), (1015 * P // 10, 9)])
    assert sink.updates == {1: 2}  # the snapshot and the delta: each one atomic update
    assert state_of(sink, registry) is BookState.SYNCED
    assert adapter.stats["BTCUSD"].applied == 1


def test_should_resync_on_a_delete_of_an_unknown_id_and_recover_on_the_next_snapshot() -> None:
    adapter, sink, registry = make()
    adapter.on_message(snapshot(10), 1)
    before = book_of(sink, registry)
    adapter.on_message(delta(11, delete=[{"id": 4242, "side": "Buy", "symbol": "BTCUSD"}]), 2)
    assert state_of(sink, registry) is BookState.RESYNCING
    assert book_of(sink, registry) == before  # nothing of the bad delta reached the sink
    assert adapter.problems.rejected_values == 1  # counted as "inconsistent book"
    stats = adapter.stats["BTCUSD"]
    assert (stats.gaps, stats.resyncs, stats.applied) == (1, 1, 0)
    assert adapter.take_resubscribe_requests() == [
        ResubscribeRequest(
            ("BTCUSD",),
            (
                '{"op":"unsubscribe","args":["orderBookL2_25.BTCUSD"]}',
                '{"op":"subscribe","args":["orderBookL2_25.BTCUSD"]}',
            ),
        )
    ]
    assert adapter.take_resubscribe_requests() == []
    # The symbol is ignored until a snapshot: even a valid-looking delta is dropped, and no new request.
    adapter.on_message(delta(12, update=[level(1000, "Buy", "100.0", 6)]), 3)
    assert book_of(sink, registry) == before
    assert stats.dropped == 1
    assert adapter.take_resubscribe_requests() == []
    adapter.on_message(snapshot(20, [level(1000, "Buy", "100.0", 1), level(1010, "Sell", "101.0", 1)]), 4)
    assert state_of(sink, registry) is BookState.SYNCED
    adapter.on_message(delta(21, update=[level(1000, "Buy", "100.0", 8)]), 5)
    assert book_of(sink, registry) == ([(100 * P, 8)], [(101 * P, 1)])
    assert (stats.gaps, stats.resyncs, stats.applied, stats.dropped) == (1, 1, 1, 1)


def test_should_resync_on_an_update_of_an_unknown_id() -> None:
    adapter, sink, registry = make()
    adapter.on_message(snapshot(10), 1)
    adapter.on_message(delta(11, update=[level(999, "Buy", "99.9", 1)]), 2)
    assert state_of(sink, registry) is BookState.RESYNCING
    assert adapter.stats["BTCUSD"].resyncs == 1
    assert [r.messages for r in adapter.take_resubscribe_requests()] == [
        ('{"op":"unsubscribe","args":["orderBookL2_25.BTCUSD"]}', '{"op":"subscribe","args":["orderBookL2_25.BTCUSD"]}')
    ]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(delta(11, insert=[level(1000, "Buy", "100.0", 1)]), id="insert-of-a-known-id"),
        pytest.param(delta(11, update=[level(1000, "Buy", "100.5", 1)]), id="update-moves-the-price"),
        pytest.param(delta(11, update=[level(1000, "Sell", "100.0", 1)]), id="update-moves-the-side"),
        pytest.param(delta(11, delete=[{"id": 1000, "side": "Sell"}]), id="delete-on-the-other-side"),
        pytest.param(delta(11, insert=[level(7, "Buy", "100.0", 1)]), id="two-ids-at-one-price"),
    ],
)
def test_should_resync_when_a_delta_does_not_fit_the_id_map(bad: str) -> None:
    adapter, sink, registry = make()
    adapter.on_message(snapshot(10), 1)
    adapter.on_message(bad, 2)
    assert state_of(sink, registry) is BookState.RESYNCING
    assert adapter.stats["BTCUSD"].resyncs == 1
    assert adapter.problems.rejected_values == 1
    assert len(adapter.take_resubscribe_requests()) == 1


def test_should_resync_when_a_side_grows_past_the_venue_depth_of_25() -> None:
    adapter, sink, registry = make()
    bids = [level(i, "Buy", f"{i}.0", 1) for i in range(1, 26)]
    adapter.on_message(snapshot(10, [*bids, level(100, "Sell", "100.0", 1)]), 1)
    assert state_of(sink, registry) is BookState.SYNCED
    # A 26th bid without the delete of the 1st: the venue's book cannot look like that.
    adapter.on_message(delta(11, insert=[level(50, "Buy", "50.0", 1)]), 2)
    assert state_of(sink, registry) is BookState.RESYNCING
    # With the delete, the same insert keeps 25 levels and applies.
    adapter.on_message(snapshot(20, [*bids, level(100, "Sell", "100.0", 1)]), 3)
    adapter.on_message(delta(21, delete=[{"id": 1, "side": "Buy"}], insert=[level(50, "Buy", "50.0", 1)]), 4)
    assert state_of(sink, registry) is BookState.SYNCED
    bid_prices = [p // P for p, _ in book_of(sink, registry)[0]]
    assert bid_prices == [50, *range(25, 1, -1)]


def test_should_drop_a_delta_whose_cross_seq_is_not_above_the_last_applied() -> None:
    adapter, sink, registry = make()
    adapter.on_message(snapshot(10), 1)
    adapter.on_message(delta(15, update=[level(1000, "Buy", "100.0", 6)]), 2)
    after = book_of(sink, registry)
    adapter.on_message(delta(15, update=[level(1000, "Buy", "100.0", 99)]), 3)  # repeated
    adapter.on_message(delta(12, update=[level(1000, "Buy", "100.0", 98)]), 4)  # older
    assert after == ([(1005 * P // 10, 7), (100 * P, 6)], [(101 * P, 3), (1015 * P // 10, 9)])
    assert book_of(sink, registry) == after
    stats = adapter.stats["BTCUSD"]
    assert (stats.applied, stats.dropped, stats.gaps, stats.resyncs) == (1, 2, 0, 0)
    assert state_of(sink, registry) is BookState.SYNCED
    assert adapter.take_resubscribe_requests() == []
    # cross_seq is not contiguous on this feed: a jump is fine.
    adapter.on_message(delta(1_000, update=[level(1000, "Buy", "100.0", 1)]), 5)
    assert stats.applied == 2
    assert state_of(sink, registry) is BookState.SYNCED


def test_should_resync_when_an_update_crosses_the_book() -> None:
    adapter, sink, registry = make()
    adapter.on_message(snapshot(10), 1)
    adapter.on_message(delta(11, insert=[level(1020, "Buy", "102.0", 1)]), 2)  # bid above the best ask
    assert state_of(sink, registry) is BookState.RESYNCING
    assert adapter.problems.rejected_values == 1  # "crossed book"
    assert adapter.stats["BTCUSD"].resyncs == 1
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [("BTCUSD",)]


def test_should_drop_deltas_before_the_first_snapshot_and_after_a_disconnect() -> None:
    adapter, sink, registry = make()
    adapter.on_message(delta(9, update=[level(1000, "Buy", "100.0", 6)]), 1)
    assert adapter.stats["BTCUSD"].dropped == 1
    assert not adapter.synced.get("BTCUSD")
    adapter.on_message(snapshot(10), 2)
    adapter.on_disconnect(3)
    assert state_of(sink, registry) is BookState.RESYNCING
    adapter.on_message(delta(11, update=[level(1000, "Buy", "100.0", 6)]), 4)
    assert adapter.stats["BTCUSD"].dropped == 2
    assert adapter.take_resubscribe_requests() == []  # the reconnect subscribes again by itself
    adapter.on_message(snapshot(30), 5)
    assert state_of(sink, registry) is BookState.SYNCED


def test_should_subscribe_to_book_and_trades_and_ignore_subscription_acks() -> None:
    adapter, sink, _ = make()
    assert adapter.websocket_urls() == ["wss://stream.bybit.com/realtime"]
    assert adapter.subscriptions(adapter.websocket_urls()[0]) == [
        '{"op":"subscribe","args":["orderBookL2_25.BTCUSD","trade.BTCUSD"]}'
    ]
    ack = '{"success":true,"ret_msg":"","conn_id":"x","request":{"op":"subscribe","args":["trade.BTCUSD"]}}'
    adapter.on_message(ack, 1)
    assert (adapter.problems.malformed, adapter.problems.unknown, adapter.failed_requests) == (0, 0, 0)
    adapter.on_message('{"success":false,"ret_msg":"error:topic:trade.NOPE","request":{"op":"subscribe"}}', 2)
    assert adapter.failed_requests == 1
    assert sink.states == {}


# -- malformed input -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        pytest.param("not json", "malformed", id="not-json"),
        pytest.param(b"\xff\xfe", "malformed", id="not-utf8"),
        pytest.param("[1, 2]", "malformed", id="array"),
        pytest.param('{"hello": 1}', "malformed", id="no-topic"),
        pytest.param('{"topic": "instrument_info.100ms.BTCUSD", "data": {}}', "unknown", id="unknown-topic"),
        pytest.param('{"topic": "orderBookL2_25.", "type": "snapshot", "data": []}', "malformed", id="no-symbol"),
        pytest.param(snapshot(10).replace('"cross_seq": 10', '"cross_seq": "10"'), "malformed", id="cross-seq-string"),
        pytest.param(
            snapshot(10).replace('"cross_seq": 10', '"cross_seq": 18446744073709551616'),
            "malformed",
            id="cross-seq-huge",
        ),
        pytest.param(snapshot(10).replace('"type": "snapshot"', '"type": "partial"'), "rejected", id="unknown-type"),
        pytest.param(snapshot(10, [level(1, "Buy", "100", -5)]), "rejected", id="negative-size"),
        pytest.param(snapshot(10, [level(1, "Buy", "100", 0)]), "rejected", id="zero-size-in-snapshot"),
        pytest.param(snapshot(10).replace('"size": 5', '"size": NaN'), "malformed", id="nan-size"),
        pytest.param(snapshot(10).replace('"size": 5', '"size": 1.5'), "malformed", id="float-size"),
        pytest.param(
            snapshot(10).replace('"size": 5', '"size": 9223372036854775808'), "rejected", id="size-over-int64"
        ),
        pytest.param(snapshot(10, [level(1, "Buy", "1e5", 1)]), "rejected", id="exponent-price"),
        pytest.param(snapshot(10, [level(1, "Buy", "99999999999999999999", 1)]), "rejected", id="huge-price"),
        pytest.param(snapshot(10, [level(1, "Buy", "nan", 1)]), "rejected", id="nan-price"),
        pytest.param(snapshot(10, [level(1, "Both", "100", 1)]), "rejected", id="unknown-side"),
        pytest.param(snapshot(10, [{"id": 1, "side": "Buy"}]), "malformed", id="level-without-price"),
        pytest.param(
            '{"topic":"orderBookL2_25.BTCUSD","type":"snapshot","data":{},"cross_seq":10}',
            "malformed",
            id="snapshot-data-object",
        ),
        pytest.param('{"topic": "trade.BTCUSD", "data": []}', "malformed", id="empty-trades"),
        pytest.param('{"topic": "trade.BTCUSD", "data": {}}', "malformed", id="trades-object"),
        pytest.param('{"topic": "trade.BTCUSD"}', "malformed", id="trades-missing"),
    ],
)
def test_should_count_bad_input_without_raising(raw: str | bytes, kind: str) -> None:
    adapter, sink, _ = make()
    adapter.on_message(raw, 1)
    assert_counted_without_a_book(adapter, sink, kind)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param('{"topic":"orderBookL2_25.BTCUSD","type":"delta","data":[],"cross_seq":11}', id="data-list"),
        pytest.param(delta(11).replace('"delete": [], "update": [], "insert": [], ', ""), id="empty-data"),
        pytest.param(delta(11, update=[level(1000, "Buy", "100.0", -1)]), id="negative-size"),
        pytest.param(delta(11, update=[{"id": 1000, "side": "Buy"}]), id="update-without-size"),
        pytest.param(delta(11, insert=[level(9, "Buy", "99.0", 0)]), id="insert-size-zero"),
        pytest.param(delta(11).replace('"update": []', '"update": 7'), id="update-not-a-list"),
    ],
)
def test_should_resync_a_synced_book_that_gets_an_unusable_delta(bad: str) -> None:
    adapter, sink, registry = make()
    adapter.on_message(snapshot(10), 1)
    assert_unusable_delta_resyncs(adapter, bad, lambda: book_of(sink, registry), lambda: state_of(sink, registry))


def test_should_treat_an_update_to_size_zero_as_the_removal_of_that_id() -> None:
    adapter, sink, registry = make()
    adapter.on_message(snapshot(10), 1)
    adapter.on_message(delta(11, update=[level(1005, "Buy", "100.5", 0)]), 2)
    assert book_of(sink, registry)[0] == [(100 * P, 5)]
    adapter.on_message(delta(12, insert=[level(1005, "Buy", "100.5", 4)]), 3)  # the id is free again
    assert book_of(sink, registry)[0] == [(1005 * P // 10, 4), (100 * P, 5)]
    assert state_of(sink, registry) is BookState.SYNCED


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        pytest.param({"price": "6.06e4"}, "rejected", id="exponent-price"),
        pytest.param({"price": '"NaN"'}, "rejected", id="nan-price-string"),
        pytest.param({"size": "-4"}, "rejected", id="negative-size"),
        pytest.param({"size": "0"}, "rejected", id="zero-size"),
        pytest.param({"size": "1" + "0" * 30}, "rejected", id="huge-size"),
        pytest.param({"side": '"Up"'}, "rejected", id="unknown-side"),
        pytest.param({"trade_id": '"xyz"'}, "rejected", id="bad-trade-id"),
        pytest.param({"trade_time_ms": '"soon"'}, "malformed", id="bad-time"),
        pytest.param({"price": "null"}, "malformed", id="null-price"),
        pytest.param({"size": "4.5"}, "rejected", id="fractional-contracts"),
        pytest.param({"symbol": "null"}, "rejected", id="null-symbol"),
        pytest.param({"symbol": '"EOSUSD"'}, "rejected", id="other-symbol"),
    ],
)
def test_should_skip_only_the_bad_trade_of_a_trade_message(entry: dict[str, str], kind: str) -> None:
    adapter, sink, registry = make()
    fields = {
        "trade_time_ms": "1618677786614",
        "symbol": '"BTCUSD"',
        "side": '"Buy"',
        "size": "4",
        "price": "60621.5",
        "trade_id": '"5ffb8b77-900c-507d-97a2-0922557ffe54"',
        "cross_seq": "1",
    }
    good = "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}"
    bad = "{" + ",".join(f'"{k}":{v}' for k, v in {**fields, **entry}.items()) + "}"
    adapter.on_message(f'{{"topic":"trade.BTCUSD","data":[{bad},{good}]}}', 1)
    assert_bad_trade_skipped(adapter, kind)
    trades = sink.trades[registry.by_symbol("bybit-legacy", "BTCUSD").id]
    assert [(t.price, t.qty, t.aggressor, t.trade_id) for t in trades] == [(6062150000000, 4, BID, 0x5FFB8B77900C507D)]
    assert [i.symbol for i in registry] == ["BTCUSD"]


def test_should_accept_binary_frames_like_text_frames() -> None:
    adapter, sink, registry = make()
    adapter.on_message(snapshot(10).encode(), 1)
    trade = '{"topic":"trade.BTCUSD","data":[{"trade_time_ms":1,"symbol":"BTCUSD","side":"Sell","size":2,'
    adapter.on_message((trade + '"price":0.5,"trade_id":"00000000-0000-0000-0000-000000000001"}]}').encode(), 2)
    assert state_of(sink, registry) is BookState.SYNCED
    instrument = registry.by_symbol("bybit-legacy", "BTCUSD")
    assert [(t.price, t.qty, t.aggressor, t.trade_id) for t in sink.trades[instrument.id]] == [(P // 2, 2, ASK, 0)]


# -- throughput (not a test: ``python -m tests.unit.marketdata.venues.test_bybit_legacy``) ------------------------


def measure_delta_rate(repeat: int = 7) -> dict[str, float]:
    """Delta messages/s through ``on_message`` over the capture (best of ``repeat``), per sink."""
    import timeit

    received = [e.payload for e in capture_events() if e.kind is EventKind.RECEIVED]
    snapshots = [p for p in received if '"type":"snapshot"' in p]
    deltas = [p for p in received if '"type":"delta"' in p]
    rates: dict[str, float] = {}
    for name, sink_type in (("null sink", NullSink), ("BooksSink", BooksSink)):
        adapters: list[BybitLegacyAdapter] = []

        def setup(sink_type: Any = sink_type, adapters: list[BybitLegacyAdapter] = adapters) -> None:
            adapter = BybitLegacyAdapter(sink_type(), InstrumentRegistry())
            for raw in snapshots:
                adapter.on_message(raw, 0)
            adapters[:] = [adapter]

        def run(adapters: list[BybitLegacyAdapter] = adapters) -> None:
            on_message = adapters[0].on_message
            for raw in deltas:
                on_message(raw, 0)

        best = min(timeit.repeat(run, setup=setup, number=1, repeat=repeat))
        assert sum(s.applied for s in adapters[0].stats.values()) == len(deltas)
        rates[name] = len(deltas) / best
    return rates


if __name__ == "__main__":
    for sink_name, rate in measure_delta_rate().items():
        print(f"{sink_name}: {rate:,.0f} delta messages/s ({1e6 / rate:.1f} us each) over {CAPTURE}")


def test_should_ask_again_when_the_snapshot_answering_a_resubscription_is_unusable() -> None:
    adapter, sink, registry = make()
    adapter.on_message(snapshot(10), 1)
    adapter.on_message(delta(11, delete=[{"id": 4242, "side": "Buy"}]), 2)  # inconsistent
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [("BTCUSD",)]
    adapter.on_message(snapshot(20, [level(1, "Buy", "1.0", 1), level(1, "Buy", "2.0", 1)]), 3)  # repeats an id
    assert state_of(sink, registry) is BookState.RESYNCING
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [("BTCUSD",)]
    adapter.on_message(snapshot(30), 4)
    assert state_of(sink, registry) is BookState.SYNCED
    assert adapter.take_resubscribe_requests() == []
