"""What an order would pay to take liquidity now: walk the visible depth, exactly.

:func:`estimate_slippage` walks the opposite side of the top-N book (a buy
the asks, best first) level by level, as a marketable order would fill, and
says what it would get: the quantity fillable within the visible levels (and
within a limit price, if it has one) and what is left over, the exact
notional, the average price, and the cost in basis points against the mid
and against the touch (the best opposite price).

Numbers: prices and quantities are the book's fixed-point ints; the notional
``sum(price * qty)`` is an exact Python int at ``price_scale + qty_scale``
decimals (it would overflow int64: 50 000.00000000 x 1.00000000 is 5e20), so
the exact average is the rational ``notional / filled_qty`` at the price
scale. :attr:`Fill.avg_price` rounds it *against the order* (a buy's up, a
sell's down): an estimate is never better than the book. The bps figures are
computed from the exact rational and rounded once, to a float.

Sign: a cost is positive. For a buy, paying above the reference; for a sell,
receiving below it. Against the touch the cost is never negative.

Undefined figures are NaN (nothing fillable; the mid of a one-sided book),
and NaN compares false with everything: a limit check must test
``filled_qty`` (or ``math.isnan``) before trusting a comparison.

O(levels), nothing allocated but the result (the arrays are read in place:
numpy views such as :class:`~hftpipe.strategy.BookView`'s work as they are).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Final, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from hftpipe.schema.trading import OrderSide

BPS: Final = 10_000
NAN: Final = math.nan

Levels: TypeAlias = Sequence[int] | npt.NDArray[np.int64]
"""Prices or quantities of one side, best first; a zero quantity (or price) ends the side."""


class Fill(NamedTuple):
    """What walking the book gives an order of ``qty``."""

    qty: int
    """Asked for."""
    filled_qty: int
    """Fillable within the visible levels (and the limit price)."""
    unfilled_qty: int
    """``qty - filled_qty``: beyond the visible depth, or beyond the limit price."""
    notional: int
    """``sum(price * qty)`` over the fills, exact, at ``price_scale + qty_scale`` decimals."""
    avg_price: int
    """``notional / filled_qty`` at the price scale, rounded against the order (buy up, sell down); 0: no fill."""
    worst_price: int
    """The last level it reached (0: none): the limit price an IOC needs to get ``filled_qty``."""
    levels: int
    """Levels it took from."""
    mid_bps: float
    """Cost against the mid, bps (NaN: no fill or one-sided book)."""
    touch_bps: float
    """Cost against the best opposite price, bps, >= 0 (NaN: no fill)."""

    @property
    def exact_avg_price(self) -> Fraction:
        """The unrounded average, at the price scale (0 with no fill)."""
        return Fraction(self.notional, self.filled_qty) if self.filled_qty else Fraction(0)


def estimate_slippage(
    side: OrderSide,
    qty: int,
    bid_prices: Levels,
    bid_qtys: Levels,
    ask_prices: Levels,
    ask_qtys: Levels,
    limit_price: int = 0,
) -> Fill:
    """Walk the opposite side for an order of ``side`` and ``qty``; ``limit_price`` 0: no limit (a market order)."""
    if qty <= 0:
        raise ValueError(f"qty must be positive, got {qty}")
    buy = side == OrderSide.BUY
    prices, qtys = (ask_prices, ask_qtys) if buy else (bid_prices, bid_qtys)
    remaining = qty
    notional = 0
    worst = 0
    used = 0
    for i in range(min(len(prices), len(qtys))):
        price, size = int(prices[i]), int(qtys[i])
        if size <= 0 or price <= 0:
            break
        if limit_price and (price > limit_price if buy else price < limit_price):
            break
        take = size if size < remaining else remaining
        notional += price * take
        remaining -= take
        worst = price
        used += 1
        if not remaining:
            break
    filled = qty - remaining
    if not filled:
        return Fill(qty, 0, qty, 0, 0, 0, 0, NAN, NAN)
    sign = 1 if buy else -1
    avg = -(-notional // filled) if buy else notional // filled
    touch = int(prices[0])
    touch_bps = sign * (notional - touch * filled) * BPS / (touch * filled)
    best_bid = int(bid_prices[0]) if len(bid_prices) and len(bid_qtys) and int(bid_qtys[0]) > 0 else 0
    best_ask = int(ask_prices[0]) if len(ask_prices) and len(ask_qtys) and int(ask_qtys[0]) > 0 else 0
    if best_bid > 0 and best_ask > 0:
        twice_mid = best_bid + best_ask
        mid_bps = sign * (2 * notional - twice_mid * filled) * BPS / (twice_mid * filled)
    else:
        mid_bps = NAN
    return Fill(qty, filled, remaining, notional, avg, worst, used, mid_bps, touch_bps)


def realized_slippage_bps(avg_fill_price: int | Fraction, reference: int, side: OrderSide) -> float:
    """Cost of fills at ``avg_fill_price`` against ``reference`` (the mid or touch when the order was decided), bps.

    Both at the price scale; ``avg_fill_price`` may be exact (``Fraction(notional, qty)``).
    Positive: a buy paid more, or a sell got less, than the reference.
    """
    if reference <= 0:
        raise ValueError(f"reference must be a positive price, got {reference}")
    sign = 1 if side == OrderSide.BUY else -1
    return float(sign * (avg_fill_price - reference) * BPS / Fraction(reference))
