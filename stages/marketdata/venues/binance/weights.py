"""What Binance's REST depth snapshots cost: request weight by ``limit``, and the per-IP weight limit.

Binance meters REST traffic per IP in request weight per minute; a depth
snapshot weighs more the more levels it asks for, and spot and USD-M futures
price them differently. Passing the limit earns 429, ignoring 429 earns a 418
ban, so the feed budgets its snapshots with these numbers (Binance docs:
spot "Order book" and "LIMITS", USD-M futures "Order Book" and "General Info").
"""

from __future__ import annotations

from typing import Final

SPOT_WEIGHT_PER_MINUTE: Final = 6000
"""``REQUEST_WEIGHT`` per IP per minute, spot (``/api/v3``)."""
FUTURES_WEIGHT_PER_MINUTE: Final = 2400
"""``REQUEST_WEIGHT`` per IP per minute, USD-M futures (``/fapi/v1``)."""

SPOT_DEPTH_WEIGHTS: Final[tuple[tuple[int, int], ...]] = ((100, 5), (500, 25), (1000, 50), (5000, 250))
"""``GET /api/v3/depth``: (largest ``limit``, weight), ascending."""
FUTURES_DEPTH_WEIGHTS: Final[tuple[tuple[int, int], ...]] = ((50, 2), (100, 5), (500, 10), (1000, 20))
"""``GET /fapi/v1/depth``: (largest ``limit``, weight), ascending."""


def depth_weight(limit: int, table: tuple[tuple[int, int], ...]) -> int:
    """The weight of a depth snapshot of ``limit`` levels; ValueError past what the venue serves."""
    if limit < 1:
        raise ValueError(f"a depth limit must be >= 1, got {limit}")
    for largest, weight in table:
        if limit <= largest:
            return weight
    raise ValueError(f"a depth limit must be <= {table[-1][0]}, got {limit}")
