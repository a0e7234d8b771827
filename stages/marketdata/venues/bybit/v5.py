"""Bybit v5 public streams: ``orderbook.{depth}.{symbol}`` and ``publicTrade.{symbol}``.

Book sync (Bybit v5 "Orderbook" docs):

1. After a subscription the venue pushes a ``snapshot``: reset the book to it.
2. Then ``delta`` messages carry absolute sizes per price; size ``"0"`` removes
   the level. Each message is one atomic update.
3. ``data.u`` is the update id: consecutive per topic, so a delta must have
   ``u == previous u + 1``. A ``u`` at or below the last one is a repeat
   (dropped); a jump is a gap: the book is RESYNCING. Bybit v5 has no REST
   snapshot that lines up with the stream, so the adapter asks (through
   :meth:`~stages.marketdata.venues.adapter.VenueAdapter.take_resubscribe_requests`) for the
   topic to be resubscribed; the snapshot that answers it re-syncs the book.
   Until then every delta of that symbol is dropped.
4. ``u == 1`` means the service restarted: the message is a full book, whatever
   its ``type`` says, and overwrites the local one.
5. A snapshot is also re-sent unprompted (depth 1 re-sends it every 3 s without
   a change, with the same ``u``); any snapshot simply resets the book.
6. The venue maintains only the best ``depth`` levels per side and does not
   always send a removal for a level pushed out of that range by a better one,
   so after every update the book is cut to the depth named in the topic; the
   cut levels go to the sink as removals inside the same atomic update
   (``emit_levels(..., depth=...)``).

``publicTrade`` entries become trades: ``S`` is the taker's side (``"Buy"``:
the buyer crossed the spread, aggressor BID); ``i`` is the trade id, a decimal
string on spot and a UUID on derivatives, mapped by :func:`trade_id_from`.
Block trades (``BT``) are passed on like any other trade.

``op`` answers (subscribe acks, pongs) are silent; a failed one is logged and
counted in :attr:`~stages.marketdata.venues.bybit.base.BybitAdapterBase.failed_requests`.

Venue timestamps: books use ``ts`` (when the market-data service generated the
message), trades ``T`` (the match time); both are ms, passed on as ns.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from hftpipe.schema.fixedpoint import INT64_MAX
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BookState
from stages.marketdata.venues.bybit import base
from stages.marketdata.venues.bybit.base import BAD_SHAPE, BybitAdapterBase, TopicSync
from stages.marketdata.venues.bybit.fields import ASK, BID, TAKER_SIDES, trade_id_from, unsigned

PUBLIC_URLS: Final = {
    "spot": "wss://stream.bybit.com/v5/public/spot",
    "linear": "wss://stream.bybit.com/v5/public/linear",
    "inverse": "wss://stream.bybit.com/v5/public/inverse",
    "option": "wss://stream.bybit.com/v5/public/option",
}
BOOK_DEPTHS: Final = {
    "spot": (1, 50, 200, 1000),
    "linear": (1, 50, 200, 1000),
    "inverse": (1, 50, 200, 1000),
    "option": (25, 100),
}
MAX_ARGS_PER_SUBSCRIBE: Final = 10
"""Bybit v5 spot refuses a subscribe request with more than 10 topics; the other categories accept it too."""


def ms_to_ns(value: Any, what: str) -> int:
    if type(value) is not int:
        raise TypeError(f"{what} must be integer milliseconds, got {value!r}")
    if not 0 <= value <= INT64_MAX // 1_000_000:
        raise ValueError(f"{what} out of range: {value}")
    return value * 1_000_000


def parse_side(
    instrument: Instrument, side: int, raw_levels: Any, out: list[tuple[int, int, int]], prices: dict[str, int]
) -> None:
    """``[["price", "size"], ...]`` -> ``out``; TypeError for a wrong shape, ValueError for a bad value.

    Stricter than ``VenueAdapter.parse_levels``: a level that is a string or a
    dict would index into characters or keys there and yield a wrong level.
    ``prices`` caches price text -> fixed point (the same prices recur).
    """
    if type(raw_levels) is not list:
        raise TypeError(f"levels must be a list, got {type(raw_levels).__name__}")
    qty_of = instrument.qty
    for level in raw_levels:
        if type(level) is not list or len(level) != 2:
            raise TypeError(f"a level must be [price, size], got {level!r}")
        text = level[0]
        price = prices.get(text) if type(text) is str else None
        if price is None:
            price = instrument.price(text)
            if price <= 0:
                raise ValueError(f"price out of range: {text!r}")
            if len(prices) >= base.PRICE_CACHE_SIZE:
                prices.clear()
            prices[text] = price
        qty = qty_of(level[1])
        if qty < 0:
            raise ValueError(f"size out of range: {level[1]!r}")
        out.append((side, price, qty))


class BybitAdapter(BybitAdapterBase):
    """Bybit v5 public market data for one category (``spot``, ``linear``, ``inverse``, ``option``).

    ``depth`` (the base class's argument) picks the book subscription: the
    smallest depth Bybit offers for the category that is at least ``depth``.
    """

    venue = "bybit"

    def __init__(self, *args: Any, category: str = "linear", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if category not in PUBLIC_URLS:
            raise ValueError(f"unknown Bybit category {category!r}; expected one of {sorted(PUBLIC_URLS)}")
        self.category = category
        self.ws_url = PUBLIC_URLS[category]
        depths = BOOK_DEPTHS[category]
        self.book_depth = next((d for d in depths if d >= self.depth), depths[-1])

    # -- connection ----------------------------------------------------------
    def subscriptions(self, url: str) -> list[str]:
        topics: list[str] = []
        for symbol in self.symbols:
            topics += [f"orderbook.{self.book_depth}.{symbol}", f"publicTrade.{symbol}"]
        return [
            orjson.dumps({"op": "subscribe", "args": topics[i : i + MAX_ARGS_PER_SUBSCRIBE]}).decode()
            for i in range(0, len(topics), MAX_ARGS_PER_SUBSCRIBE)
        ]

    # -- messages ------------------------------------------------------------
    def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        message = self.decode_object(raw)
        if message is None:
            return
        topic = message.get("topic")
        try:
            if not isinstance(topic, str):
                if topic is None and "op" in message:
                    self.on_op_answer(message)
                else:
                    self.malformed(str(raw)[:200])
            elif topic.startswith("orderbook."):
                self._on_book(topic, message, recv_ns)
            elif topic.startswith("publicTrade."):
                self._on_trades(message, recv_ns)
            else:
                self.unknown(str(raw)[:200])
        except BAD_SHAPE as exc:
            self.malformed(f"{exc!r} in {str(raw)[:200]}")
        except ValueError as exc:
            self.rejected_value(f"{exc} in {str(raw)[:200]}")

    def _on_book(self, topic: str, message: dict[str, Any], recv_ns: int) -> None:
        parts = topic.split(".", 2)
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2]:
            self.malformed(f"bad book topic {topic[:100]!r}")
            return
        symbol = parts[2]
        instrument = self.instrument(symbol)
        self.stats_for(symbol).messages += 1
        sync = self._books.get(symbol)
        if sync is None or sync.topic != topic:
            sync = self._books[symbol] = TopicSync(topic, int(parts[1]))
        snapshot = False
        levels: list[tuple[int, int, int]] = []
        try:
            kind = message["type"]
            data = message["data"]
            if data.get("s", symbol) != symbol:
                raise ValueError(f"data for {data['s']!r} on topic {topic!r}")
            update_id = unsigned(data["u"], "u")
            ts_venue = ms_to_ns(message.get("ts", 0), "ts")
            snapshot = kind == "snapshot" or update_id == 1  # u == 1: the service restarted, a full book
            if not snapshot:
                if kind != "delta":
                    raise ValueError(f"unknown book message type {kind!r}")
                if sync.awaiting_snapshot or update_id <= sync.last_id:
                    self.stats_for(symbol).dropped += 1  # not synced yet, or a repeat
                    return
                if update_id != sync.last_id + 1:
                    self.resync(instrument, sync, f"gap: u={update_id} after {sync.last_id}", recv_ns)
                    return
            parse_side(instrument, BID, data["b"], levels, sync.prices)
            parse_side(instrument, ASK, data["a"], levels, sync.prices)
        except (*BAD_SHAPE, ValueError) as exc:
            self.reject_book_message(instrument, sync, snapshot, recv_ns, exc)
            return
        if snapshot:
            self._snapshot(instrument, sync, levels, update_id, ts_venue, recv_ns)
        else:
            self._delta(instrument, sync, levels, update_id, ts_venue, recv_ns)

    def _snapshot(
        self,
        instrument: Instrument,
        sync: TopicSync,
        levels: list[tuple[int, int, int]],
        update_id: int,
        ts_venue: int,
        recv_ns: int,
    ) -> None:
        self.snapshot_received(instrument.symbol)
        self.begin_snapshot(instrument, update_id, ts_venue, recv_ns)
        replica = self.emit_levels(instrument, levels, update_id, ts_venue, recv_ns, snapshot=True, depth=sync.depth)
        sync.last_id = update_id
        sync.awaiting_snapshot = False
        if replica.is_crossed():
            self.problems.problem(self.logger, "crossed book", instrument.symbol)
            self.resync(instrument, sync, "crossed snapshot", recv_ns)
            return
        self.mark(instrument, BookState.SYNCED, recv_ns)

    def _delta(
        self,
        instrument: Instrument,
        sync: TopicSync,
        levels: list[tuple[int, int, int]],
        update_id: int,
        ts_venue: int,
        recv_ns: int,
    ) -> None:
        replica = self.emit_levels(instrument, levels, update_id, ts_venue, recv_ns, depth=sync.depth)
        sync.last_id = update_id
        if levels and replica.is_crossed():
            self.problems.problem(self.logger, "crossed book", instrument.symbol)
            self.resync(instrument, sync, "crossed book", recv_ns)
            return
        self.stats_for(instrument.symbol).applied += 1

    def _on_trades(self, message: dict[str, Any], recv_ns: int) -> None:
        symbol = message["topic"][len("publicTrade.") :]
        trades = message["data"]
        if not symbol or not isinstance(trades, list) or not trades:
            raise TypeError("publicTrade needs a symbol and a non-empty list of trades")
        instrument = self.instrument(symbol)
        sink_trade = self.sink.trade
        for entry in trades:
            try:
                if entry.get("s", symbol) != symbol:
                    raise ValueError(f"trade of {entry['s']!r} on the topic of {symbol!r}")
                price, qty = instrument.price(entry["p"]), instrument.qty(entry["v"])
                if price <= 0 or qty <= 0:
                    raise ValueError(f"trade out of range: {entry['p']!r} x {entry['v']!r}")
                aggressor = TAKER_SIDES.get(entry["S"])
                if aggressor is None:
                    raise ValueError(f"unknown taker side {entry['S']!r}")
                trade_id = trade_id_from(entry["i"])
                ts_venue = ms_to_ns(entry["T"], "T")
            except BAD_SHAPE as exc:
                self.malformed(f"trade: {exc!r} in {str(entry)[:200]}")
                continue
            except ValueError as exc:
                self.rejected_value(f"trade: {exc}")
                continue
            sink_trade(instrument.id, price, qty, trade_id, aggressor, ts_venue, recv_ns)
