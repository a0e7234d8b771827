"""One side of a price-time-priority order book: price levels in sorted order, a FIFO per level.

Layout (chosen for CPython speed, all operations deterministic):

* ``PriceLadder.keys``: the level keys in ascending order, the **best at the end**.
  The key is the price for bids and ``-price`` for asks, so on both sides the
  best level is ``keys[-1]`` (O(1)), leaving the best level is ``keys.pop()``
  (O(1)), and "does a taker limit cross this level" is one comparison of keys.
  Adding or removing another level is a ``bisect`` (O(log L)) plus a C memmove of
  the list (L = number of levels, small next to the number of orders).
* ``PriceLadder.levels``: key -> :class:`PriceLevel`; each level holds a ``deque`` of
  :class:`Order` nodes in arrival order, its total open quantity and its count of
  live orders.
* Cancel is O(1) and lazy: the engine finds the order by id in a dict, sets its
  ``leaves`` to 0 and fixes the level's ``total``/``live``; the dead node stays in
  the deque until it reaches the front (matching pops it) or the level is
  compacted (when dead nodes outnumber live ones by more than ``COMPACT_SLACK``)
  or emptied (then the whole level goes).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator
from typing import Final

from hftpipe.schema.exchange import OrderStatus

COMPACT_SLACK: Final = 16
"""A level rebuilds its deque when it holds more than ``2 * live + COMPACT_SLACK`` nodes."""


class Order:
    """An accepted order: the engine's mutable node (callers get :class:`OrderInfo` snapshots).

    ``leaves`` is the open quantity; 0 means the order is no longer on the book
    (filled, canceled or expired). ``key`` is ``(account, client_order_id)``.
    """

    __slots__ = (
        "account",
        "client_order_id",
        "cum_qty",
        "key",
        "leaves",
        "order_id",
        "order_type",
        "price",
        "qty",
        "quote_qty",
        "side",
        "status",
        "stp_mode",
        "tif",
        "time_ns",
    )

    def __init__(
        self,
        order_id: int,
        client_order_id: int,
        account: int,
        side: int,
        order_type: int,
        tif: int,
        price: int,
        qty: int,
        quote_qty: int,
        stp_mode: int,
        time_ns: int,
        key: tuple[int, int],
    ) -> None:
        self.order_id = order_id
        self.client_order_id = client_order_id
        self.account = account
        self.side = side
        self.order_type = order_type
        self.tif = tif
        self.price = price
        self.qty = qty
        self.quote_qty = quote_qty
        self.stp_mode = stp_mode
        self.time_ns = time_ns
        self.key = key
        self.leaves = qty
        self.cum_qty = 0
        self.status = OrderStatus.NEW

    def __repr__(self) -> str:
        return (
            f"Order(id={self.order_id}, account={self.account}, side={self.side}, price={self.price}, "
            f"qty={self.qty}, leaves={self.leaves}, cum={self.cum_qty}, status={self.status!r})"
        )


class PriceLevel:
    """All orders at one price, oldest first; ``total`` and ``live`` count only open orders."""

    __slots__ = ("live", "price", "queue", "total")

    def __init__(self, price: int) -> None:
        self.price = price
        self.total = 0
        self.live = 0
        self.queue: deque[Order] = deque()

    def compact(self) -> None:
        self.queue = deque(o for o in self.queue if o.leaves)

    def orders(self) -> Iterator[Order]:
        """Open orders in time priority."""
        return (o for o in self.queue if o.leaves)


class PriceLadder:
    """Bids (``sign = +1``) or asks (``sign = -1``); see the module docstring."""

    __slots__ = ("keys", "levels", "sign")

    def __init__(self, sign: int) -> None:
        if sign not in (1, -1):
            raise ValueError(f"sign must be +1 (bids) or -1 (asks), got {sign}")
        self.sign = sign
        self.keys: list[int] = []
        self.levels: dict[int, PriceLevel] = {}

    def __bool__(self) -> bool:
        return bool(self.keys)

    def __len__(self) -> int:
        """Number of price levels."""
        return len(self.keys)

    def best_price(self) -> int | None:
        return self.levels[self.keys[-1]].price if self.keys else None

    def best_level(self) -> PriceLevel | None:
        return self.levels[self.keys[-1]] if self.keys else None

    def add(self, order: Order) -> None:
        """Append ``order`` (``leaves > 0``) at the back of its price level."""
        key = order.price * self.sign
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = PriceLevel(order.price)
            insort(self.keys, key)
        level.queue.append(order)
        level.live += 1
        level.total += order.leaves

    def remove(self, order: Order) -> int:
        """Take a resting order off the book lazily; returns the quantity it had open."""
        key = order.price * self.sign
        level = self.levels[key]
        leaves = order.leaves
        order.leaves = 0
        level.live -= 1
        level.total -= leaves
        if not level.live:
            self.drop_level(key)
        elif len(level.queue) > 2 * level.live + COMPACT_SLACK:
            level.compact()
        return leaves

    def drop_level(self, key: int) -> None:
        del self.levels[key]
        keys = self.keys
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def depth(self, n: int) -> list[tuple[int, int]]:
        """The best ``n`` levels as ``(price, total open qty)``, best first."""
        levels = self.levels
        return [(levels[k].price, levels[k].total) for k in self.keys[: -n - 1 : -1]] if n > 0 else []

    def iter_levels(self) -> Iterator[PriceLevel]:
        """Levels best first."""
        levels = self.levels
        return (levels[k] for k in reversed(self.keys))

    def iter_orders(self) -> Iterator[Order]:
        """Open orders in priority order: best price first, then oldest first."""
        for level in self.iter_levels():
            yield from level.orders()

    def total_qty(self) -> int:
        return sum(level.total for level in self.levels.values())

    def check_invariants(self) -> None:
        """Raise ``AssertionError`` if the structure is inconsistent (tests, benchmarks)."""
        keys = self.keys
        if keys != sorted(set(keys)):
            raise AssertionError(f"level keys not strictly ascending: {keys}")
        if set(keys) != set(self.levels):
            raise AssertionError("keys and levels disagree")
        for key, level in self.levels.items():
            if level.price * self.sign != key:
                raise AssertionError(f"level {level.price} filed under key {key}")
            live = [o for o in level.queue if o.leaves]
            if not live:
                raise AssertionError(f"empty level {level.price} left on the book")
            if level.live != len(live) or level.total != sum(o.leaves for o in live):
                raise AssertionError(f"level {level.price}: live/total out of step")
            if any(o.price != level.price for o in live):
                raise AssertionError(f"order at the wrong level {level.price}")
            ids = [o.order_id for o in live]
            if ids != sorted(ids):
                raise AssertionError(f"level {level.price} not in time priority: {ids}")
