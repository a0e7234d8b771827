"""The two symbols the exchange's stage tests trade, as ``[[exchange.symbols]]`` tables."""

from __future__ import annotations

from typing import Any

BTCUSDT: dict[str, Any] = {
    "symbol": "BTCUSDT",
    "base": "BTC",
    "quote": "USDT",
    "tick_size": "0.01",
    "step_size": "0.00001",
    "min_qty": "0.00001",
    "max_qty": "9000",
    "initial_price": "60000",
}
ETHUSDT: dict[str, Any] = {
    "symbol": "ETHUSDT",
    "base": "ETH",
    "quote": "USDT",
    "tick_size": "0.01",
    "step_size": "0.0001",
    "min_qty": "0.0001",
    "max_qty": "9000",
    "initial_price": "3000",
}


def symbol_tables(**extra: Any) -> list[dict[str, Any]]:
    """BTCUSDT (symbol id 1) and ETHUSDT (2), each with ``extra`` keys added."""
    return [{**table, **extra} for table in (BTCUSDT, ETHUSDT)]
