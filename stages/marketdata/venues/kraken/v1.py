"""Kraken spot WebSocket v1 (``wss://ws.kraken.com``): ``book-N`` and ``trade`` channels as arrays of strings.

The book rules (truncation, checksum, resync) are Kraken's, shared with v2 in
:mod:`stages.marketdata.venues.kraken.base`. v1 numbers are strings, written
at the pair's decimals, and times are seconds with a fraction
(``"1618678123.481570"``). v1 trades have no id: they are numbered by a
running per-pair counter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import chain
from typing import Any, Final

import orjson

from hftpipe.schema.fixedpoint import MAX_SCALE
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BookSide
from stages.marketdata.venues.kraken.base import KrakenAdapterBase
from stages.marketdata.venues.kraken.decimals import max_decimals
from stages.marketdata.venues.kraken.pair_book import PairBook

BID: Final = int(BookSide.BID)
ASK: Final = int(BookSide.ASK)


def seconds_to_ns(text: str) -> int:
    """``"1618678123.481570"`` (v1 times) -> nanoseconds since the epoch, exactly."""
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or not (frac.isdigit() or frac == ""):
        raise ValueError(f"not a time in seconds: {text!r}")
    return int(whole) * 1_000_000_000 + (int(frac[:9].ljust(9, "0")) if frac else 0)


class KrakenV1Adapter(KrakenAdapterBase):
    """Kraken spot WebSocket v1 (``wss://ws.kraken.com``): ``book-N`` and ``trade`` channels.

    Channel messages are arrays ``[channelID, payload..., channelName, pair]``:
    a book snapshot ``{"as": [...], "bs": [...]}``, or an update made of one or
    two dicts ``{"a": [...]}`` / ``{"b": [...], "c": "crc"}``; levels are
    ``[price, volume, time(, "r")]`` strings. Trades are
    ``[[price, volume, time, side, orderType, misc], ...]``. Events
    (``systemStatus``, ``subscriptionStatus``, ``heartbeat``, ``pong``) are
    handled silently; a subscription error is logged.
    """

    venue = "kraken"
    ws_url = "wss://ws.kraken.com"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trade_ids: dict[str, int] = {}

    # -- connection ----------------------------------------------------------
    def subscriptions(self, url: str) -> list[str]:
        if not self.symbols:
            return []
        pairs = list(self.symbols)
        return [
            json.dumps({"event": "subscribe", "pair": pairs, "subscription": {"name": "book", "depth": self.depth}}),
            json.dumps({"event": "subscribe", "pair": pairs, "subscription": {"name": "trade"}}),
        ]

    def resubscribe_messages(self, symbols: Sequence[str]) -> list[str]:
        if not symbols:
            return []
        pairs = list(symbols)
        book = {"name": "book", "depth": self.depth}
        return [
            json.dumps({"event": "unsubscribe", "pair": pairs, "subscription": book}),
            json.dumps({"event": "subscribe", "pair": pairs, "subscription": book}),
        ]

    # -- messages ------------------------------------------------------------
    def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.malformed(str(raw)[:200])
            return
        try:
            if isinstance(message, list):
                self._on_channel_message(message, recv_ns)
            elif isinstance(message, dict):
                self._on_event(message, raw)
            else:
                self.malformed(str(raw)[:200])
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            self.malformed(f"{exc!r} in {str(raw)[:200]}")

    def _on_event(self, message: dict[str, Any], raw: str | bytes) -> None:
        event = message.get("event")
        if event in ("heartbeat", "systemStatus", "pong"):
            return
        if event == "subscriptionStatus":
            if message.get("status") == "error":
                self.logger.warning("kraken subscription error: %s", str(raw)[:300])
            return
        if event == "error":
            self.logger.warning("kraken error: %s", str(raw)[:300])
            return
        self.unknown(str(raw)[:200])

    def _on_channel_message(self, message: list[Any], recv_ns: int) -> None:
        if len(message) < 4:
            self.malformed(str(message)[:200])
            return
        channel, pair = message[-2], message[-1]
        if not isinstance(channel, str) or not isinstance(pair, str):
            self.malformed(str(message)[:200])
            return
        if channel.startswith("book-"):
            try:
                self._on_book(message, channel, pair, recv_ns)
            except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
                self.malformed(f"{exc!r} in {str(message)[:200]}")
                self._unusable(pair, recv_ns, "malformed book message")
        elif channel == "trade":
            self._on_trades(pair, message[1], recv_ns)
        else:
            self.unknown(str(message)[:200])

    def _instrument_for(self, pair: str, levels: Sequence[Sequence[Any]]) -> Instrument:
        """The pair's instrument, registered on first sight at the decimals of its venue strings."""
        try:
            return self.registry.by_symbol(self.venue, pair)
        except KeyError:
            pass
        price_decimals = max_decimals(level[0] for level in levels)
        qty_decimals = max_decimals(level[1] for level in levels)
        if (price_decimals or 0) > MAX_SCALE or (qty_decimals or 0) > MAX_SCALE:
            raise ValueError(f"{pair}: more than {MAX_SCALE} decimals")
        return self.instrument(pair, price_decimals, qty_decimals)

    def _on_book(self, message: list[Any], channel: str, pair: str, recv_ns: int) -> None:
        payloads = message[1:-2]
        try:
            depth = int(channel[5:])
        except ValueError:
            depth = self.depth
        first = payloads[0]
        if "as" in first or "bs" in first:
            self._on_snapshot_message(pair, depth, first.get("as", []), first.get("bs", []), recv_ns)
            return
        raw_asks: list[Any] = []
        raw_bids: list[Any] = []
        checksum: int | None = None
        for payload in payloads:
            if not isinstance(payload, dict) or not payload.keys() & {"a", "b", "c"}:
                raise TypeError("book update part is not an a/b/c map")
            if "a" in payload:
                raw_asks = payload["a"]
            if "b" in payload:
                raw_bids = payload["b"]
            if "c" in payload:
                checksum = int(payload["c"])
        book = self._books.get(pair)
        if book is None:  # an update before any snapshot: register the pair all the same
            book = self._book(pair, self._instrument_for(pair, [*raw_asks, *raw_bids]), depth)
        instrument = book.instrument
        stats = self.stats_for(pair)
        stats.messages += 1
        if not book.synced:
            stats.dropped += 1  # before the first snapshot, or while a resubscription is pending
            return
        levels: list[tuple[int, int, int]] = []
        try:
            self.parse_levels(instrument, ASK, raw_asks, levels)
            self.parse_levels(instrument, BID, raw_bids, levels)
            ts_venue = max(seconds_to_ns(level[2]) for level in chain(raw_asks, raw_bids)) if levels else 0
        except ValueError as exc:
            self.rejected_value(f"{pair}: {exc}")
            self._resync(book, recv_ns, "unusable update")
            return
        if book.price_shift is None and levels:
            self._learn_decimals(book, [*raw_asks, *raw_bids])
        self._apply_update(book, levels, ts_venue, recv_ns, checksum)

    def _learn_decimals(self, book: PairBook, levels: Sequence[Sequence[Any]]) -> None:
        price_decimals = max_decimals(level[0] for level in levels)
        qty_decimals = max_decimals(level[1] for level in levels)
        if price_decimals is not None and qty_decimals is not None:
            book.set_shifts(book.instrument.price_scale - price_decimals, book.instrument.qty_scale - qty_decimals)

    def _on_snapshot_message(
        self, pair: str, depth: int, raw_asks: list[Any], raw_bids: list[Any], recv_ns: int
    ) -> None:
        stats_levels = [*raw_asks, *raw_bids]
        try:
            instrument = self._instrument_for(pair, stats_levels)
        except ValueError as exc:
            self.rejected_value(f"{pair} snapshot: {exc}")
            return
        book = self._book(pair, instrument, depth)
        self.snapshot_received(pair)
        self.stats_for(pair).messages += 1
        levels: list[tuple[int, int, int]] = []
        try:
            self.parse_levels(instrument, ASK, raw_asks, levels)
            self.parse_levels(instrument, BID, raw_bids, levels)
            ts_venue = max((seconds_to_ns(level[2]) for level in stats_levels), default=0)
        except ValueError as exc:
            self.rejected_value(f"{pair} snapshot: {exc}")
            self._resync(book, recv_ns, "unusable snapshot")
            return
        book.set_shifts(None, None)
        self._learn_decimals(book, stats_levels)
        self._apply_snapshot(book, levels, ts_venue, recv_ns, None)

    # -- trades ------------------------------------------------------------------
    def _on_trades(self, pair: str, trades: list[Any], recv_ns: int) -> None:
        if not isinstance(trades, list):
            raise TypeError("trade payload is not a list")
        for trade in trades:
            # Numbered on receipt, bad or not, so the ids follow the venue's sequence.
            trade_id = self._trade_ids[pair] = self._trade_ids.get(pair, 0) + 1
            try:
                instrument = self._instrument_for(pair, [trade])
                price, qty = instrument.price(trade[0]), instrument.qty(trade[1])
                side = trade[3]
                if price <= 0 or qty <= 0 or side not in ("b", "s"):
                    raise ValueError(f"trade out of range: {trade[0]!r} x {trade[1]!r} side {side!r}")
                ts_venue = seconds_to_ns(trade[2])
            except ValueError as exc:
                self.rejected_value(f"{pair} trade: {exc}")
                continue
            aggressor = BID if side == "b" else ASK  # "b": the buyer took liquidity
            self.sink.trade(instrument.id, price, qty, trade_id, aggressor, ts_venue, recv_ns)
