"""Paper trading: intents go to a :class:`~.paper.PaperVenue` per instrument, its answers through the OMS.

Pure (no IO, no clock: callers pass ``now``), so the execution stage's paper
mode is this plus ring I/O. Each intent is applied to the OMS first (submit,
cancel or replace request), then sent to its instrument's paper venue under
a paper id of its own; the venue's :class:`~.paper.PaperReport` s go back to
the OMS by that id, and what the OMS publishes is returned as
``(report, cause)`` pairs: ``cause`` is the 40 header bytes (``ts_origin``
and the hops) of what caused it, the intent for what the intent's arrival
did, the market-data record for the fills a trade made.

CANCEL_ALL cancels every open order the OMS holds for that strategy on that
instrument (the risk stage's kill switch sends one per strategy and
instrument). Paper fills carry no fee (``fee`` 0): the queue model says
whether an order would have traded, not what the account would have paid.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Final

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import ExecType, IntentAction, OrderSide, OrderType, RejectReason, TimeInForce
from stages.trading.execution.intent_new import order_enums, submit_new
from stages.trading.execution.oms import Oms
from stages.trading.execution.oms_order import OmsOrder, OrderKey
from stages.trading.execution.oms_reports import Outcome, Report, Result
from stages.trading.execution.paper import Latency, Levels, PaperReport, PaperVenue

Cause = bytes
"""Header bytes 24..64 of the record that caused a report (``ts_origin`` and ``ts_hop``)."""
NO_CAUSE: Final = bytes(40)

_FILLS: Final = frozenset({ExecType.PARTIAL_FILL, ExecType.FILL})
ENDED_KEPT: Final = 1 << 16
"""Ended orders whose paper ids are kept for the venue's late answers (a cancel refused after a fill)."""


def unknown_order(key: OrderKey, instrument: int, side: int, order: OmsOrder | None) -> Report:
    """CANCEL_REJECTED (UNKNOWN_ORDER) for a cancel of an order that is not open, or that the OMS never saw."""
    if order is None:
        order = OmsOrder(key, instrument, OrderSide(side), OrderType.LIMIT, TimeInForce.GTC, 0, 0)
    leaves = order.leaves
    return Report(order, ExecType.CANCEL_REJECTED, 0, 0, order.cum_qty, leaves, 0, RejectReason.UNKNOWN_ORDER, 0)


class PaperBridge:
    """Every instrument's paper venue and the OMS between them and the strategies."""

    __slots__ = ("_causes", "_ended", "_ended_set", "_keys", "_next_id", "_paper_ids", "oms", "venues")

    def __init__(self, instruments: Iterable[Instrument], latency: Latency, oms: Oms | None = None) -> None:
        self.oms = oms if oms is not None else Oms()
        self.venues: dict[int, PaperVenue] = {i.id: PaperVenue(latency, tick=i.tick, lot=i.lot) for i in instruments}
        self._next_id = 1
        self._keys: dict[int, OrderKey] = {}
        """Paper id -> the order's key."""
        self._paper_ids: dict[OrderKey, int] = {}
        self._causes: dict[int, Cause] = {}
        """Paper id -> the header of the intent that sent it (for the reports its arrival makes)."""
        self._ended: deque[int] = deque()
        self._ended_set: set[int] = set()

    # -- intents ---------------------------------------------------------------------------------
    def intent(
        self,
        instrument: int,
        strategy: int,
        epoch: int,
        action: int,
        seq: int,
        orig: int,
        side: int,
        order_type: int,
        tif: int,
        price: int,
        qty: int,
        cause: Cause,
        now: int,
    ) -> list[tuple[Report, Cause]]:
        """Apply one approved intent; the reports it makes at once (refusals: the rest come with ``advance``)."""
        venue = self.venues.get(instrument)
        out: list[tuple[Report, Cause]] = []
        if action == IntentAction.NEW:
            key = (strategy, epoch, seq)
            result = submit_new(self.oms, key, instrument, side, order_type, tif, price, qty, cause, now)
            if result.before is not None or result.order is None:  # a key already known: refused by the OMS
                return out
            if venue is None:
                self._add(out, self.oms.on_rejected(key, RejectReason.VENUE), cause)
                return out
            pid = self._track(key, cause)
            venue.submit(pid, *order_enums(side, order_type, tif), price, qty, now)
        elif action == IntentAction.CANCEL:
            known = self.oms.get((strategy, epoch, orig))
            if known is None or not known.is_open:
                out.append((unknown_order((strategy, epoch, orig), instrument, side, known), cause))
                return out
            self._cancel((strategy, epoch, orig), seq, cause, now, out)
        elif action == IntentAction.REPLACE:
            old = (strategy, epoch, orig)
            new = (strategy, epoch, seq)
            old_pid = self._paper_ids.get(old)
            result = self.oms.replace_request(old, new, price, qty, now=now)
            if old_pid is None or venue is None or result.order is None or result.order.key != new:
                self._add(out, result, cause)
                return out
            self._add(out, result, cause)
            pid = self._track(new, cause)
            self._causes[old_pid] = cause
            venue.replace(old_pid, pid, *order_enums(side, order_type, tif), price, qty, now)
        elif action == IntentAction.CANCEL_ALL:
            for order in self.oms.open_orders(strategy, instrument):
                self._cancel(order.key, 0, cause, now, out)
        return out

    def _cancel(self, key: OrderKey, request_seq: int, cause: Cause, now: int, out: list[tuple[Report, Cause]]) -> None:
        order = self.oms.get(key)
        pid = self._paper_ids.get(key)
        result = self.oms.cancel_request(key, request_seq)
        self._add(out, result, cause)
        if order is None or pid is None or result.outcome is Outcome.ILLEGAL or not order.is_open:
            return
        venue = self.venues.get(order.instrument)
        if venue is not None:
            self._causes[pid] = cause
            venue.cancel(pid, now)

    # -- the market and the clock ------------------------------------------------------------------
    def advance(self, now: int) -> list[tuple[Report, Cause]]:
        """Let every venue's requests due by ``now`` take effect."""
        out: list[tuple[Report, Cause]] = []
        for venue in self.venues.values():
            if venue.pending:
                self._apply(venue.advance(now), None, out)
        return out

    def depth(
        self, instrument: int, bid_p: Levels, bid_q: Levels, ask_p: Levels, ask_q: Levels, cause: Cause, now: int
    ) -> list[tuple[Report, Cause]]:
        venue = self.venues.get(instrument)
        out: list[tuple[Report, Cause]] = []
        if venue is not None:
            self._apply(venue.on_depth(bid_p, bid_q, ask_p, ask_q, now), cause, out)
        return out

    def trade(
        self, instrument: int, price: int, qty: int, aggressor: int, cause: Cause, now: int
    ) -> list[tuple[Report, Cause]]:
        venue = self.venues.get(instrument)
        out: list[tuple[Report, Cause]] = []
        if venue is not None:
            self._apply(venue.on_trade(price, qty, aggressor, now), cause, out)
        return out

    # -- internals ---------------------------------------------------------------------------------
    def _track(self, key: OrderKey, cause: Cause) -> int:
        pid = self._next_id
        self._next_id += 1
        self._keys[pid] = key
        self._paper_ids[key] = pid
        self._causes[pid] = cause
        return pid

    def _apply(self, reports: list[PaperReport], market: Cause | None, out: list[tuple[Report, Cause]]) -> None:
        oms = self.oms
        for r in reports:
            key = self._keys.get(r.order_id)
            if key is None:
                continue
            kind = r.exec_type
            cause = market if market is not None and kind in _FILLS else self._causes.get(r.order_id, NO_CAUSE)
            if kind in (ExecType.ACK, ExecType.REPLACED):
                result = oms.on_ack(key, r.venue_order_id, r.ts_ns)
            elif kind in _FILLS:
                result = oms.on_trade(key, r.trade_id, r.last_price, r.last_qty, r.cum_qty, 0, -1, r.venue_order_id)
            elif kind == ExecType.CANCELED:
                result = oms.on_canceled(key, r.cum_qty)
            elif kind == ExecType.EXPIRED:
                result = oms.on_expired(key, r.cum_qty)
            elif kind == ExecType.REJECTED:
                result = oms.on_rejected(key, r.reason, r.venue_code)
            elif kind == ExecType.CANCEL_REJECTED:
                result = oms.on_cancel_rejected(key, r.reason, r.venue_code)
            else:
                continue
            self._add(out, result, cause)
            order = result.order
            if order is not None and not order.is_open and r.order_id not in self._ended_set:
                self._ended.append(r.order_id)
                self._ended_set.add(r.order_id)
                if len(self._ended) > ENDED_KEPT:
                    self._forget(self._ended.popleft())

    def _forget(self, pid: int) -> None:
        """An ended order's ids, once ``ENDED_KEPT`` later ones ended (late answers about it still find it)."""
        self._ended_set.discard(pid)
        self._causes.pop(pid, None)
        key = self._keys.pop(pid, None)
        if key is not None and self._paper_ids.get(key) == pid:
            del self._paper_ids[key]

    @staticmethod
    def _add(out: list[tuple[Report, Cause]], result: Result, cause: Cause) -> None:
        out.extend((report, cause) for report in result.reports)
