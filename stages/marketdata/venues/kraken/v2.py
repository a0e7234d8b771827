"""Kraken spot WebSocket v2 (``wss://ws.kraken.com/v2``): ``book``, ``trade`` and ``instrument`` channels as objects.

The book rules (truncation, checksum, resync) are Kraken's, shared with v1 in
:mod:`stages.marketdata.venues.kraken.base`. v2 numbers are JSON numbers,
read as their exact text (a float would lose digits), and times are RFC 3339
UTC (``"2023-10-06T17:35:55.440295Z"``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from hftpipe.schema.fixedpoint import MAX_SCALE
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BookSide
from stages.marketdata.venues.kraken.base import KrakenAdapterBase
from stages.marketdata.venues.kraken.decimals import max_decimals

BID: Final = int(BookSide.BID)
ASK: Final = int(BookSide.ASK)
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
            price_decimals = max_decimals(_plain_decimal(level["price"]) for level in levels) or 0
            qty_decimals = max_decimals(_plain_decimal(level["qty"]) for level in levels) or 0
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
