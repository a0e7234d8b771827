"""Take the side the book leans to: size piled on one side of the top levels tends to push the price away from it.

On every book update, the imbalance of the top ``levels`` levels,
``(bid size - ask size) / (bid size + ask size)`` in -1..+1, is compared with
``threshold``: beyond ``+threshold`` the strategy buys ``qty`` at the best ask,
beyond ``-threshold`` it sells at the best bid. Only strictly beyond: at
exactly the threshold nothing is sent.

The order is an IOC limit at the touch: it takes what the touch shows and
nothing worse (a market order could sweep levels the decision never saw),
and it never rests, so a signal that has passed leaves no order behind.

After an order, the instrument is quiet for ``cooldown_ms`` of the stage's
clock (record time in a replay, so a replay sends the same orders every
run): one lopsided book seen on consecutive updates is one signal, not
many. ``max_position`` bounds the position either way, counting open
orders as filled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hftpipe.runtime.validation import ConfigError, at_least, within
from hftpipe.schema.marketdata import DEPTH_LEVELS
from hftpipe.strategy import BookView, OrderSide, Strategy, TimeInForce
from stages.trading.strategy.builtin._common import decimal_param, room, size_within, sizes

NANOS_PER_MS = 1_000_000


class Imbalance(Strategy):
    """IOC taker on top-N book imbalance (see the module docstring)."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        qty: str = "1"
        """Size of each order, base units (a decimal string; rounded down to the lot)."""
        levels: int = 5
        """Levels per side summed into the imbalance, 1..20 (1: top of book only)."""
        threshold: float = 0.6
        """The imbalance must be beyond ±threshold to trade, 0 < threshold < 1."""
        cooldown_ms: int = 1000
        """Quiet time per instrument after each order, ms of the stage clock (>= 0)."""
        max_position: str = "10"
        """Largest position either way, open orders counted as filled, base units (>= qty)."""

        def __post_init__(self) -> None:
            decimal_param("qty", self.qty)
            within("levels", self.levels, 1, DEPTH_LEVELS)
            if not (math.isfinite(self.threshold) and 0 < self.threshold < 1):
                raise ConfigError("threshold", f"must be strictly between 0 and 1, got {self.threshold}")
            at_least("cooldown_ms", self.cooldown_ms, 0)
            decimal_param("max_position", self.max_position)
            size_within(self.qty, "max_position", self.max_position)

    params: Params

    def on_start(self) -> None:
        p = self.params
        self._cooldown_ns = p.cooldown_ms * NANOS_PER_MS
        self._qty, self._limit = sizes(self, p.qty, p.max_position)
        self._quiet_until: dict[int, int] = dict.fromkeys(self._qty, -1)

    def on_book(self, book: BookView) -> None:
        key = book.id
        qty = self._qty.get(key)
        if qty is None or not (book.synced and book.two_sided) or self.now < self._quiet_until[key]:
            return
        imbalance = book.imbalance(self.params.levels)
        threshold = self.params.threshold
        if imbalance > threshold:
            side, price = OrderSide.BUY, book.ask_price
        elif imbalance < -threshold:
            side, price = OrderSide.SELL, book.bid_price
        else:
            return
        if not room(self, key, side, qty, self._limit[key]):
            return
        if side is OrderSide.BUY:
            order = self.buy(key, qty, price, tif=TimeInForce.IOC)
        else:
            order = self.sell(key, qty, price, tif=TimeInForce.IOC)
        if order is not None:
            self._quiet_until[key] = self.now + self._cooldown_ns
