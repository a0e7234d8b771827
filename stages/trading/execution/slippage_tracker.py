"""Realized against estimated slippage: what each order was expected to cost when sent, what each fill cost.

When an order goes out, execution walks its own view of the book
(:meth:`~hftpipe.strategy.BookView.estimate_slippage`) and keeps the estimate
and the touch under the order's key (:meth:`SlippageTracker.sent`). Every
report about the order then carries them (EXEC_REPORT offsets 128..191,
:data:`~hftpipe.schema.trading.NO_SLIPPAGE` for an order with none), and a
fill adds what it realized against the same touch and mid
(:meth:`SlippageTracker.report_fields`). Fills of orders the walk priced
(a marketable order: ``est_qty > 0``) feed the aggregates the stage status
shows (:meth:`SlippageTracker.summary`): the realized and estimated cost
against the touch, bps, and their difference, per fill.

Pure: no clock, no record; the stage passes keys and numbers.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from fractions import Fraction
from typing import Any, Final, NamedTuple

from hftpipe.schema.trading import NO_SLIPPAGE, OrderSide
from hftpipe.strategy.slippage import SlippageEstimate, realized_slippage_bps

OrderKey = tuple[int, int, int]
"""``(strategy_id, epoch, order_seq)``, as the OMS keys orders."""
WINDOW: Final = 10_000
"""Fills the medians are taken over (the latest); counts and means cover every fill."""
NAN: Final = math.nan


class Sent(NamedTuple):
    """An order's estimate when it was sent, in EXEC_REPORT's field order (offsets 128..175)."""

    est_avg_price: int
    est_qty: int
    ref_bid: int
    ref_ask: int
    est_touch_bps: float
    est_mid_bps: float
    side: OrderSide


def _touch(sent: Sent) -> int:
    return sent.ref_ask if sent.side == OrderSide.BUY else sent.ref_bid


class SlippageTracker:
    """Each open order's estimate at send; realized against estimated per fill, and the aggregates."""

    __slots__ = ("_estimated", "_realized", "_sent", "_sum_estimated", "_sum_realized", "fills", "unestimated_fills")

    def __init__(self, window: int = WINDOW) -> None:
        self._sent: dict[OrderKey, Sent] = {}
        self._realized: deque[float] = deque(maxlen=window)
        self._estimated: deque[float] = deque(maxlen=window)
        self._sum_realized = 0.0
        self._sum_estimated = 0.0
        self.fills = 0
        """Fills of orders the walk priced (realized and estimated both known)."""
        self.unestimated_fills = 0
        """Fills of orders sent with no priced estimate (resting orders, no book yet, a stop)."""

    def sent(self, key: OrderKey, estimate: SlippageEstimate) -> None:
        """The order ``key`` went out with ``estimate`` (its touch and mid are the references of its fills)."""
        priced = estimate.filled_qty > 0
        self._sent[key] = Sent(
            estimate.avg_price, estimate.filled_qty, estimate.bid, estimate.ask,
            estimate.touch_bps if priced else NAN, estimate.mid_bps if priced else NAN, estimate.side,
        )  # fmt: skip

    def report_fields(self, key: OrderKey, last_price: int, last_qty: int) -> tuple[int | float, ...]:
        """EXEC_REPORT's fields 128..191 for a report about ``key`` (a fill: ``last_qty > 0``), counting the fill."""
        sent = self._sent.get(key)
        if sent is None:
            if last_qty > 0:
                self.unestimated_fills += 1
            return NO_SLIPPAGE
        fill_touch = fill_mid = NAN
        if last_qty > 0 and last_price > 0:
            touch = _touch(sent)
            if touch > 0:
                fill_touch = realized_slippage_bps(last_price, touch, sent.side)
            if sent.ref_bid > 0 and sent.ref_ask > 0:
                fill_mid = realized_slippage_bps(last_price, Fraction(sent.ref_bid + sent.ref_ask, 2), sent.side)
            if sent.est_qty > 0 and not math.isnan(fill_touch):
                self._count(fill_touch, sent.est_touch_bps)
            else:
                self.unestimated_fills += 1
        return (*sent[:6], fill_touch, fill_mid)

    def forget(self, key: OrderKey) -> None:
        """The order ended: nothing more will be reported about it."""
        self._sent.pop(key, None)

    @property
    def open(self) -> int:
        """Orders whose estimate is kept."""
        return len(self._sent)

    def _count(self, realized: float, estimated: float) -> None:
        self.fills += 1
        self._realized.append(realized)
        self._estimated.append(estimated)
        self._sum_realized += realized
        self._sum_estimated += estimated

    def summary(self) -> dict[str, Any]:
        """Per fill, against the touch when sent, bps: realized, estimated and realized minus estimated."""
        out: dict[str, Any] = {"fills": self.fills, "unestimated_fills": self.unestimated_fills}
        if not self.fills:
            return out
        differences = [r - e for r, e in zip(self._realized, self._estimated, strict=True)]
        out.update(
            realized_bps_p50=round(statistics.median(self._realized), 4),
            estimated_bps_p50=round(statistics.median(self._estimated), 4),
            difference_bps_p50=round(statistics.median(differences), 4),
            realized_bps_mean=round(self._sum_realized / self.fills, 4),
            estimated_bps_mean=round(self._sum_estimated / self.fills, 4),
            difference_bps_mean=round((self._sum_realized - self._sum_estimated) / self.fills, 4),
        )
        return out
