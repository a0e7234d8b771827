"""Kraken spot WebSocket v1 and v2: book snapshots plus updates checked by CRC32, and trades.

Both versions push a snapshot at the subscribed depth, then updates with
absolute sizes (0 removes a level). Kraken's rules for keeping the book
(docs.kraken.com, "Book checksum" guides for v1 and v2):

* apply every level of an update message, in order, before checking;
* then truncate each side to the subscribed depth: Kraken never sends a
  removal for a level pushed out of scope by an insert (and republishes, flag
  ``"r"`` in v1, the level that comes back into scope after a removal);
* then the checksum: CRC32 (``zlib.crc32``) of the top 10 asks ascending then
  the top 10 bids descending, each level written as price then quantity with
  the ``.`` removed and leading zeros stripped, at the pair's fixed number of
  decimals ("0.05000" x "0.00000304" -> ``"5000304"``).

Kraken sends every number of a pair with the same number of decimals (v1 as
strings; v2 as JSON numbers, formatted at the pair's ``price_precision`` /
``qty_precision``). So the instrument is registered with exactly those scales
and the checksum text of a level is ``str(price) + str(qty)`` of the
fixed-point integers, no formatting needed. Where a registry already holds the
pair at other scales, the integers are shifted to the venue's decimals first.

There is no REST snapshot to resync from: after a checksum mismatch (or an
update that cannot be applied) the pair is marked RESYNCING, its updates are
ignored until a new snapshot arrives, and a resubscription is requested
(:meth:`~stages.marketdata.venues.adapter.VenueAdapter.take_resubscribe_requests`): the
connection owner sends its texts, from :meth:`KrakenV1Adapter.resubscribe_messages`
or :meth:`KrakenV2Adapter.resubscribe_messages` (unsubscribe, then subscribe,
which makes Kraken send a fresh snapshot).

Kraken has no update ids: each pair's book messages are numbered by a running
counter (snapshots included) that never goes back, across resubscriptions.
v1 trades have no id either: they are numbered by a running per-pair counter.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import chain
from typing import Any, Final

import orjson

from hftpipe.schema.fixedpoint import MAX_SCALE
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.l2book import L2Book
from hftpipe.schema.marketdata import BookSide, BookState
from stages.marketdata.venues.adapter import VenueAdapter

BID: Final = int(BookSide.BID)
ASK: Final = int(BookSide.ASK)
KRAKEN_DEPTHS: Final = (10, 25, 100, 500, 1000)
"""The book depths Kraken accepts on a subscription."""
CHECKSUM_LEVELS: Final = 10
_POW10: Final[tuple[int, ...]] = tuple(10**i for i in range(2 * MAX_SCALE + 1))


# -- checksum ------------------------------------------------------------------
def _venue_digits(value: int, shift: int) -> int:
    """A fixed-point integer at the instrument's scale -> at the venue's decimals (``shift`` = scale - decimals)."""
    if shift > 0:
        return value // _POW10[shift]
    return value * _POW10[-shift]


def book_checksum(replica: L2Book, price_shift: int = 0, qty_shift: int = 0) -> int:
    """Kraken's CRC32 of the replica's top 10 asks (ascending) then top 10 bids (descending).

    With the instrument's scales equal to the venue's decimals (``shift`` 0),
    ``str`` of a fixed-point integer *is* the venue's string with the ``.``
    and the leading zeros removed, so the text is the levels' integers joined.
    """
    levels = replica.asks(CHECKSUM_LEVELS) + replica.bids(CHECKSUM_LEVELS)
    if price_shift == 0 and qty_shift == 0:
        text = "".join(map(str, chain.from_iterable(levels)))
    else:
        text = "".join(f"{_venue_digits(price, price_shift)}{_venue_digits(qty, qty_shift)}" for price, qty in levels)
    return zlib.crc32(text.encode("ascii"))


# -- numbers and times -----------------------------------------------------------
def decimals_of(text: str) -> int:
    """``"0.05000"`` -> 5, ``"12"`` -> 0."""
    dot = text.find(".")
    return 0 if dot < 0 else len(text) - dot - 1


def seconds_to_ns(text: str) -> int:
    """``"1618678123.481570"`` (v1 times) -> nanoseconds since the epoch, exactly."""
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or not (frac.isdigit() or frac == ""):
        raise ValueError(f"not a time in seconds: {text!r}")
    return int(whole) * 1_000_000_000 + (int(frac[:9].ljust(9, "0")) if frac else 0)


_MINUTES: dict[str, int] = {}


def rfc3339_to_ns(text: str) -> int:
    """``"2023-10-06T17:35:55.440295Z"`` (v2 times) -> nanoseconds since the epoch, exactly."""
    if len(text) < 20 or text[-1] != "Z" or text[16] != ":":
        raise ValueError(f"not an RFC 3339 UTC time: {text!r}")
    minute = text[:16]
    base = _MINUTES.get(minute)
    if base is None:
        if len(_MINUTES) > 1024:
            _MINUTES.clear()
        base = _MINUTES[minute] = int(datetime.fromisoformat(minute).replace(tzinfo=UTC).timestamp())
    seconds, frac = text[17:19], text[20:-1] if text[19] == "." else ""
    if text[19] not in ".Z" or not seconds.isdigit() or not (frac.isdigit() or frac == ""):
        raise ValueError(f"not an RFC 3339 UTC time: {text!r}")
    return (base + int(seconds)) * 1_000_000_000 + (int(frac[:9].ljust(9, "0")) if frac else 0)


def _plain_decimal(text: Any) -> Any:
    """A JSON number's text as a plain decimal (``"1e-08"`` -> ``"0.00000001"``); others unchanged."""
    if isinstance(text, str) and ("e" in text or "E" in text):
        try:
            return format(Decimal(text), "f")
        except InvalidOperation:
            return text
    return text


# -- shared book machinery -----------------------------------------------------------
class _PairBook:
    """One pair's book state, and its checksum text cached per side.

    The checksum text of a side (its top 10 levels) is kept, as bytes and as
    a running CRC, until an update touches that side's top 10: a level priced
    at or inside the 10th level. Updates deeper in the book (about a quarter
    of them in the captures) and the untouched side of one that is not cost a
    comparison per level; a touched side is rebuilt from the replica's top 10
    with each level's text looked up by ``(price, qty)`` (a bounded cache:
    most of the top 10 is unchanged from one update to the next).
    """

    __slots__ = (
        "_ask_crc",
        "_ask_limit",
        "_bid_bytes",
        "_bid_limit",
        "_texts",
        "depth",
        "instrument",
        "price_shift",
        "qty_shift",
        "synced",
        "update_id",
    )

    TEXT_CACHE_LIMIT: Final = 8192

    def __init__(self, instrument: Instrument, depth: int) -> None:
        self.instrument = instrument
        self.depth = depth
        self.price_shift: int | None = None
        """instrument.price_scale - the venue's price decimals; None until a level has been seen."""
        self.qty_shift: int | None = None
        self.synced = False
        """A snapshot was applied and nothing went wrong since: updates are applied."""
        self.update_id = 0
        self._texts: dict[tuple[int, int], str] = {}
        self._ask_crc: int | None = None  # CRC32 of the asks' text; None: to rebuild
        self._ask_limit: int | None = None  # the 10th ask's price; None: fewer than 10 asks
        self._bid_bytes: bytes | None = None
        self._bid_limit: int | None = None

    def set_shifts(self, price_shift: int | None, qty_shift: int | None) -> None:
        if (price_shift, qty_shift) != (self.price_shift, self.qty_shift):
            self.price_shift, self.qty_shift = price_shift, qty_shift
            self._texts.clear()
        self.invalidate()

    def invalidate(self) -> None:
        """Both sides' texts must be rebuilt (a snapshot, a new precision)."""
        self._ask_crc = self._bid_bytes = None

    def touch(self, levels: Sequence[tuple[int, int, int]]) -> None:
        """Forget the text of each side whose top 10 these levels (about to be applied) change."""
        ask_limit, bid_limit = self._ask_limit, self._bid_limit
        for side, price, _ in levels:
            if side == ASK:
                if ask_limit is None or price <= ask_limit:
                    self._ask_crc = None
            elif bid_limit is None or price >= bid_limit:
                self._bid_bytes = None

    def checksum(self, replica: L2Book) -> int:
        """:func:`book_checksum` of ``replica``, rebuilding only the sides touched since the last call."""
        ask_crc = self._ask_crc
        if ask_crc is None:
            asks = replica.asks(CHECKSUM_LEVELS)
            ask_crc = self._ask_crc = zlib.crc32(self._text(asks))
            self._ask_limit = asks[-1][0] if len(asks) == CHECKSUM_LEVELS else None
        bid_bytes = self._bid_bytes
        if bid_bytes is None:
            bids = replica.bids(CHECKSUM_LEVELS)
            bid_bytes = self._bid_bytes = self._text(bids)
            self._bid_limit = bids[-1][0] if len(bids) == CHECKSUM_LEVELS else None
        return zlib.crc32(bid_bytes, ask_crc)

    def _text(self, levels: list[tuple[int, int]]) -> bytes:
        texts = self._texts
        if len(texts) > self.TEXT_CACHE_LIMIT:
            texts.clear()
        get = texts.get
        return "".join([get(level) or self._level_text(level) for level in levels]).encode("ascii")

    def _level_text(self, level: tuple[int, int]) -> str:
        price_shift, qty_shift = self.price_shift or 0, self.qty_shift or 0
        if price_shift == 0 and qty_shift == 0:
            text = f"{level[0]}{level[1]}"
        else:
            text = f"{_venue_digits(level[0], price_shift)}{_venue_digits(level[1], qty_shift)}"
        self._texts[level] = text
        return text


class KrakenAdapterBase(VenueAdapter):
    """What v1 and v2 share: snapshots, truncated updates, checksums, resubscription requests."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.depth not in KRAKEN_DEPTHS:
            raise ValueError(f"Kraken book depth must be one of {KRAKEN_DEPTHS}, got {self.depth}")
        self._books: dict[str, _PairBook] = {}

    # -- book ------------------------------------------------------------------
    def _book(self, symbol: str, instrument: Instrument, depth: int) -> _PairBook:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = _PairBook(instrument, depth)
        book.depth = depth
        return book

    def _apply_snapshot(
        self, book: _PairBook, levels: list[tuple[int, int, int]], ts_venue: int, recv_ns: int, checksum: int | None
    ) -> None:
        instrument = book.instrument
        book.update_id += 1
        self.stats_for(instrument.symbol).applied += 1
        self.begin_snapshot(instrument, book.update_id, ts_venue, recv_ns)
        book.invalidate()
        self.emit_levels(instrument, levels, book.update_id, ts_venue, recv_ns, snapshot=True, depth=book.depth)
        book.synced = True
        if checksum is not None and not self._checksum_matches(book, checksum, recv_ns):
            return
        self.mark(instrument, BookState.SYNCED, recv_ns)

    def _apply_update(
        self, book: _PairBook, levels: list[tuple[int, int, int]], ts_venue: int, recv_ns: int, checksum: int | None
    ) -> None:
        """One venue update: levels plus truncation removals, END on the last; then the checksum."""
        instrument = book.instrument
        book.update_id += 1
        if self.validate_checksums:
            book.touch(levels)
        else:
            book.invalidate()  # nothing tracks the top 10 meanwhile
        replica = self.emit_levels(instrument, levels, book.update_id, ts_venue, recv_ns, depth=book.depth)
        self.stats_for(instrument.symbol).applied += 1
        if checksum is not None and self.validate_checksums:
            self._checksum_matches(book, checksum, recv_ns)
        elif replica.is_crossed():
            self.problems.problem(self.logger, "crossed book", instrument.symbol)
            self._resync(book, recv_ns, "crossed book")

    def _checksum_matches(self, book: _PairBook, checksum: int, recv_ns: int) -> bool:
        if not self.validate_checksums:
            return True
        instrument = book.instrument
        replica = self.replicas.get(instrument.id) or L2Book(instrument.id)
        stats = self.stats_for(instrument.symbol)
        if book.checksum(replica) == checksum:
            stats.checksums_ok += 1
            return True
        stats.checksum_failures += 1
        self._resync(book, recv_ns, f"checksum mismatch (venue {checksum})")
        return False

    def _resync(self, book: _PairBook, recv_ns: int, why: str) -> None:
        symbol = book.instrument.symbol
        self.stats_for(symbol).resyncs += 1
        self.logger.info("%s %s: resubscribing (%s)", self.venue, symbol, why)
        book.synced = False
        self.mark(book.instrument, BookState.RESYNCING, recv_ns)
        self.request_resubscribe((symbol,))

    def _unusable(self, symbol: str, recv_ns: int, why: str) -> None:
        """A book message of ``symbol`` that could not be applied: its book can no longer be trusted."""
        book = self._books.get(symbol)
        if book is not None and book.synced:
            self._resync(book, recv_ns, why)

    def on_disconnect(self, recv_ns: int) -> None:
        """Every book waits for the snapshot the reconnection's subscriptions bring."""
        for book in self._books.values():
            book.synced = False
        super().on_disconnect(recv_ns)


def _max_decimals(texts: Iterable[Any]) -> int | None:
    best: int | None = None
    for text in texts:
        if isinstance(text, str):
            places = decimals_of(text)
            if best is None or places > best:
                best = places
    return best


# -- WebSocket v1 ------------------------------------------------------------------------
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
    def websocket_urls(self) -> list[str]:
        return [self.ws_url]

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
        price_decimals = _max_decimals(level[0] for level in levels)
        qty_decimals = _max_decimals(level[1] for level in levels)
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

    def _learn_decimals(self, book: _PairBook, levels: Sequence[Sequence[Any]]) -> None:
        price_decimals = _max_decimals(level[0] for level in levels)
        qty_decimals = _max_decimals(level[1] for level in levels)
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


# -- WebSocket v2 ------------------------------------------------------------------------
def _json_exact(raw: str | bytes) -> Any:
    """JSON with every number kept as its text: ``0.5666`` -> ``"0.5666"`` (floats would lose digits)."""
    return json.loads(raw, parse_float=str, parse_int=str, parse_constant=str)


class KrakenV2Adapter(KrakenAdapterBase):
    """Kraken spot WebSocket v2 (``wss://ws.kraken.com/v2``): ``book``, ``trade`` and ``instrument`` channels.

    Messages are objects ``{"channel", "type", "data": [...]}``; prices and
    quantities are JSON numbers, read here as their exact text. Book snapshots
    carry a checksum too, so a pair is SYNCED only once its snapshot checks.
    The checksum formats levels at the pair's ``price_precision`` and
    ``qty_precision``: from the ``instrument`` channel (subscribed first),
    from ``precisions={"BTC/USD": (1, 8)}``, or failing both inferred from the
    most decimals in the pair's first snapshot. Trade snapshots (history sent
    on subscription) are not passed on; heartbeats, status and method replies
    are handled silently (a failed request is logged).
    """

    venue = "kraken-v2"
    ws_url = "wss://ws.kraken.com/v2"

    def __init__(self, *args: Any, precisions: dict[str, tuple[int, int]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.precisions: dict[str, tuple[int, int]] = dict(precisions or {})
        """symbol -> (price_precision, qty_precision)."""

    # -- connection ----------------------------------------------------------
    def websocket_urls(self) -> list[str]:
        return [self.ws_url]

    def subscriptions(self, url: str) -> list[str]:
        if not self.symbols:
            return []
        symbols = list(self.symbols)
        return [
            json.dumps({"method": "subscribe", "params": {"channel": "instrument", "snapshot": True}}),
            json.dumps({"method": "subscribe", "params": {"channel": "book", "symbol": symbols, "depth": self.depth}}),
            json.dumps({"method": "subscribe", "params": {"channel": "trade", "symbol": symbols, "snapshot": False}}),
        ]

    def resubscribe_messages(self, symbols: Sequence[str]) -> list[str]:
        if not symbols:
            return []
        params = {"channel": "book", "symbol": list(symbols), "depth": self.depth}
        return [
            json.dumps({"method": "unsubscribe", "params": params}),
            json.dumps({"method": "subscribe", "params": {**params, "snapshot": True}}),
        ]

    # -- messages ------------------------------------------------------------
    def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        try:
            message = _json_exact(raw)
        except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bad bytes
            self.malformed(str(raw)[:200])
            return
        if not isinstance(message, dict):
            self.malformed(str(raw)[:200])
            return
        try:
            channel = message.get("channel")
            if channel == "book":
                self._on_book(message, recv_ns)
            elif channel == "trade":
                if message["type"] == "update":
                    self._on_trades(message["data"], recv_ns)
            elif channel == "instrument":
                self._on_instruments(message["data"])
            elif channel in ("heartbeat", "status"):
                pass
            elif channel is None and "method" in message:
                if message.get("success") in (False, "false"):
                    self.logger.warning("kraken v2 request failed: %s", str(raw)[:300])
            else:
                self.unknown(str(raw)[:200])
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            self.malformed(f"{exc!r} in {str(raw)[:200]}")

    def _on_instruments(self, data: dict[str, Any]) -> None:
        for pair in data.get("pairs", ()):
            precision = (int(pair["price_precision"]), int(pair["qty_precision"]))
            symbol = pair["symbol"]
            self.precisions[symbol] = precision
            book = self._books.get(symbol)
            if book is not None:
                book.set_shifts(book.instrument.price_scale - precision[0], book.instrument.qty_scale - precision[1])

    def _instrument_for(self, symbol: str, entry: dict[str, Any]) -> tuple[Instrument, int, int]:
        """The pair's instrument (registered on first sight) and the checksum's price/qty decimals."""
        precision = self.precisions.get(symbol)
        if precision is None:
            levels = [*entry.get("asks", ()), *entry.get("bids", ())]
            price_decimals = _max_decimals(_plain_decimal(level["price"]) for level in levels) or 0
            qty_decimals = _max_decimals(_plain_decimal(level["qty"]) for level in levels) or 0
            # Trailing zeros may hide digits: leave the scales room.
            scales = (max(price_decimals, self.default_price_scale), max(qty_decimals, self.default_qty_scale))
        else:
            price_decimals, qty_decimals = scales = precision
        if max(price_decimals, qty_decimals) > MAX_SCALE:
            raise ValueError(f"{symbol}: more than {MAX_SCALE} decimals")
        return self.instrument(symbol, *scales), price_decimals, qty_decimals

    def _parse_levels_v2(
        self, instrument: Instrument, side: int, raw_levels: Sequence[dict[str, Any]], out: list[tuple[int, int, int]]
    ) -> None:
        price_of, qty_of = instrument.price, instrument.qty
        for level in raw_levels:
            try:
                price_text, qty_text = level["price"], level["qty"]
                try:
                    price, qty = price_of(price_text), qty_of(qty_text)
                except ValueError:
                    price, qty = price_of(_plain_decimal(price_text)), qty_of(_plain_decimal(qty_text))
            except (KeyError, TypeError, AttributeError) as exc:  # as VenueAdapter.parse_levels
                raise ValueError(f"malformed level {level!r}") from exc
            if price <= 0 or qty < 0:
                raise ValueError(f"level out of range: {price_text!r} x {qty_text!r}")
            out.append((side, price, qty))

    def _on_book(self, message: dict[str, Any], recv_ns: int) -> None:
        kind = message["type"]
        if kind not in ("snapshot", "update"):
            self.unknown(f"book type {kind!r}")
            return
        for entry in message["data"]:
            symbol = entry["symbol"]
            try:
                self._on_book_entry(entry, symbol, kind == "snapshot", recv_ns)
            except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
                self.malformed(f"{exc!r} in book {symbol}")
                self._unusable(symbol, recv_ns, "malformed book message")

    def _on_book_entry(self, entry: dict[str, Any], symbol: str, snapshot: bool, recv_ns: int) -> None:
        try:
            instrument, price_decimals, qty_decimals = self._instrument_for(symbol, entry)
        except ValueError as exc:
            self.rejected_value(f"{symbol}: {exc}")
            self._unusable(symbol, recv_ns, "unusable book message")
            return
        book = self._book(symbol, instrument, self.depth)
        if snapshot:
            self.snapshot_received(symbol)
        stats = self.stats_for(symbol)
        stats.messages += 1
        if not snapshot and not book.synced:
            stats.dropped += 1
            return
        levels: list[tuple[int, int, int]] = []
        try:
            checksum = int(entry["checksum"]) if "checksum" in entry else None
            self._parse_levels_v2(instrument, ASK, entry.get("asks", ()), levels)
            self._parse_levels_v2(instrument, BID, entry.get("bids", ()), levels)
        except ValueError as exc:
            self.rejected_value(f"{symbol}: {exc}")
            self._resync(book, recv_ns, "unusable book message")
            return
        ts_venue = 0
        stamp = entry.get("timestamp")
        if stamp is not None:
            try:
                ts_venue = rfc3339_to_ns(stamp)
            except (ValueError, TypeError) as exc:
                self.rejected_value(f"{symbol}: bad timestamp {exc}")
        if snapshot:
            book.set_shifts(instrument.price_scale - price_decimals, instrument.qty_scale - qty_decimals)
            self._apply_snapshot(book, levels, ts_venue, recv_ns, checksum)
        else:
            self._apply_update(book, levels, ts_venue, recv_ns, checksum)

    def _on_trades(self, trades: list[dict[str, Any]], recv_ns: int) -> None:
        for trade in trades:
            symbol = trade["symbol"]
            try:
                instrument = self.registry.by_symbol(self.venue, symbol)
            except KeyError:
                instrument = self._instrument_for(symbol, {"asks": [trade]})[0]
            try:
                price_text, qty_text = _plain_decimal(trade["price"]), _plain_decimal(trade["qty"])
                price, qty = instrument.price(price_text), instrument.qty(qty_text)
                side = trade["side"]
                if price <= 0 or qty <= 0 or side not in ("buy", "sell"):
                    raise ValueError(f"trade out of range: {price_text!r} x {qty_text!r} side {side!r}")
                trade_id = int(trade["trade_id"])
                ts_venue = rfc3339_to_ns(trade["timestamp"])
            except ValueError as exc:
                self.rejected_value(f"{symbol} trade: {exc}")
                continue
            aggressor = BID if side == "buy" else ASK  # the taker's side
            self.sink.trade(instrument.id, price, qty, trade_id, aggressor, ts_venue, recv_ns)
