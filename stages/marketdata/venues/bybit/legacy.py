"""Bybit legacy inverse (v2) realtime stream: ``orderBookL2_25.{symbol}`` and ``trade.{symbol}``.

The format of ``shared/data/captures/BYBIT.ws.26.0``:

* ``orderBookL2_25`` ``snapshot``: ``data`` is the whole book, a list of levels
  ``{"price": "60616.50", "symbol", "id": 606165000, "side": "Buy"|"Sell",
  "size": 8163986}``; ``delta``: ``data`` is ``{"delete": [...], "update":
  [...], "insert": [...]}``. Both carry ``cross_seq`` and ``timestamp_e6``.
* Levels are keyed by ``id``: a delete may name only ``id``/``side``/``symbol``,
  so the adapter keeps ``id -> (side, price)`` per symbol. Sizes are contracts,
  integer JSON numbers (qty scale 0); prices are decimal strings.
* One delta is one atomic update (deletes, then updates, then inserts; END on
  the last level). ``cross_seq`` increases but is not contiguous (it counts
  every matching-engine event, not the book's), so it only orders: a delta at
  or below the last applied one is a repeat and is dropped.
* The venue keeps 25 levels per side and sends the deletes and inserts that
  keep it there, so the adapter never cuts the book itself: if a side grows
  past 25, or a delete/update names an unknown id, or an insert a known one,
  or an update moves a level's price or side, or an id shares a price with
  another, the replica no longer is the venue's book. That, and a crossed
  book, is an inconsistency: counted, the book is RESYNCING, its deltas are
  dropped, and a resubscription is requested (the venue answers with a new
  snapshot; see :meth:`~stages.marketdata.venues.adapter.VenueAdapter.take_resubscribe_requests`).
* ``trade``: ``data`` is a list of ``{"trade_time_ms", "symbol", "side" (the
  taker's), "size", "price" (a JSON *number* here), "trade_id" (a UUID)}``.
  Trade messages are parsed with ``json.loads(parse_float=str)`` so the price
  keeps its decimal digits exactly; the trade id becomes its first 16 hex
  digits (:func:`~stages.marketdata.venues.bybit.fields.trade_id_from`).
* ``{"success": ..., "request": ...}`` answers a subscription: silent, and a
  refusal is logged and counted in ``failed_requests``.

Book messages go through orjson (6x faster than ``json`` on this capture);
their numbers are integers, and a float where an integer belongs is rejected.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

from hftpipe.schema.fixedpoint import INT64_MAX
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BookState
from stages.marketdata.venues.bybit import base
from stages.marketdata.venues.bybit.base import BAD_SHAPE, BybitAdapterBase, TopicSync
from stages.marketdata.venues.bybit.fields import ASK, BID, TAKER_SIDES, trade_id_from, unsigned

BOOK_PREFIX: Final = "orderBookL2_25."
TRADE_PREFIX: Final = "trade."
BOOK_DEPTH: Final = 25
LEVEL_SIDES: Final = {"Buy": BID, "Sell": ASK}



class _InconsistentError(Exception):
    """The delta does not fit the book the adapter holds."""


def _number_text(value: Any, what: str) -> str:
    """A price or size as decimal text: strings as sent, integers as written; floats never."""
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise TypeError(f"{what} must be a decimal string or an integer, got {value!r}")


class BybitLegacyAdapter(BybitAdapterBase):
    """Bybit inverse perpetuals on the legacy realtime endpoint (``orderBookL2_25`` + ``trade``)."""

    venue = "bybit-legacy"
    default_price_scale = 8
    default_qty_scale = 0
    ws_url = "wss://stream.bybit.com/realtime"

    # -- connection ----------------------------------------------------------
    def subscriptions(self, url: str) -> list[str]:
        topics = [f"{BOOK_PREFIX}{s}" for s in self.symbols] + [f"{TRADE_PREFIX}{s}" for s in self.symbols]
        return [orjson.dumps({"op": "subscribe", "args": topics}).decode()] if topics else []

    # -- messages ------------------------------------------------------------
    def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        message = self.decode_object(raw)
        if message is None:
            return
        topic = message.get("topic")
        try:
            if isinstance(topic, str) and topic.startswith(BOOK_PREFIX):
                self._on_book(topic[len(BOOK_PREFIX) :], message, recv_ns)
            elif isinstance(topic, str) and topic.startswith(TRADE_PREFIX):
                # Again, exactly: orjson has already turned the prices into binary floats.
                self._on_trades(topic[len(TRADE_PREFIX) :], json.loads(raw, parse_float=str), recv_ns)
            elif topic is None and "success" in message:
                self.on_op_answer(message)
            elif isinstance(topic, str):
                self.unknown(str(raw)[:200])
            else:
                self.malformed(str(raw)[:200])
        except BAD_SHAPE as exc:
            self.malformed(f"{exc!r} in {str(raw)[:200]}")
        except (ValueError, RecursionError) as exc:
            self.rejected_value(f"{exc} in {str(raw)[:200]}")

    def _on_book(self, symbol: str, message: dict[str, Any], recv_ns: int) -> None:
        if not symbol:
            self.malformed("book topic without a symbol")
            return
        instrument = self.instrument(symbol)
        stats = self.stats_for(symbol)
        stats.messages += 1
        sync = self._books.get(symbol)
        if sync is None:
            sync = self._books[symbol] = TopicSync(BOOK_PREFIX + symbol, BOOK_DEPTH)
        kind = message.get("type")
        snapshot = kind == "snapshot"
        if snapshot:
            self.snapshot_received(symbol)
        try:
            cross_seq = unsigned(message["cross_seq"], "cross_seq")
            ts_venue = unsigned(message.get("timestamp_e6", 0), "timestamp_e6")
            if ts_venue > INT64_MAX // 1000:
                raise ValueError(f"timestamp_e6 out of range: {ts_venue}")
            ts_venue *= 1000
            data = message["data"]
            if snapshot:
                levels, ids = self._parse_snapshot(instrument, data, sync.prices)
            elif kind == "delta":
                if sync.awaiting_snapshot or cross_seq <= sync.last_id:
                    stats.dropped += 1  # not synced yet, or a repeat
                    return
                levels = self._parse_delta(instrument, sync, data)
            else:
                raise ValueError(f"unknown book message type {kind!r}")
        except _InconsistentError as exc:
            self.problems.problem(self.logger, "inconsistent book", f"{symbol}: {exc}")
            self.resync(instrument, sync, str(exc), recv_ns)
            return
        except (*BAD_SHAPE, ValueError) as exc:
            self.reject_book_message(instrument, sync, snapshot, recv_ns, exc)
            return
        if snapshot:
            sync.ids = ids
            self.begin_snapshot(instrument, cross_seq, ts_venue, recv_ns)
            if levels:
                self.emit_levels(instrument, levels, cross_seq, ts_venue, recv_ns, snapshot=True)
        elif levels:
            self.emit_levels(instrument, levels, cross_seq, ts_venue, recv_ns)
        else:
            self.update_ids[symbol] = cross_seq
        sync.last_id = cross_seq
        problem, detail = self._check(instrument, sync)
        if problem:
            sync.awaiting_snapshot = False  # so that resync counts it and marks the book
            self.problems.problem(self.logger, problem, f"{symbol}: {detail}")
            self.resync(instrument, sync, detail, recv_ns)
            return
        if snapshot:
            sync.awaiting_snapshot = False
            self.mark(instrument, BookState.SYNCED, recv_ns)
        else:
            stats.applied += 1

    def _check(self, instrument: Instrument, sync: TopicSync) -> tuple[str, str]:
        """``(problem kind, detail)`` of the book after an update; ``("", "")`` if it is sound."""
        replica = self.replicas[instrument.id]
        bids, asks = replica.depth()
        if bids + asks != len(sync.ids):
            return "inconsistent book", "two ids share a price"
        if bids > sync.depth or asks > sync.depth:
            return "inconsistent book", f"{bids} x {asks} levels, more than the venue's {sync.depth}"
        if replica.is_crossed():
            return "crossed book", "crossed book"
        return "", ""

    # -- parsing ---------------------------------------------------------------
    @staticmethod
    def _level(instrument: Instrument, entry: Any, prices: dict[str, int]) -> tuple[Any, int, int, int]:
        """A full level entry -> ``(id, side, price, qty)``; ``prices`` caches parsed price texts."""
        level_id = entry["id"]
        if type(level_id) is not int and type(level_id) is not str:
            raise TypeError(f"level id must be an integer or a string, got {level_id!r}")
        side = LEVEL_SIDES.get(entry["side"])
        if side is None:
            raise ValueError(f"unknown side {entry['side']!r}")
        text = entry["price"]
        price = prices.get(text) if type(text) is str else None
        if price is None:
            price = instrument.price(_number_text(text, "price"))
            if price <= 0:
                raise ValueError(f"price out of range: {text!r}")
            if type(text) is str:
                if len(prices) >= base.PRICE_CACHE_SIZE:
                    prices.clear()
                prices[text] = price
        size = entry["size"]
        if type(size) is int and instrument.qty_scale == 0 and 0 <= size <= INT64_MAX:
            return level_id, side, price, size  # contracts, the usual case: no text round trip
        qty = instrument.qty(_number_text(size, "size"))
        if qty < 0:
            raise ValueError(f"size out of range: {size!r}")
        return level_id, side, price, qty

    def _parse_snapshot(
        self, instrument: Instrument, data: Any, prices: dict[str, int]
    ) -> tuple[list[tuple[int, int, int]], dict[Any, tuple[int, int]]]:
        if type(data) is not list:
            raise TypeError("snapshot data must be a list of levels")
        levels: list[tuple[int, int, int]] = []
        ids: dict[Any, tuple[int, int]] = {}
        for entry in data:
            level_id, side, price, qty = self._level(instrument, entry, prices)
            if qty == 0:
                raise ValueError(f"snapshot level {level_id!r} has size 0")
            if level_id in ids:
                raise _InconsistentError(f"snapshot repeats id {level_id!r}")
            ids[level_id] = (side, price)
            levels.append((side, price, qty))
        return levels, ids

    def _parse_delta(self, instrument: Instrument, sync: TopicSync, data: Any) -> list[tuple[int, int, int]]:
        """The delta's levels, in order; ``sync.ids`` is updated as it goes.

        On an exception ``sync.ids`` may be half updated; it does not matter,
        as the book then waits for a snapshot, which replaces it.
        """
        if type(data) is not dict:
            raise TypeError("delta data must be an object")
        deletes, updates, inserts = data.get("delete"), data.get("update"), data.get("insert")
        if deletes is None and updates is None and inserts is None:
            raise KeyError("delta without delete, update or insert")
        ids = sync.ids
        prices = sync.prices
        levels: list[tuple[int, int, int]] = []
        for entry in deletes or ():
            known = ids.pop(entry["id"], None)
            if known is None:
                raise _InconsistentError(f"delete of unknown id {entry['id']!r}")
            side = entry.get("side")
            if side is not None and LEVEL_SIDES.get(side) != known[0]:
                raise _InconsistentError(f"delete of id {entry['id']!r} on the other side")
            levels.append((known[0], known[1], 0))
        for entry in updates or ():
            level_id, side, price, qty = self._level(instrument, entry, prices)
            known = ids.get(level_id)
            if known is None:
                raise _InconsistentError(f"update of unknown id {level_id!r}")
            if known != (side, price):
                raise _InconsistentError(f"update moves id {level_id!r}")
            if qty == 0:
                del ids[level_id]  # an empty level is a removed one
            levels.append((side, price, qty))
        for entry in inserts or ():
            level_id, side, price, qty = self._level(instrument, entry, prices)
            if level_id in ids:
                raise _InconsistentError(f"insert of known id {level_id!r}")
            if qty == 0:
                raise ValueError(f"insert of id {level_id!r} with size 0")
            ids[level_id] = (side, price)
            levels.append((side, price, qty))
        return levels

    # -- trades ----------------------------------------------------------------
    def _on_trades(self, symbol: str, message: Any, recv_ns: int) -> None:
        trades = message["data"]
        if not symbol or type(trades) is not list or not trades:
            raise TypeError("a trade message needs a symbol and a non-empty list of trades")
        instrument = self.instrument(symbol)
        sink_trade = self.sink.trade
        for entry in trades:
            try:
                if entry.get("symbol", symbol) != symbol:
                    raise ValueError(f"trade of {entry['symbol']!r} on the topic of {symbol!r}")
                price = instrument.price(_number_text(entry["price"], "price"))
                qty = instrument.qty(_number_text(entry["size"], "size"))
                if price <= 0 or qty <= 0:
                    raise ValueError(f"trade out of range: {entry['price']!r} x {entry['size']!r}")
                aggressor = TAKER_SIDES.get(entry["side"])
                if aggressor is None:
                    raise ValueError(f"unknown taker side {entry['side']!r}")
                trade_id = trade_id_from(entry["trade_id"])
                ms = unsigned(entry["trade_time_ms"], "trade_time_ms")
                if ms > INT64_MAX // 1_000_000:
                    raise ValueError(f"trade_time_ms out of range: {ms}")
            except BAD_SHAPE as exc:
                self.malformed(f"trade: {exc!r} in {str(entry)[:200]}")
                continue
            except ValueError as exc:
                self.rejected_value(f"trade: {exc}")
                continue
            sink_trade(instrument.id, price, qty, trade_id, aggressor, ms * 1_000_000, recv_ns)
