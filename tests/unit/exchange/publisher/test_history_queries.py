"""klines, aggTrades, historicalTrades and avgPrice from the publisher's trade history (pure)."""

from __future__ import annotations

from stages.exchange.publisher import history_queries
from stages.exchange.publisher.decimals import SymbolFormat
from stages.exchange.publisher.history import TradeHistory

MINUTE = 60_000
T0 = 1_700_000_040_000  # a minute boundary
FMT = SymbolFormat(2, 5)


def _history(*trades: tuple[int, int, int]) -> TradeHistory:
    """(time ms, price, qty) trades, ids 1..n."""
    history = TradeHistory()
    for trade_id, (time_ms, price, qty) in enumerate(trades, start=1):
        history.add(time_ms, trade_id, price, qty, trade_id % 2 == 0)
    return history


def test_klines_cover_every_interval_from_the_first_trade_to_now_gaps_repeating_the_close() -> None:
    history = _history((T0 + 1_000, 100, 1), (T0 + 2_000, 120, 2), (T0 + 3 * MINUTE + 5, 90, 1))
    now = T0 + 4 * MINUTE + 10
    rows = history_queries.klines(history, MINUTE, now, 500)
    assert [k.open_time for k in rows] == [T0 + i * MINUTE for i in range(5)]
    first, gap, third, empty_now = rows[0], rows[1], rows[3], rows[4]
    assert (first.open, first.high, first.low, first.close, first.volume, first.count) == (100, 120, 100, 120, 3, 2)
    assert (gap.open, gap.close, gap.volume, gap.count, gap.first_id) == (120, 120, 0, 0, -1)
    assert (third.open, third.close, third.count, third.first_id, third.last_id) == (90, 90, 1, 3, 3)
    assert (empty_now.open, empty_now.count) == (90, 0)
    row = history_queries.kline_row(FMT, first)
    prices = ["1.00000000", "1.20000000", "1.00000000", "1.20000000"]
    assert row == [T0, *prices, "0.00003000", T0 + MINUTE - 1, "0.00003400", 2, "0.00002000", "0.00002400", "0"]


def test_klines_limit_and_start_end_select_by_open_time() -> None:
    history = _history(*((T0 + i * MINUTE, 100 + i, 1) for i in range(10)))
    now = T0 + 9 * MINUTE + 1
    assert [k.open_time for k in history_queries.klines(history, MINUTE, now, 3)] == [
        T0 + i * MINUTE for i in (7, 8, 9)
    ]
    chosen = history_queries.klines(history, MINUTE, now, 3, start_ms=T0 + 2 * MINUTE - 1)
    assert [k.open_time for k in chosen] == [T0 + i * MINUTE for i in (2, 3, 4)]
    ended = history_queries.klines(history, MINUTE, now, 500, start_ms=T0, end_ms=T0 + MINUTE)
    assert [k.close for k in ended] == [100, 101]
    assert history_queries.klines(TradeHistory(), MINUTE, now, 10) == []
    assert history_queries.klines(history, MINUTE, now, 10, start_ms=now + MINUTE) == []


def test_agg_and_historical_trades_select_by_id_time_or_latest() -> None:
    runs = [(i, 100, 1, 2 * i, 2 * i + 1, T0 + i, False) for i in range(1, 11)]
    assert [r[0] for r in history_queries.agg_trades(runs, 3)] == [8, 9, 10]
    assert [r[0] for r in history_queries.agg_trades(runs, 3, from_id=4)] == [4, 5, 6]
    assert [r[0] for r in history_queries.agg_trades(runs, 500, start_ms=T0 + 9)] == [9, 10]
    assert history_queries.agg_trade_row(FMT, runs[0]) == {
        "a": 1, "p": "1.00000000", "q": "0.00001000", "f": 2, "l": 3, "T": T0 + 1, "m": False, "M": True,
    }  # fmt: skip
    trades = [(i, 100, 1, T0, True) for i in range(1, 6)]
    assert [t[0] for t in history_queries.historical_trades(trades, 2, None)] == [4, 5]
    assert [t[0] for t in history_queries.historical_trades(trades, 2, 2)] == [2, 3]


def test_average_price_weighs_the_last_five_minutes_by_volume() -> None:
    history = _history((T0, 50, 1), (T0 + 6 * MINUTE, 100, 1), (T0 + 7 * MINUTE, 130, 2))
    price, close_ms = history_queries.average_price(history, T0 + 8 * MINUTE)
    assert price == 120 and close_ms == T0 + 7 * MINUTE + 999  # (100 + 260) / 3; the 50 is too old
    assert history_queries.average_price(history, T0 + 20 * MINUTE)[0] == 130  # nothing recent: the last price
