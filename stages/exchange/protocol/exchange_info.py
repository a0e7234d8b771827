"""Binance's ``exchangeInfo`` document, built from :class:`~stages.exchange.protocol.settings.ExchangeSettings`.

One builder serves both the WebSocket API (``exchangeInfo`` method, gateway) and
the REST ``GET /api/v3/exchangeInfo`` (publisher), so a client sees the same
rules on both. Numbers are the configured decimal strings, written the way
Binance writes them (eight decimals: ``"0.01000000"``), so clients that derive
precisions from ``tickSize``/``stepSize`` text get the symbol's real scales.

What the exchange supports, and therefore what the document advertises:
LIMIT, LIMIT_MAKER and MARKET orders (``quoteOrderQty`` included),
cancel-replace, the STP modes of the matching engine; no iceberg, OCO/OTO,
trailing stops, amend or margin. The NOTIONAL filter applies its minimum to
MARKET orders against the last trade price (``avgPriceMins`` 0), as the engine
does; a configured ``max_notional`` of 0 (no maximum) is shown as the largest
amount a balance can hold.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

from hftpipe.schema.exchange import ASSET_SCALE, STPMode
from stages.exchange.protocol.settings import ExchangeSettings, RateLimitSettings, SymbolSettings

STP_MODES: Final = tuple(mode.name for mode in sorted(STPMode))
"""Binance ``selfTradePreventionMode`` names; the index is the records' ``stp_mode`` value."""
DEFAULT_STP_MODE: Final = "EXPIRE_MAKER"
"""What an order without ``selfTradePreventionMode`` gets (Binance's default on most symbols)."""
ORDER_TYPES: Final = ("LIMIT", "LIMIT_MAKER", "MARKET")
"""Binance order type names accepted here (``records.OrderType`` values 0, 2, 1)."""
PRECISION: Final = ASSET_SCALE
"""Base/quote (commission) precision: every balance has eight decimals."""
NO_MAX_NOTIONAL: Final = "92233720368.54775807"
"""``maxNotional`` shown when none is configured: the largest int64 at eight decimals."""


class UnknownSymbolError(ValueError):
    """A requested symbol is not listed here (Binance: -1121 "Invalid symbol.")."""

    def __init__(self, symbol: str) -> None:
        super().__init__(f"Invalid symbol: {symbol!r}")
        self.symbol = symbol


def binance_decimal(text: str, decimals: int = PRECISION) -> str:
    """A configured decimal string padded (never rounded) to ``decimals`` places: "0.01" -> "0.01000000"."""
    value = Decimal(text)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > decimals:
        return format(value.normalize(), "f")  # more decimals than Binance shows: keep them all
    return f"{value:.{decimals}f}"


def rate_limits_info(limits: RateLimitSettings) -> list[dict[str, Any]]:
    """The ``rateLimits`` array of exchangeInfo (no ``count``: that is per response)."""
    return [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": limits.request_weight_per_minute,
        },
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": limits.orders_per_10s},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": limits.orders_per_day},
        {"rateLimitType": "CONNECTIONS", "interval": "MINUTE", "intervalNum": 5, "limit": limits.connections_per_5min},
    ]


def symbol_filters(symbol: SymbolSettings) -> list[dict[str, Any]]:
    text = symbol.text
    max_notional = text.get("max_notional", "0")
    return [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": binance_decimal(text.get("min_price", "0")),
            "maxPrice": binance_decimal(text.get("max_price", "0")),
            "tickSize": binance_decimal(text["tick_size"]),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": binance_decimal(text.get("min_qty", "0")),
            "maxQty": binance_decimal(text.get("max_qty", "0")),
            "stepSize": binance_decimal(text["step_size"]),
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": binance_decimal(text.get("min_notional", "0")),
            "applyMinToMarket": True,
            "maxNotional": binance_decimal(max_notional) if Decimal(max_notional) > 0 else NO_MAX_NOTIONAL,
            "applyMaxToMarket": False,
            "avgPriceMins": 0,
        },
    ]


def symbol_info(symbol: SymbolSettings) -> dict[str, Any]:
    return {
        "symbol": symbol.symbol,
        "status": "TRADING",
        "baseAsset": symbol.base,
        "baseAssetPrecision": PRECISION,
        "quoteAsset": symbol.quote,
        "quotePrecision": PRECISION,
        "quoteAssetPrecision": PRECISION,
        "baseCommissionPrecision": PRECISION,
        "quoteCommissionPrecision": PRECISION,
        "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": True,
        "allowAmend": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": symbol_filters(symbol),
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": DEFAULT_STP_MODE,
        "allowedSelfTradePreventionModes": list(STP_MODES),
    }


def build_exchange_info(settings: ExchangeSettings, symbols: Sequence[str] | None = None) -> dict[str, Any]:
    """Binance's exchangeInfo for every configured symbol, or for ``symbols`` in the order given.

    Raises :class:`UnknownSymbolError` (a ``ValueError``) for a symbol not configured.
    """
    if symbols is None:
        chosen = list(settings.symbols)
    else:
        chosen = []
        for name in symbols:
            found = settings.symbol(name)
            if found is None:
                raise UnknownSymbolError(name)
            chosen.append(found)
    return {
        "timezone": "UTC",
        "serverTime": time.time_ns() // 1_000_000,
        "rateLimits": rate_limits_info(settings.rate_limits),
        "exchangeFilters": [],
        "symbols": [symbol_info(symbol) for symbol in chosen],
    }
