"""SymbolMarket: md records in, Binance stream payloads out (exact formats, ids and sequencing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from hftpipe.schema.records import RecordFlag
from hftpipe.schema.trading import OrderType, TimeInForce
from stages.exchange.protocol.settings import ExchangeSettings
from stages.exchange.publisher.hub import StreamHub
from stages.exchange.publisher.market import SymbolMarket
from tests.unit.exchange.publisher.support import ASK, BID, BUY, SELL, T0_NS, EngineFeed, delta_record, exchange_table

NOW_MS = 1_700_000_000_500
P = 6_000_000  # 60000.00 at price scale 2
Q = 100_000  # 1.00000 at qty scale 5


class Recorder:
    """A subscriber that keeps what it is sent."""

    def __init__(self, combined: bool = False) -> None:
        self.combined = combined
        self.messages: list[Any] = []

    def push(self, message: bytes) -> None:
        self.messages.append(orjson.loads(message))


class Rig:
    def __init__(self, tmp_path: Path, *streams: str) -> None:
        self.settings = ExchangeSettings.from_raw(exchange_table(tmp_path))
        symbol = self.settings.symbols[0]
        self.hub = StreamHub()
        self.now = NOW_MS
        self.market = SymbolMarket(symbol, self.hub, lambda: self.now)
        self.feed = EngineFeed(symbol)
        self.recorders: dict[str, Recorder] = {}
        for stream in streams:
            self.listen(stream)

    def listen(self, stream: str) -> Recorder:
        recorder = self.recorders[stream] = Recorder()
        self.hub.subscribe(stream, recorder)
        return recorder

    def feed_records(self, records: list[bytes]) -> None:
        for record in records:
            self.market.on_record(memoryview(record), 0)

    def order(self, side: int, price: int, qty: int, **kwargs: Any) -> None:
        self.feed_records(self.feed.order(side, price, qty, **kwargs))

    def __getitem__(self, stream: str) -> list[Any]:
        return self.recorders[stream].messages


def test_trades_and_aggregate_trades_follow_binance_payloads(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "btcusdt@trade", "btcusdt@aggTrade")
    rig.order(SELL, P, Q, account=1)
    rig.order(SELL, P, 2 * Q, account=2)
    rig.order(SELL, P + 1, Q, account=1)
    rig.order(BUY, P + 1, 4 * Q, account=3)  # takes 1 + 2 at P, then 1 at P + 0.01
    t_ms = rig.feed.now_ns // 1_000_000
    assert rig["btcusdt@trade"] == [
        {"e": "trade", "E": NOW_MS, "s": "BTCUSDT", "t": 1, "p": "60000.00000000", "q": "1.00000000", "T": t_ms,
         "m": False, "M": True},
        {"e": "trade", "E": NOW_MS, "s": "BTCUSDT", "t": 2, "p": "60000.00000000", "q": "2.00000000", "T": t_ms,
         "m": False, "M": True},
        {"e": "trade", "E": NOW_MS, "s": "BTCUSDT", "t": 3, "p": "60000.01000000", "q": "1.00000000", "T": t_ms,
         "m": False, "M": True},
    ]
    assert rig["btcusdt@aggTrade"] == [
        {"e": "aggTrade", "E": NOW_MS, "s": "BTCUSDT", "a": 1, "p": "60000.00000000", "q": "3.00000000", "f": 1,
         "l": 2, "T": t_ms, "m": False, "M": True},
        {"e": "aggTrade", "E": NOW_MS, "s": "BTCUSDT", "a": 2, "p": "60000.01000000", "q": "1.00000000", "f": 3,
         "l": 3, "T": t_ms, "m": False, "M": True},
    ]
    rig.order(BUY, P - 5, Q, account=1)
    rig.order(SELL, P - 5, Q, account=2)  # the seller takes: the buyer is the maker
    assert rig["btcusdt@trade"][-1]["m"] is True
    assert rig["btcusdt@aggTrade"][-1]["a"] == 3


def test_book_ticker_is_pushed_only_when_the_top_changes(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "btcusdt@bookTicker")
    rig.order(BUY, P, Q)
    rig.order(SELL, P + 100, 2 * Q)
    rig.order(BUY, P - 100, Q)  # below the best bid: no push
    rig.order(BUY, P, Q)  # more at the best bid: push
    assert rig["btcusdt@bookTicker"] == [
        {"u": 1, "s": "BTCUSDT", "b": "60000.00000000", "B": "1.00000000", "a": "0.00000000", "A": "0.00000000"},
        {"u": 2, "s": "BTCUSDT", "b": "60000.00000000", "B": "1.00000000", "a": "60001.00000000", "A": "2.00000000"},
        {"u": 4, "s": "BTCUSDT", "b": "60000.00000000", "B": "2.00000000", "a": "60001.00000000", "A": "2.00000000"},
    ]


def test_diff_depth_events_are_coalesced_and_contiguous(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "btcusdt@depth@100ms", "btcusdt@depth", "btcusdt@depth@1000ms")
    rig.market.on_fast_tick(NOW_MS)
    assert rig["btcusdt@depth@100ms"] == []  # nothing changed: no event
    rig.order(BUY, P, Q)  # id 1
    rig.order(BUY, P, Q)  # id 2: same level, now 2
    rig.order(SELL, P + 100, Q)  # id 3
    rig.market.on_fast_tick(NOW_MS)
    rig.order(BUY, P + 100, 3 * Q)  # takes the ask (id 4), rests 2 at P + 1 (id 5)
    rig.market.on_fast_tick(NOW_MS + 100)
    rig.market.on_slow_tick(NOW_MS + 100)
    fast = rig["btcusdt@depth@100ms"]
    assert fast[0] == {
        "e": "depthUpdate", "E": NOW_MS, "s": "BTCUSDT", "U": 1, "u": 3,
        "b": [["60000.00000000", "2.00000000"]], "a": [["60001.00000000", "1.00000000"]],
    }
    assert (fast[1]["U"], fast[1]["u"]) == (4, 5)
    assert fast[1]["b"] == [["60001.00000000", "2.00000000"]]
    assert fast[1]["a"] == [["60001.00000000", "0.00000000"]]
    slow = rig["btcusdt@depth"]
    assert len(slow) == 1 and (slow[0]["U"], slow[0]["u"]) == (1, 5)
    assert slow[0]["b"] == [["60001.00000000", "2.00000000"], ["60000.00000000", "2.00000000"]]
    assert rig["btcusdt@depth@1000ms"] == slow  # the 1 s cadence spelled out


def test_partial_depth_streams_push_the_top_with_last_update_id(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "btcusdt@depth5@100ms", "btcusdt@depth10", "btcusdt@depth10@1000ms")
    for i in range(7):
        rig.order(BUY, P - i, Q)
        rig.order(SELL, P + 10 + i, Q)
    rig.market.on_fast_tick(NOW_MS)
    five = rig["btcusdt@depth5@100ms"]
    assert five == [
        {
            "lastUpdateId": 14,
            "bids": [[f"{(P - i) / 100:.8f}", "1.00000000"] for i in range(5)],
            "asks": [[f"{(P + 10 + i) / 100:.8f}", "1.00000000"] for i in range(5)],
        }
    ]
    assert rig["btcusdt@depth10"] == []  # the 1000 ms one waits for the slow tick
    rig.market.on_slow_tick(NOW_MS)
    assert len(rig["btcusdt@depth10"][0]["bids"]) == 7
    assert rig["btcusdt@depth10@1000ms"] == rig["btcusdt@depth10"]


def test_klines_are_pushed_on_binance_cadence_not_per_trade(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.market.ensure_kline("1m", NOW_MS)
    rig.market.ensure_kline("1s", NOW_MS)
    klines = rig.listen("btcusdt@kline_1m")
    seconds = rig.listen("btcusdt@kline_1s")
    rig.order(SELL, P, Q)
    rig.order(SELL, P + 100, Q)
    rig.order(BUY, P + 100, 2 * Q)
    assert klines.messages == seconds.messages == []  # trades alone push nothing
    t_ms = rig.feed.now_ns // 1_000_000
    opened = t_ms - t_ms % 60_000
    rig.market.on_slow_tick(t_ms)  # first second: the 1s kline, not the 1m one
    assert klines.messages == [] and [m["k"]["x"] for m in seconds.messages] == [False]
    rig.market.on_slow_tick(t_ms)  # 2 s: both
    assert len(seconds.messages) == 2
    assert klines.messages == [
        {
            "e": "kline", "E": t_ms, "s": "BTCUSDT",
            "k": {
                "t": opened, "T": opened + 59_999, "s": "BTCUSDT", "i": "1m", "f": 1, "L": 2,
                "o": "60000.00000000", "c": "60001.00000000", "h": "60001.00000000", "l": "60000.00000000",
                "v": "2.00000000", "n": 2, "x": False, "q": "120001.00000000", "V": "2.00000000",
                "Q": "120001.00000000", "B": "0",
            },
        }
    ]
    rig.market.on_slow_tick(opened + 60_000)  # the minute is over, but the 1m stream is not due
    assert len(klines.messages) == 1
    rig.market.on_slow_tick(opened + 60_500)  # due: the closed kline (once), then the new (empty) one
    closed, current = klines.messages[1]["k"], klines.messages[2]["k"]
    assert (closed["x"], closed["n"], current["x"], current["n"], current["o"], current["f"]) == (
        True, 2, False, 0, "60001.00000000", -1,
    )
    assert len(klines.messages) == 3
    assert [m["k"]["x"] for m in seconds.messages[2:4]] == [True, False]  # the 1s kline closed too


def test_ticker_reports_the_rolling_day(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "btcusdt@ticker", "btcusdt@miniTicker")
    rig.order(SELL, P, Q)
    rig.order(BUY, P, Q)  # trade 1 at 60000
    rig.order(SELL, P + 600, 2 * Q)
    rig.order(BUY, P + 600, 2 * Q)  # trade 2 at 60006
    rig.order(BUY, P + 1, Q)
    rig.order(SELL, P + 9, Q)
    rig.market.on_slow_tick(NOW_MS)
    (ticker,) = rig["btcusdt@ticker"]
    assert ticker == {
        "e": "24hrTicker", "E": NOW_MS, "s": "BTCUSDT", "p": "6.00000000", "P": "0.010", "w": "60004.00000000",
        "x": "0.00000000", "c": "60006.00000000", "Q": "2.00000000", "b": "60000.01000000", "B": "1.00000000",
        "a": "60000.09000000", "A": "1.00000000", "o": "60000.00000000", "h": "60006.00000000",
        "l": "60000.00000000", "v": "3.00000000", "q": "180012.00000000", "O": NOW_MS - 86_400_000, "C": NOW_MS,
        "F": 1, "L": 2, "n": 2,
    }
    assert rig["btcusdt@miniTicker"] == [
        {"e": "24hrMiniTicker", "E": NOW_MS, "s": "BTCUSDT", "c": "60006.00000000", "o": "60000.00000000",
         "h": "60006.00000000", "l": "60000.00000000", "v": "3.00000000", "q": "180012.00000000"},
    ]


def test_replayed_updates_change_state_but_push_no_events(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "btcusdt@trade", "btcusdt@bookTicker")
    records = rig.feed.order(SELL, P, Q) + rig.feed.order(BUY, P, Q)
    replay = int(RecordFlag.REPLAY)
    for record in records:
        raw = bytearray(record)
        raw[2] |= replay
        rig.market.on_record(memoryview(bytes(raw)), 0)
    assert rig["btcusdt@trade"] == rig["btcusdt@bookTicker"] == []
    assert rig.market.history.count == 1 and rig.market.replica.update_id == 2
    assert rig.market.agg_id == 1


def test_a_snapshot_replaces_the_replica_and_leaves_a_gap(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "btcusdt@depth@100ms")
    rig.order(BUY, P, Q)
    rig.market.on_fast_tick(NOW_MS)
    rig.order(BUY, P - 1, Q)  # flushed? no: the window is voided by the snapshot below
    rig.feed.order(SELL, P + 5, Q)  # dropped by the engine (never published)
    rig.feed_records(rig.feed.snapshot())
    assert rig.market.replica.depth(10) == (3, [(P, Q), (P - 1, Q)], [(P + 5, Q)])
    rig.order(SELL, P + 6, Q)
    rig.market.on_fast_tick(NOW_MS)
    events = rig["btcusdt@depth@100ms"]
    assert [(e["U"], e["u"]) for e in events] == [(1, 1), (4, 4)]
    assert rig.market.snapshots == 1


def test_a_partial_update_is_not_visible_before_its_end_record(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    instrument = rig.market.instrument
    rig.market.on_record(memoryview(delta_record(instrument, BID, P, Q, 1, 1)), 0)
    assert rig.market.replica.depth(10) == (0, [], [])
    end = int(RecordFlag.END_OF_UPDATE)
    rig.market.on_record(memoryview(delta_record(instrument, ASK, P + 1, Q, 2, 1, end)), 0)
    assert rig.market.replica.depth(10) == (2, [(P, Q)], [(P + 1, Q)])


@pytest.mark.parametrize("levels", [1, 3])
def test_recent_trades_keep_the_latest(tmp_path: Path, levels: int) -> None:
    rig = Rig(tmp_path)
    for i in range(levels):
        rig.order(SELL, P + i, Q, tif=int(TimeInForce.GTC), order_type=int(OrderType.LIMIT))
    rig.order(BUY, P + levels, levels * Q)
    assert [t[0] for t in rig.market.recent_trades(2)] == list(range(max(1, levels - 1), levels + 1))
    assert rig.market.recent_trades(10)[0][3] == T0_NS // 1_000_000 + levels + 1
