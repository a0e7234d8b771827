"""Venue names as users type them -> adapter classes (``"module:Class"``, imported on use).

Some venue names cover two protocol generations; the shipped captures use the
older ones (Kraken WebSocket v1, Bybit's legacy ``/realtime``), so when a
capture's connection URL is known it picks the generation.
"""

from __future__ import annotations

from typing import Final

ADAPTERS: Final = {
    "binance": "stages.feed.binance:BinanceAdapter",
    "binance-futures": "stages.feed.binance:BinanceFuturesAdapter",
    "coinbase": "stages.feed.coinbase:CoinbaseAdapter",
    "coinbase-advanced": "stages.feed.coinbase_advanced:CoinbaseAdvancedAdapter",
    "kraken": "stages.feed.kraken:KrakenV1Adapter",
    "kraken-v2": "stages.feed.kraken:KrakenV2Adapter",
    "bybit": "stages.feed.bybit:BybitAdapter",
    "bybit-legacy": "stages.feed.bybit_legacy:BybitLegacyAdapter",
}

VENUE_CHOICES: Final = tuple(ADAPTERS)


def adapter_path(venue: str, connect_url: str | None = None) -> str:
    """The adapter for ``venue``, choosing the protocol generation from ``connect_url``."""
    if venue not in ADAPTERS:
        raise ValueError(f"unknown venue {venue!r}; expected one of {', '.join(ADAPTERS)}")
    url = connect_url or ""
    if venue == "kraken" and url.rstrip("/").endswith("/v2"):
        return ADAPTERS["kraken-v2"]
    if venue == "bybit" and url.rstrip("/").endswith("/realtime"):
        return ADAPTERS["bybit-legacy"]
    return ADAPTERS[venue]
