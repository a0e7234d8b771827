"""What risk knows of each instrument's market: the touch, the book's state and when it was last current.

Fed from the BBO / DEPTH records the book stage publishes
(:meth:`stages.trading.risk.checks.PreTradeChecks.on_book`); the checks
read it for data freshness, the price band, a market order's notional and
the exposure mark. The top N levels (:class:`Depth`) are kept only when a
slippage bound needs them: the slippage check walks them.
"""

from __future__ import annotations

from hftpipe.schema.marketdata import BookState
from hftpipe.schema.trading import OrderSide
from hftpipe.strategy.slippage import DEPTH_SIZE, SlippageEstimate, estimate_from_depth, estimate_slippage

_SYNCED = int(BookState.SYNCED)


class Touch:
    """One instrument's best bid and ask (fixed point, 0: that side is empty) and its book's state."""

    __slots__ = ("ask", "ask_qty", "bid", "bid_qty", "state", "time_ns")

    def __init__(self) -> None:
        self.bid = 0
        self.bid_qty = 0
        self.ask = 0
        self.ask_qty = 0
        self.state = int(BookState.RESYNCING)
        """No order leaves before the first SYNCED update."""
        self.time_ns = 0
        """When the book was last current (the caller's clock, ns)."""

    def update(self, bid: int, bid_qty: int, ask: int, ask_qty: int, state: int, now: int) -> None:
        self.bid = bid
        self.bid_qty = bid_qty
        self.ask = ask
        self.ask_qty = ask_qty
        self.state = state
        self.time_ns = now

    @property
    def usable(self) -> bool:
        """SYNCED and two-sided: a band, a market order's notional and a mark all need both sides."""
        return self.state == _SYNCED and self.bid > 0 and self.ask > 0

    @property
    def mark(self) -> int:
        """The mid, rounded down to the price scale's unit (0 with an empty side): what positions are valued at."""
        return (self.bid + self.ask) // 2 if self.bid > 0 and self.ask > 0 else 0


class Depth:
    """One instrument's last DEPTH record, current while the touch is the one it showed.

    A BBO (or a book-state record) that moves the touch makes it stale until the
    next DEPTH: the walk then sees the touch alone, so it never prices an order
    on levels older than the top of book.
    """

    __slots__ = ("current", "record")

    def __init__(self) -> None:
        self.record = bytearray(DEPTH_SIZE)
        self.current = False

    def take(self, buf: memoryview | bytes, offset: int) -> None:
        self.record[:] = buf[offset : offset + DEPTH_SIZE]
        self.current = True

    def estimate(self, touch: Touch, side: OrderSide, qty: int, limit_price: int) -> SlippageEstimate:
        """The walk of an order of ``qty`` (``limit_price`` 0: a market order) on the levels, or on the touch alone."""
        if self.current:
            return estimate_from_depth(self.record, side, qty, limit_price)
        return estimate_slippage(side, qty, (touch.bid,), (touch.bid_qty,), (touch.ask,), (touch.ask_qty,), limit_price)
