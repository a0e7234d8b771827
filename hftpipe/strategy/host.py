"""What a :class:`~hftpipe.strategy.Strategy` needs from whatever runs it.

The strategy stage implements it (``stages/trading/strategy``); a backtest
or a test harness can implement it too, and the same strategy code runs on
either unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import Contingency, IntentFlag, OrderSide, OrderType, TimeInForce
from hftpipe.strategy.book import BookView
from hftpipe.strategy.orders import Order
from hftpipe.strategy.position import Position
from hftpipe.strategy.pricing import Number
from hftpipe.strategy.synthetic import Leg

InstrumentKey = int | str
"""An instrument id or its symbol."""


class Updating(Protocol):
    """Anything fed from market data: the indicators of :mod:`hftpipe.strategy.indicators` are.

    ``update`` takes as many floats as its source gives (``RSI.update(x)``,
    ``ATR.update(high, low, close)``); a property here, because a method
    ``update(self, *values)`` would not match an indicator's fixed arguments.
    """

    @property
    def update(self) -> Callable[..., object]: ...


class StrategyHost(Protocol):
    strategy_id: int
    name: str
    logger: logging.Logger

    @property
    def books(self) -> Mapping[int, BookView]: ...

    @property
    def now(self) -> int: ...

    @property
    def enabled(self) -> bool: ...

    def instrument(self, key: InstrumentKey) -> Instrument: ...

    def book(self, key: InstrumentKey) -> BookView: ...

    def position(self, key: InstrumentKey) -> Position: ...

    def open_orders(self, key: InstrumentKey | None = None) -> Collection[Order]: ...

    def realized_pnl(self) -> float: ...

    def submit(
        self,
        side: OrderSide,
        key: InstrumentKey,
        qty: Number,
        price: Number | None,
        order_type: OrderType,
        tif: TimeInForce,
        flags: IntentFlag,
    ) -> Order | None: ...

    def submit_synthetic(
        self, key: InstrumentKey, legs: Sequence[Leg], contingency: Contingency
    ) -> tuple[Order, ...] | None: ...

    def cancel(self, order: Order) -> bool: ...

    def replace(self, order: Order, price: Number | None, qty: Number | None) -> Order | None: ...

    def cancel_all(self, key: InstrumentKey | None = None) -> int: ...

    def set_timer(self, name: str, interval_ns: int, repeat: bool) -> None: ...

    def set_alarm(self, name: str, at_ns: int) -> None: ...

    def cancel_timer(self, name: str) -> bool: ...

    def register(self, indicator: Updating, key: InstrumentKey, source: str) -> None: ...
