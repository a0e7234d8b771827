"""Binance spot and USD-M futures depth sync, checked against the shipped captures."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

import pytest

from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.marketdata import BookState
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import CaptureEvent, EventKind
from stages.marketdata.capture.replay import replay, snapshot_symbol
from stages.marketdata.venues.binance.adapter import BinanceAdapter, BinanceFuturesAdapter
from tests.captures import capture
from tests.unit.marketdata.venues.problems import assert_one_problem
from tests.unit.marketdata.venues.sink_books import book_as_decimals

SPOT = ("BINANCE.ws.1.0", "BINANCE.http.0.0")
FUTURES = ("BINANCE_FUTURES.ws.1.0", "BINANCE_FUTURES.http.0.0")


def run(
    cls: type[BinanceAdapter], ws: list[CaptureEvent], http: list[CaptureEvent]
) -> tuple[BinanceAdapter, BooksSink, InstrumentRegistry]:
    registry = InstrumentRegistry()
    sink = BooksSink()
    adapter = cls(sink, registry)
    replay(adapter, ws, http)
    return adapter, sink, registry


def reference_books(ws: list[CaptureEvent], http: list[CaptureEvent], futures: bool) -> dict[str, dict[str, Any]]:
    """The documented procedure, written independently with Decimals and plain dicts.

    Each symbol's first recorded snapshot is applied when replay time reaches it;
    diffs before it are buffered; the first applied diff straddles the snapshot id.
    """
    snapshots = {snapshot_symbol(e.url): e for e in http if e.kind is EventKind.HTTP}
    books: dict[str, dict[str, Any]] = {}
    buffered: dict[str, list[dict[str, Any]]] = {}
    events = sorted([*ws, *http], key=lambda e: e.time)

    def apply(book: dict[str, Any], diff: dict[str, Any]) -> None:
        for key, side in (("b", "bids"), ("a", "asks")):
            for price, qty in diff[key]:
                if Decimal(qty) == 0:
                    book[side].pop(Decimal(price), None)
                else:
                    book[side][Decimal(price)] = Decimal(qty)
        book["id"] = diff["u"]

    for event in events:
        if event.kind is EventKind.HTTP:
            symbol = snapshot_symbol(event.url)
            if symbol in books or symbol not in buffered:
                continue
            snap = json.loads(event.payload)
            book = {
                "bids": {Decimal(p): Decimal(q) for p, q in snap["bids"]},
                "asks": {Decimal(p): Decimal(q) for p, q in snap["asks"]},
                "id": snap["lastUpdateId"],
            }
            for diff in buffered.pop(symbol):
                keep = diff["u"] >= book["id"] if futures else diff["u"] > book["id"]
                if keep:
                    apply(book, diff)
            books[symbol] = book
        elif event.kind is EventKind.RECEIVED:
            data = json.loads(event.payload).get("data", {})
            if data.get("e") != "depthUpdate":
                continue
            symbol = data["s"]
            if symbol in books:
                if data["u"] > books[symbol]["id"]:
                    apply(books[symbol], data)
            elif symbol in snapshots:
                buffered.setdefault(symbol, []).append(data)
    return books


@pytest.mark.parametrize(
    ("cls", "files", "futures"), [(BinanceAdapter, SPOT, False), (BinanceFuturesAdapter, FUTURES, True)]
)
def test_should_rebuild_every_book_exactly_as_the_documented_procedure(
    cls: type[BinanceAdapter], files: tuple[str, str], futures: bool
) -> None:
    ws, http = capture(files[0]), capture(files[1])
    adapter, sink, registry = run(cls, ws, http)
    expected = reference_books(ws, http, futures)
    assert len(expected) == 4
    for symbol, book in expected.items():
        instrument = registry.by_symbol(cls.venue, symbol)
        assert sink.states[instrument.id] is BookState.SYNCED
        assert adapter.update_ids[symbol] == book["id"]
        actual = book_as_decimals(sink, registry, symbol)
        assert actual["bids"] == book["bids"], symbol
        assert actual["asks"] == book["asks"], symbol
        stats = adapter.stats[symbol]
        assert (stats.gaps, stats.resyncs) == (0, 0)
        assert stats.applied + stats.dropped == stats.messages
    assert adapter.problems.malformed == adapter.problems.unknown == adapter.problems.rejected_values == 0


def test_should_agree_with_the_latest_book_ticker_after_every_depth_update() -> None:
    """bookTicker pushes every change of the best levels, with ids from the depth id space.

    So after a depth update with last id L, the book's best bid and ask must be
    those of the latest ticker with ``u <= L`` (once a ticker newer than the
    snapshot exists).
    """
    ws, http = capture(SPOT[0]), capture(SPOT[1])
    registry = InstrumentRegistry()
    tickers: dict[str, list[tuple[int, tuple[Decimal, Decimal, Decimal, Decimal]]]] = {}
    for event in ws:
        data = json.loads(event.payload).get("data", {}) if event.kind is EventKind.RECEIVED else {}
        if "A" in data and "e" not in data:
            bbo = (Decimal(data["b"]), Decimal(data["B"]), Decimal(data["a"]), Decimal(data["A"]))
            tickers.setdefault(data["s"], []).append((data["u"], bbo))
    states: list[tuple[str, int, tuple[Decimal, Decimal, Decimal, Decimal]]] = []

    class Recording(BooksSink):
        def book_level(
            self,
            instrument: int,
            side: int,
            price: int,
            qty: int,
            update_id: int,
            ts_venue: int,
            ts_recv: int,
            end: bool,
            snapshot: bool,
        ) -> None:
            super().book_level(instrument, side, price, qty, update_id, ts_venue, ts_recv, end, snapshot)
            book = self.books[instrument]
            bid, ask = book.best_bid(), book.best_ask()
            if end and not snapshot and bid and ask:
                inst = registry.by_id(instrument)
                to_dec = (
                    Decimal(inst.price_text(bid[0])),
                    Decimal(inst.qty_text(bid[1])),
                    Decimal(inst.price_text(ask[0])),
                    Decimal(inst.qty_text(ask[1])),
                )
                states.append((inst.symbol, update_id, to_dec))

    replay(BinanceAdapter(Recording(), registry), ws, http)
    checked = 0
    for symbol, update_id, bbo in states:
        earlier = [t for t in tickers.get(symbol, []) if t[0] <= update_id]
        first_id = json.loads(next(e for e in http if snapshot_symbol(e.url) == symbol).payload)["lastUpdateId"]
        if earlier and earlier[-1][0] > first_id:
            assert earlier[-1][1] == bbo, (symbol, update_id, earlier[-1])
            checked += 1
    assert checked > 20


def _depth_events(ws: list[CaptureEvent], symbol: str) -> list[int]:
    return [i for i, e in enumerate(ws) if e.kind is EventKind.RECEIVED and f'"s":"{symbol}","U"' in e.payload]


def test_should_refetch_a_snapshot_older_than_the_first_buffered_diff() -> None:
    ws, http = capture(SPOT[0]), capture(SPOT[1])
    registry = InstrumentRegistry()
    sink = BooksSink()
    adapter = BinanceAdapter(sink, registry)
    first = ws[_depth_events(ws, "NKNUSDT")[0]]
    adapter.on_message(first.payload, first.time_ns)
    assert [r.symbol for r in adapter.take_snapshot_requests()] == ["NKNUSDT"]
    real = next(e for e in http if snapshot_symbol(e.url) == "NKNUSDT")
    stale = json.loads(real.payload)
    stale["lastUpdateId"] = json.loads(first.payload)["data"]["U"] - 5
    adapter.on_snapshot("NKNUSDT", json.dumps(stale), real.time_ns)
    assert not adapter.synced.get("NKNUSDT")
    assert [r.symbol for r in adapter.take_snapshot_requests()] == ["NKNUSDT"]
    adapter.on_snapshot("NKNUSDT", real.payload, real.time_ns)
    assert adapter.synced["NKNUSDT"]
    assert sink.states[registry.by_symbol("binance", "NKNUSDT").id] is BookState.SYNCED


def test_should_resync_after_a_gap_mid_stream() -> None:
    ws, http = capture(SPOT[0]), capture(SPOT[1])
    indexes = _depth_events(ws, "NKNUSDT")
    dropped = indexes[len(indexes) // 2]
    adapter, sink, registry = run(BinanceAdapter, ws[:dropped] + ws[dropped + 1 :], http)
    stats = adapter.stats["NKNUSDT"]
    assert (stats.gaps, stats.resyncs) == (1, 1)
    # The capture holds one snapshot per symbol, already used: the book must stay out of sync.
    assert sink.states[registry.by_symbol("binance", "NKNUSDT").id] is BookState.RESYNCING
    assert not adapter.synced["NKNUSDT"]
    for other in ("BLZETH", "LRCBTC", "RUNEEUR"):
        assert adapter.synced[other]


def test_should_drop_duplicate_diffs_and_keep_the_book_exact() -> None:
    ws, http = capture(SPOT[0]), capture(SPOT[1])
    indexes = _depth_events(ws, "NKNUSDT")
    repeat = indexes[len(indexes) // 2]
    doubled = [*ws[: repeat + 1], dataclasses.replace(ws[repeat], time=ws[repeat].time + 1e-6), *ws[repeat + 1 :]]
    adapter, sink, registry = run(BinanceAdapter, doubled, http)
    plain, plain_sink, plain_registry = run(BinanceAdapter, ws, http)
    assert adapter.stats["NKNUSDT"].dropped == plain.stats["NKNUSDT"].dropped + 1
    assert adapter.stats["NKNUSDT"].gaps == 0
    assert book_as_decimals(sink, registry, "NKNUSDT") == book_as_decimals(plain_sink, plain_registry, "NKNUSDT")


def test_should_treat_out_of_order_diffs_as_a_gap() -> None:
    ws, http = capture(SPOT[0]), capture(SPOT[1])
    indexes = _depth_events(ws, "NKNUSDT")
    a, b = indexes[10], indexes[11]
    swapped = list(ws)
    swapped[a], swapped[b] = dataclasses.replace(ws[b], time=ws[a].time), dataclasses.replace(ws[a], time=ws[b].time)
    adapter, sink, registry = run(BinanceAdapter, swapped, http)
    assert adapter.stats["NKNUSDT"].gaps == 1
    assert sink.states[registry.by_symbol("binance", "NKNUSDT").id] is BookState.RESYNCING


def test_should_resync_futures_when_pu_does_not_chain() -> None:
    ws, http = capture(FUTURES[0]), capture(FUTURES[1])
    indexes = _depth_events(ws, "SUSHIUSDT")
    broken = indexes[len(indexes) // 2]
    message = json.loads(ws[broken].payload)
    message["data"]["pu"] -= 1
    edited = list(ws)
    edited[broken] = dataclasses.replace(ws[broken], payload=json.dumps(message))
    adapter, sink, registry = run(BinanceFuturesAdapter, edited, http)
    assert adapter.stats["SUSHIUSDT"].gaps == 1
    assert sink.states[registry.by_symbol("binance-futures", "SUSHIUSDT").id] is BookState.RESYNCING
    assert adapter.synced["AKROUSDT"]


def _synced_spot() -> tuple[BinanceAdapter, BooksSink, InstrumentRegistry]:
    return run(BinanceAdapter, capture(SPOT[0]), capture(SPOT[1]))


def _diff(symbol: str, first: int, last: int, bids: Any, asks: Any) -> str:
    data = {"e": "depthUpdate", "E": 1, "s": symbol, "U": first, "u": last, "b": bids, "a": asks}
    return json.dumps({"stream": f"{symbol.lower()}@depth@100ms", "data": data})


@pytest.mark.parametrize(
    ("payload", "counter"),
    [
        ('{"stream":"x","data":{"e":"depthUpdate","s":"NKNUSDT"', "malformed"),
        ("[1, 2, 3]", "malformed"),
        ('{"stream":"x","data":{"e":"somethingNew","s":"NKNUSDT"}}', "unknown"),
        ('{"stream":"x","data":{"e":"depthUpdate","s":"NKNUSDT"}}', "malformed"),
    ],
)
def test_should_count_bad_messages_without_raising(payload: str, counter: str) -> None:
    adapter, _, _ = _synced_spot()
    assert_one_problem(adapter, payload, counter, 0)
    assert adapter.synced["NKNUSDT"]


@pytest.mark.parametrize(
    "bids",
    [[["NaN", "1"]], [["0.3", "-5"]], [["0.3", "1e5"]], [["0.3", "99999999999999999999999"]], [["0.3"]]],
    ids=["nan-price", "negative-qty", "exponent", "huge", "short-level"],
)
def test_should_resync_instead_of_applying_a_diff_with_bad_values(bids: Any) -> None:
    adapter, sink, registry = _synced_spot()
    local = adapter.update_ids["NKNUSDT"]
    adapter.on_message(_diff("NKNUSDT", local + 1, local + 1, bids, []), 0)
    assert not adapter.synced["NKNUSDT"]
    assert sink.states[registry.by_symbol("binance", "NKNUSDT").id] is BookState.RESYNCING
    assert adapter.problems.rejected_values + adapter.problems.malformed == 1


def test_should_apply_an_empty_diff_as_an_update_id_step() -> None:
    adapter, _, _ = _synced_spot()
    local = adapter.update_ids["NKNUSDT"]
    adapter.on_message(_diff("NKNUSDT", local + 1, local + 3, [], []), 0)
    assert adapter.update_ids["NKNUSDT"] == local + 3
    assert adapter.synced["NKNUSDT"]


def test_should_resync_when_a_diff_crosses_the_book() -> None:
    adapter, sink, registry = _synced_spot()
    instrument = registry.by_symbol("binance", "NKNUSDT")
    best_ask = adapter.replicas[instrument.id].best_ask()
    assert best_ask is not None
    above = instrument.price_text(best_ask[0] + 10**6)
    local = adapter.update_ids["NKNUSDT"]
    adapter.on_message(_diff("NKNUSDT", local + 1, local + 1, [[above, "1"]], []), 0)
    assert sink.states[instrument.id] is BookState.RESYNCING
    assert adapter.stats["NKNUSDT"].resyncs == 1
