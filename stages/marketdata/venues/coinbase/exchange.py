"""Coinbase Exchange (``wss://ws-feed.exchange.coinbase.com``): level2 books, ticker BBO, matches.

One connection carries every product. After ``subscribe`` the venue sends,
per product:

- ``snapshot``: the whole book, ``bids``/``asks`` as ``[[price, size], ...]``;
  it clears the book and marks it SYNCED;
- ``l2update``: ``changes`` as ``[[side, price, size], ...]``, ``side`` being
  ``buy`` (bid) or ``sell`` (ask), ``size`` the new absolute size (``"0"``
  removes the level); each message is one atomic update (the last level
  carries END);
- ``ticker``: ``best_bid``/``best_ask`` (and ``best_bid_size``/``best_ask_size``
  on today's feed; older captures lack them and send 0) with the product's
  ``sequence`` as update id, passed on as BBO;
- ``match``/``last_match``: a trade; ``side`` is the *maker's* side (``buy``
  means a resting bid was hit), so the aggressor is the opposite side;
- ``subscriptions``, ``heartbeat``: acknowledged and ignored; ``error``:
  counted (:attr:`CoinbaseAdapter.venue_errors`) and logged once.

**No gap detection is possible.** The level2 channel carries no sequence
numbers (only the ``full`` channel does, and ``ticker``/``match`` sequences
belong to that stream, not to level2), so a lost ``l2update`` cannot be seen
on the wire. The adapter therefore trusts the connection and guards what it
can: an ``l2update`` before the product's snapshot is dropped (the book stays
RESYNCING); an update it cannot read, or one that leaves the book crossed
(best bid >= best ask), means the book is no longer known: the product is
marked RESYNCING, its further updates are ignored until its next snapshot,
and a resubscription is requested (see
:meth:`~stages.marketdata.venues.adapter.VenueAdapter.take_resubscribe_requests`): whoever
owns the connection sends the ``unsubscribe``/``subscribe`` pair it carries,
and the venue answers with a fresh ``snapshot``.

Coinbase writes numbers with as many decimals as the product needs. Prices and
sizes use the adapter's default scale 8 (enough for every product in the
shipped capture); a product first seen in a snapshot whose strings need more
decimals is registered with a scale that fits them (instrument scales cannot
change after registration; a later value with more decimals is a rejected
value).

Book update ids are the adapter's own per-product counter (one step per
snapshot or applied update, never reset), since the venue sends none.

Coinbase now requires authentication for ``level2``, so the adapter subscribes
to the unauthenticated ``level2_batch`` channel, which sends the same
``snapshot``/``l2update`` messages in 50 ms batches (the shipped capture used
``level2``; the messages parse identically). Set
:attr:`CoinbaseAdapter.level2_channel` to ``"level2"`` with an authenticated
connection for unbatched updates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

from hftpipe.schema.fixedpoint import MAX_SCALE, FixedPointError
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BookSide
from stages.marketdata.venues.coinbase.base import CoinbaseAdapterBase
from stages.marketdata.venues.coinbase.fields import int_id, iso8601_ns

BID: Final = int(BookSide.BID)
ASK: Final = int(BookSide.ASK)
_CHANGE_SIDES: Final = {"buy": BID, "sell": ASK}
_AGGRESSOR_OF_MAKER: Final = {"buy": ASK, "sell": BID}  # a resting buy was hit: the aggressor sold


def decimals(text: object) -> int:
    """Digits after the point of a decimal string (0 for anything else)."""
    if not isinstance(text, str):
        return 0
    return len(text.partition(".")[2])


class CoinbaseAdapter(CoinbaseAdapterBase):
    """Coinbase Exchange WebSocket feed: ``level2`` + ``ticker`` + ``matches``."""

    venue = "coinbase"
    ws_url = "wss://ws-feed.exchange.coinbase.com"
    level2_channel = "level2_batch"
    channels: tuple[str, ...] = ("ticker", "matches")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._instruments: dict[str, Instrument] = {}
        self._book_ids: dict[str, int] = {}

    # -- connection ----------------------------------------------------------
    def subscriptions(self, url: str) -> list[str]:
        if not self.symbols:
            return []
        message = {"type": "subscribe", "product_ids": list(self.symbols),
                   "channels": [self.level2_channel, *self.channels]}
        return [orjson.dumps(message).decode()]

    def resubscribe_messages(self, symbols: Sequence[str]) -> list[str]:
        body = {"product_ids": list(symbols), "channels": [self.level2_channel]}
        return [
            orjson.dumps({"type": "unsubscribe", **body}).decode(),
            orjson.dumps({"type": "subscribe", **body}).decode(),
        ]

    # -- messages ------------------------------------------------------------
    def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        message = self.decode_object(raw)
        if message is None:
            return
        kind = message.get("type")
        try:
            if kind == "l2update":
                self._on_l2update(message, recv_ns)
            elif kind == "ticker":
                self._on_ticker(message, recv_ns)
            elif kind in ("match", "last_match"):
                self._on_match(message, recv_ns)
            elif kind == "snapshot":
                self._on_snapshot(message, recv_ns)
            elif kind in ("subscriptions", "heartbeat"):
                pass
            elif kind == "error":
                self.venue_error(f"{message.get('message')}: {message.get('reason')}")
            else:
                self.unknown(str(raw)[:200])
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            self.malformed(f"{exc!r} in {str(raw)[:200]}")
            if kind in ("l2update", "snapshot"):
                self._lost_book_message(kind, message.get("product_id"), recv_ns)

    def _product(self, message: dict[str, Any]) -> Instrument:
        product = message["product_id"]
        instrument = self._instruments.get(product)
        if instrument is None:
            if not isinstance(product, str) or not product:
                raise ValueError(f"bad product_id {product!r}")
            instrument = self._instruments[product] = self.instrument(product)
        return instrument

    def _next_book_id(self, symbol: str) -> int:
        update_id = self._book_ids.get(symbol, 0) + 1
        self._book_ids[symbol] = update_id
        return update_id

    def _on_snapshot(self, message: dict[str, Any], recv_ns: int) -> None:
        product = message["product_id"]
        bids, asks = message["bids"], message["asks"]
        if not isinstance(bids, list) or not isinstance(asks, list):
            raise TypeError("snapshot bids/asks are not lists")
        if isinstance(product, str) and product and product not in self._instruments:
            self._register_from_snapshot(product, bids, asks)
        instrument = self._product(message)
        stats = self.stats_for(instrument.symbol)
        stats.messages += 1
        self.snapshot_received(instrument.symbol)
        levels: list[tuple[int, int, int]] = []
        try:
            self.parse_levels(instrument, BID, bids, levels)
            self.parse_levels(instrument, ASK, asks, levels)
        except ValueError as exc:
            self.rejected_value(f"snapshot {instrument.symbol}: {exc}")
            stats.dropped += 1
            self._resync(instrument, recv_ns, "unusable snapshot")
            return
        ts_venue = iso8601_ns(message["time"]) if "time" in message else 0
        self._apply_snapshot(instrument, levels, self._next_book_id(instrument.symbol), ts_venue, recv_ns)

    def _register_from_snapshot(self, product: str, bids: list[Any], asks: list[Any]) -> None:
        """Register ``product`` with scales wide enough for every number of its first snapshot."""
        price_scale, qty_scale = self.default_price_scale, self.default_qty_scale
        for level in (*bids, *asks):
            if isinstance(level, list) and len(level) >= 2:
                price_scale = max(price_scale, decimals(level[0]))
                qty_scale = max(qty_scale, decimals(level[1]))
        price_scale, qty_scale = min(price_scale, MAX_SCALE), min(qty_scale, MAX_SCALE)
        self._instruments[product] = self.instrument(product, price_scale, qty_scale)

    def _on_l2update(self, message: dict[str, Any], recv_ns: int) -> None:
        instrument = self._product(message)
        symbol = instrument.symbol
        stats = self.stats_for(symbol)
        stats.messages += 1
        if not self.synced.get(symbol):
            stats.dropped += 1  # no snapshot yet, or resyncing: the next snapshot replaces the book
            return
        changes = message["changes"]
        if not isinstance(changes, list):
            raise TypeError(f"changes is {type(changes).__name__}")
        if not changes:
            self.malformed(f"l2update with no changes for {symbol}")  # nothing lost: the book stays
            stats.dropped += 1
            return
        price_of, qty_of = instrument.price, instrument.qty
        levels: list[tuple[int, int, int]] = []
        try:
            for side_text, price_text, size_text in changes:
                side = _CHANGE_SIDES[side_text]
                price, qty = price_of(price_text), qty_of(size_text)
                if price <= 0 or qty < 0:
                    raise FixedPointError(f"level out of range: {price_text!r} x {size_text!r}")
                levels.append((side, price, qty))
        except FixedPointError as exc:
            self.rejected_value(f"l2update {symbol}: {exc}")
            stats.dropped += 1
            self._resync(instrument, recv_ns, "unusable update")
            return
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.malformed(f"l2update {symbol}: bad change ({exc!r})")
            stats.dropped += 1
            self._resync(instrument, recv_ns, "unreadable update")
            return
        ts_venue = iso8601_ns(message["time"]) if "time" in message else 0
        self._apply_update(instrument, levels, self._next_book_id(symbol), ts_venue, recv_ns)

    def _lost_book_message(self, kind: str, product: object, recv_ns: int) -> None:
        """A level2 message we could not read: the book it was for is unknown from now on.

        A lost snapshot must be asked for again; a lost update matters only to a
        synced book. If even the product is unreadable, every synced book is suspect.
        """
        if isinstance(product, str) and product:
            instrument = self._instruments.get(product)
            if instrument is None:
                if kind == "snapshot":  # its first snapshot was lost: ask for another
                    self.request_resubscribe((product,))
                return
            symbol = instrument.symbol
            if self.synced.get(symbol) or (kind == "snapshot" and not self.resubscribe_pending(symbol)):
                self._resync(instrument, recv_ns, f"unreadable {kind}")
            return
        for other in list(self._instruments.values()):
            if self.synced.get(other.symbol):
                self._resync(other, recv_ns, f"unreadable {kind} (no product)")

    # -- trades and tickers ------------------------------------------------------
    def _on_match(self, message: dict[str, Any], recv_ns: int) -> None:
        instrument = self._product(message)
        aggressor = _AGGRESSOR_OF_MAKER.get(message["side"])
        if aggressor is None:
            raise ValueError(f"match side {message['side']!r}")
        try:
            price, qty = instrument.price(message["price"]), instrument.qty(message["size"])
            trade_id = int_id(message["trade_id"])
            ts_venue = iso8601_ns(message["time"])
        except FixedPointError as exc:
            self.rejected_value(f"match {instrument.symbol}: {exc}")
            return
        if price <= 0 or qty <= 0:
            self.rejected_value(f"match {instrument.symbol}: {message['price']!r} x {message['size']!r}")
            return
        self.sink.trade(instrument.id, price, qty, trade_id, aggressor, ts_venue, recv_ns)

    def _on_ticker(self, message: dict[str, Any], recv_ns: int) -> None:
        instrument = self._product(message)
        try:
            bid, ask = instrument.price(message["best_bid"]), instrument.price(message["best_ask"])
            bid_size, ask_size = message.get("best_bid_size"), message.get("best_ask_size")
            bid_qty = 0 if bid_size is None else instrument.qty(bid_size)
            ask_qty = 0 if ask_size is None else instrument.qty(ask_size)
        except FixedPointError as exc:
            self.rejected_value(f"ticker {instrument.symbol}: {exc}")
            return
        if bid < 0 or ask < 0 or bid_qty < 0 or ask_qty < 0:
            self.rejected_value(f"ticker {instrument.symbol}: negative value")
            return
        update_id = int_id(message["sequence"])
        ts_venue = iso8601_ns(message["time"]) if "time" in message else 0
        self.sink.bbo(instrument.id, bid, bid_qty, ask, ask_qty, update_id, ts_venue, recv_ns)
