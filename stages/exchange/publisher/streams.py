"""Binance stream names: which ones exist here, and what each one means.

A stream name is ``<symbol>@<kind>`` with the symbol in lower case, exactly as
Binance spells them (``btcusdt@depth@100ms``, ``btcusdt@kline_1m``). Names are
matched exactly; the subscription registry keys on them, and the combined
wrapper echoes them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

MAX_STREAMS_PER_CONNECTION: Final = 1024
"""Binance: "A single connection can listen to a maximum of 1024 streams"."""
PARTIAL_DEPTHS: Final = (5, 10, 20)
KLINE_INTERVALS_MS: Final = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}
"""The kline intervals served: Binance's fixed-length ones up to a day (klines are
seeded from the last 24 h of trades, so longer ones could not start complete)."""


class StreamKind(Enum):
    TRADE = "trade"
    AGG_TRADE = "aggTrade"
    BOOK_TICKER = "bookTicker"
    DIFF_DEPTH = "depth"
    PARTIAL_DEPTH = "depthN"
    KLINE = "kline"
    TICKER = "ticker"
    MINI_TICKER = "miniTicker"


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A parsed stream name."""

    name: str
    symbol: str
    """The symbol as configured (upper case)."""
    kind: StreamKind
    fast: bool = False
    """``@100ms`` (depth streams)."""
    levels: int = 0
    """Partial depth: 5, 10 or 20."""
    interval: str = ""
    """Kline interval (``"1m"``)."""


def _spec_for(symbol: str, rest: str, name: str) -> StreamSpec | None:
    simple = {
        "trade": StreamKind.TRADE,
        "aggTrade": StreamKind.AGG_TRADE,
        "bookTicker": StreamKind.BOOK_TICKER,
        "ticker": StreamKind.TICKER,
        "miniTicker": StreamKind.MINI_TICKER,
    }
    kind = simple.get(rest)
    if kind is not None:
        return StreamSpec(name, symbol, kind)
    if rest.startswith("kline_"):
        interval = rest.removeprefix("kline_")
        return StreamSpec(name, symbol, StreamKind.KLINE, interval=interval) if interval in KLINE_INTERVALS_MS else None
    if not rest.startswith("depth"):
        return None
    depth, _, speed = rest.partition("@")
    if speed not in ("", "100ms"):
        return None
    fast = speed == "100ms"
    if depth == "depth":
        return StreamSpec(name, symbol, StreamKind.DIFF_DEPTH, fast=fast)
    levels = depth.removeprefix("depth")
    if levels.isdigit() and int(levels) in PARTIAL_DEPTHS and levels == str(int(levels)):
        return StreamSpec(name, symbol, StreamKind.PARTIAL_DEPTH, fast=fast, levels=int(levels))
    return None


class StreamCatalog:
    """Parses stream names against the configured symbols (memoized: names repeat)."""

    def __init__(self, symbols: list[str]) -> None:
        self._symbols = {symbol.lower(): symbol for symbol in symbols}
        self._cache: dict[str, StreamSpec | None] = {}

    def parse(self, name: str) -> StreamSpec | None:
        """The stream ``name`` denotes, or ``None`` if it is not one served here."""
        if name in self._cache:
            return self._cache[name]
        spec: StreamSpec | None = None
        symbol_text, at, rest = name.partition("@")
        symbol = self._symbols.get(symbol_text)
        if at and symbol is not None:
            spec = _spec_for(symbol, rest, name)
        if len(self._cache) < 65536:  # bounded: clients may send any text
            self._cache[name] = spec
        return spec


def stream_name(symbol: str, suffix: str) -> str:
    """``stream_name("BTCUSDT", "depth@100ms") == "btcusdt@depth@100ms"``."""
    return f"{symbol.lower()}@{suffix}"
