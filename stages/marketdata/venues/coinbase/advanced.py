"""Coinbase Advanced Trade (``wss://advanced-trade-ws.coinbase.com``): level2 books and market trades.

Subscriptions name one channel each: ``level2``, ``market_trades`` (both with
the products) and ``heartbeats`` (keeps the connection open when a product is
quiet). Every message has the same envelope::

    {"channel": "l2_data", "client_id": "", "timestamp": "2023-02-09T20:32:50.714964855Z",
     "sequence_num": 7, "events": [...]}

- ``l2_data`` events: ``{"type": "snapshot"|"update", "product_id": ..., "updates":
  [{"side": "bid"|"offer", "event_time", "price_level", "new_quantity"}]}``;
  ``new_quantity`` is the absolute size (``"0"`` removes the level). A snapshot
  clears the book and marks it SYNCED; each update event is one atomic update
  (update id: the message's ``sequence_num``; venue time: its ``timestamp``).
- ``market_trades`` events: ``{"type": "snapshot"|"update", "trades": [{"trade_id",
  "product_id", "price", "size", "side", "time"}]}``. Only ``update`` trades are
  passed on: a ``snapshot`` is the history from before the subscription, not
  new prints.
- ``heartbeats``, ``subscriptions``: acknowledged; ``{"type": "error"}``: counted
  and logged once.

**Trade side.** The Exchange feed documents ``side`` on ``match`` as the
maker's side. The Advanced Trade documentation of ``market_trades`` does not
say whose side ``side`` is; the published Advanced Trade schema describes it as
the taker side, and the widely used clients (cryptofeed, hummingbot) pass it
on unchanged as the taker side. This adapter therefore takes ``side`` as the
aggressor's (``BUY`` -> the aggressor bought, BID). Should Coinbase state
otherwise, flip :attr:`CoinbaseAdvancedAdapter.trade_side_is_maker`.

**Gap detection.** ``sequence_num`` counts every message of the connection,
across all channels. A message whose ``sequence_num`` is not the previous one
plus one means messages were lost (or reordered), and they may have been book
updates of any product: every product of the connection is marked RESYNCING
(one gap and one resync counted on each), its updates are ignored until its
next snapshot, and one resubscription to ``level2`` for all of them is
requested (:meth:`~stages.marketdata.venues.adapter.VenueAdapter.take_resubscribe_requests`).
The gap's own message is then handled normally (a snapshot in it syncs its
product again). An ``l2_data`` message that cannot be read is a loss too: its
product (or, if unreadable, every product) resyncs the same way. A crossed
book after an update resyncs its product.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

from hftpipe.schema.fixedpoint import FixedPointError
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BookSide, BookState
from stages.marketdata.venues.coinbase.base import CoinbaseAdapterBase
from stages.marketdata.venues.coinbase.fields import int_id, iso8601_ns

BID: Final = int(BookSide.BID)
ASK: Final = int(BookSide.ASK)
_BOOK_SIDES: Final = {"bid": BID, "offer": ASK, "ask": ASK}
_TAKER_SIDES: Final = {"BUY": BID, "SELL": ASK, "buy": BID, "sell": ASK}


class CoinbaseAdvancedAdapter(CoinbaseAdapterBase):
    """Coinbase Advanced Trade market data: ``level2`` + ``market_trades`` + ``heartbeats``."""

    venue = "coinbase-advanced"
    ws_url = "wss://advanced-trade-ws.coinbase.com"
    trade_side_is_maker = False
    """True would read ``market_trades`` ``side`` as the maker's side (as on the Exchange feed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._instruments: dict[str, Instrument] = {}
        self.last_sequence: int | None = None
        """``sequence_num`` of the last message of this connection (None: none yet)."""
        self.sequence_gaps = 0
        """Connection-level gaps seen (each also counted on every product's stats)."""

    # -- connection ----------------------------------------------------------
    def subscriptions(self, url: str) -> list[str]:
        if not self.symbols:
            return []
        products = list(self.symbols)
        return [
            orjson.dumps({"type": "subscribe", "product_ids": products, "channel": "level2"}).decode(),
            orjson.dumps({"type": "subscribe", "product_ids": products, "channel": "market_trades"}).decode(),
            orjson.dumps({"type": "subscribe", "channel": "heartbeats"}).decode(),
        ]

    def resubscribe_messages(self, symbols: Sequence[str]) -> list[str]:
        body = {"product_ids": list(symbols), "channel": "level2"}
        return [
            orjson.dumps({"type": "unsubscribe", **body}).decode(),
            orjson.dumps({"type": "subscribe", **body}).decode(),
        ]

    def on_disconnect(self, recv_ns: int) -> None:
        super().on_disconnect(recv_ns)
        self.last_sequence = None  # sequence_num starts again on a new connection

    # -- messages ------------------------------------------------------------
    def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        message = self.decode_object(raw)
        if message is None:
            return
        if message.get("type") == "error":
            self.venue_error(str(message.get("message")))
            return
        channel = message.get("channel")
        try:
            sequence = int_id(message["sequence_num"])
        except (KeyError, ValueError) as exc:
            # Without a usable sequence number this message cannot be placed: treat it as lost
            # (the next one shows the gap).
            self.malformed(f"{exc!r} in {str(raw)[:200]}")
            return
        if self.last_sequence is not None and sequence != self.last_sequence + 1:
            self._gap(sequence, recv_ns)
        self.last_sequence = sequence
        try:
            events = message["events"]
            if not isinstance(events, list):
                raise TypeError(f"events is {type(events).__name__}")
            if channel == "l2_data":
                self._on_l2_data(message, events, sequence, recv_ns)
            elif channel == "market_trades":
                self._on_market_trades(events, recv_ns)
            elif channel in ("heartbeats", "subscriptions"):
                pass
            else:
                self.unknown(str(raw)[:200])
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            self.malformed(f"{exc!r} in {str(raw)[:200]}")
            if channel == "l2_data":
                self._resync_all(recv_ns, "unreadable l2_data message")

    def _product(self, product: Any) -> Instrument:
        instrument = self._instruments.get(product)
        if instrument is None:
            if not isinstance(product, str) or not product:
                raise ValueError(f"bad product_id {product!r}")
            instrument = self._instruments[product] = self.instrument(product)
        return instrument

    # -- books -------------------------------------------------------------------
    def _on_l2_data(self, message: dict[str, Any], events: list[Any], sequence: int, recv_ns: int) -> None:
        ts_venue = iso8601_ns(message["timestamp"])
        for event in events:
            instrument = self._product(event["product_id"])  # unreadable: the caller resyncs everything
            kind, updates = event.get("type"), event.get("updates")
            if kind not in ("snapshot", "update") or not isinstance(updates, list):
                self.malformed(f"l2_data event {str(event)[:200]}")
                self.stats_for(instrument.symbol).messages += 1
                self.stats_for(instrument.symbol).dropped += 1
                if self.synced.get(instrument.symbol) or kind != "update":
                    self._resync(instrument, recv_ns, "unreadable l2_data event")
            elif kind == "snapshot":
                self._on_snapshot(instrument, updates, sequence, ts_venue, recv_ns)
            else:
                self._on_update(instrument, updates, sequence, ts_venue, recv_ns)

    def _parse_updates(self, instrument: Instrument, updates: list[Any]) -> list[tuple[int, int, int]]:
        """The event's levels; FixedPointError for a bad number, KeyError/TypeError for a bad shape."""
        price_of, qty_of = instrument.price, instrument.qty
        levels: list[tuple[int, int, int]] = []
        for update in updates:
            side = _BOOK_SIDES[update["side"]]
            price, qty = price_of(update["price_level"]), qty_of(update["new_quantity"])
            if price <= 0 or qty < 0:
                raise FixedPointError(f"level out of range: {update['price_level']!r} x {update['new_quantity']!r}")
            levels.append((side, price, qty))
        return levels

    def _on_snapshot(
        self, instrument: Instrument, updates: list[Any], sequence: int, ts_venue: int, recv_ns: int
    ) -> None:
        symbol = instrument.symbol
        stats = self.stats_for(symbol)
        stats.messages += 1
        self.snapshot_received(symbol)
        try:
            levels = self._parse_updates(instrument, updates)
        except (FixedPointError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, FixedPointError):
                self.rejected_value(f"snapshot {symbol}: {exc}")
            else:
                self.malformed(f"snapshot {symbol}: bad level ({exc!r})")
            stats.dropped += 1
            self._resync(instrument, recv_ns, "unusable snapshot")
            return
        self._apply_snapshot(instrument, levels, sequence, ts_venue, recv_ns)

    def _on_update(
        self, instrument: Instrument, updates: list[Any], sequence: int, ts_venue: int, recv_ns: int
    ) -> None:
        symbol = instrument.symbol
        stats = self.stats_for(symbol)
        stats.messages += 1
        if not self.synced.get(symbol):
            stats.dropped += 1  # no snapshot yet, or resyncing
            return
        if not updates:
            self.malformed(f"l2_data update with no updates for {symbol}")  # nothing lost: the book stays
            stats.dropped += 1
            return
        try:
            levels = self._parse_updates(instrument, updates)
        except FixedPointError as exc:
            self.rejected_value(f"update {symbol}: {exc}")
            stats.dropped += 1
            self._resync(instrument, recv_ns, "unusable update")
            return
        except (KeyError, TypeError, AttributeError) as exc:
            self.malformed(f"update {symbol}: bad level ({exc!r})")
            stats.dropped += 1
            self._resync(instrument, recv_ns, "unreadable update")
            return
        self._apply_update(instrument, levels, sequence, ts_venue, recv_ns)

    # -- resync ------------------------------------------------------------------
    def _connection_symbols(self) -> list[str]:
        """Every product of this connection: those subscribed and those seen."""
        return list(dict.fromkeys([*self.symbols, *self._instruments]))

    def _gap(self, sequence: int, recv_ns: int) -> None:
        self.sequence_gaps += 1
        self.logger.info("%s: sequence_num %d after %s: messages lost", self.venue, sequence, self.last_sequence)
        for instrument in self._instruments.values():
            stats = self.stats_for(instrument.symbol)
            stats.gaps += 1
            stats.resyncs += 1
            self.mark(instrument, BookState.RESYNCING, recv_ns)
        # A snapshot asked for earlier may be among the lost messages: ask again for everything.
        self.request_resubscribe(self._connection_symbols(), force=True)

    def _resync_all(self, recv_ns: int, why: str) -> None:
        self.logger.info("%s: resync all (%s)", self.venue, why)
        for instrument in self._instruments.values():
            self.stats_for(instrument.symbol).resyncs += 1
            self.mark(instrument, BookState.RESYNCING, recv_ns)
        self.request_resubscribe(self._connection_symbols(), force=True)

    # -- trades ------------------------------------------------------------------
    def _on_market_trades(self, events: list[Any], recv_ns: int) -> None:
        for event in events:
            if event["type"] == "snapshot":
                continue  # trades from before the subscription
            if event["type"] != "update":
                raise ValueError(f"market_trades event type {event['type']!r}")
            for trade in event["trades"]:
                self._on_trade(trade, recv_ns)

    def _on_trade(self, trade: dict[str, Any], recv_ns: int) -> None:
        instrument = self._product(trade["product_id"])
        side = _TAKER_SIDES.get(trade["side"])
        if side is None:
            self.malformed(f"trade side {trade['side']!r}")
            return
        aggressor = (ASK if side == BID else BID) if self.trade_side_is_maker else side
        try:
            price, qty = instrument.price(trade["price"]), instrument.qty(trade["size"])
            trade_id = int_id(trade["trade_id"])
            ts_venue = iso8601_ns(trade["time"])
        except (FixedPointError, ValueError) as exc:
            self.rejected_value(f"trade {instrument.symbol}: {exc}")
            return
        if price <= 0 or qty <= 0:
            self.rejected_value(f"trade {instrument.symbol}: {trade['price']!r} x {trade['size']!r}")
            return
        self.sink.trade(instrument.id, price, qty, trade_id, aggressor, ts_venue, recv_ns)
