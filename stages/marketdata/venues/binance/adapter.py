"""Binance spot and USD-M futures: combined streams, depth diffs synced to REST snapshots.

Spot sync (Binance "How to manage a local order book correctly"):

1. Buffer ``@depth`` diffs; fetch ``GET /api/v3/depth?symbol=S&limit=1000``.
2. Drop buffered diffs with ``u <= lastUpdateId``.
3. The first diff applied must have ``U <= lastUpdateId + 1 <= u``; if the
   first one left starts later, the snapshot is too old: fetch another.
4. Afterwards a diff with ``u <= local id`` is a repeat (dropped) and one with
   ``U > local id + 1`` is a gap: mark the book RESYNCING and start over.

USD-M futures differ: drop ``u < lastUpdateId``, the first diff has
``U <= lastUpdateId <= u``, and after it each diff's ``pu`` must equal the
previous diff's ``u``.

``bookTicker`` shares the depth update-id space and is passed on as BBO;
``aggTrade``/``trade`` become trades (``m`` = buyer is maker, so the aggressor
sold); ``kline`` is ignored.

Every snapshot request carries its request weight (:mod:`.weights`), so the
feed can keep all of them, retries included, within the IP's budget.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BookSide, BookState
from stages.marketdata.venues.adapter import InstrumentStats, SnapshotRequest, VenueAdapter
from stages.marketdata.venues.binance.weights import (
    FUTURES_DEPTH_WEIGHTS,
    FUTURES_WEIGHT_PER_MINUTE,
    SPOT_DEPTH_WEIGHTS,
    SPOT_WEIGHT_PER_MINUTE,
    depth_weight,
)

MAX_BUFFERED_DIFFS: Final = 10_000
SNAPSHOT_LIMIT: Final = 1000
"""Levels per side in a REST snapshot (Binance's recommendation for a local book)."""
BID: Final = int(BookSide.BID)
ASK: Final = int(BookSide.ASK)


@dataclass(slots=True)
class _Diff:
    first: int  # U
    last: int  # u
    previous: int  # pu (futures), -1 on spot
    bids: list[Any]
    asks: list[Any]
    ts_venue: int
    recv_ns: int


@dataclass(slots=True)
class _DepthSync:
    buffer: deque[_Diff] = field(default_factory=deque)
    awaiting_snapshot: bool = False
    first_after_snapshot: bool = False


class BinanceAdapter(VenueAdapter):
    """Binance spot (``wss://stream.binance.com:9443``)."""

    venue = "binance"
    futures = False
    ws_base = "wss://stream.binance.com:9443"
    rest_base = "https://api.binance.com"
    depth_path = "/api/v3/depth"
    depth_weights: tuple[tuple[int, int], ...] = SPOT_DEPTH_WEIGHTS
    rest_weight_per_minute = SPOT_WEIGHT_PER_MINUTE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[str, _DepthSync] = {}
        self._depth_state: dict[str, tuple[Instrument, InstrumentStats, _DepthSync]] = {}

    # -- connection ----------------------------------------------------------
    def websocket_urls(self) -> list[str]:
        streams = []
        for symbol in self.symbols:
            lower = symbol.lower()
            streams += [f"{lower}@depth@100ms", f"{lower}@bookTicker", f"{lower}@aggTrade"]
        return [f"{self.ws_base}/stream?streams={'/'.join(streams)}"]

    def snapshot_url(self, symbol: str) -> str:
        return f"{self.rest_base}{self.depth_path}?symbol={symbol}&limit={SNAPSHOT_LIMIT}"

    def _request_snapshot(self, sync: _DepthSync, symbol: str) -> None:
        """Ask for ``symbol``'s snapshot, weighed as the venue weighs it; buffer diffs until it comes."""
        sync.awaiting_snapshot = True
        weight = depth_weight(SNAPSHOT_LIMIT, self.depth_weights)
        self.request_snapshot(SnapshotRequest(symbol, self.snapshot_url(symbol), weight))

    # -- messages ------------------------------------------------------------
    def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        message = self.decode_object(raw)
        if message is None:
            return
        data = message.get("data", message)
        if not isinstance(data, dict):
            self.malformed(str(raw)[:200])
            return
        try:
            event = data.get("e")
            if event == "depthUpdate":
                self._on_depth(data, recv_ns)
            elif event in ("aggTrade", "trade"):
                self._on_trade(data, recv_ns)
            elif event == "bookTicker" or (event is None and "b" in data and "A" in data):
                self._on_book_ticker(data, recv_ns)
            elif event == "kline" or "result" in data:
                pass  # klines are rebuilt from trades; "result" answers SUBSCRIBE
            else:
                self.unknown(str(raw)[:200])
        except (KeyError, TypeError, IndexError) as exc:
            self.malformed(f"{exc!r} in {str(raw)[:200]}")

    def _on_depth(self, data: dict[str, Any], recv_ns: int) -> None:
        symbol = data["s"]
        known = self._depth_state.get(symbol)
        if known is None:  # first sight: one dict lookup per message from here on
            sync = self._sync.get(symbol)
            if sync is None:
                sync = self._sync[symbol] = _DepthSync()
            known = self._depth_state[symbol] = (self.instrument(symbol), self.stats_for(symbol), sync)
        instrument, stats, sync = known
        stats.messages += 1
        first, last, previous = int(data["U"]), int(data["u"]), int(data.get("pu", -1))
        ts_venue = int(data["E"]) * 1_000_000
        if not self.synced.get(symbol):
            self._buffer(instrument, sync, _Diff(first, last, previous, data["b"], data["a"], ts_venue, recv_ns))
            return
        self._apply_in_sync(instrument, sync, first, last, previous, data["b"], data["a"], ts_venue, recv_ns, stats)

    def _buffer(self, instrument: Instrument, sync: _DepthSync, diff: _Diff) -> None:
        sync.buffer.append(diff)
        if len(sync.buffer) > MAX_BUFFERED_DIFFS:
            sync.buffer.popleft()
            self.stats_for(instrument.symbol).dropped += 1
        if not sync.awaiting_snapshot:
            self._request_snapshot(sync, instrument.symbol)

    def _apply_in_sync(
        self,
        instrument: Instrument,
        sync: _DepthSync,
        first: int,
        last: int,
        previous: int,
        bids: list[Any],
        asks: list[Any],
        ts_venue: int,
        recv_ns: int,
        stats: InstrumentStats | None = None,
    ) -> None:
        """Apply one diff to a synced book (fields passed flat: no object per message)."""
        if stats is None:
            stats = self.stats_for(instrument.symbol)
        local = self.update_ids.get(instrument.symbol, 0)
        if sync.first_after_snapshot:
            if last < local + (0 if self.futures else 1):
                stats.dropped += 1
                return
            if first > local + (0 if self.futures else 1):
                self._resync(
                    instrument,
                    sync,
                    _Diff(first, last, previous, bids, asks, ts_venue, recv_ns),
                    f"first diff U={first} after snapshot {local}",
                )
                return
        elif last <= local:
            stats.dropped += 1  # a repeat of what we have
            return
        elif (previous != local) if self.futures else (first > local + 1):
            self._resync(
                instrument,
                sync,
                _Diff(first, last, previous, bids, asks, ts_venue, recv_ns),
                f"gap: local {local}, diff U={first} pu={previous}",
            )
            return
        levels: list[tuple[int, int, int]] = []
        try:
            self.parse_levels(instrument, BID, bids, levels)
            self.parse_levels(instrument, ASK, asks, levels)
        except ValueError as exc:
            self.rejected_value(f"{instrument.symbol}: {exc}")
            self._resync(instrument, sync, None, "unusable diff")
            return
        sync.first_after_snapshot = False
        if levels:
            replica = self.emit_levels(instrument, levels, last, ts_venue, recv_ns)
            if replica.is_crossed():
                self.problems.problem(self.logger, "crossed book", instrument.symbol)
                self._resync(instrument, sync, None, "crossed book")
                return
        else:
            self.update_ids[instrument.symbol] = last
        stats.applied += 1

    def _resync(self, instrument: Instrument, sync: _DepthSync, diff: _Diff | None, why: str) -> None:
        stats = self.stats_for(instrument.symbol)
        stats.gaps += 1
        stats.resyncs += 1
        self.logger.info("%s %s: resync (%s)", self.venue, instrument.symbol, why)
        self.mark(instrument, BookState.RESYNCING, diff.recv_ns if diff else 0)
        sync.buffer.clear()
        sync.first_after_snapshot = False
        sync.awaiting_snapshot = False
        if diff is not None:
            self._buffer(instrument, sync, diff)
        else:
            self._request_snapshot(sync, instrument.symbol)

    def on_snapshot(self, symbol: str, raw: str | bytes, recv_ns: int) -> bool:
        instrument = self.instrument(symbol)
        sync = self._sync.get(symbol)
        if sync is None:
            sync = self._sync[symbol] = _DepthSync()
        try:
            snapshot = orjson.loads(raw)
            last_update_id = int(snapshot["lastUpdateId"])
            levels: list[tuple[int, int, int]] = []
            self.parse_levels(instrument, BID, snapshot["bids"], levels)
            self.parse_levels(instrument, ASK, snapshot["asks"], levels)
        except (orjson.JSONDecodeError, KeyError, TypeError, IndexError, ValueError) as exc:
            self.malformed(f"snapshot {symbol}: {exc!r}")
            self._request_snapshot(sync, symbol)
            return False
        stats = self.stats_for(symbol)
        keep_from = last_update_id if self.futures else last_update_id + 1
        while sync.buffer and sync.buffer[0].last < keep_from:
            sync.buffer.popleft()
            stats.dropped += 1
        if sync.buffer and sync.buffer[0].first > keep_from:
            # The stream has moved past this snapshot: it is too old to sync from.
            self.logger.info(
                "%s %s: snapshot %d older than buffered diffs; refetching", self.venue, symbol, last_update_id
            )
            self._request_snapshot(sync, symbol)
            return False
        sync.awaiting_snapshot = False
        ts_venue = int(snapshot.get("E", 0)) * 1_000_000
        self.begin_snapshot(instrument, last_update_id, ts_venue, recv_ns)
        if levels:
            self.emit_levels(instrument, levels, last_update_id, ts_venue, recv_ns, snapshot=True)
        self.synced[symbol] = True
        sync.first_after_snapshot = True
        buffered, sync.buffer = sync.buffer, deque()
        for diff in buffered:
            if not self.synced.get(symbol):
                sync.buffer.append(diff)  # a resync began: keep buffering the rest
                continue
            self._apply_in_sync(
                instrument,
                sync,
                diff.first,
                diff.last,
                diff.previous,
                diff.bids,
                diff.asks,
                diff.ts_venue,
                diff.recv_ns,
            )
        if self.synced.get(symbol):
            self.mark(instrument, BookState.SYNCED, recv_ns)
        return True

    # -- trades and tickers ------------------------------------------------------
    def _on_trade(self, data: dict[str, Any], recv_ns: int) -> None:
        instrument = self.instrument(data["s"])
        try:
            price, qty = instrument.price(data["p"]), instrument.qty(data["q"])
        except ValueError as exc:
            self.rejected_value(f"trade {data.get('s')}: {exc}")
            return
        trade_id = int(data["a"] if data["e"] == "aggTrade" else data["t"])
        aggressor = ASK if data["m"] else BID  # buyer is maker -> the seller crossed the spread
        self.sink.trade(instrument.id, price, qty, trade_id, aggressor, int(data["T"]) * 1_000_000, recv_ns)

    def _on_book_ticker(self, data: dict[str, Any], recv_ns: int) -> None:
        instrument = self.instrument(data["s"])
        try:
            bid, bid_qty = instrument.price(data["b"]), instrument.qty(data["B"])
            ask, ask_qty = instrument.price(data["a"]), instrument.qty(data["A"])
        except ValueError as exc:
            self.rejected_value(f"bookTicker {data.get('s')}: {exc}")
            return
        ts_venue = int(data.get("E", 0)) * 1_000_000
        self.sink.bbo(instrument.id, bid, bid_qty, ask, ask_qty, int(data["u"]), ts_venue, recv_ns)


class BinanceFuturesAdapter(BinanceAdapter):
    """Binance USD-M futures (``wss://fstream.binance.com``): ``pu`` continuity."""

    venue = "binance-futures"
    futures = True
    ws_base = "wss://fstream.binance.com"
    rest_base = "https://fapi.binance.com"
    depth_path = "/fapi/v1/depth"
    depth_weights = FUTURES_DEPTH_WEIGHTS
    rest_weight_per_minute = FUTURES_WEIGHT_PER_MINUTE
