"""Binance payloads, encoded once per event with orjson (bytes, ready for a text frame).

Field names, order and types follow Binance's ``web-socket-streams.md`` and
``rest-api.md``: prices and quantities are eight-decimal strings, ids and times
(milliseconds) are numbers. Every function here is pure; the caller passes the
event time ``E`` so tests can pin it.
"""

from __future__ import annotations

from typing import Any

import orjson

from stages.exchange.publisher.decimals import SymbolFormat, ratio_text
from stages.exchange.publisher.history import WindowStats
from stages.exchange.publisher.klines import Kline

Levels = list[tuple[int, int]]
_dumps = orjson.dumps


def depth_update(
    symbol: str, fmt: SymbolFormat, event_ms: int, first: int, last: int, bids: Levels, asks: Levels
) -> bytes:
    """``<symbol>@depth[@100ms]``: the levels changed over update ids ``first..last``."""
    return _dumps(
        {
            "e": "depthUpdate",
            "E": event_ms,
            "s": symbol,
            "U": first,
            "u": last,
            "b": fmt.levels(bids),
            "a": fmt.levels(asks),
        }
    )


def depth_snapshot(fmt: SymbolFormat, last_update_id: int, bids: Levels, asks: Levels) -> bytes:
    """``<symbol>@depth<N>[@100ms]`` and ``GET /api/v3/depth``: the book's top, best first."""
    return _dumps({"lastUpdateId": last_update_id, "bids": fmt.levels(bids), "asks": fmt.levels(asks)})


def trade(
    symbol: str, fmt: SymbolFormat, event_ms: int, trade_id: int, price: int, qty: int, time_ms: int, buyer_maker: bool
) -> bytes:
    return _dumps(
        {
            "e": "trade",
            "E": event_ms,
            "s": symbol,
            "t": trade_id,
            "p": fmt.price(price),
            "q": fmt.qty(qty),
            "T": time_ms,
            "m": buyer_maker,
            "M": True,
        }
    )


def agg_trade(
    symbol: str,
    fmt: SymbolFormat,
    event_ms: int,
    agg_id: int,
    price: int,
    qty: int,
    first_id: int,
    last_id: int,
    time_ms: int,
    buyer_maker: bool,
) -> bytes:
    fields = agg_trade_fields(fmt, agg_id, price, qty, first_id, last_id, time_ms, buyer_maker)
    return _dumps({"e": "aggTrade", "E": event_ms, "s": symbol, **fields})


def agg_trade_fields(
    fmt: SymbolFormat, agg_id: int, price: int, qty: int, first_id: int, last_id: int, time_ms: int, buyer_maker: bool
) -> dict[str, Any]:
    """One aggregate trade as Binance writes it, in the stream and in ``GET /api/v3/aggTrades`` alike."""
    return {
        "a": agg_id,
        "p": fmt.price(price),
        "q": fmt.qty(qty),
        "f": first_id,
        "l": last_id,
        "T": time_ms,
        "m": buyer_maker,
        "M": True,
    }


def book_ticker(
    symbol: str, fmt: SymbolFormat, update_id: int, bid: tuple[int, int] | None, ask: tuple[int, int] | None
) -> bytes:
    """``<symbol>@bookTicker``; an empty side shows as zero price and quantity."""
    bid_price, bid_qty = bid or (0, 0)
    ask_price, ask_qty = ask or (0, 0)
    return _dumps(
        {
            "u": update_id,
            "s": symbol,
            "b": fmt.price(bid_price),
            "B": fmt.qty(bid_qty),
            "a": fmt.price(ask_price),
            "A": fmt.qty(ask_qty),
        }
    )


def book_ticker_rest(
    symbol: str, fmt: SymbolFormat, bid: tuple[int, int] | None, ask: tuple[int, int] | None
) -> dict[str, Any]:
    """One element of ``GET /api/v3/ticker/bookTicker``."""
    bid_price, bid_qty = bid or (0, 0)
    ask_price, ask_qty = ask or (0, 0)
    return {
        "symbol": symbol,
        "bidPrice": fmt.price(bid_price),
        "bidQty": fmt.qty(bid_qty),
        "askPrice": fmt.price(ask_price),
        "askQty": fmt.qty(ask_qty),
    }


def kline(symbol: str, fmt: SymbolFormat, event_ms: int, interval: str, k: Kline, closed: bool) -> bytes:
    return _dumps(
        {
            "e": "kline",
            "E": event_ms,
            "s": symbol,
            "k": {
                "t": k.open_time,
                "T": k.close_time,
                "s": symbol,
                "i": interval,
                "f": k.first_id,
                "L": k.last_id,
                "o": fmt.price(k.open),
                "c": fmt.price(k.close),
                "h": fmt.price(k.high),
                "l": fmt.price(k.low),
                "v": fmt.qty(k.volume),
                "n": k.count,
                "x": closed,
                "q": fmt.quote(k.quote),
                "V": fmt.qty(k.buy_volume),
                "Q": fmt.quote(k.buy_quote),
                "B": "0",
            },
        }
    )


def _change(fmt: SymbolFormat, s: WindowStats) -> tuple[str, str, str]:
    """Price change, change percent (3 decimals) and weighted average price."""
    change = s.last_price - s.open if s.count else 0
    percent = ratio_text(change * 100, s.open, 3) if s.open else "0.000"
    weighted = ratio_text(s.quote, s.volume * 10**fmt.price_scale, 8) if s.volume else fmt.price(0)
    return fmt.price(change), percent, weighted


def ticker(
    symbol: str,
    fmt: SymbolFormat,
    event_ms: int,
    s: WindowStats,
    bid: tuple[int, int] | None,
    ask: tuple[int, int] | None,
) -> bytes:
    """``<symbol>@ticker`` (``24hrTicker``)."""
    change, percent, weighted = _change(fmt, s)
    bid_price, bid_qty = bid or (0, 0)
    ask_price, ask_qty = ask or (0, 0)
    return _dumps(
        {
            "e": "24hrTicker",
            "E": event_ms,
            "s": symbol,
            "p": change,
            "P": percent,
            "w": weighted,
            "x": fmt.price(s.prev_close),
            "c": fmt.price(s.last_price),
            "Q": fmt.qty(s.last_qty),
            "b": fmt.price(bid_price),
            "B": fmt.qty(bid_qty),
            "a": fmt.price(ask_price),
            "A": fmt.qty(ask_qty),
            "o": fmt.price(s.open),
            "h": fmt.price(s.high),
            "l": fmt.price(s.low),
            "v": fmt.qty(s.volume),
            "q": fmt.quote(s.quote),
            "O": s.open_time,
            "C": s.close_time,
            "F": s.first_id,
            "L": s.last_id,
            "n": s.count,
        }
    )


def mini_ticker(symbol: str, fmt: SymbolFormat, event_ms: int, s: WindowStats) -> bytes:
    """``<symbol>@miniTicker`` (``24hrMiniTicker``)."""
    return _dumps(
        {
            "e": "24hrMiniTicker",
            "E": event_ms,
            "s": symbol,
            "c": fmt.price(s.last_price),
            "o": fmt.price(s.open),
            "h": fmt.price(s.high),
            "l": fmt.price(s.low),
            "v": fmt.qty(s.volume),
            "q": fmt.quote(s.quote),
        }
    )


def ticker_rest(
    symbol: str, fmt: SymbolFormat, s: WindowStats, bid: tuple[int, int] | None, ask: tuple[int, int] | None
) -> dict[str, Any]:
    """One element of ``GET /api/v3/ticker/24hr``."""
    change, percent, weighted = _change(fmt, s)
    bid_price, bid_qty = bid or (0, 0)
    ask_price, ask_qty = ask or (0, 0)
    return {
        "symbol": symbol,
        "priceChange": change,
        "priceChangePercent": percent,
        "weightedAvgPrice": weighted,
        "prevClosePrice": fmt.price(s.prev_close),
        "lastPrice": fmt.price(s.last_price),
        "lastQty": fmt.qty(s.last_qty),
        "bidPrice": fmt.price(bid_price),
        "bidQty": fmt.qty(bid_qty),
        "askPrice": fmt.price(ask_price),
        "askQty": fmt.qty(ask_qty),
        "openPrice": fmt.price(s.open),
        "highPrice": fmt.price(s.high),
        "lowPrice": fmt.price(s.low),
        "volume": fmt.qty(s.volume),
        "quoteVolume": fmt.quote(s.quote),
        "openTime": s.open_time,
        "closeTime": s.close_time,
        "firstId": s.first_id,
        "lastId": s.last_id,
        "count": s.count,
    }


def trade_rest(
    fmt: SymbolFormat, trade_id: int, price: int, qty: int, time_ms: int, buyer_maker: bool
) -> dict[str, Any]:
    """One element of ``GET /api/v3/trades``."""
    return {
        "id": trade_id,
        "price": fmt.price(price),
        "qty": fmt.qty(qty),
        "quoteQty": fmt.quote(price * qty),
        "time": time_ms,
        "isBuyerMaker": buyer_maker,
        "isBestMatch": True,
    }
