"""Kraken WebSocket v2: messages built here from the documented format, checksums by a reference CRC."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.marketdata import BookSide, BookState
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.venues.kraken.v2 import KrakenV2Adapter
from tests.unit.marketdata.venues.kraken_reference import reference_checksum
from tests.unit.marketdata.venues.problems import PROBLEM_KINDS, assert_one_problem
from tests.unit.marketdata.venues.sink_books import book_as_decimals

SYMBOL = "MATIC/USD"
STAMP = "2023-10-06T17:35:55.440295Z"
STAMP_NS = int(datetime(2023, 10, 6, 17, 35, 55, tzinfo=UTC).timestamp()) * 10**9 + 440_295_000

Levels = list[tuple[str, str]]


def num(text: str) -> str:
    """A decimal as Kraken v2 puts it on the wire: a JSON number without trailing zeros."""
    value = Decimal(text)
    return format(value.normalize(), "f") if value else "0"


@dataclasses.dataclass
class RefBook:
    """The documented procedure, written independently: Decimal dicts, truncation, CRC32 at the precisions."""

    depth: int
    price_precision: int
    qty_precision: int
    bids: dict[Decimal, Decimal] = dataclasses.field(default_factory=dict)
    asks: dict[Decimal, Decimal] = dataclasses.field(default_factory=dict)

    def apply(self, bids: Levels, asks: Levels) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, qty in levels:
                if Decimal(qty) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = Decimal(qty)
        for cut in sorted(self.asks)[self.depth :]:
            del self.asks[cut]
        for cut in sorted(self.bids, reverse=True)[self.depth :]:
            del self.bids[cut]

    def checksum(self) -> int:
        def text(price: Decimal, qty: Decimal) -> tuple[str, str]:
            return f"{price:.{self.price_precision}f}", f"{qty:.{self.qty_precision}f}"

        asks = [text(p, self.asks[p]) for p in sorted(self.asks)]
        return reference_checksum(asks, [text(p, self.bids[p]) for p in sorted(self.bids, reverse=True)])


def book_message(kind: str, bids: Levels, asks: Levels, checksum: int, symbol: str = SYMBOL) -> str:
    def levels(side: Levels) -> str:
        return "[" + ",".join(f'{{"price":{num(p)},"qty":{num(q)}}}' for p, q in side) + "]"

    return (
        f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{symbol}","bids":{levels(bids)},'
        f'"asks":{levels(asks)},"checksum":{checksum},"timestamp":"{STAMP}"}}]}}'
    )


INSTRUMENTS = (
    '{"channel":"instrument","type":"snapshot","data":{"assets":[{"id":"USD","status":"enabled","precision":4,'
    '"precision_display":2,"borrowable":true,"collateral_value":1.0,"margin_rate":0.015}],"pairs":['
    '{"symbol":"MATIC/USD","base":"MATIC","quote":"USD","status":"online","qty_precision":8,"qty_increment":1e-08,'
    '"price_precision":4,"cost_precision":5,"marginable":false,"has_index":true,"cost_min":0.5,"tick_size":0.0001,'
    '"price_increment":0.0001,"qty_min":4.0}]}}'
)
SNAPSHOT_BIDS = [
    ("0.5666", "4831.75496356"), ("0.5665", "6658.22734739"), ("0.5664", "18724.91513344"),
    ("0.5663", "11563.92544914"), ("0.5662", "14006.65365711"), ("0.5661", "17454.85679807"),
    ("0.5660", "18097.15470000"), ("0.5659", "33644.89175666"), ("0.5658", "148.34640000"),
    ("0.5657", "606.70854372"),
]  # fmt: skip
SNAPSHOT_ASKS = [
    ("0.5668", "4410.79769741"), ("0.5669", "4655.40412487"), ("0.5670", "49844.89424998"),
    ("0.5671", "24306.41678000"), ("0.5672", "2000.00000000"), ("0.5673", "1227.70000000"),
    ("0.5674", "64.00000000"), ("0.5675", "8000.00000000"), ("0.5676", "1199.19000000"),
    ("0.5677", "100.00000000"),
]  # fmt: skip
UPDATES: list[tuple[Levels, Levels]] = [
    ([], [("0.5667", "100.00000000")]),  # a better ask pushes 0.5677 out of the depth-10 book
    ([("0.5666", "4000.12345678"), ("0.5660", "0")], [("0.5667", "0"), ("0.5677", "100.00000000")]),
    ([("0.5650", "9876543210.12345678")], []),  # 18 significant digits: a float would lose some
    ([("0.5666", "5.5"), ("0.5666", "6.25")], []),  # the same level twice: the last one counts
]


def synced(depth: int = 10, **kwargs: object) -> tuple[KrakenV2Adapter, BooksSink, RefBook, InstrumentRegistry]:
    registry = InstrumentRegistry()
    sink = BooksSink()
    adapter = KrakenV2Adapter(sink, registry, symbols=[SYMBOL], depth=depth, **kwargs)  # type: ignore[arg-type]
    ref = RefBook(depth, 4, 8)
    ref.apply(SNAPSHOT_BIDS, SNAPSHOT_ASKS)
    adapter.on_message(INSTRUMENTS, 1)
    adapter.on_message(book_message("snapshot", SNAPSHOT_BIDS, SNAPSHOT_ASKS, ref.checksum()), 2)
    return adapter, sink, ref, registry


def test_should_sync_from_a_snapshot_whose_checksum_matches() -> None:
    adapter, sink, ref, registry = synced()
    instrument = registry.by_symbol("kraken-v2", SYMBOL)
    assert (instrument.price_scale, instrument.qty_scale) == (4, 8)  # from the instrument channel
    assert sink.states[instrument.id] is BookState.SYNCED
    assert adapter.stats[SYMBOL].checksums_ok == 1
    assert book_as_decimals(sink, registry, SYMBOL) == {"bids": ref.bids, "asks": ref.asks}


def test_should_apply_updates_and_verify_every_checksum() -> None:
    adapter, sink, ref, registry = synced()
    for bids, asks in UPDATES:
        ref.apply(bids, asks)
        adapter.on_message(book_message("update", bids, asks, ref.checksum()), 3)
    stats = adapter.stats[SYMBOL]
    assert (stats.checksums_ok, stats.checksum_failures, stats.resyncs) == (1 + len(UPDATES), 0, 0)
    assert sink.states[registry.by_symbol("kraken-v2", SYMBOL).id] is BookState.SYNCED
    assert book_as_decimals(sink, registry, SYMBOL) == {"bids": ref.bids, "asks": ref.asks}
    assert book_as_decimals(sink, registry, SYMBOL)["bids"][Decimal("0.5650")] == Decimal("9876543210.12345678")
    assert len(ref.asks) == len(ref.bids) == 10
    assert adapter.update_ids[SYMBOL] == 1 + len(UPDATES)
    assert sum(sink.updates.values()) == 1 + len(UPDATES)  # one atomic update per message


def test_should_resubscribe_after_a_checksum_mismatch_and_resync_from_the_new_snapshot() -> None:
    adapter, sink, ref, registry = synced()
    iid = registry.by_symbol("kraken-v2", SYMBOL).id
    bids, asks = UPDATES[0]
    ref.apply(bids, asks)
    adapter.on_message(book_message("update", bids, asks, ref.checksum() ^ 1), 3)
    assert adapter.stats[SYMBOL].checksum_failures == 1
    assert sink.states[iid] is BookState.RESYNCING
    [request] = adapter.take_resubscribe_requests()
    assert request.symbols == (SYMBOL,)
    assert [json.loads(m) for m in request.messages] == [
        {"method": "unsubscribe", "params": {"channel": "book", "symbol": [SYMBOL], "depth": 10}},
        {"method": "subscribe", "params": {"channel": "book", "symbol": [SYMBOL], "depth": 10, "snapshot": True}},
    ]
    bids, asks = UPDATES[1]
    ref.apply(bids, asks)
    adapter.on_message(book_message("update", bids, asks, ref.checksum()), 4)
    assert adapter.stats[SYMBOL].dropped == 1
    snapshot_bids = [(str(p), str(q)) for p, q in ref.bids.items()]
    snapshot_asks = [(str(p), str(q)) for p, q in ref.asks.items()]
    adapter.on_message(book_message("snapshot", snapshot_bids, snapshot_asks, ref.checksum()), 5)
    assert sink.states[iid] is BookState.SYNCED
    assert book_as_decimals(sink, registry, SYMBOL) == {"bids": ref.bids, "asks": ref.asks}
    assert (adapter.stats[SYMBOL].checksums_ok, adapter.stats[SYMBOL].checksum_failures) == (2, 1)


def test_should_not_sync_from_a_snapshot_whose_checksum_fails() -> None:
    registry = InstrumentRegistry()
    sink = BooksSink()
    adapter = KrakenV2Adapter(sink, registry, symbols=[SYMBOL], depth=10)
    adapter.on_message(INSTRUMENTS, 1)
    adapter.on_message(book_message("snapshot", SNAPSHOT_BIDS, SNAPSHOT_ASKS, 12345), 2)
    assert sink.states[registry.by_symbol("kraken-v2", SYMBOL).id] is BookState.RESYNCING
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [(SYMBOL,)]


@pytest.mark.parametrize("how", ["inferred", "given"])
def test_should_check_without_the_instrument_channel(how: str) -> None:
    registry = InstrumentRegistry()
    sink = BooksSink()
    precisions = {SYMBOL: (4, 8)} if how == "given" else None
    adapter = KrakenV2Adapter(sink, registry, symbols=[SYMBOL], depth=10, precisions=precisions)
    ref = RefBook(10, 4, 8)
    ref.apply(SNAPSHOT_BIDS, SNAPSHOT_ASKS)
    adapter.on_message(book_message("snapshot", SNAPSHOT_BIDS, SNAPSHOT_ASKS, ref.checksum()), 2)
    for bids, asks in UPDATES:
        ref.apply(bids, asks)
        adapter.on_message(book_message("update", bids, asks, ref.checksum()), 3)
    assert adapter.stats[SYMBOL].checksums_ok == 1 + len(UPDATES)
    instrument = registry.by_symbol("kraken-v2", SYMBOL)
    assert (instrument.price_scale, instrument.qty_scale) == ((8, 8) if how == "inferred" else (4, 8))
    assert book_as_decimals(sink, registry, SYMBOL) == {"bids": ref.bids, "asks": ref.asks}


def test_should_read_exponent_numbers_exactly() -> None:
    adapter, sink, ref, registry = synced()
    ref.apply([("0.5657", "0.00000001")], [])
    message = book_message("update", [("0.5657", "1")], [], ref.checksum()).replace('"qty":1}', '"qty":1e-08}')
    assert "1e-08" in message
    adapter.on_message(message, 3)
    assert adapter.stats[SYMBOL].checksums_ok == 2
    assert book_as_decimals(sink, registry, SYMBOL)["bids"][Decimal("0.5657")] == Decimal("0.00000001")


def test_should_pass_on_trades_with_exact_prices_sides_ids_and_times() -> None:
    adapter, sink, _, registry = synced()
    adapter.on_message(
        '{"channel":"trade","type":"update","data":['
        f'{{"symbol":"MATIC/USD","side":"buy","price":0.5147,"qty":6423.46326,"ord_type":"limit",'
        f'"trade_id":4665846,"timestamp":"{STAMP}"}},'
        '{"symbol":"MATIC/USD","side":"sell","price":0.5146,"qty":9876543210.12345678,"ord_type":"market",'
        '"trade_id":4665847,"timestamp":"2023-10-06T17:35:56Z"}]}',
        7,
    )
    adapter.on_message(  # the history sent on subscription is not passed on
        '{"channel":"trade","type":"snapshot","data":[{"symbol":"MATIC/USD","side":"buy","price":0.5,"qty":1,'
        '"ord_type":"limit","trade_id":1,"timestamp":"2023-10-06T17:00:00.000000Z"}]}',
        8,
    )
    instrument = registry.by_symbol("kraken-v2", SYMBOL)
    trades = sink.trades[instrument.id]
    assert [(t.price, t.qty, t.trade_id, t.aggressor, t.ts_venue) for t in trades] == [
        (5147, 642346326000, 4665846, BookSide.BID, STAMP_NS),
        (5146, 987654321012345678, 4665847, BookSide.ASK, STAMP_NS - 440_295_000 + 10**9),
    ]


def test_should_subscribe_to_instruments_book_and_trades() -> None:
    adapter = KrakenV2Adapter(BooksSink(), InstrumentRegistry(), symbols=["BTC/USD", "ETH/USD"], depth=100)
    assert adapter.websocket_urls() == ["wss://ws.kraken.com/v2"]
    assert [json.loads(m) for m in adapter.subscriptions("wss://ws.kraken.com/v2")] == [
        {"method": "subscribe", "params": {"channel": "instrument", "snapshot": True}},
        {"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD", "ETH/USD"], "depth": 100}},
        {"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD", "ETH/USD"], "snapshot": False}},
    ]


@pytest.mark.parametrize(
    "payload",
    [
        '{"channel":"heartbeat"}',
        '{"channel":"status","type":"update","data":[{"version":"2.0.0","system":"online","api_version":"v2",'
        '"connection_id":1}]}',
        '{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"MATIC/USD"},'
        '"success":true,"time_in":"2023-10-06T17:35:55.219022Z","time_out":"2023-10-06T17:35:55.219067Z"}',
        '{"method":"subscribe","error":"Currency pair not supported X/Y","success":false}',
        '{"method":"pong","req_id":3}',
    ],
)
def test_should_handle_control_messages_silently(payload: str) -> None:
    adapter, _, _, _ = synced()
    adapter.on_message(payload, 5)
    assert (adapter.problems.malformed, adapter.problems.unknown, adapter.problems.rejected_values) == (0, 0, 0)


def _update(levels: str) -> str:
    return (
        '{"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":' + levels + ',"asks":[],'
        '"checksum":1,"timestamp":"2023-10-06T17:35:55.440295Z"}]}'
    )


@pytest.mark.parametrize(
    ("payload", "counter", "resyncs"),
    [
        ('{"channel":"book","type":"update","data":[', "malformed", 0),
        (b"\xff\xfe", "malformed", 0),
        ("[1, 2]", "malformed", 0),
        ('{"channel":"ohlc","type":"update","data":[]}', "unknown", 0),
        ('{"something":"else"}', "unknown", 0),
        ('{"channel":"book","type":"delta","data":[]}', "unknown", 0),
        ('{"channel":"book","type":"update"}', "malformed", 0),
        ('{"channel":"book","type":"update","data":[{"bids":[]}]}', "malformed", 0),
        (_update('[{"price":0.5657}]'), "rejected_values", 1),
        (_update("[]").replace('"checksum":1', '"checksum":"crc"'), "rejected_values", 1),
        (_update('[[0.5657, 1]]'), "rejected_values", 1),
        (_update('[{"price":0.5657,"qty":NaN}]'), "rejected_values", 1),
        (_update('[{"price":0.5657,"qty":Infinity}]'), "rejected_values", 1),
        (_update('[{"price":0.5657,"qty":-1.5}]'), "rejected_values", 1),
        (_update('[{"price":-0.5657,"qty":1.5}]'), "rejected_values", 1),
        (_update('[{"price":1e30,"qty":1.5}]'), "rejected_values", 1),
        (_update('[{"price":0.5657,"qty":99999999999999999999999}]'), "rejected_values", 1),
        (_update('[{"price":0.56571,"qty":1}]'), "rejected_values", 1),
        (_update('[{"price":"abc","qty":1}]'), "rejected_values", 1),
        (_update('[{"price":null,"qty":1}]'), "rejected_values", 1),
        ('{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"up","price":0.5,"qty":1,'
         '"trade_id":1,"timestamp":"2023-10-06T17:35:55Z"}]}', "rejected_values", 0),
        ('{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"buy","price":0.5,"qty":NaN,'
         '"trade_id":1,"timestamp":"2023-10-06T17:35:55Z"}]}', "rejected_values", 0),
        ('{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"buy","price":0.5,"qty":1,'
         '"trade_id":1,"timestamp":"yesterday"}]}', "rejected_values", 0),
        ('{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"buy","price":0.5,"qty":1}]}',
         "malformed", 0),
    ],
)  # fmt: skip
def test_should_count_bad_messages_without_raising(payload: str | bytes, counter: str, resyncs: int) -> None:
    adapter, sink, _, registry = synced()
    after = assert_one_problem(adapter, payload, counter, 5)
    assert sum(after[k] for k in PROBLEM_KINDS) == 1
    assert adapter.stats[SYMBOL].resyncs == resyncs
    state = sink.states[registry.by_symbol("kraken-v2", SYMBOL).id]
    assert state is (BookState.RESYNCING if resyncs else BookState.SYNCED)
    assert sink.trades == {}


def test_should_ask_again_when_the_snapshot_answering_a_resubscription_fails_its_checksum() -> None:
    adapter, sink, ref, registry = synced()
    adapter.on_message(book_message("update", [], [("0.5667", "1")], 1), 3)  # wrong checksum
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [(SYMBOL,)]
    adapter.on_message(book_message("update", [], [("0.5667", "2")], 1), 4)  # ignored: still pending
    assert adapter.take_resubscribe_requests() == []
    adapter.on_message(book_message("snapshot", SNAPSHOT_BIDS, SNAPSHOT_ASKS, ref.checksum() ^ 1), 5)
    assert sink.states[registry.by_symbol("kraken-v2", SYMBOL).id] is BookState.RESYNCING
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [(SYMBOL,)]
    adapter.on_message(book_message("snapshot", SNAPSHOT_BIDS, SNAPSHOT_ASKS, ref.checksum()), 6)
    assert sink.states[registry.by_symbol("kraken-v2", SYMBOL).id] is BookState.SYNCED
    assert adapter.take_resubscribe_requests() == []
