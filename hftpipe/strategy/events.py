"""What a strategy's handlers are given besides books: trades, bars and order reports.

The stage reuses one object of each kind per instrument: a handler reads it
during the call and copies what it wants to keep (the fields are plain ints).
"""

from __future__ import annotations

import math

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BarKind
from hftpipe.schema.trading import ExecType, OrderSide, RejectReason
from hftpipe.strategy.orders import Order


class Trade:
    """A public trade on the venue. ``aggressor`` is the taker's side (BUY lifts the offer)."""

    __slots__ = ("aggressor", "instrument", "price", "qty", "trade_id", "ts_origin", "ts_venue")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.price = 0
        self.qty = 0
        self.trade_id = 0
        self.aggressor = OrderSide.BUY
        self.ts_venue = 0
        self.ts_origin = 0

    def __repr__(self) -> str:
        inst = self.instrument
        return f"Trade({inst.symbol} {self.aggressor.name} {inst.qty_text(self.qty)} @ {inst.price_text(self.price)})"


class Bar:
    """An OHLCV bar closed by the book stage (time, tick or volume bar: ``kind``, ``interval``)."""

    __slots__ = (
        "close", "high", "instrument", "interval", "kind", "low", "open", "trades", "ts_origin", "ts_venue",
        "volume", "vwap",
    )  # fmt: skip

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.open = self.high = self.low = self.close = 0
        self.volume = 0
        self.vwap = 0
        self.trades = 0
        self.kind = BarKind.TIME
        self.interval = 0
        self.ts_venue = 0
        """The bar's open time (venue wall clock, ns)."""
        self.ts_origin = 0

    def __repr__(self) -> str:
        t = self.instrument.price_text
        return f"Bar({self.instrument.symbol} O {t(self.open)} H {t(self.high)} L {t(self.low)} C {t(self.close)})"


class OrderReport:
    """What happened to one of the strategy's orders: ``order`` is already updated when a handler sees it."""

    __slots__ = (
        "est_avg_price",
        "est_mid_bps",
        "est_qty",
        "est_touch_bps",
        "exec_type",
        "fee",
        "fill_mid_bps",
        "fill_touch_bps",
        "last_price",
        "last_qty",
        "order",
        "reason",
        "venue_code",
    )

    def __init__(self) -> None:
        self.order: Order | None = None
        self.exec_type = ExecType.ACK
        self.last_price = 0
        self.last_qty = 0
        self.fee = 0
        self.reason = RejectReason.NONE
        self.venue_code = 0
        self.est_avg_price = 0
        """The average price execution estimated for the order when it sent it, walking its book (0: none)."""
        self.est_qty = 0
        """What that walk priced of the order (0: nothing: a resting order, or no estimate)."""
        self.est_touch_bps = math.nan
        """The estimate's cost against the touch when sent, bps (positive: worse than the touch; NaN: none)."""
        self.est_mid_bps = math.nan
        self.fill_touch_bps = math.nan
        """This fill's realized cost against the same touch, bps (NaN: not a fill, or no estimate)."""
        self.fill_mid_bps = math.nan

    @property
    def is_fill(self) -> bool:
        return self.exec_type in (ExecType.FILL, ExecType.PARTIAL_FILL)

    def __repr__(self) -> str:
        why = f" {self.reason.name}" if self.reason else ""
        return f"OrderReport({self.exec_type.name}{why} {self.order!r})"
