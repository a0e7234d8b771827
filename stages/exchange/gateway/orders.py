"""What the gateway remembers about open orders, for the events that do not repeat it.

A TRADE or CANCELED record names the order and its fills, not its price, type
or time in force, which an ``executionReport`` and a cancel response show.
Every live NEW event passes through the gateway (accounting forwards all of
them), so it keeps those attributes per (symbol, orderId) while the order is
open and forgets them when it ends. Orders that were resting before a
restart are unknown here until an ORDER query record names them; their
events then fall back to what the record itself carries.
"""

from __future__ import annotations

from typing import Final

from stages.exchange.gateway.formatter import OrderInfo

MAX_ORDERS: Final = 1_000_000


class OrderCache:
    def __init__(self, capacity: int = MAX_ORDERS) -> None:
        self._capacity = capacity
        self._orders: dict[tuple[int, int], OrderInfo] = {}

    def __len__(self) -> int:
        return len(self._orders)

    def get(self, instrument: int, order_id: int) -> OrderInfo | None:
        return self._orders.get((instrument, order_id))

    def put(self, info: OrderInfo) -> None:
        key = (info.instrument, info.order_id)
        if key not in self._orders and len(self._orders) >= self._capacity:
            self._orders.pop(next(iter(self._orders)))  # the oldest order: dicts keep insertion order
        self._orders[key] = info

    def pop(self, instrument: int, order_id: int) -> OrderInfo | None:
        return self._orders.pop((instrument, order_id), None)
