"""What an order would pay to take liquidity now: walk the visible depth, exactly.

One estimator for every reader of the book: a strategy asks its
:class:`~hftpipe.strategy.BookView` (:meth:`~hftpipe.strategy.BookView.estimate_slippage`),
risk bounds it (``max_slippage_bps``) and execution reports it beside each
fill, all from the same walk, so their figures agree to the last unit.

:func:`estimate_slippage` walks the opposite side of the top-N book (a buy
the asks, best first) level by level, as a marketable order would fill, and
says what it would get: the quantity fillable within the visible levels (and
within a limit price, if it has one) and what is left over, the exact
notional, the average price, and the cost in basis points against the mid
and against the touch (the best opposite price). :func:`estimate_from_depth`
does the same on a DEPTH record's bytes, read in place.

Numbers: prices and quantities are the book's fixed-point ints; the notional
``sum(price * qty)`` is an exact Python int at ``price_scale + qty_scale``
decimals (it would overflow int64: 50 000.00000000 x 1.00000000 is 5e20), so
the exact average is the rational ``notional / filled_qty`` at the price
scale. :attr:`SlippageEstimate.avg_price` rounds it *against the order* (a
buy's up, a sell's down): an estimate is never better than the book. The bps
figures are computed from the exact rational and rounded once, to a float;
a bound is compared exactly (:meth:`SlippageEstimate.exceeds_touch_bps`).

Sign: a cost is positive. For a buy, paying above the reference; for a sell,
receiving below it. Against the touch the cost is never negative.

What the walk could not price is said by :attr:`SlippageEstimate.status`:
``SHORT`` (the visible depth ran out: the figures cover ``filled_qty`` only),
``LIMITED`` (the limit price stopped it: the rest would rest), ``EMPTY``
(nothing on the side it takes from) and ``CROSSED`` (best bid >= best ask: the
book is wrong, nothing is estimated). Undefined figures are NaN (nothing
fillable; the mid of a one-sided book), and NaN compares false with
everything: test :attr:`~SlippageEstimate.status` or ``filled_qty`` first.

O(levels), nothing allocated but the result (the arrays are read in place:
numpy views such as :class:`~hftpipe.strategy.BookView`'s work as they are).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import IntEnum
from fractions import Fraction
from typing import Final, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from hftpipe.schema.marketdata import DEPTH_DTYPE, DEPTH_LEVELS, DEPTH_TOP, DEPTH_TOP_OFFSET
from hftpipe.schema.trading import OrderSide

BPS: Final = 10_000
NAN: Final = math.nan

Levels: TypeAlias = Sequence[int] | npt.NDArray[np.int64]
"""Prices or quantities of one side, best first; a zero quantity (or price) ends the side."""


def _at(name: str) -> int:
    fields = DEPTH_DTYPE.fields
    assert fields is not None
    return int(fields[name][1])


_DEPTH_ARRAYS: Final = tuple(_at(name) for name in ("bid_price", "bid_qty", "ask_price", "ask_qty"))
DEPTH_SIZE: Final = DEPTH_DTYPE.itemsize


class WalkStatus(IntEnum):
    """How far the walk got: whether the figures price the whole order."""

    FULL = 0
    """The whole quantity fills within the visible levels (and the limit price)."""
    LIMITED = 1
    """The limit price stopped the walk: ``unfilled_qty`` would rest on the book (figures: the filled part)."""
    SHORT = 2
    """The visible depth ran out first: the figures cover ``filled_qty`` only; the rest's cost is unknown."""
    EMPTY = 3
    """Nothing on the side the order takes from."""
    CROSSED = 4
    """Best bid >= best ask: a book that cannot be right; nothing is estimated."""


class SlippageEstimate(NamedTuple):
    """What walking the book gives an order of ``qty`` (module docstring: numbers and signs)."""

    status: WalkStatus
    side: OrderSide
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
    bid: int
    """Best bid of the book walked (0: none)."""
    ask: int
    """Best ask of the book walked (0: none)."""
    mid_bps: float
    """Cost against the mid, bps (NaN: no fill or one-sided book)."""
    touch_bps: float
    """Cost against the best opposite price, bps, >= 0 (NaN: no fill)."""

    @property
    def complete(self) -> bool:
        """The whole quantity is priced (status FULL)."""
        return self.status is WalkStatus.FULL

    @property
    def touch(self) -> int:
        """The best price on the side the order takes from (the ask for a buy; 0: none)."""
        return self.ask if self.side == OrderSide.BUY else self.bid

    @property
    def exact_avg_price(self) -> Fraction:
        """The unrounded average, at the price scale (0 with no fill)."""
        return Fraction(self.notional, self.filled_qty) if self.filled_qty else Fraction(0)

    def exceeds_touch_bps(self, bound_bps: int | Fraction) -> bool:
        """Whether the cost against the touch is above ``bound_bps``, exactly (False with no fill)."""
        touch, filled = self.touch, self.filled_qty
        if not filled or touch <= 0:
            return False
        sign = 1 if self.side == OrderSide.BUY else -1
        return sign * (self.notional - touch * filled) * BPS > bound_bps * touch * filled

    def exceeds_mid_bps(self, bound_bps: int | Fraction) -> bool:
        """Whether the cost against the mid is above ``bound_bps``, exactly (False with no fill or no mid)."""
        twice_mid, filled = self.bid + self.ask, self.filled_qty
        if not filled or self.bid <= 0 or self.ask <= 0:
            return False
        sign = 1 if self.side == OrderSide.BUY else -1
        return sign * (2 * self.notional - twice_mid * filled) * BPS > bound_bps * twice_mid * filled


_SIDES: Final = (OrderSide.BUY, OrderSide.SELL)
"""``OrderSide`` by value: a tuple index, where ``OrderSide(value)`` is an enum call."""


def _best(prices: Levels, qtys: Levels) -> int:
    if not len(prices) or not len(qtys):
        return 0
    price = int(prices[0])
    return price if price > 0 and int(qtys[0]) > 0 else 0


def _ints(levels: Levels) -> list[int]:
    """Python ints to walk (exact: no int64 product overflows), one ``tolist`` of an array, not a read per level."""
    return levels.tolist() if isinstance(levels, np.ndarray) else [int(x) for x in levels]


def estimate_slippage(
    side: OrderSide,
    qty: int,
    bid_prices: Levels,
    bid_qtys: Levels,
    ask_prices: Levels,
    ask_qtys: Levels,
    limit_price: int = 0,
) -> SlippageEstimate:
    """Walk the opposite side for an order of ``side`` and ``qty``; ``limit_price`` 0: no limit (a market order).

    Raises ValueError for a quantity that is not positive; every book, even a
    crossed or empty one, gets an answer (its :class:`WalkStatus`).
    """
    if qty <= 0:
        raise ValueError(f"qty must be positive, got {qty}")
    side = _SIDES[side]
    buy = side is OrderSide.BUY
    bid, ask = _best(bid_prices, bid_qtys), _best(ask_prices, ask_qtys)
    if bid and ask and bid >= ask:
        return SlippageEstimate(WalkStatus.CROSSED, side, qty, 0, qty, 0, 0, 0, 0, bid, ask, NAN, NAN)
    touch = ask if buy else bid
    if not touch:
        return SlippageEstimate(WalkStatus.EMPTY, side, qty, 0, qty, 0, 0, 0, 0, bid, ask, NAN, NAN)
    prices, qtys = (_ints(ask_prices), _ints(ask_qtys)) if buy else (_ints(bid_prices), _ints(bid_qtys))
    remaining = qty
    notional = 0
    worst = 0
    used = 0
    status = WalkStatus.SHORT
    for i in range(min(len(prices), len(qtys))):
        price, size = prices[i], qtys[i]
        if size <= 0 or price <= 0:
            break
        if limit_price and (price > limit_price if buy else price < limit_price):
            status = WalkStatus.LIMITED
            break
        take = size if size < remaining else remaining
        notional += price * take
        remaining -= take
        worst = price
        used += 1
        if not remaining:
            status = WalkStatus.FULL
            break
    filled = qty - remaining
    if not filled:
        return SlippageEstimate(status, side, qty, 0, qty, 0, 0, 0, 0, bid, ask, NAN, NAN)
    sign = 1 if buy else -1
    avg = -(-notional // filled) if buy else notional // filled
    touch_bps = sign * (notional - touch * filled) * BPS / (touch * filled)
    if bid and ask:
        twice_mid = bid + ask
        mid_bps = sign * (2 * notional - twice_mid * filled) * BPS / (twice_mid * filled)
    else:
        mid_bps = NAN
    return SlippageEstimate(
        status, side, qty, filled, remaining, notional, avg, worst, used, bid, ask, mid_bps, touch_bps
    )


def estimate_from_depth(
    record: bytes | bytearray | memoryview, side: OrderSide, qty: int, limit_price: int = 0, offset: int = 0
) -> SlippageEstimate:
    """:func:`estimate_slippage` on the DEPTH record at ``offset`` of ``record``, its levels read in place.

    Only the record's ``levels`` count (the rest are zero padding); the
    book's state is the caller's to check (a RESYNCING book is walked as it is).
    """
    levels = min(int(DEPTH_TOP.unpack_from(record, offset + DEPTH_TOP_OFFSET)[1]), DEPTH_LEVELS)
    bid_p, bid_q, ask_p, ask_q = (np.frombuffer(record, np.int64, levels, offset + at) for at in _DEPTH_ARRAYS)
    return estimate_slippage(side, qty, bid_p, bid_q, ask_p, ask_q, limit_price)


def realized_slippage_bps(avg_fill_price: int | Fraction, reference: int | Fraction, side: OrderSide) -> float:
    """Cost of fills at ``avg_fill_price`` against ``reference`` (the mid or touch when the order was decided), bps.

    Both at the price scale, either may be exact (``Fraction(notional, qty)``, a mid ``Fraction(bid + ask, 2)``).
    Positive: a buy paid more, or a sell got less, than the reference.
    """
    if reference <= 0:
        raise ValueError(f"reference must be a positive price, got {reference}")
    sign = 1 if side == OrderSide.BUY else -1
    return float(sign * (avg_fill_price - reference) * BPS / Fraction(reference))
