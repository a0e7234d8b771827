"""Strategy prices and sizes → the instrument's fixed point, on its tick and lot, or refused.

A strategy may give a price or quantity as

- an ``int``: already fixed point at the instrument's scale (what
  :class:`~hftpipe.strategy.book.BookView` hands out), taken as is;
- a :class:`~decimal.Decimal`: exact;
- a ``float``: read to the nearest fixed-point unit when it is within float
  noise of one (``0.3`` is 30000000 at scale 8, not 29999999), otherwise
  rounded like an off-tick price.

The rule, in the ``passive`` mode (default): a price off the tick moves away
from the market — buys round down, sells round up — and a quantity rounds
down to the lot, so an order is never more aggressive or larger than asked;
a quantity that rounds to zero is refused. In the ``refuse`` mode anything
off the tick or lot is refused. Nothing is ever rounded across the book.
"""

from __future__ import annotations

import math
from decimal import Decimal
from enum import StrEnum
from typing import Final

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import RejectReason

Number = int | float | Decimal
_NOISE: Final = 1e-9


class Rounding(StrEnum):
    PASSIVE = "passive"
    REFUSE = "refuse"


class Refused(Exception):  # noqa: N818 - a refusal is an outcome, not an error
    """An order the API will not send; ``reason`` says why (it is counted, not raised to the strategy)."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason.name}{': ' + detail if detail else ''}")
        self.reason = reason


def _fixed(value: Number, scale: int, down: bool, exact: bool, off_step: RejectReason) -> int:
    """``value`` × 10^scale as an int; rounded down (or up) when it has more decimals than ``scale``."""
    if type(value) is int:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Refused(RejectReason.NOT_FINITE, repr(value))
        scaled = value * 10.0**scale
        nearest = round(scaled)
        if abs(scaled - nearest) <= _NOISE * max(1.0, abs(scaled)):
            return int(nearest)
        if exact:
            raise Refused(off_step, f"{value!r} has more than {scale} decimals")
        return math.floor(scaled) if down else math.ceil(scaled)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise Refused(RejectReason.NOT_FINITE, str(value))
        scaled_d = value.scaleb(scale)
        whole = int(scaled_d)  # toward zero
        if scaled_d == whole:
            return whole
        if exact:
            raise Refused(off_step, f"{value} has more than {scale} decimals")
        return math.floor(scaled_d) if down else math.ceil(scaled_d)
    if isinstance(value, int):  # bool and int subclasses
        return int(value)
    raise TypeError(f"a price or quantity must be int, float or Decimal, got {type(value).__name__}")


def to_price(value: Number, instrument: Instrument, buy: bool, rounding: Rounding = Rounding.PASSIVE) -> int:
    """A limit price in fixed point on the tick: buys round down, sells up (or refused)."""
    exact = rounding is Rounding.REFUSE
    price = _fixed(value, instrument.price_scale, buy, exact, RejectReason.PRICE_NOT_ON_TICK)
    off = price % instrument.tick
    if off:
        if exact:
            raise Refused(
                RejectReason.PRICE_NOT_ON_TICK, f"{instrument.price_text(price)} is not a multiple of the tick"
            )
        price = price - off if buy else price - off + instrument.tick
    if price <= 0:
        raise Refused(RejectReason.PRICE_NOT_POSITIVE, instrument.price_text(price))
    return price


def to_qty(value: Number, instrument: Instrument, rounding: Rounding = Rounding.PASSIVE) -> int:
    """A quantity in fixed point, down to the lot (or refused); never zero."""
    exact = rounding is Rounding.REFUSE
    qty = _fixed(value, instrument.qty_scale, True, exact, RejectReason.QTY_NOT_ON_LOT)
    off = qty % instrument.lot
    if off:
        if exact:
            raise Refused(RejectReason.QTY_NOT_ON_LOT, f"{instrument.qty_text(qty)} is not a multiple of the lot")
        qty -= off
    if qty <= 0:
        raise Refused(RejectReason.QTY_BELOW_LOT, f"{value} is less than one lot")
    return qty
