"""One symbol's market data: records from its md ring in, stream events out.

The engine publishes, per command that changed the book, its TRADE records then
one BOOK_DELTA per changed level, the last flagged END_OF_UPDATE. Records are
collected until that flag and then applied as one update (see :mod:`.replica`
for why). What an update causes, in this order:

* ``@trade`` per trade, ``@aggTrade`` per run of consecutive trades at one price
  (one update is one taker order, so that is Binance's aggregation rule); klines
  take the trades in but are pushed on Binance's cadence (below), not per trade;
* the replica and both diff windows advance;
* ``@bookTicker`` if the best bid or ask (price or quantity) changed.

Timed streams are pushed by :meth:`SymbolMarket.on_fast_tick` (every 100 ms:
``@depth@100ms``, ``@depth<N>@100ms``) and :meth:`SymbolMarket.on_slow_tick`
(every second: ``@depth``, ``@depth<N>``, ``@ticker``, ``@miniTicker``, ``@kline_1s``;
every second slow tick, i.e. every 2 s: the other klines).
Encoders run only for streams somebody listens to; state (replica, statistics,
aggregate ids) advances regardless, so it never depends on who is connected.
Records flagged REPLAY update state but push no per-event streams (a journal
replay would otherwise flood clients with history).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from hftpipe.schema import SPECS
from hftpipe.schema.marketdata import BookAction, BookSide
from hftpipe.schema.records import RecordFlag, RecordType
from stages.exchange.protocol.settings import SymbolSettings
from stages.exchange.publisher import encoders
from stages.exchange.publisher.decimals import SymbolFormat
from stages.exchange.publisher.history import TradeHistory, WindowStats
from stages.exchange.publisher.hub import StreamHub
from stages.exchange.publisher.klines import Kline, KlineBuilder
from stages.exchange.publisher.replica import Delta, Replica
from stages.exchange.publisher.streams import KLINE_INTERVALS_MS, PARTIAL_DEPTHS, stream_name

_DELTA: Final = SPECS[RecordType.BOOK_DELTA].packer.unpack_from
_TRADE: Final = SPECS[RecordType.TRADE].packer.unpack_from
_RTYPE: Final = struct.Struct("<H").unpack_from
_BOOK_DELTA: Final = int(RecordType.BOOK_DELTA)
_TRADE_TYPE: Final = int(RecordType.TRADE)
_END: Final = int(RecordFlag.END_OF_UPDATE)
_SNAPSHOT: Final = int(RecordFlag.SNAPSHOT)
_REPLAY: Final = int(RecordFlag.REPLAY)
_CLEAR: Final = int(BookAction.CLEAR)
_BID: Final = int(BookSide.BID)
FAST: Final = 0
"""Index of the 100 ms diff window in :attr:`Replica.windows`."""
SLOW: Final = 1
RECENT_TRADES: Final = 1000
FAST_KLINE: Final = "1s"
"""The one interval pushed every second; Binance pushes every other interval every 2 s."""
KLINE_PUSH_TICKS: Final = 2
"""Slow ticks (1 s each) between two pushes of a kline stream other than ``1s``."""
"""Trades kept for ``GET /api/v3/trades`` (Binance's maximum ``limit``)."""

Trade = tuple[int, int, int, int, int]
"""``(trade_id, price, qty, aggressor side, ts_venue ns)`` as the record carries them."""
RecentTrade = tuple[int, int, int, int, bool]
AggTrade = tuple[int, int, int, int, int, int, bool]
"""(aggregate id, price, qty, first trade id, last trade id, time ms, buyer is maker)."""
"""``(trade_id, price, qty, time ms, buyer is maker)``."""
EndHook = Callable[[tuple[Any, ...], int], None]
"""``on_end(fields, now)``: an END record, unpacked, and when it was taken from the ring."""


class SymbolMarket:
    def __init__(self, settings: SymbolSettings, hub: StreamHub, clock_ms: Callable[[], int]) -> None:
        self.symbol = settings.symbol
        self.instrument = settings.symbol_id
        self.fmt = SymbolFormat(settings.price_scale, settings.qty_scale)
        self.hub = hub
        self.clock_ms = clock_ms
        self.replica = Replica(windows=2)
        self.history = TradeHistory()
        self.klines: dict[str, KlineBuilder] = {}
        self.recent: deque[RecentTrade] = deque(maxlen=RECENT_TRADES)
        self.agg_id = 0
        self.recent_aggs: deque[AggTrade] = deque(maxlen=RECENT_TRADES)
        """The latest aggregate trades (``GET /api/v3/aggTrades``), oldest first."""
        self.updates = 0
        self.snapshots = 0
        self.unknown_records = 0
        self.on_end: EndHook | None = None
        """Called with each END record, unpacked, and its ``now`` (the stage measures end to end with it)."""
        self._deltas: list[Delta] = []
        self._trades: list[Trade] = []
        self._first = 0
        self._last = 0
        self._snapshot = False
        self._top: tuple[tuple[int, int] | None, tuple[int, int] | None] = (None, None)
        name = settings.symbol
        self.trade_stream = stream_name(name, "trade")
        self.agg_trade_stream = stream_name(name, "aggTrade")
        self.book_ticker_stream = stream_name(name, "bookTicker")
        self.depth_streams = (
            (stream_name(name, "depth@100ms"),),
            (stream_name(name, "depth"), stream_name(name, "depth@1000ms")),
        )
        """Per window (FAST, SLOW): the names that carry it (``@depth`` and ``@depth@1000ms`` are one cadence)."""
        self.partial_streams = tuple(
            (
                levels,
                (stream_name(name, f"depth{levels}@100ms"),),
                (stream_name(name, f"depth{levels}"), stream_name(name, f"depth{levels}@1000ms")),
            )
            for levels in PARTIAL_DEPTHS
        )
        self.ticker_stream = stream_name(name, "ticker")
        self.mini_ticker_stream = stream_name(name, "miniTicker")
        self._closed_klines: list[tuple[str, Kline]] = []
        """Klines closed since their stream's last push (a trade or the clock closed them), oldest first."""
        self._slow_ticks = 0
        self.kline_streams = {interval: stream_name(name, f"kline_{interval}") for interval in KLINE_INTERVALS_MS}

    # -- records -----------------------------------------------------------------------
    def on_record(self, buf: memoryview, offset: int, now: int = 0) -> None:
        """The md ring's handler: one 128-byte record at ``buf[offset:]``, taken at ``now`` (the port's)."""
        rtype = _RTYPE(buf, offset)[0]
        if rtype == _BOOK_DELTA:
            fields = _DELTA(buf, offset)
            flags = fields[1]
            if fields[15] == _CLEAR:
                self._snapshot = True
                self._deltas.clear()
            else:
                if flags & _SNAPSHOT:
                    self._snapshot = True
                self._deltas.append((fields[14], fields[10], fields[11]))
            if not self._first:
                self._first = fields[13] or fields[12]
            self._last = fields[12]
        elif rtype == _TRADE_TYPE:
            fields = _TRADE(buf, offset)
            flags = fields[1]
            self._trades.append((fields[12], fields[10], fields[11], fields[13], fields[4]))
        else:
            self.unknown_records += 1
            return
        if flags & _END:
            self._commit(not flags & _REPLAY)
            if self.on_end is not None:
                self.on_end(fields, now)

    def _commit(self, live: bool) -> None:
        now = self.clock_ms()
        if self._trades:
            self._on_trades(now, live)
            self._trades = []
        replica = self.replica
        if self._snapshot:
            replica.replace(self._deltas, self._last)
            self.snapshots += 1
        elif self._deltas:
            replica.apply(self._deltas, self._first, self._last)
        self._deltas = []
        self._first = self._last = 0
        self._snapshot = False
        self.updates += 1
        top = replica.top()
        if top != self._top:
            self._top = top
            stream = self.book_ticker_stream
            if live and self.hub.wants(stream):
                self.hub.publish(stream, encoders.book_ticker(self.symbol, self.fmt, replica.update_id, *top))

    def _on_trades(self, now: int, live: bool) -> None:
        history, recent, klines = self.history, self.recent, self.klines
        hub, fmt, symbol = self.hub, self.fmt, self.symbol
        for trade_id, price, qty, aggressor, ts_ns in self._trades:
            time_ms = ts_ns // 1_000_000
            buyer_taker = aggressor == _BID
            history.add(time_ms, trade_id, price, qty, buyer_taker)
            recent.append((trade_id, price, qty, time_ms, not buyer_taker))
            for interval, builder in klines.items():
                closed = builder.add(time_ms, trade_id, price, qty, buyer_taker)
                if closed is not None and live and hub.wants(self.kline_streams[interval]):
                    self._closed_klines.append((interval, closed))
        runs = self._aggregate()
        self.recent_aggs.extend(runs)
        if not live:
            return
        if hub.wants(self.trade_stream):
            for trade_id, price, qty, aggressor, ts_ns in self._trades:
                payload = encoders.trade(symbol, fmt, now, trade_id, price, qty, ts_ns // 1_000_000, aggressor != _BID)
                hub.publish(self.trade_stream, payload)
        if hub.wants(self.agg_trade_stream):
            for run in runs:
                hub.publish(self.agg_trade_stream, encoders.agg_trade(symbol, fmt, now, *run))

    def _aggregate(self) -> list[AggTrade]:
        """Runs of consecutive same-price trades of this update, with their aggregate ids."""
        runs: list[AggTrade] = []
        agg_id = self.agg_id
        for trade_id, price, qty, aggressor, ts_ns in self._trades:
            if runs and runs[-1][1] == price:
                a, p, q, first, _, time_ms, maker = runs[-1]
                runs[-1] = (a, p, q + qty, first, trade_id, time_ms, maker)
            else:
                agg_id += 1
                runs.append((agg_id, price, qty, trade_id, trade_id, ts_ns // 1_000_000, aggressor != _BID))
        self.agg_id = agg_id
        return runs

    # -- timers ------------------------------------------------------------------------
    def on_fast_tick(self, now: int) -> None:
        """Every 100 ms: the @100ms diff and partial-depth streams."""
        self._flush_window(FAST, now)
        for levels, fast, _ in self.partial_streams:
            self._publish_partial(fast, levels)

    def on_slow_tick(self, now: int) -> None:
        """Every second: the 1000 ms depth streams, tickers and klines."""
        self._flush_window(SLOW, now)
        hub, fmt, symbol = self.hub, self.fmt, self.symbol
        for levels, _, slow in self.partial_streams:
            self._publish_partial(slow, levels)
        self.history.evict(now)
        if hub.wants(self.ticker_stream) or hub.wants(self.mini_ticker_stream):
            stats = self.stats(now)
            if hub.wants(self.ticker_stream):
                hub.publish(self.ticker_stream, encoders.ticker(symbol, fmt, now, stats, *self.replica.top()))
            if hub.wants(self.mini_ticker_stream):
                hub.publish(self.mini_ticker_stream, encoders.mini_ticker(symbol, fmt, now, stats))
        self._slow_ticks += 1
        for interval, builder in self.klines.items():
            closed = builder.roll(now)
            if closed is not None and hub.wants(self.kline_streams[interval]):
                self._closed_klines.append((interval, closed))
        self._push_klines(now, every_interval=self._slow_ticks % KLINE_PUSH_TICKS == 0)

    def _push_klines(self, now: int, *, every_interval: bool) -> None:
        """Binance's kline cadence: ``1s`` klines every second, the others every 2 s; the klines
        closed since the last push first (each exactly once, ``"x": true``), then the open one."""
        hub, fmt, symbol = self.hub, self.fmt, self.symbol
        waiting: list[tuple[str, Kline]] = []
        for interval, closed in self._closed_klines:
            if every_interval or interval == FAST_KLINE:
                stream = self.kline_streams[interval]
                if hub.wants(stream):
                    hub.publish(stream, encoders.kline(symbol, fmt, now, interval, closed, True))
            else:
                waiting.append((interval, closed))
        self._closed_klines = waiting
        for interval, builder in self.klines.items():
            stream = self.kline_streams[interval]
            if (every_interval or interval == FAST_KLINE) and builder.current is not None and hub.wants(stream):
                hub.publish(stream, encoders.kline(symbol, fmt, now, interval, builder.current, False))

    def _publish_partial(self, names: tuple[str, ...], levels: int) -> None:
        """One partial-depth snapshot, encoded once, to every name of its cadence somebody listens to."""
        hub = self.hub
        wanted = [name for name in names if hub.wants(name)]
        if wanted:
            payload = encoders.depth_snapshot(self.fmt, *self.replica.depth(levels))
            for name in wanted:
                hub.publish(name, payload)

    def _flush_window(self, which: int, now: int) -> None:
        taken = self.replica.windows[which].take()
        if taken is None:
            return
        wanted = [name for name in self.depth_streams[which] if self.hub.wants(name)]
        if wanted:
            payload = encoders.depth_update(self.symbol, self.fmt, now, *taken)
            for name in wanted:
                self.hub.publish(name, payload)

    # -- subscriptions and queries -----------------------------------------------------
    def ensure_kline(self, interval: str, now: int) -> None:
        """Start building ``interval`` klines (first subscription), seeded from the trade history."""
        if interval in self.klines:
            return
        builder = KlineBuilder(interval, KLINE_INTERVALS_MS[interval])
        history = self.history
        history.evict(now)
        builder.seed(history.since(builder.open_time(now) // 1000), now, history.last_price if history.trades else 0)
        self.klines[interval] = builder

    def stats(self, now: int) -> WindowStats:
        return self.history.stats(now)

    def recent_trades(self, limit: int) -> list[RecentTrade]:
        recent = self.recent
        return list(recent)[-limit:] if limit < len(recent) else list(recent)
