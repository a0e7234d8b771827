"""The execution stage: approved intents in, EXEC_REPORT records out, through the OMS.

Thin ring I/O around the cores: :class:`~.paper_bridge.PaperBridge` (``mode =
"paper"``: a :class:`~.paper.PaperVenue` per instrument fed the DEPTH and
TRADE records of the market-data ring, nothing leaves the host, no fees) and
:class:`~.live.LiveVenue` (``mode = "live"``: Binance's WebSocket API).
Inputs: the risk stage's approved intents and, in paper mode, the market
data broadcast. Output: the reports, on the ring to risk; each carries the
header cause (``ts_origin`` and hops) of what made it: the intent, or the
trade that filled it.

An asyncio stage: the rings are polled from the event loop, which parks on
the doorbell when they are empty (:class:`~hftpipe.substrate.async_idle.AsyncIdle`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from hftpipe.runtime import AsyncAgent, StageContext
from hftpipe.schema import SPECS
from hftpipe.schema.records import RecordFlag, RecordType
from hftpipe.schema.trading import ExecType, RejectReason
from hftpipe.substrate.async_idle import AsyncIdle
from stages.trading.execution.binance.client import (
    DEFAULT_MAX_CONNECTION_AGE_S,
    Credentials,
    Ed25519Credentials,
    HmacCredentials,
)
from stages.trading.execution.live import LiveVenue
from stages.trading.execution.oms import Oms
from stages.trading.execution.oms_reports import Report
from stages.trading.execution.paper import Latency
from stages.trading.execution.paper_bridge import Cause, PaperBridge

MODES: Final = ("paper", "live")
_INTENT: Final = SPECS[RecordType.ORDER_INTENT].packer.unpack_from
_TICK_CAUSED: Final = int(RecordFlag.TICK_CAUSED)
_TRADE: Final = SPECS[RecordType.TRADE].packer.unpack_from
_DEPTH: Final = SPECS[RecordType.DEPTH]
_REPORT: Final = SPECS[RecordType.EXEC_REPORT]
_PACK_REPORT: Final = _REPORT.packer.pack_into
_REPORT_TYPE: Final = int(RecordType.EXEC_REPORT)
_FILLS: Final = frozenset({ExecType.PARTIAL_FILL, ExecType.FILL})
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
                on_tick_to_order=ctx.end_to_end.record,
            )  # fmt: skip
        self._out = ctx.output_port() if ctx.outputs else None
        self._ports = list(ctx.inputs.values())
        self._held: list[tuple[bytes, int]] = []
        self._scratch = bytearray(_REPORT.itemsize)
        self._now = 0
        counters = ctx.counters
        self.orders_sent = counters.add("orders_sent")
        self.acks = counters.add("acks")
        self.fills = counters.add("fills")
        self.rejects = counters.add("rejects")
        self.cancels = counters.add("cancels")
        self.reports = counters.add("reports")
        self._counted = {
            ExecType.ACK: self.acks,
            ExecType.REPLACED: self.acks,
            ExecType.PARTIAL_FILL: self.fills,
            ExecType.FILL: self.fills,
            ExecType.REJECTED: self.rejects,
            ExecType.CANCELED: self.cancels,
        }
        self.reject_reasons: dict[str, int] = {}
        """Refusals (REJECTED, CANCEL_REJECTED) by reason and venue code, e.g. ``"REJECTED VENUE -2010"``."""
        self._next_status = 0

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
            f = _INTENT(buf, offset)
            cause = bytes(buf[offset + 24 : offset + 64])
            (instrument, seq, orig, price, qty, epoch, strategy, action, side, order_type, tif) = (
                f[2], f[10], f[11], f[12], f[13], f[15], f[16], f[17], f[18], f[19], f[20])  # fmt: skip
            if action in (0, 2):  # NEW, REPLACE: an order goes out
                self.orders_sent.add()
            args = (instrument, strategy, epoch, action, seq, orig, side, order_type, tif, price, qty, cause, now)
            if self.paper is not None:
                for report, why in self.paper.intent(*args):
                    self._emit(report, why)
            elif self.live is not None:
                self.live.intent(*args, tick_caused=bool(f[1] & _TICK_CAUSED))
        elif self.paper is None:
            return
        elif rtype == RecordType.TRADE:
            f = _TRADE(buf, offset)
            for report, why in self.paper.trade(f[2], f[10], f[11], f[13], bytes(buf[offset + 24 : offset + 64]), now):
                self._emit(report, why)
        elif rtype == RecordType.DEPTH:
            instrument = int.from_bytes(buf[offset + 4 : offset + 8], "little")
            if instrument not in self.paper.venues:
                return

            def levels(at: int) -> npt.NDArray[np.int64]:
                return np.frombuffer(buf, dtype="<i8", count=_LEVELS, offset=offset + at)

            reports = self.paper.depth(
                instrument, levels(_BID_P), levels(_BID_Q), levels(_ASK_P), levels(_ASK_Q),
                bytes(buf[offset + 24 : offset + 64]), now,
            )  # fmt: skip
            for report, why in reports:
                self._emit(report, why)

    def _emit(self, report: Report, cause: Cause) -> None:
        """Pack one OMS report as an EXEC_REPORT and offer it to risk (held while the ring is full)."""
        self.reports.add()
        counter = self._counted.get(report.exec_type)
        if counter is not None:
            counter.add()
        if report.exec_type in _REFUSALS:
            self._count_refusal(report)
        if self._out is None:
            return
        order = report.order
        scratch = self._scratch
        _PACK_REPORT(
            scratch, 0, _REPORT_TYPE, 0, order.instrument, 0, 0, 0, 0, 0, 0, 0,
            order.order_seq, order.venue_order_id, report.last_price, report.last_qty, report.cum_qty,
            report.leaves_qty, report.fee, int(report.exec_type), int(order.side), int(report.reason),
            report.venue_code, order.strategy_id,
        )  # fmt: skip
        scratch[24:64] = cause
        record = bytes(scratch)
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
                "order_round_trip": self.live.round_trip_summary() if self.live is not None else None,
                "rejects_by_reason": dict(self.reject_reasons),
                "venue": self.live.counters() if self.live is not None else None,
                "venue_refusals": dict(self.live.refusals) if self.live is not None else None,
            }
        )
