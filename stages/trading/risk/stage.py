"""The risk stage: every intent checked before execution; positions, PnL, stops and the kill switch.

Thin ring I/O around the pure cores (:mod:`.checks`, :mod:`.ledger`,
:mod:`.stops`, :mod:`.state`, :mod:`.breakers`). Inputs: each strategy's
intent ring, market data from the book stage, execution reports from the
execution stage. Outputs: approved intents to ``execution`` (in order), and
to each strategy its rejections and its reports.

- **Intents**: each passes :meth:`PreTradeChecks.check` or goes back to its
  strategy as a REJECTED (a cancel: CANCEL_REJECTED) report with the reason,
  counted per reason (``rejects.<reason>``). Approved ones go out unchanged.
- **Reports** (from execution): fills are booked in the ledger first, then the
  open orders, the stops and the breakers see them, then the report goes on to
  its strategy, so a strategy always sees the position risk sees.
- **Market data**: the touch for the checks, the marks for PnL, the stops.
- **Trading state**: operator requests (``hftpipe trading halt|reduce|resume``)
  and breakers hold it; a strategy that moves to REDUCING or HALTED has every
  open order canceled (one CANCEL_ALL per instrument, sent without a check:
  the kill switch cannot be rate-limited). Stops send reduce-only market
  orders through the checks.
- **Status** (``hftpipe stat``): state, who set it, when and why; positions and
  PnL; republished on every change and every ``status_interval_ms``.

Orders risk itself sends (stops, cancel-alls) carry the strategy's id, the
risk stage's own epoch and sequences from :data:`RISK_SEQ_BASE`; their
reports reach the strategy flagged :attr:`RecordFlag.FOREIGN_ORDER`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, Final

from hftpipe.runtime import Agent, OutputPort, StageContext
from hftpipe.schema import SPECS
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BBO_TOP, BBO_TOP_OFFSET, DEPTH_TOP, DEPTH_TOP_OFFSET, BookState, ControlKind
from hftpipe.schema.records import RecordFlag, RecordType
from hftpipe.schema.trading import (
    NO_SLIPPAGE,
    NO_TERMS,
    RELEASE_SEQ_BASE,
    ExecType,
    IntentAction,
    IntentFlag,
    OrderSide,
    OrderType,
    RejectReason,
    TimeInForce,
    TradingState,
)
from hftpipe.substrate.control_layout import PipelineState, StageState
from stages.trading.risk.breakers import Breakers
from stages.trading.risk.checks import PreTradeChecks
from stages.trading.risk.ledger import Ledger
from stages.trading.risk.settings import RiskStageParams
from stages.trading.risk.state import ACCOUNT, OPERATOR, Hold, TradingStates
from stages.trading.risk.status import risk_status
from stages.trading.risk.stops import StopBook, StopOrder

RISK_SEQ_BASE: Final = 10**12
"""Sequences of the orders risk sends itself; a strategy's own never get this far."""

_INTENT: Final = SPECS[RecordType.ORDER_INTENT]
_REPORT: Final = SPECS[RecordType.EXEC_REPORT]
_UNPACK_INTENT: Final = _INTENT.packer.unpack_from
_PACK_INTENT: Final = _INTENT.packer.pack_into
_UNPACK_REPORT: Final = _REPORT.packer.unpack_from
_PACK_REPORT: Final = _REPORT.packer.pack_into
_CONTROL: Final = SPECS[RecordType.CONTROL].packer.unpack_from
_REPORT_SIZE: Final = _REPORT.itemsize
_INTENT_SIZE: Final = _INTENT.itemsize
_FILLS: Final = frozenset({int(ExecType.FILL), int(ExecType.PARTIAL_FILL)})
_ENDS_STOP: Final = frozenset({int(ExecType.REJECTED), int(ExecType.CANCELED), int(ExecType.EXPIRED)})
_LOSS_SOURCES: Final = frozenset({"max_loss", "max_drawdown"})
_UP: Final = frozenset({StageState.READY, StageState.RUNNING})
_FOREIGN: Final = int(RecordFlag.FOREIGN_ORDER)
_SYNTHETIC_REPORT: Final = int(RecordFlag.SYNTHETIC)
_CHILD_REPORT: Final = int(RecordFlag.RELEASED_CHILD)
_RELEASED: Final = int(IntentFlag.RELEASED)
_SYNTHETIC: Final = int(IntentFlag.SYNTHETIC)
_HELD: Final = int(ExecType.HELD)
_TRIGGERED: Final = int(ExecType.TRIGGERED)
_VENUE_FLAG: Final = int(RecordFlag.VENUE)
# Plain ints and sets for the per-record path: reading an enum member off its class costs ~90 ns here.
_T_INTENT: Final = int(RecordType.ORDER_INTENT)
_T_REPORT: Final = int(RecordType.EXEC_REPORT)
_T_DEPTH: Final = int(RecordType.DEPTH)
_T_BBO: Final = int(RecordType.BBO)
_T_CONTROL: Final = int(RecordType.CONTROL)
_APPROVED: Final = RejectReason.NONE
_LINK: Final = _INTENT.index_of("link_seq")
_CONTINGENCY: Final = _INTENT.index_of("contingency")
_LEG: Final = _INTENT.index_of("leg")
_LEGS: Final = _INTENT.index_of("legs")
_ORDER_ACTIONS: Final = frozenset({int(IntentAction.NEW), int(IntentAction.REPLACE)})
_CANCEL_ACTIONS: Final = frozenset({int(IntentAction.CANCEL), int(IntentAction.CANCEL_ALL)})


def _poller(
    poll: Callable[[Callable[[memoryview, int, int], None], int], int],
    handler: Callable[[memoryview, int, int], None],
    batch: int,
) -> Callable[[], int]:
    return lambda: poll(handler, batch)


class RiskStage(Agent):
    Params = RiskStageParams

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params: RiskStageParams = ctx.params
        if params is None:
            raise ValueError(f"stages.{ctx.name}.params: the risk stage needs its limits")
        self.params = params
        self.logger = logging.getLogger(f"hftpipe.risk.{ctx.name}")
        instruments = list(ctx.instruments)
        if not instruments:
            raise ValueError(f"stages.{ctx.name}: the pipeline declares no [[instruments]] to trade")
        self.instruments: dict[int, Instrument] = {i.id: i for i in instruments}
        by_symbol = {i.symbol: i for i in instruments}
        for symbol in params.stops_by_symbol:
            if symbol not in by_symbol:
                raise ValueError(f"stages.{ctx.name}.params.stops.instruments.{symbol}: not in [[instruments]]")
        self.ledger = Ledger(instruments, params.cost_method)
        self.checks = PreTradeChecks(params.limits, instruments, self.ledger)
        self.stops = StopBook(
            instruments, {by_symbol[s].id: v for s, v in params.stops_by_symbol.items()}, params.stops_by_strategy
        )
        self.states = TradingStates()
        self.breakers = Breakers(self.states, params.breakers, params.strategy_breakers)
        self.epoch = time.time_ns() // 1_000_000
        self._seq = RISK_SEQ_BASE
        self.marks: dict[int, int] = {}
        self._last_book: dict[int, tuple[int, int, int, int, int]] = {}
        self._book_time: dict[int, int] = {}
        self._sent: dict[tuple[int, int], int] = {}
        self._applied: dict[int, TradingState] = {}
        """The state each strategy (and the account, 0) was last put in: moving to REDUCING or HALTED cancels."""
        # rings: approved intents to execution, reports to the stage each strategy's intents came from
        stage_names = ctx.control.stage_names
        entries = {entry.name: entry for entry in ctx.control.rings}
        self._to_stage: dict[str, OutputPort] = {}
        for ring_name in ctx.outputs:
            self._to_stage[stage_names[entries[ring_name].consumer]] = ctx.output_port(ring_name)
        execution = self._to_stage.pop(params.execution, None)
        if execution is None:
            raise ValueError(
                f"stages.{ctx.name}.params.execution: no output ring to stage {params.execution!r} "
                f"(outputs go to: {', '.join(sorted(self._to_stage)) or 'none'})"
            )
        if execution.ring.slot_size < _INTENT_SIZE:
            raise ValueError(f"ring {execution.ring.name}: ORDER_INTENT records need slot_size >= {_INTENT_SIZE}, "
                             f"it has {execution.ring.slot_size}")  # fmt: skip
        self._execution = execution
        for ring_name in ctx.outputs:  # to the strategies: reports
            slot_size = entries[ring_name].slot_size
            if stage_names[entries[ring_name].consumer] != params.execution and slot_size < _REPORT_SIZE:
                raise ValueError(
                    f"ring {ring_name}: EXEC_REPORT records need slot_size >= {_REPORT_SIZE}, it has {slot_size}"
                )
        self._refused_groups: dict[tuple[int, int, int], RejectReason] = {}
        """Contingent groups a leg of which was refused: their later legs are refused too (GROUP_REFUSED)."""
        self._routes: dict[int, OutputPort] = {}
        self._polls: list[Callable[[], int]] = []
        batch = 256
        for ring_name, port in ctx.inputs.items():
            entry = entries.get(ring_name)
            producer = stage_names[entry.producer] if entry is not None else ""
            handler = self._handler(self._to_stage.get(producer))
            self._polls.append(_poller(port.poll, handler, batch))
        self._held: list[tuple[OutputPort, bytes, int]] = []
        self._scratch = bytearray(_REPORT_SIZE)
        self._scratch_view = memoryview(self._scratch)
        self._intent_scratch = bytearray(_INTENT_SIZE)
        self._intent_view = memoryview(self._intent_scratch)
        self._approved = ctx.counters.add("approved")
        self._rejected_total = ctx.counters.add("rejected")
        self._rejects: dict[RejectReason, Any] = {}
        self._fills = ctx.counters.add("fills")
        self._stop_orders = ctx.counters.add("stop_orders")
        self._kill_cancels = ctx.counters.add("kill_switch_cancels")
        self._unrouted = ctx.counters.add("unrouted_reports")
        self._requests_seen = ctx.control.requests_posted
        own = ctx.control.stage_index(ctx.name)
        watched = params.watch_stages
        names = [n for n in stage_names if n != ctx.name] if watched is None else list(watched)
        for name in names:
            if name not in stage_names:
                raise ValueError(f"stages.{ctx.name}.params.watch_stages: no stage {name!r} in this pipeline")
        self._watched = [(n, stage_names.index(n)) for n in names if stage_names.index(n) != own]
        self._interval = params.status_interval_ms * 1_000_000
        self._next_housekeeping = 0
        self._status_dirty = True

    # -- duty cycle ------------------------------------------------------------------------
    def on_start(self) -> None:
        self._publish()

    def do_work(self) -> int:
        if self._held and not self._release():
            return 0
        work = 0
        for poll in self._polls:
            work += poll()
        posted = self.ctx.control.requests_posted
        if posted != self._requests_seen:
            work += self._take_requests(posted)
        now = time.monotonic_ns()
        if now >= self._next_housekeeping:
            self._next_housekeeping = now + self._interval
            self._housekeeping(now)
        elif self._status_dirty:
            self._publish()
        return work

    def _handler(self, back: OutputPort | None) -> Callable[[memoryview, int, int], None]:
        """The record handler for one input ring; ``back``: the ring to its producer (a strategy's reports)."""

        def on_record(buf: memoryview, offset: int, now: int) -> None:
            rtype = buf[offset] | (buf[offset + 1] << 8)
            if rtype == _T_INTENT:
                self._on_intent(buf, offset, now, back)
            elif rtype == _T_REPORT:
                self._on_report(buf, offset, now)
            elif rtype == _T_DEPTH:
                self._on_depth(buf, offset, now)
            elif rtype == _T_BBO:
                if not (buf[offset + 2] | (buf[offset + 3] << 8)) & _VENUE_FLAG:
                    self._on_bbo(buf, offset, now)
            elif rtype == _T_CONTROL:
                fields = _CONTROL(buf, offset)
                last = self._last_book.get(fields[2])
                if fields[10] == ControlKind.BOOK_STATE and last is not None:
                    bid, bid_qty, ask, ask_qty, _ = last
                    self._last_book[fields[2]] = (bid, bid_qty, ask, ask_qty, fields[11])
                    self.checks.on_book(fields[2], bid, bid_qty, ask, ask_qty, fields[11], now)

        return on_record

    # -- intents ---------------------------------------------------------------------------
    def _on_intent(self, buf: memoryview, offset: int, now: int, back: OutputPort | None) -> None:
        f = _UNPACK_INTENT(buf, offset)
        (iid, seq, orig, price, qty, stop, epoch, sid, action, side, otype, flags) = (
            f[2], f[10], f[11], f[12], f[13], f[14], f[15], f[16], f[17], f[18], f[19], f[21])  # fmt: skip
        if back is not None and sid not in self._routes:
            self._routes[sid] = back
            self._applied.setdefault(sid, self.states.state(sid))
        group = None
        if f[_CONTINGENCY]:
            group = (sid, epoch, f[_LINK])
            refused = self._refused_groups.get(group)
            if refused is not None:
                if f[_LEG] + 1 >= f[_LEGS]:
                    del self._refused_groups[group]
                self._refuse(
                    buf, offset, now, back, iid, sid, seq, orig, action, side, flags, RejectReason.GROUP_REFUSED
                )
                return
        reason = self.checks.check(iid, sid, epoch, seq, orig, action, side, otype, price, qty, stop, flags, now)
        if reason is _APPROVED:
            self._approved.add()
            if action in _ORDER_ACTIONS:
                self._sent[(sid, seq)] = now
            self._send(self._execution, buf[offset : offset + _INTENT_SIZE], now)
            return
        if group is not None:
            self._group_refused(group, f[_LEG], f[_LEGS], iid, sid, epoch, reason, buf[offset + 24 : offset + 64], now)
        self._refuse(buf, offset, now, back, iid, sid, seq, orig, action, side, flags, reason)

    def _refuse(
        self, buf: memoryview, offset: int, now: int, back: OutputPort | None, iid: int, sid: int, seq: int, orig: int,
        action: int, side: int, flags: int, reason: RejectReason,
    ) -> None:  # fmt: skip
        """Count a refusal and say so: to the strategy, or (a released child) to execution, which tells it."""
        self._count_reject(reason)
        cancel = action in _CANCEL_ACTIONS
        kind = ExecType.CANCEL_REJECTED if cancel else ExecType.REJECTED
        cause = buf[offset + 24 : offset + 64]
        if flags & _RELEASED:
            self._report(self._execution, cause, now, iid, sid, seq, side, kind, reason, _CHILD_REPORT)
        elif back is not None:
            self._report(back, cause, now, iid, sid, orig if cancel else seq, side, kind, reason)
        else:
            return
        if self.breakers.on_reject(False, now, time.time_ns()):
            self._states_changed()

    def _group_refused(
        self, group: tuple[int, int, int], leg: int, legs: int, iid: int, sid: int, epoch: int, reason: RejectReason,
        cause: memoryview, now: int,
    ) -> None:  # fmt: skip
        """A leg of a contingent group was refused: the legs after it will be, the legs before it are canceled."""
        if leg + 1 < legs:
            self._refused_groups[group] = reason
        if leg > 0:  # execution holds the approved legs until the group is whole: it drops them on this cancel
            self._seq += 1
            self._intent(iid, sid, IntentAction.CANCEL, OrderSide.BUY, OrderType.LIMIT, TimeInForce.GTC, _SYNTHETIC,
                         0, cause, now, epoch=epoch, orig=group[2])  # fmt: skip

    def _count_reject(self, reason: RejectReason) -> None:
        self._rejected_total.add()
        counter = self._rejects.get(reason)
        if counter is None:
            counter = self._rejects[reason] = self.ctx.counters.add(f"rejects.{reason.name.lower()}")
        counter.add()

    def _report(
        self, port: OutputPort, cause: memoryview | bytes, now: int, iid: int, sid: int, seq: int, side: int,
        kind: ExecType, reason: RejectReason, flags: int = 0,
    ) -> None:  # fmt: skip
        scratch = self._scratch
        _PACK_REPORT(scratch, 0, RecordType.EXEC_REPORT, flags, iid, 0, 0, 0, 0, 0, 0, 0,
                     seq, 0, 0, 0, 0, 0, 0, kind, side, reason, 0, sid, *NO_SLIPPAGE)  # fmt: skip
        scratch[24:64] = cause
        self._send(port, self._scratch_view[:_REPORT_SIZE], now)

    # -- reports ---------------------------------------------------------------------------
    def _on_report(self, buf: memoryview, offset: int, now: int) -> None:
        f = _UNPACK_REPORT(buf, offset)
        iid, seq, last_price, last_qty, leaves, fee, kind, side, reason, sid = (
            f[2], f[10], f[12], f[13], f[15], f[16], f[17], f[18], f[19], f[21])  # fmt: skip
        if f[1] & _SYNTHETIC_REPORT:
            self._on_synthetic_report(buf, offset, now, sid, seq, kind, leaves)
            return
        ours = RISK_SEQ_BASE <= seq < RELEASE_SEQ_BASE
        changed = False
        if kind in _FILLS and last_qty:
            self._fills.add()
            self.ledger.apply_fill(sid, iid, side, last_price, last_qty, fee)
            position = self.ledger.position(sid, iid)
            self.stops.position(sid, iid, position.qty, position.cost)
            self._status_dirty = True
        epoch = self.epoch if ours else self.checks.orders.epoch_of(sid)
        self.checks.on_report(sid, epoch, seq, kind, leaves)
        sent = self._sent.pop((sid, seq), None)
        wall = time.time_ns()
        if sent is not None:
            changed |= self.breakers.on_round_trip(now - sent, wall)
        if kind == ExecType.REJECTED:
            changed |= self.breakers.on_reject(reason == RejectReason.VENUE, now, wall)
        if ours and kind in _ENDS_STOP:
            self.stops.rearm(sid, iid)  # the flattening order did not get it flat: watch it again
        if changed:
            self._states_changed()
        if f[1] & _CHILD_REPORT:  # a released child: its strategy sees it as its synthetic order's report
            return
        port = self._routes.get(sid)
        if port is None:
            self._unrouted.add()
            return
        if ours:
            record = bytearray(buf[offset : offset + _REPORT_SIZE])
            record[2] |= _FOREIGN
            self._send(port, bytes(record), now)
        else:
            self._send(port, buf[offset : offset + _REPORT_SIZE], now)

    def _on_synthetic_report(
        self, buf: memoryview, offset: int, now: int, sid: int, seq: int, kind: int, leaves: int
    ) -> None:
        """A synthetic order's own report: its open entry is held or ended (its fills were booked from its child's)."""
        checks = self.checks
        epoch = checks.orders.epoch_of(sid)
        if kind not in _FILLS and (sid, epoch, seq) in checks.orders:
            checks.on_report(sid, epoch, seq, kind, leaves)
        sent = self._sent.pop((sid, seq), None)
        if sent is not None and self.breakers.on_round_trip(now - sent, time.time_ns()):
            self._states_changed()
        port = self._routes.get(sid)
        if port is None:
            self._unrouted.add()
            return
        self._send(port, buf[offset : offset + _REPORT_SIZE], now)

    # -- market data -----------------------------------------------------------------------
    def _on_depth(self, buf: memoryview, offset: int, now: int) -> None:
        iid = int.from_bytes(buf[offset + 4 : offset + 8], "little")
        if iid in self.instruments:
            _, _, state, bid, bid_qty, ask, ask_qty = DEPTH_TOP.unpack_from(buf, offset + DEPTH_TOP_OFFSET)
            self._on_book(buf, offset, now, iid, bid, bid_qty, ask, ask_qty, state)
            self.checks.on_depth(iid, buf, offset)

    def _on_bbo(self, buf: memoryview, offset: int, now: int) -> None:
        iid = int.from_bytes(buf[offset + 4 : offset + 8], "little")
        if iid in self.instruments:
            bid, bid_qty, ask, ask_qty, _, state = BBO_TOP.unpack_from(buf, offset + BBO_TOP_OFFSET)
            self._on_book(buf, offset, now, iid, bid, bid_qty, ask, ask_qty, state)

    def _on_book(
        self, buf: memoryview, offset: int, now: int, iid: int, bid: int, bid_qty: int, ask: int, ask_qty: int,
        state: int,
    ) -> None:  # fmt: skip
        self._last_book[iid] = (bid, bid_qty, ask, ask_qty, state)
        self.checks.on_book(iid, bid, bid_qty, ask, ask_qty, state, now)
        self._book_time[iid] = now
        if state == BookState.SYNCED and bid > 0 and ask > 0:
            mark = (bid + ask) // 2
            self.marks[iid] = mark
            for order in self.stops.mark(iid, mark):
                self._flatten(order, buf[offset + 24 : offset + 64], now)

    def _flatten(self, order: StopOrder, cause: memoryview, now: int) -> None:
        """A stop fired: a reduce-only market order for the whole position, through the checks."""
        self._seq += 1
        side = int(order.side)
        flags = int(IntentFlag.REDUCE_ONLY | IntentFlag.FLATTEN)
        reason = self.checks.check(order.instrument_id, order.strategy_id, self.epoch, self._seq, 0, IntentAction.NEW,
                                   side, OrderType.MARKET, 0, order.qty, 0, flags, now)  # fmt: skip
        kind = getattr(order, "kind", "stop")
        if reason is not RejectReason.NONE:
            self._count_reject(reason)
            self.logger.warning("stop %s of strategy %d on %s not sent: %s", kind, order.strategy_id,
                                self.instruments[order.instrument_id].symbol, reason.name)  # fmt: skip
            self.stops.rearm(order.strategy_id, order.instrument_id)
            return
        self._stop_orders.add()
        self.ctx.errors.record(f"stop {kind} fired: strategy {order.strategy_id} flattens "
                               f"{self.instruments[order.instrument_id].symbol}")  # fmt: skip
        self._intent(order.instrument_id, order.strategy_id, IntentAction.NEW, side, OrderType.MARKET,
                     TimeInForce.IOC, flags, order.qty, cause, now)  # fmt: skip

    def _intent(
        self, iid: int, sid: int, action: IntentAction, side: int, otype: OrderType, tif: TimeInForce, flags: int,
        qty: int, cause: memoryview | bytes, now: int, *, epoch: int = 0, orig: int = 0,
    ) -> None:  # fmt: skip
        """An intent of risk's own (``epoch``: its own, unless it acts on a strategy's order, ``orig``)."""
        scratch = self._intent_scratch
        _PACK_INTENT(scratch, 0, RecordType.ORDER_INTENT, 0, iid, 0, time.monotonic_ns(), 0, 0, 0, 0, 0,
                     self._seq, orig, 0, qty, 0, epoch or self.epoch, sid, action, side, otype, tif, flags, 0,
                     *NO_TERMS)  # fmt: skip
        scratch[24:64] = cause
        self._send(self._execution, self._intent_view, now)

    # -- the trading state -------------------------------------------------------------------
    def _take_requests(self, posted: int) -> int:
        taken = 0
        control = self.ctx.control
        for number in range(max(self._requests_seen + 1, posted - 7), posted + 1):
            text = control.read_request(number)
            self._requests_seen = number
            if text is None:
                continue
            try:
                request = json.loads(text)
            except ValueError:
                self.ctx.errors.record(f"operator request {number} is not JSON")
                continue
            if request.get("topic") != "trading" or request.get("n") != number:
                continue
            taken += 1
            self._operator(
                number, str(request.get("command")), str(request.get("reason", "")), str(request.get("by", ""))
            )
        self._requests_seen = posted
        return taken

    def _operator(self, number: int, command: str, reason: str, by: str) -> None:
        wall = time.time_ns()
        why = f"{reason} ({by})" if by else reason
        if command == "halt":
            self.states.hold(ACCOUNT, Hold(OPERATOR, TradingState.HALTED, why, wall, manual=True))
        elif command == "reduce":
            self.states.hold(ACCOUNT, Hold(OPERATOR, TradingState.REDUCING, why, wall, manual=True))
        elif command == "resume":
            self.states.resume(wall)
            self.breakers.on_resume(self._pnls())
        else:
            self.states.refused_request = number
            self.ctx.errors.record(f"operator request {number}: unknown trading command {command!r}")
        self.states.last_request = number
        self.logger.warning("operator request %d: %s (%s) -> %s", number, command, why, self.states.account_state.name)
        self._states_changed()

    def _pnls(self) -> dict[int, tuple[int, int]]:
        marks = self.marks
        pnls: dict[int, tuple[int, int]] = {}
        for scope in (ACCOUNT, *self.ledger.strategies()):
            strategy = None if scope == ACCOUNT else scope
            try:
                pnls[scope] = (self.ledger.pnl(marks, strategy), self.ledger.drawdown(strategy))
            except KeyError:  # an open position with no mark yet
                continue
        return pnls

    def _states_changed(self) -> None:
        """Tell the checks the state in force and cancel the open orders of every strategy that got stricter."""
        states = self.states
        checks = self.checks
        checks.set_state(states.account_state, reason=self._reason(ACCOUNT))
        scopes = {*self._applied, *self._routes, *self.ledger.strategies()}
        scopes.discard(ACCOUNT)
        for sid in scopes:
            state = states.state(sid)
            checks.set_state(state, sid, self._reason(sid))
            before = self._applied.get(sid, TradingState.ACTIVE)
            self._applied[sid] = state
            if state > before:
                self._cancel_all(sid)
        self._status_dirty = True
        self._publish()

    def _reason(self, scope: int) -> RejectReason | None:
        """What refused orders say: MAX_LOSS while a loss or drawdown breaker holds the scope, else the default."""
        return RejectReason.MAX_LOSS if self.states.set_by(scope) in _LOSS_SOURCES else None

    def _cancel_all(self, sid: int) -> None:
        """The kill switch for one strategy: a CANCEL_ALL per instrument where it has open orders (no check)."""
        for iid in self.instruments:
            if self.checks.orders.strategy(sid, iid).count:
                self._seq += 1
                self._kill_cancels.add()
                self._intent(iid, sid, IntentAction.CANCEL_ALL, OrderSide.BUY, OrderType.LIMIT, TimeInForce.GTC, 0, 0,
                             bytes(40), time.monotonic_ns())  # fmt: skip

    # -- housekeeping ------------------------------------------------------------------------
    def _housekeeping(self, now: int) -> None:
        wall = time.time_ns()
        changed = False
        limit = self.params.breakers.max_data_age_ns
        if limit:
            stale = [self.instruments[i].symbol for i, t in self._book_time.items() if now - t > limit]
            changed |= self.breakers.on_stale(stale, wall)
        control = self.ctx.control
        if control.state is not PipelineState.STOPPING:  # stages the supervisor stops have not failed
            down = [name for name, index in self._watched if control.stage_state(index) not in _UP]
            changed |= self.breakers.on_stages(down, wall)
        self.ledger.observe(self._marks_for_open())
        for scope, (pnl, drawdown) in self._pnls().items():
            changed |= self.breakers.on_pnl(scope, pnl, drawdown, wall)
        if changed:
            self._states_changed()
        else:
            self._publish()

    def _marks_for_open(self) -> dict[int, int]:
        return self.marks

    def _publish(self) -> None:
        self._status_dirty = False
        strategy_states = {sid: self.states.state(sid) for sid in self._applied if sid}
        status = risk_status(self.states, self.ledger, self.instruments, self.marks, strategy_states)
        try:
            self.ctx.publish_status(status)
        except ValueError:  # too many positions for the bulletin: keep the state, drop the list
            status["positions"] = status["positions"][:5]
            trading = status["trading"]
            trading["positions"] = dict(list(trading["positions"].items())[:5])
            self.ctx.publish_status(status)

    # -- output ------------------------------------------------------------------------------
    def _send(self, port: OutputPort, record: bytes | memoryview, now: int) -> None:
        """Offer ``record``; one that must wait is kept as a copy (a view of an input ring or of the scratch
        would change under it)."""
        if self._held or not port.offer(record, now):
            self._held.append((port, bytes(record), now))

    def _release(self) -> bool:
        while self._held:
            port, record, now = self._held[0]
            if not port.offer(record, now):
                return False
            self._held.pop(0)
        return True

    def on_close(self) -> None:
        self._release()
        self._publish()
