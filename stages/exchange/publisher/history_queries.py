"""Past trades as the REST API shows them: klines, aggregate and historical trades, the average price.

Pure functions over what :class:`~.market.SymbolMarket` keeps anyway: the 24 h
of one-second buckets (:mod:`.history`) and the latest trades and aggregate
trades (:data:`~.market.RECENT_TRADES` each). So klines reach back 24 hours and
trade lists the latest 1000; older ids or times answer what is still held
(an empty list when nothing is), as a venue's pruned history would.

Klines follow Binance: every interval from the first one holding a trade up to
the open one is listed (an interval without trades repeats the previous close
with zero volume), ``startTime``/``endTime`` select by open time, and the
``limit`` latest are returned unless ``startTime`` is given (then the first
``limit`` from it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from stages.exchange.publisher.decimals import SymbolFormat
from stages.exchange.publisher.encoders import agg_trade_fields
from stages.exchange.publisher.history import TradeHistory
from stages.exchange.publisher.klines import Kline
from stages.exchange.publisher.market import AggTrade, RecentTrade

AVG_PRICE_MINUTES: Final = 5


def klines(
    history: TradeHistory,
    interval_ms: int,
    now_ms: int,
    limit: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[Kline]:
    """The klines of ``interval_ms`` that ``history`` holds, selected as Binance's ``GET /api/v3/klines``."""
    history.evict(now_ms)
    last_open = min(now_ms, end_ms if end_ms is not None else now_ms)
    last_open -= last_open % interval_ms
    if start_ms is not None:
        first_open = start_ms - start_ms % interval_ms
        if start_ms % interval_ms:
            first_open += interval_ms  # Binance: klines whose open time is at or after startTime
        last_open = min(last_open, first_open + (limit - 1) * interval_ms)
    else:
        first_open = last_open - (limit - 1) * interval_ms
    if first_open > last_open or not history.buckets:
        return []
    out: list[Kline] = []
    current: Kline | None = None
    for bucket in history.since(first_open // 1000):
        opened = bucket.second * 1000 - bucket.second * 1000 % interval_ms
        if opened > last_open:
            break
        if current is None or opened != current.open_time:
            if current is not None:
                out.append(current)
                _fill(out, current.open_time + interval_ms, opened, interval_ms, current.close)
            current = Kline(opened, interval_ms, bucket.open)
        current.merge(bucket)
    if current is None:
        return []
    out.append(current)
    _fill(out, current.open_time + interval_ms, last_open + interval_ms, interval_ms, current.close)
    return out[:limit] if start_ms is not None else out[-limit:]


def _fill(out: list[Kline], first_open: int, before: int, interval_ms: int, close: int) -> None:
    for opened in range(first_open, before, interval_ms):
        out.append(Kline(opened, interval_ms, close))


def kline_row(fmt: SymbolFormat, kline: Kline) -> list[Any]:
    """One row of ``GET /api/v3/klines``."""
    return [
        kline.open_time,
        fmt.price(kline.open),
        fmt.price(kline.high),
        fmt.price(kline.low),
        fmt.price(kline.close),
        fmt.qty(kline.volume),
        kline.close_time,
        fmt.quote(kline.quote),
        kline.count,
        fmt.qty(kline.buy_volume),
        fmt.quote(kline.buy_quote),
        "0",
    ]


def agg_trades(
    runs: Iterable[AggTrade],
    limit: int,
    from_id: int | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[AggTrade]:
    """``GET /api/v3/aggTrades``: from ``fromId``, or within the times, else the latest ``limit``."""
    if from_id is not None:
        return [run for run in runs if run[0] >= from_id][:limit]
    if start_ms is not None or end_ms is not None:
        low, high = start_ms or 0, end_ms if end_ms is not None else 2**63
        return [run for run in runs if low <= run[5] <= high][:limit]
    return list(runs)[-limit:]


def agg_trade_row(fmt: SymbolFormat, run: AggTrade) -> dict[str, Any]:
    return agg_trade_fields(fmt, *run)


def historical_trades(trades: Iterable[RecentTrade], limit: int, from_id: int | None) -> list[RecentTrade]:
    """``GET /api/v3/historicalTrades``: from ``fromId`` on, else the latest ``limit``."""
    if from_id is None:
        return list(trades)[-limit:]
    return [trade for trade in trades if trade[0] >= from_id][:limit]


def average_price(history: TradeHistory, now_ms: int) -> tuple[int, int]:
    """(volume-weighted average price at price scale over the last 5 minutes, last trade time ms);
    the last price when nothing traded in them."""
    volume = quote = 0
    last_ms = 0
    for bucket in history.since((now_ms - AVG_PRICE_MINUTES * 60_000) // 1000):
        volume += bucket.volume
        quote += bucket.quote
        last_ms = bucket.second * 1000 + 999
    if not volume:
        return history.last_price, last_ms
    return quote // volume, last_ms
