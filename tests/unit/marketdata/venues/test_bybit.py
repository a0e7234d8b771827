"""Bybit v5 public ``orderbook.{depth}.{symbol}`` and ``publicTrade.{symbol}``.

No v5 capture is shipped: the messages are built here from the documented
format (Bybit v5 WebSocket docs, "Orderbook" and "Trade").
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
from stages.marketdata.venues.bybit import base as bybit_base
from stages.marketdata.venues.bybit.fields import trade_id_from
from stages.marketdata.venues.bybit.v5 import BybitAdapter
from tests.unit.marketdata.venues.problems import (
    assert_bad_trade_skipped,
    assert_counted_without_a_book,
    assert_unusable_delta_resyncs,
)

BID, ASK = int(BookSide.BID), int(BookSide.ASK)
P = 100_000_000  # price and qty scale 8
TS = 1_671_179_923_028


def make(**kwargs: Any) -> tuple[BybitAdapter, BooksSink, InstrumentRegistry]:
    registry = InstrumentRegistry()
    sink = BooksSink()
    kwargs.setdefault("depth", 50)
    return BybitAdapter(sink, registry, symbols=["BTCUSDT"], **kwargs), sink, registry


def _raw(level: Any) -> Any:
    return list(level) if isinstance(level, tuple) else level


def book(kind: str, u: int, bids: Any = (), asks: Any = (), depth: int = 50, symbol: str = "BTCUSDT") -> str:
    return json.dumps(
        {
            "topic": f"orderbook.{depth}.{symbol}",
            "type": kind,
            "ts": TS + u,
            "data": {"s": symbol, "b": [_raw(b) for b in bids], "a": [_raw(a) for a in asks], "u": u, "seq": 9000 + u},
            "cts": TS + u - 2,
        }
    )


SNAPSHOT = book(
    "snapshot", 100, bids=[("17440.00", "40.833"), ("17439.50", "0.513")], asks=[("17440.50", "78.815"), ("17441", "8")]
)


def sides(sink: BooksSink, registry: InstrumentRegistry, symbol: str = "BTCUSDT") -> tuple[list[Any], list[Any]]:
    """The sink's book as decimal strings, best first."""
    instrument = registry.by_symbol("bybit", symbol)
    b = sink.books[instrument.id]
    return (
        [(instrument.price_text(p), instrument.qty_text(q)) for p, q in b.bids()],
        [(instrument.price_text(p), instrument.qty_text(q)) for p, q in b.asks()],
    )


def state(sink: BooksSink, registry: InstrumentRegistry, symbol: str = "BTCUSDT") -> BookState:
    return sink.states[registry.by_symbol("bybit", symbol).id]


def replica_equals_sink(adapter: BybitAdapter, sink: BooksSink, registry: InstrumentRegistry) -> bool:
    instrument_id = registry.by_symbol("bybit", "BTCUSDT").id
    replica, mirror = adapter.replicas[instrument_id], sink.books[instrument_id]
    return (replica.bids(), replica.asks()) == (mirror.bids(), mirror.asks())


# -- snapshot and deltas -------------------------------------------------------------


def test_should_sync_from_a_snapshot_and_apply_deltas_with_zero_size_removing_a_level() -> None:
    adapter, sink, registry = make()
    adapter.on_message(SNAPSHOT, 1)
    assert state(sink, registry) is BookState.SYNCED
    assert sides(sink, registry) == (
        [("17440", "40.833"), ("17439.5", "0.513")],
        [("17440.5", "78.815"), ("17441", "8")],
    )
    adapter.on_message(book("delta", 101, asks=[("17440.50", "78.857"), ("17442.00", "1.510")]), 2)
    adapter.on_message(book("delta", 102, bids=[("17440.00", "0")], asks=[("17441", "0.000")]), 3)
    assert sides(sink, registry) == ([("17439.5", "0.513")], [("17440.5", "78.857"), ("17442", "1.51")])
    assert replica_equals_sink(adapter, sink, registry)
    stats = adapter.stats["BTCUSDT"]
    assert (stats.messages, stats.applied, stats.dropped, stats.gaps, stats.resyncs) == (3, 2, 0, 0, 0)
    instrument_id = registry.by_symbol("bybit", "BTCUSDT").id
    assert sink.updates[instrument_id] == 3  # one END per message
    assert sink.books[instrument_id].update_id == 102
    assert adapter.take_resubscribe_requests() == []


def test_should_reset_the_book_on_every_snapshot_not_merge_it() -> None:
    adapter, sink, registry = make()
    adapter.on_message(SNAPSHOT.encode(), 1)  # a binary frame is read like a text one
    adapter.on_message(book("snapshot", 500, bids=[("1", "1")], asks=[("2", "2")]), 2)
    assert sides(sink, registry) == ([("1", "1")], [("2", "2")])
    adapter.on_message(book("delta", 501, bids=[("1.5", "3")]), 3)
    assert sides(sink, registry) == ([("1.5", "3"), ("1", "1")], [("2", "2")])
    assert state(sink, registry) is BookState.SYNCED


def test_should_mark_a_u_gap_resyncing_request_a_resubscription_and_wait_for_the_snapshot() -> None:
    adapter, sink, registry = make()
    adapter.on_message(SNAPSHOT, 1)
    adapter.on_message(book("delta", 101, bids=[("17440", "1")]), 2)
    before = sides(sink, registry)
    adapter.on_message(book("delta", 103, bids=[("17440", "2")]), 3)  # 102 is missing
    assert state(sink, registry) is BookState.RESYNCING
    assert sides(sink, registry) == before
    stats = adapter.stats["BTCUSDT"]
    assert (stats.gaps, stats.resyncs, stats.applied) == (1, 1, 1)
    assert adapter.take_resubscribe_requests() == [
        ResubscribeRequest(
            ("BTCUSDT",),
            (
                '{"op":"unsubscribe","args":["orderbook.50.BTCUSDT"]}',
                '{"op":"subscribe","args":["orderbook.50.BTCUSDT"]}',
            ),
        )
    ]
    # Deltas, even the "next" ones, are dropped until a snapshot; no second request.
    adapter.on_message(book("delta", 104, bids=[("17440", "3")]), 4)
    adapter.on_message(book("delta", 105, bids=[("17440", "4")]), 5)
    assert sides(sink, registry) == before
    assert stats.dropped == 2
    assert adapter.take_resubscribe_requests() == []
    adapter.on_message(book("snapshot", 900, bids=[("10", "1")], asks=[("11", "1")]), 6)
    adapter.on_message(book("delta", 901, asks=[("11", "5")]), 7)
    assert state(sink, registry) is BookState.SYNCED
    assert sides(sink, registry) == ([("10", "1")], [("11", "5")])
    assert (stats.gaps, stats.resyncs, stats.applied, stats.dropped) == (1, 1, 2, 2)


def test_should_drop_a_repeated_or_older_u() -> None:
    adapter, sink, registry = make()
    adapter.on_message(SNAPSHOT, 1)
    adapter.on_message(book("delta", 101, bids=[("17440", "1")]), 2)
    adapter.on_message(book("delta", 101, bids=[("17440", "99")]), 3)
    adapter.on_message(book("delta", 100, bids=[("17440", "98")]), 4)
    assert sides(sink, registry)[0][0] == ("17440", "1")
    stats = adapter.stats["BTCUSDT"]
    assert (stats.applied, stats.dropped, stats.gaps) == (1, 2, 0)
    assert state(sink, registry) is BookState.SYNCED


def test_should_treat_u_equal_1_as_a_service_restart_snapshot_even_in_a_delta() -> None:
    adapter, sink, registry = make()
    adapter.on_message(SNAPSHOT, 1)
    adapter.on_message(book("delta", 101, bids=[("17440", "1")]), 2)
    adapter.on_message(book("delta", 1, bids=[("20000", "1")], asks=[("20001", "2"), ("20002", "0")]), 3)
    assert sides(sink, registry) == ([("20000", "1")], [("20001", "2")])  # replaced, not merged; "0" is no level
    assert state(sink, registry) is BookState.SYNCED
    adapter.on_message(book("delta", 2, bids=[("19999", "3")]), 4)
    assert sides(sink, registry)[0] == [("20000", "1"), ("19999", "3")]
    stats = adapter.stats["BTCUSDT"]
    assert (stats.gaps, stats.resyncs, stats.applied) == (0, 0, 2)
    # After a gap, a u=1 restart message also re-syncs the book.
    adapter.on_message(book("delta", 9, bids=[("1", "1")]), 5)
    assert state(sink, registry) is BookState.RESYNCING
    adapter.on_message(book("delta", 1, bids=[("5", "1")], asks=[("6", "1")]), 6)
    assert state(sink, registry) is BookState.SYNCED
    assert sides(sink, registry) == ([("5", "1")], [("6", "1")])


@pytest.mark.parametrize("price_cache", [bybit_base.PRICE_CACHE_SIZE, 3], ids=["price-cache", "cache-mostly-cold"])
def test_should_keep_the_book_cut_to_the_subscribed_depth_within_one_atomic_update(
    price_cache: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bybit_base, "PRICE_CACHE_SIZE", price_cache)
    adapter, sink, registry = make()
    bids = [(str(1000 - i), "1") for i in range(50)]  # 1000 .. 951
    asks = [(str(1001 + i), "1") for i in range(50)]  # 1001 .. 1050
    adapter.on_message(book("snapshot", 10, bids, asks), 1)
    instrument_id = registry.by_symbol("bybit", "BTCUSDT").id
    updates = sink.updates[instrument_id]
    # Two better bids push 951 and 952 out; Bybit sends no removal for them.
    adapter.on_message(book("delta", 11, bids=[("1000.5", "2"), ("999.5", "2")], asks=[("1051", "7")]), 2)
    assert sink.updates[instrument_id] == updates + 1  # still one END
    got_bids, got_asks = sides(sink, registry)
    assert len(got_bids) == len(got_asks) == 50
    assert got_bids[:3] == [("1000.5", "2"), ("1000", "1"), ("999.5", "2")]
    assert got_bids[-1] == ("953", "1")
    assert got_asks[-1] == ("1050", "1")  # 1051 is beyond the 50 the venue keeps
    assert replica_equals_sink(adapter, sink, registry)
    # A removal at the top lets the venue send the level that now enters the range.
    adapter.on_message(book("delta", 12, asks=[("1001", "0"), ("1051", "7")]), 3)
    assert sides(sink, registry)[1][-1] == ("1051", "7")
    assert len(sides(sink, registry)[1]) == 50
    assert replica_equals_sink(adapter, sink, registry)
    assert adapter.stats["BTCUSDT"].applied == 2


def test_should_take_the_depth_from_the_topic_including_depth_1_resent_snapshots() -> None:
    adapter, sink, registry = make(depth=1)
    assert adapter.subscriptions(adapter.ws_url) == [
        '{"op":"subscribe","args":["orderbook.1.BTCUSDT","publicTrade.BTCUSDT"]}'
    ]
    adapter.on_message(book("snapshot", 7, [("10", "1")], [("11", "1")], depth=1), 1)
    adapter.on_message(book("snapshot", 7, [("10", "2")], [("11", "1")], depth=1), 2)  # re-sent, same u
    assert sides(sink, registry) == ([("10", "2")], [("11", "1")])
    adapter.on_message(book("delta", 8, [("10.5", "3")], [], depth=1), 3)
    assert sides(sink, registry) == ([("10.5", "3")], [("11", "1")])
    assert state(sink, registry) is BookState.SYNCED


def test_should_resync_when_a_delta_crosses_the_book() -> None:
    adapter, sink, registry = make()
    adapter.on_message(SNAPSHOT, 1)
    adapter.on_message(book("delta", 101, bids=[("17441.00", "1")]), 2)  # at the best ask
    assert state(sink, registry) is BookState.RESYNCING
    assert adapter.problems.rejected_values == 1  # "crossed book"
    assert adapter.stats["BTCUSDT"].resyncs == 1
    assert [r.messages for r in adapter.take_resubscribe_requests()] == [
        ('{"op":"unsubscribe","args":["orderbook.50.BTCUSDT"]}', '{"op":"subscribe","args":["orderbook.50.BTCUSDT"]}')
    ]


def test_should_wait_for_a_snapshot_after_a_disconnect() -> None:
    adapter, sink, registry = make()
    adapter.on_message(book("delta", 5, bids=[("1", "1")]), 0)  # before any snapshot
    adapter.on_message(SNAPSHOT, 1)
    adapter.on_disconnect(2)
    assert state(sink, registry) is BookState.RESYNCING
    adapter.on_message(book("delta", 101, bids=[("17440", "1")]), 3)
    assert adapter.stats["BTCUSDT"].dropped == 2
    assert adapter.take_resubscribe_requests() == []
    adapter.on_message(book("snapshot", 300, [("1", "1")], [("2", "1")]), 4)
    assert state(sink, registry) is BookState.SYNCED


# -- trades ----------------------------------------------------------------------


def trades(*entries: dict[str, Any]) -> str:
    return json.dumps({"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": TS, "data": list(entries)})


TRADE = {
    "T": TS,
    "s": "BTCUSDT",
    "S": "Buy",
    "v": "0.001",
    "p": "16578.50",
    "L": "PlusTick",
    "i": "20f43950-d8dd-5b31-9112-a178eb6023af",
    "BT": False,
}


def test_should_pass_trades_on_with_the_taker_side_as_aggressor_and_a_stable_id() -> None:
    adapter, sink, registry = make()
    adapter.on_message(
        trades(TRADE, {**TRADE, "S": "Sell", "v": "2.5", "p": "16578", "i": "2290000000061666327", "T": TS + 5}), 7
    )
    instrument = registry.by_symbol("bybit", "BTCUSDT")
    got = [(t.price, t.qty, t.trade_id, t.aggressor, t.ts_venue) for t in sink.trades[instrument.id]]
    assert got == [
        (1657850 * P // 100, 100_000, 0x20F43950D8DD5B31, BID, TS * 1_000_000),
        (16578 * P, 250_000_000, 2290000000061666327, ASK, (TS + 5) * 1_000_000),
    ]
    assert adapter.problems.malformed + adapter.problems.unknown + adapter.problems.rejected_values == 0


def test_should_map_trade_ids_to_uint64_the_same_way_every_time() -> None:
    assert trade_id_from("5ffb8b77-900c-507d-97a2-0922557ffe54") == 0x5FFB8B77900C507D
    assert trade_id_from("5FFB8B77-900C-507D-97A2-0922557FFE54") == 0x5FFB8B77900C507D
    assert trade_id_from("18446744073709551615") == (1 << 64) - 1
    for bad in ("18446744073709551616", "abc", "", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", 12345, None, "１２３"):
        with pytest.raises(ValueError):
            trade_id_from(bad)


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        pytest.param({"p": "NaN"}, "rejected", id="nan-price"),
        pytest.param({"v": "-1"}, "rejected", id="negative-size"),
        pytest.param({"v": "0"}, "rejected", id="zero-size"),
        pytest.param({"p": "1e5"}, "rejected", id="exponent-price"),
        pytest.param({"p": "9" * 30}, "rejected", id="huge-price"),
        pytest.param({"p": 16578.5}, "malformed", id="float-price"),
        pytest.param({"S": "Up"}, "rejected", id="unknown-side"),
        pytest.param({"i": None}, "rejected", id="null-id"),
        pytest.param({"T": "now"}, "malformed", id="bad-time"),
        pytest.param({"s": None}, "rejected", id="null-symbol"),
        pytest.param({"s": "ETHUSDT"}, "rejected", id="other-symbol"),
    ],
)
def test_should_skip_only_the_bad_trade(entry: dict[str, Any], kind: str) -> None:
    adapter, sink, registry = make()
    adapter.on_message(trades({**TRADE, **entry}, TRADE), 1)
    assert_bad_trade_skipped(adapter, kind)
    assert len(sink.trades[registry.by_symbol("bybit", "BTCUSDT").id]) == 1
    assert [i.symbol for i in registry] == ["BTCUSDT"]


# -- connection and control messages ---------------------------------------------------


def test_should_subscribe_by_category_with_at_most_10_topics_per_request() -> None:
    registry = InstrumentRegistry()
    symbols = [f"C{i}USDT" for i in range(6)]
    adapter = BybitAdapter(BooksSink(), registry, symbols=symbols, depth=200, category="spot")
    assert adapter.websocket_urls() == ["wss://stream.bybit.com/v5/public/spot"]
    sent = [json.loads(text) for text in adapter.subscriptions(adapter.ws_url)]
    assert [len(m["args"]) for m in sent] == [10, 2]
    assert all(m["op"] == "subscribe" for m in sent)
    assert [a for m in sent for a in m["args"]][:3] == [
        "orderbook.200.C0USDT",
        "publicTrade.C0USDT",
        "orderbook.200.C1USDT",
    ]
    assert BybitAdapter(BooksSink(), registry, depth=60, category="inverse").book_depth == 200
    assert BybitAdapter(BooksSink(), registry, category="linear").book_depth == 1000  # the base's default 1000
    assert BybitAdapter(BooksSink(), registry, depth=10**6, category="option").book_depth == 100
    assert BybitAdapter(BooksSink(), registry, category="inverse").websocket_urls() == [
        "wss://stream.bybit.com/v5/public/inverse"
    ]
    with pytest.raises(ValueError, match="unknown Bybit category"):
        BybitAdapter(BooksSink(), registry, category="futures")


@pytest.mark.parametrize(
    "raw",
    [
        '{"success":true,"ret_msg":"subscribe","conn_id":"x","req_id":"","op":"subscribe"}',
        '{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}',
        '{"req_id":"","op":"pong","args":["1675418560633"],"conn_id":"x"}',
    ],
)
def test_should_answer_op_messages_with_silence(raw: str) -> None:
    adapter, sink, _ = make()
    adapter.on_message(raw, 1)
    counts = adapter.problems
    assert (counts.malformed, counts.unknown, counts.rejected_values, adapter.failed_requests) == (0, 0, 0, 0)
    assert sink.states == {}


def test_should_count_a_refused_subscription() -> None:
    adapter, _, _ = make()
    adapter.on_message('{"success":false,"ret_msg":"error:handler not found","conn_id":"x","op":"subscribe"}', 1)
    assert adapter.failed_requests == 1
    assert adapter.problems.malformed == 0


# -- malformed input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        pytest.param("{", "malformed", id="truncated-json"),
        pytest.param(b"\x00\xff", "malformed", id="binary"),
        pytest.param('"text"', "malformed", id="json-string"),
        pytest.param("{}", "malformed", id="empty-object"),
        pytest.param('{"topic": 5}', "malformed", id="topic-number"),
        pytest.param('{"topic": "tickers.BTCUSDT", "data": {}}', "unknown", id="unknown-topic"),
        pytest.param('{"topic": "orderbook.BTCUSDT", "type": "snapshot"}', "malformed", id="topic-without-depth"),
        pytest.param('{"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "data": {}}', "malformed", id="empty-data"),
        pytest.param(
            '{"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "data": null}', "malformed", id="null-data"
        ),
        pytest.param('{"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "data": []}', "malformed", id="data-list"),
        pytest.param(SNAPSHOT.replace('"u": 100', '"u": "100"'), "malformed", id="u-string"),
        pytest.param(SNAPSHOT.replace('"u": 100', '"u": -3'), "rejected", id="u-negative"),
        pytest.param(SNAPSHOT.replace('"u": 100', '"u": true'), "malformed", id="u-bool"),
        pytest.param(SNAPSHOT.replace('"u": 100', '"u": 1e300'), "malformed", id="u-float"),
        pytest.param(SNAPSHOT.replace('"ts": ', '"ts": -'), "rejected", id="ts-negative"),
        pytest.param(SNAPSHOT.replace('"type": "snapshot"', '"type": "partial"'), "rejected", id="unknown-type"),
        pytest.param(SNAPSHOT.replace('"s": "BTCUSDT"', '"s": "ETHUSDT"'), "rejected", id="symbol-mismatch"),
        pytest.param(book("snapshot", 5, bids=[("100", "NaN")]), "rejected", id="nan-size"),
        pytest.param(book("snapshot", 5, bids=[("100", "-1")]), "rejected", id="negative-size"),
        pytest.param(book("snapshot", 5, bids=[("100", "inf")]), "rejected", id="inf-size"),
        pytest.param(book("snapshot", 5, bids=[("0", "1")]), "rejected", id="zero-price"),
        pytest.param(book("snapshot", 5, bids=[("1" + "0" * 20, "1")]), "rejected", id="huge-price"),
        pytest.param(book("snapshot", 5, bids=[("100", "0.000000001")]), "rejected", id="too-many-decimals"),
        pytest.param(book("snapshot", 5, bids=["12"]), "malformed", id="level-is-a-string"),
        pytest.param(book("snapshot", 5, bids=[("100", "1", "x")]), "malformed", id="level-with-3-items"),
        pytest.param(book("snapshot", 5, bids=[(100, "1")]), "malformed", id="price-number"),
        pytest.param(
            SNAPSHOT.replace('"b": [', '"b": {"x": [').replace("]], ", "]]}, ", 1), "malformed", id="bids-object"
        ),
        pytest.param('{"topic": "publicTrade.BTCUSDT", "data": []}', "malformed", id="no-trades"),
        pytest.param('{"topic": "publicTrade.BTCUSDT", "data": {"p": "1"}}', "malformed", id="trades-object"),
    ],
)
def test_should_count_bad_input_without_raising(raw: str | bytes, kind: str) -> None:
    adapter, sink, _ = make()
    adapter.on_message(raw, 1)
    assert_counted_without_a_book(adapter, sink, kind)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(book("delta", 101, bids=[("17440", "x")]), id="bad-size"),
        pytest.param(book("delta", 101, bids=[("17440", "-0.5")]), id="negative-size"),
        pytest.param(book("delta", 101, asks=[["17440"]]), id="short-level"),
        pytest.param(
            json.dumps({"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": TS, "data": {"u": 101}}), id="no-levels"
        ),
    ],
)
def test_should_resync_a_synced_book_that_gets_an_unusable_delta(bad: str) -> None:
    adapter, sink, registry = make()
    adapter.on_message(SNAPSHOT, 1)
    assert_unusable_delta_resyncs(adapter, bad, lambda: sides(sink, registry), lambda: state(sink, registry))


def test_should_keep_exact_decimals_through_the_book() -> None:
    adapter, sink, registry = make()
    adapter.on_message(book("snapshot", 3, bids=[("0.00001234", "123456789.12345678")], asks=[("0.00001235", "1")]), 1)
    got_bids, _ = sides(sink, registry)
    assert [(Decimal(p), Decimal(q)) for p, q in got_bids] == [(Decimal("0.00001234"), Decimal("123456789.12345678"))]


def test_should_ask_again_when_the_snapshot_answering_a_resubscription_is_crossed() -> None:
    adapter, sink, registry = make()
    adapter.on_message(SNAPSHOT, 1)
    adapter.on_message(book("delta", 105, bids=[("17440", "2")]), 2)  # a gap
    assert len(adapter.take_resubscribe_requests()) == 1
    adapter.on_message(book("delta", 106, bids=[("17440", "3")]), 3)  # dropped; the request is still pending
    assert adapter.take_resubscribe_requests() == []
    adapter.on_message(book("snapshot", 900, bids=[("11", "1")], asks=[("10", "1")]), 4)  # the answer, crossed
    assert state(sink, registry) is BookState.RESYNCING
    assert [r.messages for r in adapter.take_resubscribe_requests()] == [
        ('{"op":"unsubscribe","args":["orderbook.50.BTCUSDT"]}', '{"op":"subscribe","args":["orderbook.50.BTCUSDT"]}')
    ]
