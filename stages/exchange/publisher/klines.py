"""Klines (candlesticks) of one symbol and interval, built from its trades.

Interval boundaries are aligned to the Unix epoch in UTC (Binance's klines for
fixed-length intervals). A kline with no trades carries the previous close as
open, high, low and close, zero volume and trade ids -1. Builders are created on
first subscription and seeded from :class:`~.history.TradeHistory`, so the first
kline a client sees already holds every trade since the interval began.
"""

from __future__ import annotations

from collections.abc import Iterable

from stages.exchange.publisher.history import Bucket, Tally


class Kline(Tally):
    __slots__ = ("close_time", "open_time")

    def __init__(self, open_time: int, interval_ms: int, price: int) -> None:
        super().__init__(price, -1)
        self.open_time = open_time
        self.close_time = open_time + interval_ms - 1

    def merge(self, bucket: Bucket) -> None:
        """Fold in one second of trades (seeding)."""
        if not self.count:
            self.open, self.high, self.low = bucket.open, bucket.high, bucket.low
            self.first_id = bucket.first_id
        else:
            self.high = max(self.high, bucket.high)
            self.low = min(self.low, bucket.low)
        self.close = bucket.close
        self.volume += bucket.volume
        self.quote += bucket.quote
        self.count += bucket.count
        self.last_id = bucket.last_id
        self.buy_volume += bucket.buy_volume
        self.buy_quote += bucket.buy_quote


class KlineBuilder:
    """The open kline of one interval; hands back each kline it closes."""

    __slots__ = ("current", "interval", "interval_ms")

    def __init__(self, interval: str, interval_ms: int) -> None:
        self.interval = interval
        self.interval_ms = interval_ms
        self.current: Kline | None = None

    def open_time(self, time_ms: int) -> int:
        return time_ms - time_ms % self.interval_ms

    def seed(self, buckets: Iterable[Bucket], now_ms: int, last_price: int) -> None:
        """Start the interval holding ``now_ms`` from history (``last_price``: 0 if no trade ever)."""
        opened = self.open_time(now_ms)
        kline = Kline(opened, self.interval_ms, last_price)
        for bucket in buckets:
            if bucket.second * 1000 >= opened:
                kline.merge(bucket)
        self.current = kline if (kline.count or last_price) else None

    def add(self, time_ms: int, trade_id: int, price: int, qty: int, buyer_is_taker: bool) -> Kline | None:
        """Add a trade; returns the kline it closed, if it is the first of a later interval."""
        current = self.current
        closed = None
        if current is None or time_ms > current.close_time:
            closed = current
            current = self.current = Kline(self.open_time(time_ms), self.interval_ms, price)
        current.add(trade_id, price, qty, buyer_is_taker)
        return closed

    def roll(self, now_ms: int) -> Kline | None:
        """Close the open kline if ``now_ms`` is past it (an empty one follows); returns it."""
        current = self.current
        if current is None or now_ms <= current.close_time:
            return None
        self.current = Kline(self.open_time(now_ms), self.interval_ms, current.close)
        return current
