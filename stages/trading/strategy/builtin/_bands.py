"""What momentum and mean reversion share: RSI and Bollinger bands on bar closes, IOC orders at the touch, limits.

Both read the same two indicators on each closed bar and differ only in
which way they bet (:meth:`BandStrategy.decide`). The indicators are
registered on ``bar.close``, so the host updates them before ``on_bar``
runs and the bar's own close is in them.

Orders are IOC limits at the touch (a buy at the best ask, a sell at the
best bid): a signal on a closed bar is acted on now or not at all, a
resting order would need managing as the bars move on, and the limit price
caps what a thin book can cost. While an order of the instrument is still
open (its IOC answer not back) the next bar sends nothing, so one signal is
never sent twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from hftpipe.runtime.validation import ConfigError, at_least
from hftpipe.strategy import Bar, BookView, OrderSide, Strategy, TimeInForce
from hftpipe.strategy.indicators import RSI, BollingerBands
from stages.trading.strategy.builtin._common import decimal_param, fixed_qty, order_qty, room, size_within, traded_books


@dataclass(frozen=True, slots=True, kw_only=True)
class BandParams:
    qty: str = "1"
    """Size of each entry, base units (a decimal string; rounded down to the lot)."""
    max_position: str = "1"
    """Largest position either way, open orders counted as filled, base units (>= qty)."""
    rsi_period: int = 14
    bb_period: int = 20
    bb_k: float = 2.0
    """Band width, population standard deviations (TA-Lib's ``nbdevup``/``nbdevdn``)."""
    rsi_high: float = 70.0
    """RSI above this confirms strength (0 < rsi_low < rsi_high < 100)."""
    rsi_low: float = 30.0
    """RSI below this confirms weakness."""

    def __post_init__(self) -> None:
        decimal_param("qty", self.qty)
        decimal_param("max_position", self.max_position)
        size_within(self.qty, "max_position", self.max_position)
        at_least("rsi_period", self.rsi_period, 1)
        at_least("bb_period", self.bb_period, 2)
        if not (math.isfinite(self.bb_k) and self.bb_k > 0):
            raise ConfigError("bb_k", f"must be a finite number > 0, got {self.bb_k}")
        if not 0 < self.rsi_high < 100:
            raise ConfigError("rsi_high", f"must be strictly between 0 and 100, got {self.rsi_high}")
        if not 0 < self.rsi_low < self.rsi_high:
            raise ConfigError("rsi_low", f"must be > 0 and < rsi_high ({self.rsi_high}), got {self.rsi_low}")


class BandStrategy(Strategy):
    """RSI + Bollinger bands per instrument; subclasses say what a bar means in :meth:`decide`."""

    params: BandParams

    def on_start(self) -> None:
        p = self.params
        self.rsi: dict[int, RSI] = {}
        self.bands: dict[int, BollingerBands] = {}
        self._qty: dict[int, int] = {}
        self._limit: dict[int, int] = {}
        for book in traded_books(self):
            qty = order_qty(self, Decimal(p.qty), book.instrument)
            if qty is None:
                continue
            self._qty[book.id] = qty
            self._limit[book.id] = fixed_qty(Decimal(p.max_position), book.instrument)
            self.rsi[book.id] = self.indicator(RSI(p.rsi_period), book.id, "bar.close")
            self.bands[book.id] = self.indicator(BollingerBands(p.bb_period, p.bb_k), book.id, "bar.close")

    def on_bar(self, bar: Bar) -> None:
        key = bar.instrument.id
        qty = self._qty.get(key)
        if qty is None:
            return
        rsi, bands = self.rsi[key].value, self.bands[key].value
        if rsi is None or bands is None or self.open_orders(key):
            return
        book = self.book(key)
        if not (book.synced and book.two_sided):
            return
        upper, middle, lower = bands
        close = book.price_f(bar.close)
        position = self.position(key).qty
        side, size = self.decide(close, rsi, upper, middle, lower, position, qty)
        if side is None or size <= 0:
            return
        closing = position != 0 and (position > 0) == (side is OrderSide.SELL) and size <= abs(position)
        if not closing and not room(self, key, side, size, self._limit[key]):
            return
        self._send(book, side, size, closing)

    def decide(
        self, close: float, rsi: float, upper: float, middle: float, lower: float, position: int, qty: int
    ) -> tuple[OrderSide | None, int]:
        """``(side, size)`` to trade on this bar, or ``(None, 0)``; ``position`` and sizes fixed point."""
        raise NotImplementedError

    def _send(self, book: BookView, side: OrderSide, size: int, closing: bool) -> None:
        if side is OrderSide.BUY:
            self.buy(book.id, size, book.ask_price, tif=TimeInForce.IOC, reduce_only=closing)
        else:
            self.sell(book.id, size, book.bid_price, tif=TimeInForce.IOC, reduce_only=closing)
