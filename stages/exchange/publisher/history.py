"""The last 24 hours of trades as one-second buckets: the 24hr ticker's rolling window.

Binance's ``@ticker`` and ``GET /api/v3/ticker/24hr`` are statistics over a
rolling 24 h window, not the UTC day. Keeping every trade would cost memory in
proportion to the trade rate, so trades are folded into per-second buckets
(at most 86 400 per symbol) with running sums, and the window's high and low
come from monotonic deques of closed buckets (amortized O(1) per bucket). The
window's edge is therefore one second coarse, which nobody can tell apart from
the venue's own latency.

Buckets also seed klines (:mod:`.klines`) that are first subscribed mid-interval,
so a ``@kline_1h`` opened at 10:30 still starts with the trades since 10:00.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

WINDOW_MS: Final = 86_400_000


class Tally:
    """Open, high, low, close, volumes and trade ids of a run of trades (a bucket, a kline).

    Until its first trade it carries the price and trade id it was made with.
    """

    __slots__ = (
        "buy_quote",
        "buy_volume",
        "close",
        "count",
        "first_id",
        "high",
        "last_id",
        "low",
        "open",
        "quote",
        "volume",
    )

    def __init__(self, price: int, trade_id: int) -> None:
        self.open = self.high = self.low = self.close = price
        self.volume = self.quote = self.count = 0
        self.buy_volume = self.buy_quote = 0
        self.first_id = self.last_id = trade_id

    def add(self, trade_id: int, price: int, qty: int, buyer_is_taker: bool) -> None:
        if not self.count:
            self.open = self.high = self.low = price
            self.first_id = trade_id
        elif price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        notional = price * qty
        self.volume += qty
        self.quote += notional
        self.count += 1
        self.last_id = trade_id
        if buyer_is_taker:
            self.buy_volume += qty
            self.buy_quote += notional


class Bucket(Tally):
    """One second of trades (``second`` = trade time // 1000)."""

    __slots__ = ("second",)

    def __init__(self, second: int, trade_id: int, price: int) -> None:
        super().__init__(price, trade_id)
        self.second = second


@dataclass(frozen=True, slots=True)
class WindowStats:
    """The 24 h window at one moment (prices/qtys fixed point; ``quote`` at price+qty scale)."""

    open_time: int
    close_time: int
    open: int
    high: int
    low: int
    last_price: int
    last_qty: int
    prev_close: int
    """Price of the last trade before the window (Binance ``x`` / ``prevClosePrice``); 0 if none."""
    volume: int
    quote: int
    first_id: int
    """-1 when the window holds no trade."""
    last_id: int
    count: int


class TradeHistory:
    """Per-second buckets of the last ``window_ms``, newest last; the last bucket is still open."""

    def __init__(self, window_ms: int = WINDOW_MS) -> None:
        self.window_ms = window_ms
        self.buckets: deque[Bucket] = deque()
        self._highs: deque[Bucket] = deque()
        """Closed buckets with decreasing highs: the front is the window's highest."""
        self._lows: deque[Bucket] = deque()
        self.volume = 0
        self.quote = 0
        self.count = 0
        self.last_price = 0
        self.last_qty = 0
        self.prev_close = 0
        self.trades = 0
        """Trades ever added (0: no last price yet)."""

    def add(self, time_ms: int, trade_id: int, price: int, qty: int, buyer_is_taker: bool) -> None:
        second = time_ms // 1000
        buckets = self.buckets
        current = buckets[-1] if buckets else None
        if current is None or second > current.second:
            if current is not None:
                self._close(current)
            current = Bucket(second, trade_id, price)
            buckets.append(current)
        # A trade stamped before the open bucket (the exchange clock stepped back) joins it.
        current.add(trade_id, price, qty, buyer_is_taker)
        self.volume += qty
        self.quote += price * qty
        self.count += 1
        self.last_price = price
        self.last_qty = qty
        self.trades += 1

    def _close(self, bucket: Bucket) -> None:
        highs, lows = self._highs, self._lows
        while highs and highs[-1].high <= bucket.high:
            highs.pop()
        highs.append(bucket)
        while lows and lows[-1].low >= bucket.low:
            lows.pop()
        lows.append(bucket)

    def evict(self, now_ms: int) -> None:
        """Drop the buckets wholly before ``now_ms - window_ms``."""
        buckets = self.buckets
        horizon = now_ms - self.window_ms
        while buckets and (buckets[0].second + 1) * 1000 <= horizon:
            old = buckets.popleft()
            self.volume -= old.volume
            self.quote -= old.quote
            self.count -= old.count
            self.prev_close = old.close
            if self._highs and self._highs[0] is old:
                self._highs.popleft()
            if self._lows and self._lows[0] is old:
                self._lows.popleft()

    def stats(self, now_ms: int) -> WindowStats:
        self.evict(now_ms)
        buckets = self.buckets
        if not buckets:
            last = self.last_price
            return WindowStats(
                now_ms - self.window_ms,
                now_ms,
                last,
                last,
                last,
                last,
                self.last_qty,
                self.prev_close,
                0,
                0,
                -1,
                -1,
                0,
            )
        current = buckets[-1]
        high, low = current.high, current.low
        if self._highs and self._highs[0].high > high:
            high = self._highs[0].high
        if self._lows and self._lows[0].low < low:
            low = self._lows[0].low
        return WindowStats(
            now_ms - self.window_ms,
            now_ms,
            buckets[0].open,
            high,
            low,
            self.last_price,
            self.last_qty,
            self.prev_close,
            self.volume,
            self.quote,
            buckets[0].first_id,
            current.last_id,
            self.count,
        )

    def since(self, second: int) -> Iterator[Bucket]:
        """The buckets from ``second`` on, oldest first."""
        buckets = self.buckets
        start = len(buckets)
        while start > 0 and buckets[start - 1].second >= second:
            start -= 1
        for index in range(start, len(buckets)):
            yield buckets[index]
