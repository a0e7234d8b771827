"""Venue names as users type them -> adapter classes (``"module:Class"``, imported on use).

Some venue names cover two protocol generations; the shipped captures use the
older ones (Kraken WebSocket v1, Bybit's legacy ``/realtime``), so when a
capture's connection URL is known it picks the generation.
"""

from __future__ import annotations

from typing import Final

from hftpipe.runtime.loader import load_class
from stages.marketdata.venues.adapter import VenueAdapter

ADAPTERS: Final = {
    "binance": "stages.marketdata.venues.binance.adapter:BinanceAdapter",
    "binance-futures": "stages.marketdata.venues.binance.adapter:BinanceFuturesAdapter",
    "coinbase": "stages.marketdata.venues.coinbase.exchange:CoinbaseAdapter",
    "coinbase-advanced": "stages.marketdata.venues.coinbase.advanced:CoinbaseAdvancedAdapter",
    "kraken": "stages.marketdata.venues.kraken.v1:KrakenV1Adapter",
    "kraken-v2": "stages.marketdata.venues.kraken.v2:KrakenV2Adapter",
    "bybit": "stages.marketdata.venues.bybit.v5:BybitAdapter",
    "bybit-legacy": "stages.marketdata.venues.bybit.legacy:BybitLegacyAdapter",
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


def adapter_class(venue: str, connect_url: str | None = None) -> type[VenueAdapter]:
    """The adapter class for ``venue`` (see :func:`adapter_path`), imported now."""
    return load_class(adapter_path(venue, connect_url), "venue", VenueAdapter)
