"""A strategy's position in one instrument from its own fills: size, average cost, realized PnL.

Integers throughout: ``cost`` is the open size's entry cost at
``price_scale + qty_scale`` decimals (price × qty) and ``realized`` is in
quote units at that scale; the only rounding is the share of cost a partial
close takes, truncated at that last decimal. Average
cost (the open quantity's weighted entry price) is the method here; the risk
stage offers FIFO and LIFO as well.
"""

from __future__ import annotations

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import OrderSide


class Position:
    __slots__ = ("_notional_unit", "_price_unit", "cost", "fees", "fills", "instrument", "qty", "realized", "volume")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.qty = 0
        """Signed size, fixed point at the qty scale: > 0 long, < 0 short."""
        self.cost = 0
        """Entry cost of the open size, Σ price × qty (signed like ``qty``)."""
        self.realized = 0
        """Realized PnL, quote units at ``price_scale + qty_scale`` decimals, fees not deducted."""
        self.fees = 0
        """Fees paid, fixed point at the instrument's price scale (quote units)."""
        self.fills = 0
        self.volume = 0
        """Traded quantity, both sides."""
        self._price_unit = 10.0**-instrument.price_scale
        self._notional_unit = 10.0 ** -(instrument.price_scale + instrument.qty_scale)

    def apply_fill(self, side: OrderSide, price: int, qty: int, fee: int = 0) -> int:
        """Book a fill; returns the PnL it realized (notional scale). Flips through zero re-open at ``price``."""
        signed = qty if side is OrderSide.BUY else -qty
        realized = 0
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            self.qty += signed
            self.cost += price * signed
        else:
            closing = min(abs(signed), abs(self.qty))
            direction = 1 if self.qty > 0 else -1
            # the closed part's share of the entry cost (truncated at the notional scale)
            share = abs(self.cost) if closing == abs(self.qty) else abs(self.cost) * closing // abs(self.qty)
            realized = (price * closing - share) * direction  # sell above cost (long), buy below it (short)
            self.cost -= share * direction
            self.qty -= closing * direction
            rest = abs(signed) - closing
            if rest:  # through zero: the rest opens the other way at this price
                self.qty = rest if signed > 0 else -rest
                self.cost = price * self.qty
        self.realized += realized
        self.fees += fee
        self.fills += 1
        self.volume += qty
        return realized

    @property
    def avg_price(self) -> float:
        """Average entry price of the open size, price units (0.0 when flat)."""
        if not self.qty:
            return 0.0
        return self.cost / self.qty * self._price_unit

    @property
    def realized_pnl(self) -> float:
        """Realized PnL in quote units, fees not deducted."""
        return self.realized * self._notional_unit

    def unrealized_pnl(self, mark: int) -> float:
        """PnL of the open size marked at the fixed-point price ``mark``, quote units."""
        return (mark * self.qty - self.cost) * self._notional_unit

    @property
    def qty_f(self) -> float:
        return self.qty * 10.0**-self.instrument.qty_scale

    def __repr__(self) -> str:
        inst = self.instrument
        size = inst.qty_text(self.qty)
        return f"Position({inst.symbol} {size} @ {self.avg_price:.10g}, realized {self.realized_pnl:.10g})"
