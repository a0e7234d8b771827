"""Bar builders: exact OHLCV/vwap against a Decimal reference, boundaries, packing, a real capture."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, NamedTuple

import numpy as np
import orjson
import pytest

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BAR_DTYPE, BarKind
from hftpipe.schema.records import RECORD_SIZE, RecordType
from stages.marketdata.book.bars import (
    TickBarBuilder,
    TimeBarBuilder,
    VolumeBarBuilder,
    pack_bar,
    vwap_half_even,
)
from stages.marketdata.capture.format import EventKind, read_capture
from tests.captures import capture_path

INSTRUMENT = Instrument(id=7, venue="TEST", symbol="XYZ", price_scale=4, qty_scale=6)
MINUTE_NS = 60 * 10**9
INSTRUMENT_8 = Instrument(id=1, venue="BINANCE", symbol="ANY", price_scale=8, qty_scale=8)
"""Binance spot strings have 8 decimals for both price and quantity."""


class Bar(NamedTuple):
    instrument: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    vwap: int
    trades: int
    kind: int
    interval: int
    ts_venue: int
    ts_origin: int


class Trade(NamedTuple):
    price_text: str
    qty_text: str
    ts_venue: int
    ts_recv: int


class Sink:
    """An ``emit`` that keeps every bar."""

    def __init__(self) -> None:
        self.bars: list[Bar] = []

    def __call__(self, *fields: int) -> None:
        self.bars.append(Bar(*fields))


def feed(builder: TimeBarBuilder | TickBarBuilder | VolumeBarBuilder, trades: list[Trade]) -> None:
    for t in trades:
        builder.on_trade(INSTRUMENT.price(t.price_text), INSTRUMENT.qty(t.qty_text), t.ts_venue, t.ts_recv)


def generated_trades(count: int = 400, seed: int = 20240607) -> list[Trade]:
    """Seeded trades as decimal strings, with bursts, quiet stretches (empty minutes) and exact boundaries."""
    rng = random.Random(seed)
    trades: list[Trade] = []
    ts = 1_700_000_000 * 10**9 + 123_456_789
    recv = 5_000_000_000
    price = 250_000  # at scale 4: 25.0000
    for _ in range(count):
        gap = rng.choice((0, 1, 1_000, 50_000_000, 900_000_000, 7 * 10**9))
        if rng.random() < 0.03:
            gap = rng.randint(2, 5) * MINUTE_NS  # whole empty minutes
        ts += gap
        if rng.random() < 0.05:
            ts += MINUTE_NS - ts % MINUTE_NS  # land exactly on a boundary
        recv += rng.randint(1_000, 3_000_000)
        price = max(1, price + rng.randint(-40, 40))
        qty = rng.randint(1, 5_000_000_000)  # up to 5000 units at scale 6
        trades.append(Trade(f"{price // 10**4}.{price % 10**4:04d}", f"{qty // 10**6}.{qty % 10**6:06d}", ts, recv))
    return trades


def fixed(value: Decimal, scale: int) -> int:
    scaled = value.scaleb(scale)
    assert scaled == scaled.to_integral_value(), value
    return int(scaled)


def reference_bar(group: list[Trade], kind: BarKind, interval: int, ts_open: int, ts_origin: int) -> Bar:
    """The bar of ``group`` computed in Decimal from the decimal strings, independently of the builders."""
    with localcontext() as ctx:
        ctx.prec = 200  # every product and sum exact; the one division far finer than the rounding
        prices = [Decimal(t.price_text) for t in group]
        qtys = [Decimal(t.qty_text) for t in group]
        volume = sum(qtys, Decimal(0))
        notional = sum((p * q for p, q in zip(prices, qtys, strict=True)), Decimal(0))
        vwap = (notional / volume).quantize(Decimal(1).scaleb(-INSTRUMENT.price_scale), rounding=ROUND_HALF_EVEN)
    ps, qs = INSTRUMENT.price_scale, INSTRUMENT.qty_scale
    return Bar(
        INSTRUMENT.id,
        fixed(prices[0], ps),
        fixed(max(prices), ps),
        fixed(min(prices), ps),
        fixed(prices[-1], ps),
        fixed(volume, qs),
        fixed(vwap, ps),
        len(group),
        int(kind),
        interval,
        ts_open,
        ts_origin,
    )


# --- construction ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "bad", "message"),
    [
        (TimeBarBuilder, 0, "interval_ns must be positive, got 0"),
        (TimeBarBuilder, -60, "interval_ns must be positive, got -60"),
        (TickBarBuilder, 0, "trades_per_bar must be positive, got 0"),
        (TickBarBuilder, -1, "trades_per_bar must be positive, got -1"),
        (VolumeBarBuilder, 0, "volume_per_bar must be positive, got 0"),
        (VolumeBarBuilder, -5, "volume_per_bar must be positive, got -5"),
    ],
)
def test_should_reject_a_non_positive_bar_size_with_an_exact_message(cls: Any, bad: int, message: str) -> None:
    with pytest.raises(ValueError) as info:
        cls(1, bad, Sink())
    assert str(info.value) == message


# --- exactness against Decimal ---------------------------------------------------------------------


def test_should_build_time_bars_identical_to_a_decimal_reference_on_generated_trades() -> None:
    trades = generated_trades()
    sink = Sink()
    builder = TimeBarBuilder(INSTRUMENT.id, MINUTE_NS, sink)
    feed(builder, trades)
    assert builder.flush(trades[-1].ts_venue + MINUTE_NS)

    groups: dict[int, list[Trade]] = {}
    for t in trades:  # independent grouping: integer division, not the builder's modulo
        groups.setdefault(t.ts_venue // MINUTE_NS, []).append(t)
    keys = sorted(groups)
    expected = []
    for i, key in enumerate(keys):
        closer = groups[keys[i + 1]][0].ts_recv if i + 1 < len(keys) else groups[key][-1].ts_recv
        expected.append(reference_bar(groups[key], BarKind.TIME, MINUTE_NS, key * MINUTE_NS, closer))
    assert len(expected) > 20  # the generator spread the trades over many minutes
    assert len(expected) < keys[-1] - keys[0] + 1  # ... and left some minutes empty: no bars for those
    assert sink.bars == expected
    assert builder.late_trades == 0
    assert sum(b.trades for b in sink.bars) == len(trades)


@pytest.mark.parametrize("per_bar", [1, 7, 50])
def test_should_build_tick_bars_identical_to_a_decimal_reference_on_generated_trades(per_bar: int) -> None:
    trades = generated_trades()
    sink = Sink()
    builder = TickBarBuilder(INSTRUMENT.id, per_bar, sink)
    feed(builder, trades)

    expected = [
        reference_bar(
            trades[i : i + per_bar], BarKind.TICK, per_bar, trades[i].ts_venue, trades[i + per_bar - 1].ts_recv
        )
        for i in range(0, len(trades) - per_bar + 1, per_bar)
    ]
    assert sink.bars == expected
    assert builder.pending_trades == len(trades) % per_bar  # the incomplete tail stays open


@pytest.mark.parametrize("threshold_text", ["1", "2500", "20000.5"])
def test_should_build_volume_bars_identical_to_a_decimal_reference_on_generated_trades(threshold_text: str) -> None:
    trades = generated_trades()
    threshold = INSTRUMENT.qty(threshold_text)
    sink = Sink()
    builder = VolumeBarBuilder(INSTRUMENT.id, threshold, sink)
    feed(builder, trades)

    expected = []
    group: list[Trade] = []
    cumulative = Decimal(0)
    for t in trades:
        group.append(t)
        cumulative += Decimal(t.qty_text)
        if cumulative >= Decimal(threshold_text):
            expected.append(reference_bar(group, BarKind.VOLUME, threshold, group[0].ts_venue, t.ts_recv))
            group, cumulative = [], Decimal(0)
    assert len(expected) > 1
    assert sink.bars == expected
    assert builder.pending_trades == len(group)
    assert all(b.volume >= threshold for b in sink.bars)


@pytest.mark.parametrize(
    ("notional", "volume", "expected"),
    [
        (3, 2, 2),  # 1.5 -> 2 (to even)
        (5, 2, 2),  # 2.5 -> 2 (to even)
        (7, 2, 4),  # 3.5 -> 4
        (-3, 2, -2),  # -1.5 -> -2
        (-5, 2, -2),  # -2.5 -> -2
        (10, 4, 2),  # 2.5 -> 2
        (11, 4, 3),  # 2.75 -> 3
        (9, 4, 2),  # 2.25 -> 2
        (6, 3, 2),  # exact
        ((1 << 70) + 1, 1 << 1, 1 << 69),  # beyond int64 in the notional: 2^69 + 0.5 -> even
    ],
)
def test_should_round_vwap_half_to_even_exactly(notional: int, volume: int, expected: int) -> None:
    assert vwap_half_even(notional, volume) == expected
    with localcontext() as ctx:
        ctx.prec = 100
        assert int((Decimal(notional) / Decimal(volume)).to_integral_value(ROUND_HALF_EVEN)) == expected


def test_should_round_a_tied_bar_vwap_to_even() -> None:
    sink = Sink()
    builder = TickBarBuilder(1, 2, sink)
    builder.on_trade(101, 1, 10, 1)
    builder.on_trade(102, 1, 11, 2)  # vwap 101.5 -> 102 (even)
    builder.on_trade(102, 1, 12, 3)
    builder.on_trade(103, 1, 13, 4)  # vwap 102.5 -> 102 (even)
    assert [b.vwap for b in sink.bars] == [102, 102]


# --- time bar boundaries ----------------------------------------------------------------------------


def test_should_close_a_time_bar_when_a_trade_arrives_in_the_next_interval() -> None:
    sink = Sink()
    builder = TimeBarBuilder(3, 100, sink)
    builder.on_trade(50, 2, 1_010, 9_001)
    builder.on_trade(70, 1, 1_020, 9_002)
    builder.on_trade(40, 1, 1_099, 9_003)
    assert sink.bars == []
    assert builder.bar_end == 1_100
    builder.on_trade(60, 5, 1_150, 9_004)
    # vwap 210 / 4 = 52.5 -> 52 (half to even); ts_origin: the receive time of the trade that closed it
    assert sink.bars == [Bar(3, 50, 70, 40, 40, 4, 52, 3, int(BarKind.TIME), 100, 1_000, 9_004)]
    assert builder.pending_trades == 1
    assert builder.bar_end == 1_200


def test_should_put_a_trade_exactly_on_a_boundary_into_the_new_bar() -> None:
    sink = Sink()
    builder = TimeBarBuilder(3, 100, sink)
    builder.on_trade(10, 1, 1_000, 1)  # exactly the start of [1000, 1100)
    builder.on_trade(11, 1, 1_099, 2)
    builder.on_trade(12, 1, 1_100, 3)  # exactly the end: belongs to [1100, 1200)
    assert sink.bars == [Bar(3, 10, 11, 10, 11, 2, 10, 2, int(BarKind.TIME), 100, 1_000, 3)]  # 10.5 -> 10
    builder.flush(1_200)
    assert sink.bars[1] == Bar(3, 12, 12, 12, 12, 1, 12, 1, int(BarKind.TIME), 100, 1_100, 3)


def test_should_produce_no_bars_for_empty_intervals() -> None:
    sink = Sink()
    builder = TimeBarBuilder(3, 100, sink)
    builder.on_trade(10, 1, 1_010, 1)
    builder.on_trade(20, 1, 1_450, 2)  # skips [1100, 1400): three empty intervals
    assert [b.ts_venue for b in sink.bars] == [1_000]
    builder.flush(10_000)
    assert [b.ts_venue for b in sink.bars] == [1_000, 1_400]


def test_should_close_a_time_bar_on_flush_only_once_its_end_has_passed() -> None:
    sink = Sink()
    builder = TimeBarBuilder(3, 100, sink)
    assert not builder.flush(10**18)  # nothing open: nothing to close
    builder.on_trade(10, 3, 1_010, 501)
    builder.on_trade(13, 1, 1_050, 502)
    assert not builder.flush(1_099)  # the bar still covers 1099
    assert sink.bars == []
    assert builder.flush(1_100)  # [1000, 1100) is over at 1100
    # ts_origin of a flushed bar: its last trade's receive time; vwap 43 / 4 = 10.75 -> 11
    assert sink.bars == [Bar(3, 10, 13, 10, 13, 4, 11, 2, int(BarKind.TIME), 100, 1_000, 502)]
    assert builder.bar_end is None
    assert not builder.flush(5_000)  # closed once, not twice
    assert len(sink.bars) == 1


def test_should_count_and_drop_late_trades() -> None:
    sink = Sink()
    builder = TimeBarBuilder(3, 100, sink)
    builder.on_trade(10, 1, 1_150, 1)
    builder.on_trade(99, 7, 1_099, 2)  # before the open bar [1100, 1200): its bar may be published
    builder.on_trade(11, 1, 1_120, 3)  # out of order but inside the open bar: not late
    assert builder.late_trades == 1
    builder.flush(1_200)
    builder.on_trade(98, 7, 1_199, 4)  # inside the bar flush already published
    assert builder.late_trades == 2
    builder.on_trade(12, 1, 1_200, 5)  # the next interval opens normally
    builder.flush(1_300)
    assert sink.bars == [
        Bar(3, 10, 11, 10, 11, 2, 10, 2, int(BarKind.TIME), 100, 1_100, 3),  # 10.5 -> 10; no 99, no 98
        Bar(3, 12, 12, 12, 12, 1, 12, 1, int(BarKind.TIME), 100, 1_200, 5),
    ]


def test_should_align_time_bars_to_epoch_boundaries_not_to_the_first_trade() -> None:
    sink = Sink()
    builder = TimeBarBuilder(3, MINUTE_NS, sink)
    ts = 1_633_998_534_486_000_000
    builder.on_trade(638, 17_700_000_000, ts, 1)
    builder.flush(ts + MINUTE_NS)
    assert sink.bars[0].ts_venue == 1_633_998_480_000_000_000


# --- tick and volume boundaries ---------------------------------------------------------------------


def test_should_close_a_tick_bar_after_exactly_n_trades() -> None:
    sink = Sink()
    builder = TickBarBuilder(4, 3, sink)
    for i, price in enumerate((100, 90, 120, 110, 105)):
        builder.on_trade(price, 2, 1_000 + i, 50 + i)
        assert len(sink.bars) == (1 if i >= 2 else 0)
    # 3 trades of qty 2: vwap (100+90+120)*2 / 6 = 103.33 -> 103; ts_venue: first trade; ts_origin: third trade
    assert sink.bars == [Bar(4, 100, 120, 90, 120, 6, 103, 3, int(BarKind.TICK), 3, 1_000, 52)]
    assert builder.pending_trades == 2


def test_should_close_a_volume_bar_when_the_threshold_is_reached_exactly() -> None:
    sink = Sink()
    builder = VolumeBarBuilder(5, 10, sink)
    builder.on_trade(100, 4, 1_000, 1)
    builder.on_trade(103, 5, 1_001, 2)
    assert sink.bars == []
    builder.on_trade(101, 1, 1_002, 3)  # 4 + 5 + 1 == 10
    # vwap (400 + 515 + 101) / 10 = 101.6 -> 102
    assert sink.bars == [Bar(5, 100, 103, 100, 101, 10, 102, 3, int(BarKind.VOLUME), 10, 1_000, 3)]
    assert builder.pending_trades == 0


def test_should_keep_the_whole_crossing_trade_in_a_volume_bar() -> None:
    sink = Sink()
    builder = VolumeBarBuilder(5, 10, sink)
    builder.on_trade(100, 4, 1_000, 1)
    builder.on_trade(110, 9, 1_001, 2)  # crosses 10 by 3: not split
    builder.on_trade(120, 2, 1_002, 3)  # starts an empty bar: nothing carried over
    # vwap (400 + 990) / 13 = 106.92 -> 107
    assert sink.bars == [Bar(5, 100, 110, 100, 110, 13, 107, 2, int(BarKind.VOLUME), 10, 1_000, 2)]
    assert builder.pending_trades == 1
    builder.on_trade(121, 30, 1_003, 4)  # larger than the threshold: closes the open bar, whole
    assert sink.bars[1] == Bar(5, 120, 121, 120, 121, 32, 121, 2, int(BarKind.VOLUME), 10, 1_002, 4)  # 3870/32=120.94


def test_should_reset_state_before_emit_so_a_failing_emit_never_repeats_a_bar() -> None:
    calls: list[int] = []

    def failing(*bar: int) -> None:
        calls.append(bar[7])
        raise RuntimeError("ring full")

    builder = TickBarBuilder(4, 2, failing)
    builder.on_trade(1, 1, 1, 1)
    with pytest.raises(RuntimeError):
        builder.on_trade(1, 1, 2, 2)
    assert builder.pending_trades == 0
    builder.on_trade(1, 1, 3, 3)
    assert calls == [2]


# --- packing --------------------------------------------------------------------------------------


def test_should_pack_a_bar_that_numpy_reads_back_field_for_field() -> None:
    buf = bytearray(b"\xff" * (3 * RECORD_SIZE))
    bar = Bar(
        instrument=(1 << 32) - 1,
        open=-(1 << 63),
        high=(1 << 63) - 1,
        low=123_456_789,
        close=-42,
        volume=(1 << 62) + 3,
        vwap=987_654_321,
        trades=(1 << 32) - 1,
        kind=int(BarKind.VOLUME),
        interval=5_000_000_000,
        ts_venue=1_633_998_480_000_000_000,
        ts_origin=7_777_777_777,
    )
    pack_bar(buf, RECORD_SIZE, 12_345, *bar)
    record = np.frombuffer(buf, dtype=BAR_DTYPE, count=1, offset=RECORD_SIZE)[0]
    assert int(record["rtype"]) == int(RecordType.BAR)
    assert int(record["flags"]) == 0
    assert int(record["seq"]) == 12_345
    assert [int(h) for h in record["ts_hop"]] == [0, 0, 0, 0]
    for name, value in bar._asdict().items():
        assert int(record[name]) == value, name
    # padding inside the record is zeroed, and the neighbouring records are untouched
    assert bytes(buf[RECORD_SIZE + 117 : RECORD_SIZE + 120]) == b"\0\0\0"
    assert bytes(buf[:RECORD_SIZE]) == b"\xff" * RECORD_SIZE
    assert bytes(buf[2 * RECORD_SIZE :]) == b"\xff" * RECORD_SIZE


def test_should_pack_what_a_builder_emits_straight_into_a_slot() -> None:
    slot = bytearray(RECORD_SIZE)
    builder = TimeBarBuilder(9, 100, lambda *bar: pack_bar(slot, 0, 77, *bar))
    builder.on_trade(10, 1, 1_000, 5)
    builder.on_trade(20, 3, 1_100, 6)
    record = np.frombuffer(slot, dtype=BAR_DTYPE)[0]
    got = {name: int(record[name]) for name in Bar._fields}
    assert got == Bar(9, 10, 10, 10, 10, 1, 10, 1, int(BarKind.TIME), 100, 1_000, 6)._asdict()
    assert int(record["seq"]) == 77


# --- a real capture -------------------------------------------------------------------------------


def binance_events(name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for event in read_capture(capture_path(name)):
        if event.kind is EventKind.RECEIVED:
            message = orjson.loads(event.payload)
            yield event.time_ns, message.get("data", message)


def test_should_match_the_capture_klines_with_one_minute_bars_built_from_its_agg_trades() -> None:
    """1-minute bars from ``aggTrade`` (p, q at scale 8; T ms -> ns) against the same capture's ``kline_1m``.

    What this capture allows: BINANCE.ws.1.0 is about 30 s long and starts at second 31 of a minute,
    so it holds no final kline (``"x": true``); for each symbol and minute the latest kline update is
    used. It holds two such klines, each with one aggTrade in the same minute:

    * LRCBTC: the kline's trade-id range ``f..L`` is exactly the one aggTrade's ``f..l``, so the whole
      kline is covered and open/high/low/close/volume are compared for equality, the kline's ``n``
      (individual trades) against the sum of ``l - f + 1`` over the aggTrades (the same semantics;
      the bar's ``trades`` counts aggTrades instead), and the bar's vwap against ``q / v`` (quote
      volume / volume) rounded half to even at scale 8.
    * NKNUSDT: the kline covers trades 19862761..19862790 (``n`` = 30), the capture only the last one,
      so only what a subset must satisfy is checked: the same close (same last trade id), high <= h,
      low >= l, volume <= v, individual trades <= n.

    At least one fully covered kline is required, so the test cannot pass by comparing nothing. The
    open bars are closed with ``flush`` at the last event's receive time, which is past the minute.
    """
    scale = 8
    sinks: dict[str, Sink] = {}
    builders: dict[str, TimeBarBuilder] = {}
    coverage: dict[tuple[str, int], list[int]] = {}  # (symbol, minute ns) -> [first id, last id, trades]
    klines: dict[tuple[str, int], dict[str, Any]] = {}
    last_ns = 0
    for recv_ns, data in binance_events("BINANCE.ws.1.0"):
        last_ns = recv_ns
        if data.get("e") == "aggTrade":
            symbol = data["s"]
            if symbol not in builders:
                sinks[symbol] = Sink()
                builders[symbol] = TimeBarBuilder(len(builders) + 1, MINUTE_NS, sinks[symbol])
            ts = data["T"] * 1_000_000
            builders[symbol].on_trade(INSTRUMENT_8.price(data["p"]), INSTRUMENT_8.qty(data["q"]), ts, recv_ns)
            key = (symbol, ts - ts % MINUTE_NS)
            span = coverage.setdefault(key, [data["f"], data["l"], 0])
            span[0], span[1] = min(span[0], data["f"]), max(span[1], data["l"])
            span[2] += data["l"] - data["f"] + 1
        elif data.get("e") == "kline" and data["k"]["i"] == "1m":
            k = data["k"]
            key = (data["s"], k["t"] * 1_000_000)
            if key not in klines or k["x"] or data["E"] >= klines[key]["E"]:
                klines[key] = {**k, "E": data["E"]}
    for builder in builders.values():
        builder.flush(last_ns)

    bars = {(symbol, b.ts_venue): b for symbol, sink in sinks.items() for b in sink.bars}
    full = 0
    for key, k in klines.items():
        if key not in bars:
            continue
        bar = bars[key]
        first, last, individual = coverage[key]
        price = INSTRUMENT_8.price
        qty = INSTRUMENT_8.qty
        if (first, last, individual) == (k["f"], k["L"], k["n"]):
            full += 1
            assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
                price(k["o"]),
                price(k["h"]),
                price(k["l"]),
                price(k["c"]),
                qty(k["v"]),
            ), key
            with localcontext() as ctx:
                ctx.prec = 100
                quote_vwap = (Decimal(k["q"]) / Decimal(k["v"])).quantize(Decimal(1).scaleb(-scale), ROUND_HALF_EVEN)
            assert bar.vwap == fixed(quote_vwap, scale), key
        else:
            assert first >= k["f"] and last <= k["L"] and individual <= k["n"], key
            if last == k["L"]:
                assert bar.close == price(k["c"]), key
            assert price(k["l"]) <= bar.low <= bar.high <= price(k["h"]), key
            assert bar.volume <= qty(k["v"]), key
    assert full >= 1, f"no kline in the capture is fully covered by its aggTrades: {sorted(klines)}"
