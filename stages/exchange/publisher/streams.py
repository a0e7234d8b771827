"""Binance stream names: which ones exist here, and what each one means.

A stream name is ``<symbol>@<kind>`` with the symbol in lower case, exactly as
Binance spells them (``btcusdt@depth@100ms``, ``btcusdt@kline_1m``). Names are
matched exactly; the subscription registry keys on them, and the combined
wrapper echoes them back. Clients may send any text as a name: it is looked up
in a table fixed at start (never added to) and refused unread when longer than
:data:`MAX_STREAM_NAME_LENGTH`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Final

from stages.exchange.protocol.settings import MAX_SYMBOL_LENGTH

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
    """``@100ms`` (depth streams); ``@1000ms`` spells the default 1 s cadence out."""
    levels: int = 0
    """Partial depth: 5, 10 or 20."""
    interval: str = ""
    """Kline interval (``"1m"``)."""


def stream_name(symbol: str, suffix: str) -> str:
    """``stream_name("BTCUSDT", "depth@100ms") == "btcusdt@depth@100ms"``."""
    return f"{symbol.lower()}@{suffix}"


def _served(symbol: str) -> Iterator[StreamSpec]:
    """Every stream served for ``symbol``: a closed set, so the catalog can hold them all up front."""
    simple = {
        "trade": StreamKind.TRADE,
        "aggTrade": StreamKind.AGG_TRADE,
        "bookTicker": StreamKind.BOOK_TICKER,
        "ticker": StreamKind.TICKER,
        "miniTicker": StreamKind.MINI_TICKER,
    }
    for suffix, kind in simple.items():
        yield StreamSpec(stream_name(symbol, suffix), symbol, kind)
    for interval in KLINE_INTERVALS_MS:
        yield StreamSpec(stream_name(symbol, f"kline_{interval}"), symbol, StreamKind.KLINE, interval=interval)
    for speed, fast in (("", False), ("@100ms", True), ("@1000ms", False)):
        yield StreamSpec(stream_name(symbol, f"depth{speed}"), symbol, StreamKind.DIFF_DEPTH, fast=fast)
        for levels in PARTIAL_DEPTHS:
            name = stream_name(symbol, f"depth{levels}{speed}")
            yield StreamSpec(name, symbol, StreamKind.PARTIAL_DEPTH, fast=fast, levels=levels)


STREAMS_PER_SYMBOL: Final = sum(1 for _ in _served(""))
MAX_STREAM_NAME_LENGTH: Final = MAX_SYMBOL_LENGTH + max(len(spec.name) for spec in _served(""))
"""35: the longest symbol Binance allows plus the longest ``@<kind>`` (``@depth20@1000ms``).

No stream name can be longer, so a longer one is refused before it is even looked up."""


class StreamCatalog:
    """The stream names served here, all of them, built once from the configured symbols.

    Lookups never add an entry: what a client sends is matched against this fixed
    table and forgotten, so no amount of invented names can grow it (memory
    bounded by ``len(symbols) * STREAMS_PER_SYMBOL`` entries, fixed at start).
    """

    def __init__(self, symbols: list[str]) -> None:
        self._specs: dict[str, StreamSpec] = {}
        for symbol in symbols:
            if not 0 < len(symbol) <= MAX_SYMBOL_LENGTH:
                raise ValueError(f"symbol {symbol!r}: must be 1..{MAX_SYMBOL_LENGTH} characters (Binance's limit)")
            self._specs.update((spec.name, spec) for spec in _served(symbol))

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        """Every served name, symbol by symbol."""
        return list(self._specs)

    def parse(self, name: str) -> StreamSpec | None:
        """The stream ``name`` denotes, or ``None`` if it is not one served here."""
        if len(name) > MAX_STREAM_NAME_LENGTH:
            return None
        return self._specs.get(name)
