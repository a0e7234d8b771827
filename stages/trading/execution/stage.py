"""The execution stage: approved intents in, EXEC_REPORT records out, through the OMS.

Thin ring I/O around the cores: :class:`~.paper_bridge.PaperBridge` (``mode =
"paper"``: a :class:`~.paper.PaperVenue` per instrument fed the DEPTH and
TRADE records of the market-data ring, nothing leaves the host, no fees) and
:class:`~.live.LiveVenue` (``mode = "live"``: Binance's WebSocket API).
Inputs: the risk stage's approved intents (and its refusals of released
children) and the market data broadcast. Output: the reports, on the ring to
risk; each carries the header cause (``ts_origin`` and hops) of what made it:
the intent, or the trade that filled it, and the slippage estimated when
its order was sent, with what each fill realized against it
(:mod:`.slippage_tracker`; the status shows the aggregates).

Synthetic orders (intents flagged ``SYNTHETIC``: stops, take-profits,
trailing stops, mid pegs, OCO / OTO / brackets) are held here in both modes,
in a :class:`~.synthetic_bridge.SyntheticBridge` fed the market data's trades
and tops of book; what they release goes back to risk on the output ring as
intents flagged ``RELEASED`` and comes back approved like any other order
(see :mod:`~.synthetic_bridge` for the whole path). Trigger-to-send (the
market update that triggered a synthetic order, to its approved child handed
to the venue) is the named histogram ``trigger_to_send`` (``latency.trigger_to_send``).

An asyncio stage: the rings are polled from the event loop, which parks on
the doorbell when they are empty (:class:`~hftpipe.substrate.async_idle.AsyncIdle`).

Live mode records three latency histograms in the control file
(``latency.<name>`` in the run report): ``tick_to_order`` (the causing
tick's feed receive → the request's bytes on the socket; also the stage's
end-to-end histogram), ``order_ack`` (request on the socket → the venue's
answer) and ``fill`` (request on the socket → the order's first fill). Its
status carries ``trading``: orders sent, acks, fills, rejects and fees, which
the run report merges with risk's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from hftpipe.runtime import AsyncAgent, StageContext
from hftpipe.schema import SPECS
from hftpipe.schema.fixedpoint import format_fixed
from hftpipe.schema.marketdata import BBO_TOP, BBO_TOP_OFFSET, DEPTH_TOP, DEPTH_TOP_OFFSET, BookState
from hftpipe.schema.records import RecordFlag, RecordType
from hftpipe.schema.trading import (
    NO_SLIPPAGE,
    RELEASE_SEQ_BASE,
    ExecType,
    IntentAction,
    IntentFlag,
    OrderSide,
    OrderType,
    RejectReason,
    TimeInForce,
)
from hftpipe.strategy import BookView
from hftpipe.substrate.async_idle import AsyncIdle
from stages.trading.execution.binance.client import (
    DEFAULT_MAX_CONNECTION_AGE_S,
    Credentials,
    Ed25519Credentials,
    HmacCredentials,
)
from stages.trading.execution.binance.messages import ASSET_SCALE
from stages.trading.execution.live import LiveVenue
from stages.trading.execution.oms import Oms
from stages.trading.execution.oms_reports import Report
from stages.trading.execution.paper import Latency
from stages.trading.execution.paper_bridge import Cause, PaperBridge
from stages.trading.execution.slippage_tracker import SlippageTracker
from stages.trading.execution.synthetic_bridge import Intent as SynthIntent
from stages.trading.execution.synthetic_bridge import Out, SyntheticBridge

MODES: Final = ("paper", "live")
_INTENT_SPEC: Final = SPECS[RecordType.ORDER_INTENT]
_INTENT: Final = _INTENT_SPEC.packer.unpack_from
_PACK_INTENT: Final = _INTENT_SPEC.packer.pack_into
_INTENT_TYPE: Final = int(RecordType.ORDER_INTENT)
_UNPACK_REPORT: Final = SPECS[RecordType.EXEC_REPORT].packer.unpack_from
_SYNTHETIC: Final = int(IntentFlag.SYNTHETIC)
_RELEASED: Final = int(IntentFlag.RELEASED)
_SYNTHETIC_REPORT: Final = int(RecordFlag.SYNTHETIC)
_CHILD_REPORT: Final = int(RecordFlag.RELEASED_CHILD)
_SYNCED: Final = int(BookState.SYNCED)
_VENUE_BBO: Final = int(RecordFlag.VENUE)
_NEW, _CANCEL, _CANCEL_ALL = int(IntentAction.NEW), int(IntentAction.CANCEL), int(IntentAction.CANCEL_ALL)
_TICK_CAUSED: Final = int(RecordFlag.TICK_CAUSED)
_UNPRICED: Final = frozenset({int(OrderType.MARKET), int(OrderType.STOP_MARKET), int(OrderType.STOP_LIMIT)})
"""Order types estimated as market orders: no limit price (a stop is walked as the market order it becomes)."""
_TRADE: Final = SPECS[RecordType.TRADE].packer.unpack_from
_DEPTH: Final = SPECS[RecordType.DEPTH]
_REPORT: Final = SPECS[RecordType.EXEC_REPORT]
_PACK_REPORT: Final = _REPORT.packer.pack_into
_REPORT_TYPE: Final = int(RecordType.EXEC_REPORT)
_FILLS: Final = frozenset({ExecType.PARTIAL_FILL, ExecType.FILL})
_ENDS: Final = frozenset({ExecType.FILL, ExecType.CANCELED, ExecType.REJECTED, ExecType.EXPIRED})
_REFUSALS: Final = frozenset({ExecType.REJECTED, ExecType.CANCEL_REJECTED})
_LEVELS: Final = _DEPTH.dtype["bid_price"].shape[0]
_STATUS_INTERVAL_NS: Final = 1_000_000_000


def _depth_offset(name: str) -> int:
    fields = _DEPTH.dtype.fields
    assert fields is not None
    return int(fields[name][1])


_BID_P, _BID_Q, _ASK_P, _ASK_Q = (_depth_offset(n) for n in ("bid_price", "bid_qty", "ask_price", "ask_qty"))


class ExecutionStage(AsyncAgent):
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        mode: str = "paper"
        """``paper`` (a paper venue per instrument, on the market-data ring) or ``live`` (Binance WS API)."""
        ws_api_url: str = ""
        """Live: the WebSocket API, e.g. ``wss://ws-api.binance.com:443/ws-api/v3``."""
        api_key: str = ""
        """Live: the API key itself (or ``api_key_env``)."""
        api_key_env: str = ""
        """Live: the environment variable holding the API key."""
        private_key_path: Path | None = None
        """Live, Ed25519 key: its private key, PEM (relative to the config file)."""
        secret_env: str = ""
        """Live, HMAC key: the environment variable holding its secret."""
        paper_entry_latency_us: int = 0
        """Paper: how long a new order takes to reach the paper venue."""
        paper_cancel_latency_us: int = 0
        """Paper: how long a cancel or replace takes."""
        request_timeout_s: float = 10.0
        """Live: no answer by then is an unknown outcome (the order is queried, never sent again)."""
        max_connection_age_s: float = DEFAULT_MAX_CONNECTION_AGE_S
        """Live: a connection this old is replaced, make before break (Binance closes them at 24 h)."""
        batch: int = 256

        def __post_init__(self) -> None:
            if self.mode not in MODES:
                raise ValueError(f"mode: {self.mode!r} is not one of {', '.join(MODES)}")
            if self.paper_entry_latency_us < 0:
                raise ValueError("paper_entry_latency_us must be >= 0")
            if self.paper_cancel_latency_us < 0:
                raise ValueError("paper_cancel_latency_us must be >= 0")
            if self.request_timeout_s <= 0:
                raise ValueError("request_timeout_s must be > 0")
            if self.max_connection_age_s <= 0:
                raise ValueError("max_connection_age_s must be > 0")
            if self.batch <= 0:
                raise ValueError("batch must be > 0")
            if self.mode == "live":
                if not self.ws_api_url.startswith(("ws://", "wss://")):
                    raise ValueError(f"ws_api_url: live mode needs a ws:// or wss:// URL, got {self.ws_api_url!r}")
                if not self.api_key and not self.api_key_env:
                    raise ValueError("api_key: live mode needs api_key or api_key_env")
                if (self.private_key_path is None) == (not self.secret_env):
                    raise ValueError("private_key_path: live mode needs one of private_key_path (Ed25519) or "
                                     "secret_env (HMAC)")  # fmt: skip

        def credentials(self) -> Credentials:
            """The key from the config's paths and the environment (never from code)."""
            api_key = self.api_key
            if not api_key:
                api_key = os.environ.get(self.api_key_env, "")
                if not api_key:
                    raise ValueError(f"api_key_env: the environment variable {self.api_key_env!r} is not set")
            if self.private_key_path is not None:
                return Ed25519Credentials(api_key, self.private_key_path)
            secret = os.environ.get(self.secret_env, "")
            if not secret:
                raise ValueError(f"secret_env: the environment variable {self.secret_env!r} is not set")
            return HmacCredentials(api_key, secret)

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params: ExecutionStage.Params = ctx.params or self.Params()
        self.params = params
        self.logger = logging.getLogger(f"hftpipe.execution.{ctx.name}")
        instruments = list(ctx.instruments)
        if not instruments:
            raise ValueError(f"stages.{ctx.name}: the pipeline declares no [[instruments]] to trade")
        self.oms = Oms(logger=self.logger)
        self.paper: PaperBridge | None = None
        self.live: LiveVenue | None = None
        if params.mode == "paper":
            latency = Latency(params.paper_entry_latency_us * 1000, params.paper_cancel_latency_us * 1000)
            self.paper = PaperBridge(instruments, latency, self.oms)
        else:
            self.live = LiveVenue(
                params.ws_api_url, params.credentials(), instruments, self._emit,
                request_timeout_s=params.request_timeout_s, max_connection_age_s=params.max_connection_age_s,
                oms=self.oms, logger=self.logger,
                on_tick_to_order=self._tick_to_order(ctx), on_order_ack=ctx.histogram("order_ack").record,
                on_fill=ctx.histogram("fill").record,
            )  # fmt: skip
        self.books = {i.id: BookView(i) for i in instruments}
        """Execution's own view of each book (DEPTH and BBO of the market-data ring): what orders are estimated on."""
        self.slippage = SlippageTracker()
        self._out = ctx.output_port() if ctx.outputs else None
        need = max(_REPORT.itemsize, _INTENT_SPEC.itemsize)
        if self._out is not None and self._out.ring.slot_size < need:
            raise ValueError(
                f"ring {next(iter(ctx.outputs))}: it carries EXEC_REPORT records and released children "
                f"(ORDER_INTENT): slot_size must be >= {need}, it has {self._out.ring.slot_size}"
            )
        # children's sequences: this run's own range, a restart a second later far above the last one's
        start = RELEASE_SEQ_BASE + (time.time_ns() // 1_000_000 % 10**9) * 1000
        self.synthetic = SyntheticBridge(instruments, start)
        self._intent_scratch = bytearray(_INTENT_SPEC.itemsize)
        self._trigger_to_send = ctx.histogram("trigger_to_send")
        """A synthetic order's trigger (the market update) → its approved child handed to the venue."""
        self._ports = list(ctx.inputs.values())
        self._held: list[tuple[bytes, int]] = []
        self._scratch = bytearray(_REPORT.itemsize)
        self._owed: tuple[int, tuple[int, int, int], int, int, int, int] | None = None
        """The order being sent whose slippage estimate is not walked yet (:meth:`_estimate_owed`)."""
        self._now = 0
        counters = ctx.counters
        self.orders_sent = counters.add("orders_sent")
        self.acks = counters.add("acks")
        self.fills = counters.add("fills")
        self.rejects = counters.add("rejects")
        self.cancels = counters.add("cancels")
        self.reports = counters.add("reports")
        self.released = counters.add("synthetic.released")
        self.release_refused = counters.add("synthetic.refused")
        self._counted = {
            ExecType.ACK: self.acks,
            ExecType.REPLACED: self.acks,
            ExecType.PARTIAL_FILL: self.fills,
            ExecType.FILL: self.fills,
            ExecType.REJECTED: self.rejects,
            ExecType.CANCELED: self.cancels,
        }
        self._fees = 0
        """Commissions of the fills, summed as the venue charged them (:data:`ASSET_SCALE`)."""
        self.reject_reasons: dict[str, int] = {}
        """Refusals (REJECTED, CANCEL_REJECTED) by reason and venue code, e.g. ``"REJECTED VENUE -2010"``."""
        self._next_status = 0

    @staticmethod
    def _tick_to_order(ctx: StageContext) -> Callable[[int], None]:
        """Tick-to-order into ``tick_to_order`` and, as before, the stage's end-to-end histogram."""
        named, end_to_end = ctx.histogram("tick_to_order").record, ctx.end_to_end.record

        def record(ns: int) -> None:
            named(ns)
            end_to_end(ns)

        return record

    # -- the loop --------------------------------------------------------------------------------
    async def run(self, stopping: asyncio.Event) -> None:
        idle = AsyncIdle([port.ring for port in self._ports], self.ctx.doorbell, park_timeout_s=0.01)
        if self.live is not None:
            try:
                await self.live.start()
            except Exception:
                await self.live.close()
                raise
        try:
            while not stopping.is_set():
                work = self.step(time.monotonic_ns())
                busy = self.paper is not None and any(v.pending for v in self.paper.venues.values())
                await idle.idle(work or int(busy))
        finally:
            if self.live is not None:
                await self.live.close()
            self._release()
            self._publish_status()

    def step(self, now: int) -> int:
        """One turn: held reports out, the input rings polled, the paper venues advanced, the status."""
        self._now = now
        if self._held and not self._release():
            return 0
        work = 0
        batch = self.params.batch
        for port in self._ports:
            work += port.poll(self._on_record, batch)
        if self.paper is not None:
            for report, cause in self.paper.advance(now):
                self._emit(report, cause)
        if now >= self._next_status:
            self._next_status = now + _STATUS_INTERVAL_NS
            self._publish_status()
        return work

    # -- records -----------------------------------------------------------------------------------
    def _on_record(self, buf: memoryview, offset: int, now: int) -> None:
        self._now = now
        rtype = buf[offset] | (buf[offset + 1] << 8)
        if rtype == RecordType.ORDER_INTENT:
            self._on_intent(buf, offset, now)
        elif rtype == RecordType.EXEC_REPORT:  # risk refused a released child
            f = _UNPACK_REPORT(buf, offset)
            if f[1] & _CHILD_REPORT and f[17] == ExecType.REJECTED:
                self.release_refused.add()
                out = self.synthetic.refused(f[21], f[10], RejectReason(f[19]), now)
                self._synth(out, bytes(buf[offset + 24 : offset + 64]), now)
        elif rtype == RecordType.TRADE:
            f = _TRADE(buf, offset)
            cause = bytes(buf[offset + 24 : offset + 64])
            triggered = self.synthetic.on_trade(f[2], f[10], f[11], now)
            if triggered is not None:
                self._synth(triggered, cause, now)
            if self.paper is not None:
                for report, why in self.paper.trade(f[2], f[10], f[11], f[13], cause, now):
                    self._emit(report, why)
        elif rtype == RecordType.BBO:
            if buf[offset + 2] & _VENUE_BBO:
                return
            instrument = int.from_bytes(buf[offset + 4 : offset + 8], "little")
            view = self.books.get(instrument)
            if view is not None:
                view.take_bbo(buf, offset, now)
            bid, _, ask, _, _, state = BBO_TOP.unpack_from(buf, offset + BBO_TOP_OFFSET)
            if state == _SYNCED:
                self._book(instrument, bid, ask, buf, offset, now)
        elif rtype == RecordType.DEPTH:
            instrument = int.from_bytes(buf[offset + 4 : offset + 8], "little")
            view = self.books.get(instrument)
            if view is not None:
                view.take_depth(buf, offset, now)
            _, _, state, bid, _, ask, _ = DEPTH_TOP.unpack_from(buf, offset + DEPTH_TOP_OFFSET)
            if state == _SYNCED:
                self._book(instrument, bid, ask, buf, offset, now)
            if self.paper is None or instrument not in self.paper.venues:
                return

            def levels(at: int) -> npt.NDArray[np.int64]:
                return np.frombuffer(buf, dtype="<i8", count=_LEVELS, offset=offset + at)

            reports = self.paper.depth(
                instrument, levels(_BID_P), levels(_BID_Q), levels(_ASK_P), levels(_ASK_Q),
                bytes(buf[offset + 24 : offset + 64]), now,
            )  # fmt: skip
            for report, why in reports:
                self._emit(report, why)
        elif self.paper is None:
            return
        elif rtype == RecordType.TRADE:
            f = _TRADE(buf, offset)
            for report, why in self.paper.trade(f[2], f[10], f[11], f[13], bytes(buf[offset + 24 : offset + 64]), now):
                self._emit(report, why)

    def _estimate(
        self, instrument: int, key: tuple[int, int, int], side: int, order_type: int, price: int, qty: int
    ) -> None:
        """The slippage an order going out now is expected to pay, walking this stage's view of its book."""
        view = self.books.get(instrument)
        if view is None or not view.updates or qty <= 0 or side not in (0, 1):
            return
        limit = 0 if order_type in _UNPRICED else price
        self.slippage.sent(key, view.estimate_slippage(OrderSide(side), qty, limit))

    def _estimate_owed(self) -> None:
        """The estimate of the order being sent, walked now if it was not yet: after its request left (the walk
        is not on the way to the socket), or before the first report about anything while the intent is
        handled. The book cannot change meanwhile (nothing polls the rings then): the same walk, the same values."""
        owed, self._owed = self._owed, None
        if owed is not None:
            self._estimate(*owed)

    def _on_intent(self, buf: memoryview, offset: int, now: int) -> None:
        f = _INTENT(buf, offset)
        cause = bytes(buf[offset + 24 : offset + 64])
        (instrument, seq, orig, price, qty, epoch, strategy, action, side, order_type, tif, flags) = (
            f[2], f[10], f[11], f[12], f[13], f[15], f[16], f[17], f[18], f[19], f[20], f[21])  # fmt: skip
        synthetic = self.synthetic
        if flags & _SYNTHETIC:
            if action == _NEW:
                out = synthetic.place(SynthIntent(instrument, strategy, epoch, seq, side, order_type, tif, flags,
                                                  price, qty, f[14], *f[23:25], *f[26:]), now)  # fmt: skip
            elif action == _CANCEL:
                out = synthetic.cancel(instrument, strategy, epoch, orig, side, now)
            else:  # a synthetic order is not replaced (the strategy API refuses it)
                return
            self._synth(out, cause, now)
            return
        if action == _CANCEL_ALL:
            self._synth(synthetic.cancel_all(strategy, instrument, now), cause, now)
        trigger_ns = None
        if flags & _RELEASED:
            answer = synthetic.approved(strategy, seq)
            if answer is not None:
                trigger_ns, send = answer
                if not send:  # its synthetic order ended while risk checked it: it goes no further
                    self._report(_CHILD_REPORT, instrument, strategy, seq, side, ExecType.CANCELED, 0, 0, 0, 0, 0,
                                 RejectReason.NONE, cause)  # fmt: skip
                    self._synth(synthetic.child_closed(strategy, seq, now), cause, now)
                    return
        if action in (0, 2):  # NEW, REPLACE: an order goes out; its estimate is owed (:meth:`_estimate_owed`)
            self.orders_sent.add()
            self._owed = (instrument, (strategy, epoch, seq), side, order_type, price, qty)
        args = (instrument, strategy, epoch, action, seq, orig, side, order_type, tif, price, qty, cause, now)
        try:
            if self.paper is not None:
                for report, why in self.paper.intent(*args):
                    self._emit(report, why)
            elif self.live is not None:
                self.live.intent(*args, tick_caused=bool(f[1] & _TICK_CAUSED))
        finally:
            self._estimate_owed()
        if trigger_ns is not None:
            self._trigger_to_send.record(time.monotonic_ns() - trigger_ns)

    def _book(self, instrument: int, bid: int, ask: int, buf: memoryview, offset: int, now: int) -> None:
        out = self.synthetic.on_book(instrument, bid, ask, now)
        if out is not None:
            self._synth(out, bytes(buf[offset + 24 : offset + 64]), now)

    def _synth(self, out: Out, cause: Cause, now: int) -> None:
        """What synthetic orders did: their reports to risk, then their children to risk, then cancels to the venue."""
        for r in out.reports:
            self._report(_SYNTHETIC_REPORT, r.instrument, r.strategy, r.seq, r.side, r.exec_type, r.last_price,
                         r.last_qty, r.cum_qty, r.leaves_qty, r.fee, r.reason, cause)  # fmt: skip
        for c in out.intents:
            self.released.add()
            scratch = self._intent_scratch
            _PACK_INTENT(
                scratch, 0, _INTENT_TYPE, _TICK_CAUSED if c.market_caused else 0, c.instrument, 0, now, 0, 0, 0, 0, 0,
                c.seq, c.orig, c.price, c.qty, 0, c.epoch, c.strategy, int(c.action), int(c.side), int(c.order_type),
                int(c.tif), int(c.flags), 0, 0, 0, c.synthetic_seq, 0, 0, 0, 0, 0, 0, 0, 0,
            )  # fmt: skip
            scratch[24:64] = cause
            self._offer(bytes(scratch))
        for v in out.cancels:
            args = (v.instrument, v.strategy, v.epoch, _CANCEL, self.synthetic.next_seq(), v.seq, int(v.side),
                    int(OrderType.LIMIT), int(TimeInForce.GTC), 0, 0, cause, now)  # fmt: skip
            if self.paper is not None:
                for report, why in self.paper.intent(*args):
                    self._emit(report, why)
            elif self.live is not None:
                self.live.intent(*args, tick_caused=False)

    def _emit(self, report: Report, cause: Cause) -> None:
        """Pack one OMS report as an EXEC_REPORT and offer it to risk (held while the ring is full).

        A released child's is flagged ``RELEASED_CHILD`` and followed by what it
        did to its synthetic order (that order's own report, flagged ``SYNTHETIC``).
        """
        self.reports.add()
        counter = self._counted.get(report.exec_type)
        if counter is not None:
            counter.add()
        if report.exec_type in _REFUSALS:
            self._count_refusal(report)
        self._fees += report.fee
        order = report.order
        if self._owed is not None:
            self._estimate_owed()
        slippage = self.slippage.report_fields(order.key, report.last_price, report.last_qty)
        if report.exec_type in _ENDS:  # the report that ends it (the OMS may be further on: paper fills at once)
            self.slippage.forget(order.key)
        elif report.exec_type == ExecType.REPLACED and order.replaces is not None:
            self.slippage.forget(order.replaces.key)
        child = order.order_seq >= RELEASE_SEQ_BASE
        self._report(_CHILD_REPORT if child else 0, order.instrument, order.strategy_id, order.order_seq, order.side,
                     report.exec_type, report.last_price, report.last_qty, report.cum_qty, report.leaves_qty,
                     report.fee, report.reason, cause, order.venue_order_id, report.venue_code, slippage)  # fmt: skip
        if child:
            now = self._now or time.monotonic_ns()
            out = self.synthetic.child_report(order.strategy_id, order.order_seq, report.exec_type, report.last_price,
                                              report.last_qty, report.fee, report.reason, now)  # fmt: skip
            self._synth(out, cause, now)

    def _report(
        self, flags: int, instrument: int, strategy: int, seq: int, side: int, exec_type: ExecType, last_price: int,
        last_qty: int, cum_qty: int, leaves_qty: int, fee: int, reason: RejectReason, cause: Cause,
        venue_order_id: int = 0, venue_code: int = 0, slippage: tuple[int | float, ...] = NO_SLIPPAGE,
    ) -> None:  # fmt: skip
        if self._out is None:
            return
        scratch = self._scratch
        _PACK_REPORT(
            scratch, 0, _REPORT_TYPE, flags, instrument, 0, 0, 0, 0, 0, 0, 0,
            seq, venue_order_id, last_price, last_qty, cum_qty, leaves_qty, fee, int(exec_type), int(side),
            int(reason), venue_code, strategy, *slippage,
        )  # fmt: skip
        scratch[24:64] = cause
        self._offer(bytes(scratch))

    def _offer(self, record: bytes) -> None:
        if self._out is None:
            return
        now = self._now or time.monotonic_ns()
        if self._held or not self._out.offer(record, now):
            self._held.append((record, now))

    def _count_refusal(self, report: Report) -> None:
        why = f"{report.exec_type.name} {RejectReason(report.reason).name}"
        if report.venue_code:
            why += f" {report.venue_code}"
        self.reject_reasons[why] = self.reject_reasons.get(why, 0) + 1

    def _release(self) -> bool:
        out = self._out
        while self._held and out is not None:
            record, now = self._held[0]
            if not out.offer(record, now):
                return False
            self._held.pop(0)
        return True

    def _publish_status(self) -> None:
        self.ctx.publish_status(
            {
                "mode": self.params.mode,
                "connected": self.live.connected if self.live is not None else True,
                "orders_open": len(self.oms.open_orders()),
                "fills": self.fills.value,
                "rejects": self.rejects.value,
                "oms": {k: v for k, v in self.oms.counts.as_dict().items() if v},
                "trading": {
                    "orders_sent": self.orders_sent.value,
                    "acks": self.acks.value,
                    "fills": self.fills.value,
                    "rejects": self.rejects.value,
                    "fees": format_fixed(self._fees, ASSET_SCALE),
                    "slippage": self.slippage.summary(),
                },
                "synthetic": {"held": len(self.synthetic), "released": self.released.value},
                "rejects_by_reason": dict(self.reject_reasons),
                "venue": self.live.counters() if self.live is not None else None,
                "venue_refusals": dict(self.live.refusals) if self.live is not None else None,
            }
        )
