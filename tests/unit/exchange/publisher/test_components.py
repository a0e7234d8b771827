"""The publisher's pure parts: number text, stream names, diff windows, 24 h history, klines."""

from __future__ import annotations

import pytest

from stages.exchange.publisher.decimals import SymbolFormat, fixed_text, ratio_text
from stages.exchange.publisher.history import TradeHistory
from stages.exchange.publisher.klines import KlineBuilder
from stages.exchange.publisher.replica import DiffWindow, Replica
from stages.exchange.publisher.streams import MAX_STREAM_NAME_LENGTH, STREAMS_PER_SYMBOL, StreamCatalog, StreamKind

BID, ASK = 0, 1


@pytest.mark.parametrize(
    ("value", "scale", "text"),
    [
        (1, 2, "0.01000000"),
        (6000012, 2, "60000.12000000"),
        (0, 5, "0.00000000"),
        (-150, 2, "-1.50000000"),
        (123456789, 8, "1.23456789"),
        (7, 0, "7.00000000"),
    ],
)
def test_fixed_text_pads_to_eight_decimals_like_binance(value: int, scale: int, text: str) -> None:
    assert fixed_text(value, scale) == text


def test_fixed_text_refuses_more_than_eight_decimals() -> None:
    with pytest.raises(ValueError, match="more than 8"):
        fixed_text(1, 9)


@pytest.mark.parametrize(
    ("num", "den", "decimals", "text"),
    [
        (1, 3, 3, "0.333"), (2, 3, 3, "0.667"), (-2, 3, 3, "-0.667"), (1, 2, 0, "1"), (0, 5, 2, "0.00"),
        (5, 0, 2, "0.00"),
    ],
)
def test_ratio_text_rounds_half_away_from_zero(num: int, den: int, decimals: int, text: str) -> None:
    assert ratio_text(num, den, decimals) == text


def test_symbol_format_formats_quote_amounts_at_the_summed_scale() -> None:
    fmt = SymbolFormat(2, 5)
    assert fmt.quote(6000000 * 150000) == "90000.00000000"  # 60000.00 * 1.5
    assert fmt.levels([(6000000, 150000)]) == [["60000.00000000", "1.50000000"]]


@pytest.mark.parametrize(
    ("name", "kind", "fast", "levels", "interval"),
    [
        ("btcusdt@trade", StreamKind.TRADE, False, 0, ""),
        ("btcusdt@aggTrade", StreamKind.AGG_TRADE, False, 0, ""),
        ("btcusdt@bookTicker", StreamKind.BOOK_TICKER, False, 0, ""),
        ("btcusdt@depth", StreamKind.DIFF_DEPTH, False, 0, ""),
        ("btcusdt@depth@100ms", StreamKind.DIFF_DEPTH, True, 0, ""),
        ("btcusdt@depth5", StreamKind.PARTIAL_DEPTH, False, 5, ""),
        ("btcusdt@depth@1000ms", StreamKind.DIFF_DEPTH, False, 0, ""),
        ("btcusdt@depth10@1000ms", StreamKind.PARTIAL_DEPTH, False, 10, ""),
        ("btcusdt@depth20@100ms", StreamKind.PARTIAL_DEPTH, True, 20, ""),
        ("btcusdt@kline_1m", StreamKind.KLINE, False, 0, "1m"),
        ("btcusdt@ticker", StreamKind.TICKER, False, 0, ""),
        ("ethusdt@miniTicker", StreamKind.MINI_TICKER, False, 0, ""),
    ],
)
def test_catalog_knows_binance_stream_names(
    name: str, kind: StreamKind, fast: bool, levels: int, interval: str
) -> None:
    spec = StreamCatalog(["BTCUSDT", "ETHUSDT"]).parse(name)
    assert spec is not None
    assert (spec.kind, spec.fast, spec.levels, spec.interval) == (kind, fast, levels, interval)
    assert spec.symbol == name.split("@", maxsplit=1)[0].upper()


@pytest.mark.parametrize(
    "name",
    [
        "BTCUSDT@trade",  # symbols are lower case in stream names
        "xrpusdt@trade",
        "btcusdt@depth7",
        "btcusdt@depth05",
        "btcusdt@depth@250ms",
        "btcusdt@kline_2d",
        "btcusdt@aggtrade",
        "btcusdt",
        "",
        "@trade",
    ],
)
def test_catalog_refuses_what_is_not_served(name: str) -> None:
    assert StreamCatalog(["BTCUSDT"]).parse(name) is None


def test_no_stream_name_is_longer_than_the_longest_symbol_and_kind() -> None:
    longest = "A" * 20  # Binance: ^[A-Z0-9-_.]{1,20}$
    catalog = StreamCatalog([longest, "BTCUSDT"])
    name = f"{longest.lower()}@depth20@1000ms"
    assert len(name) == MAX_STREAM_NAME_LENGTH == 35
    assert catalog.parse(name) is not None
    assert catalog.parse(name + "x") is None
    assert catalog.parse("btcusdt@trade" + " " * MAX_STREAM_NAME_LENGTH) is None
    assert len(catalog) == 2 * STREAMS_PER_SYMBOL == 60
    with pytest.raises(ValueError, match=r"must be 1\.\.20 characters"):
        StreamCatalog(["A" * 21])


def test_the_catalog_serves_exactly_the_names_it_lists() -> None:
    catalog = StreamCatalog(["BTCUSDT"])
    intervals = ["1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d"]
    kinds = ["trade", "aggTrade", "bookTicker", "ticker", "miniTicker", "depth", "depth@100ms"]
    kinds += [f"depth{n}{s}" for n in (5, 10, 20) for s in ("", "@100ms", "@1000ms")] + ["depth@1000ms"]
    kinds += [f"kline_{i}" for i in intervals]
    assert all(catalog.parse(f"btcusdt@{kind}") is not None for kind in kinds)
    assert len(catalog) == len(kinds) == STREAMS_PER_SYMBOL


def test_diff_window_coalesces_levels_to_their_latest_quantity() -> None:
    window = DiffWindow()
    window.add([(BID, 100, 5), (ASK, 110, 1)], 1, 2)
    window.add([(BID, 100, 0), (BID, 99, 3), (ASK, 111, 2)], 3, 5)
    assert window.take() == (1, 5, [(100, 0), (99, 3)], [(110, 1), (111, 2)])
    assert window.take() is None
    window.add([(ASK, 110, 4)], 6, 6)
    assert window.take() == (6, 6, [], [(110, 4)])


def test_replica_snapshot_replaces_the_book_and_voids_pending_diffs() -> None:
    replica = Replica()
    replica.apply([(BID, 100, 5), (ASK, 110, 1)], 1, 2)
    replica.replace([(BID, 98, 7)], 9)
    assert replica.depth(10) == (9, [(98, 7)], [])
    assert all(window.take() is None for window in replica.windows)
    replica.apply([(ASK, 120, 2)], 10, 10)
    assert replica.windows[0].take() == (10, 10, [], [(120, 2)])
    assert replica.resets == 1


def test_history_rolls_a_24h_window_with_high_low_open_and_prev_close() -> None:
    history = TradeHistory(window_ms=10_000)
    trades = [(0, 1, 100), (1_500, 2, 130), (3_000, 3, 90), (9_000, 4, 110), (12_000, 5, 105)]
    for time_ms, trade_id, price in trades:
        history.add(time_ms, trade_id, price, 2, trade_id % 2 == 0)
    stats = history.stats(12_500)  # window (2500, 12500]: trades 3, 4, 5
    assert (stats.open, stats.high, stats.low, stats.last_price) == (90, 110, 90, 105)
    assert (stats.first_id, stats.last_id, stats.count) == (3, 5, 3)
    assert stats.prev_close == 130
    assert stats.volume == 6 and stats.quote == 2 * (90 + 110 + 105)
    empty = history.stats(40_000)
    assert (empty.count, empty.first_id, empty.last_id, empty.volume) == (0, -1, -1, 0)
    assert empty.open == empty.high == empty.low == empty.last_price == 105
    assert empty.prev_close == 105


def test_history_high_and_low_follow_evictions() -> None:
    history = TradeHistory(window_ms=5_000)
    for second, price in enumerate([50, 40, 30, 60, 20, 35]):
        history.add(second * 1000, second + 1, price, 1, True)
    assert (history.stats(5_500).high, history.stats(5_500).low) == (60, 20)
    assert (history.stats(9_500).high, history.stats(9_500).low) == (35, 20)
    assert (history.stats(10_500).high, history.stats(10_500).low) == (35, 35)


def test_kline_closes_on_the_next_interval_and_rolls_empty_ones() -> None:
    builder = KlineBuilder("1m", 60_000)
    assert builder.add(60_000 + 5, 1, 100, 2, True) is None
    assert builder.add(60_000 + 10, 2, 120, 1, False) is None
    closed = builder.add(120_000 + 1, 3, 90, 4, True)
    assert closed is not None
    assert (closed.open_time, closed.close_time, closed.open, closed.high, closed.low, closed.close) == (
        60_000, 119_999, 100, 120, 100, 120,
    )
    assert (closed.volume, closed.count, closed.first_id, closed.last_id, closed.buy_volume) == (3, 2, 1, 2, 2)
    assert builder.roll(150_000) is None
    rolled = builder.roll(180_000)
    assert rolled is not None and rolled.close == 90
    empty = builder.current
    assert empty is not None
    assert (empty.open_time, empty.open, empty.close, empty.count, empty.first_id, empty.last_id) == (
        180_000, 90, 90, 0, -1, -1,
    )


def test_kline_seeded_mid_interval_holds_the_trades_since_it_began() -> None:
    history = TradeHistory()
    for offset, price in [(1_000, 10), (61_000, 12), (62_500, 15), (65_000, 11)]:
        history.add(offset, offset, price, 1, False)
    builder = KlineBuilder("1m", 60_000)
    builder.seed(history.since(60), 70_000, history.last_price)
    kline = builder.current
    assert kline is not None
    assert (kline.open, kline.high, kline.low, kline.close, kline.count, kline.first_id) == (12, 15, 11, 11, 3, 61_000)
