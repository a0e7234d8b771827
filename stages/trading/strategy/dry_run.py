"""A venue that never trades: it writes every intent to a file and answers like an idle exchange.

The first smoke test of a new strategy (``configs/strategy-dryrun.toml``):
feed → book → strategy → here. Each intent becomes one JSON line in
``path`` (prices and sizes as decimal strings, the client order id as the
venue would see it). With ``acknowledge = true`` (default) the strategy gets
the reports a venue with no counterparties would send: NEW → ACK (a
market, IOC or FOK order → EXPIRED, nothing to trade against), CANCEL →
CANCELED, REPLACE → REPLACED, CANCEL_ALL → CANCELED for each of the
strategy's open orders on the instrument. Nothing is ever filled: paper
fills are the execution stage's ``paper`` mode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import orjson

from hftpipe.runtime import Agent, StageContext
from hftpipe.schema import SPECS
from hftpipe.schema.records import RecordType
from hftpipe.schema.trading import (
    NO_SLIPPAGE,
    ExecType,
    IntentAction,
    OrderSide,
    OrderType,
    TimeInForce,
    client_order_id,
)

_INTENT: Final = SPECS[RecordType.ORDER_INTENT].packer.unpack_from
_REPORT: Final = SPECS[RecordType.EXEC_REPORT]
_PACK_REPORT: Final = _REPORT.packer.pack_into
_REPORT_TYPE: Final = int(RecordType.EXEC_REPORT)
_TAKERS: Final = frozenset({int(OrderType.MARKET)})
_NOT_RESTING: Final = frozenset({int(TimeInForce.IOC), int(TimeInForce.FOK)})


class DryRunVenue(Agent):
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        path: Path | None = None
        """JSON lines, one per intent (relative to the config file); none: count only."""
        acknowledge: bool = True
        """Answer intents on the output ring (the strategies' report ring), if the stage has one."""
        batch: int = 256

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params: DryRunVenue.Params = ctx.params or self.Params()
        self.params = params
        self.logger = logging.getLogger(f"hftpipe.dryrun.{ctx.name}")
        self._polls = [port.poll for port in ctx.inputs.values()]
        self._out = ctx.output_port() if params.acknowledge and ctx.outputs else None
        self._file: IO[bytes] | None = None
        if params.path is not None:
            params.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = ctx.own(open(params.path, "ab"))  # noqa: SIM115 - closed with the context
        self._instruments = {i.id: i for i in ctx.instruments}
        self._counts = {action: ctx.counters.add(f"intents.{action.name.lower()}") for action in IntentAction}
        self._open: dict[tuple[int, int], dict[int, int]] = {}
        """(strategy, instrument) -> {order seq: side} of the orders this venue holds open."""
        self._held: list[tuple[bytes, int]] = []
        self._scratch = bytearray(_REPORT.itemsize)
        self._scratch_view = memoryview(self._scratch)
        self._venue_ids = 0

    def do_work(self) -> int:
        if self._held and not self._release():
            return 0
        work = 0
        for poll in self._polls:
            work += poll(self._on_intent, self.params.batch)
        if work and self._file is not None:
            self._file.flush()
        return work

    def _on_intent(self, buf: memoryview, offset: int, now: int) -> None:
        if buf[offset] | (buf[offset + 1] << 8) != RecordType.ORDER_INTENT:
            return
        f = _INTENT(buf, offset)
        (instrument, ts_venue, ts_origin, seq, orig, price, qty, epoch, strategy, action,
         side, order_type, tif, flags, update_id) = (f[2], f[4], f[5], f[10], f[11], f[12], f[13], f[15], f[16],
                                                      f[17], f[18], f[19], f[20], f[21], f[22])  # fmt: skip
        self._counts[IntentAction(action)].add()
        if self._file is not None:
            self._file.write(self._line(instrument, ts_venue, ts_origin, seq, orig, price, qty, epoch, strategy,
                                        action, side, order_type, tif, flags, update_id))  # fmt: skip
        if self._out is None:
            return
        header = bytes(buf[offset + 24 : offset + 64])
        book = self._open.setdefault((strategy, instrument), {})
        if action == IntentAction.NEW:
            if order_type in _TAKERS or tif in _NOT_RESTING:
                self._answer(header, now, instrument, strategy, seq, side, ExecType.EXPIRED, qty)
            else:
                book[seq] = side
                self._answer(header, now, instrument, strategy, seq, side, ExecType.ACK, qty)
        elif action == IntentAction.CANCEL:
            if book.pop(orig, None) is None:
                self._answer(header, now, instrument, strategy, orig, side, ExecType.CANCEL_REJECTED, 0)
            else:
                self._answer(header, now, instrument, strategy, orig, side, ExecType.CANCELED, 0)
        elif action == IntentAction.REPLACE:
            if book.pop(orig, None) is None:
                self._answer(header, now, instrument, strategy, seq, side, ExecType.REJECTED, 0)
            else:
                book[seq] = side
                self._answer(header, now, instrument, strategy, seq, side, ExecType.REPLACED, qty)
        elif action == IntentAction.CANCEL_ALL:
            for open_seq, open_side in sorted(book.items()):
                self._answer(header, now, instrument, strategy, open_seq, open_side, ExecType.CANCELED, 0)
            book.clear()

    def _line(self, *f: int) -> bytes:
        (instrument, ts_venue, ts_origin, seq, orig, price, qty, epoch, strategy, action,
         side, order_type, tif, flags, update_id) = f  # fmt: skip
        known = self._instruments.get(instrument)
        record: dict[str, Any] = {
            "ts": ts_venue,
            "ts_origin": ts_origin,
            "strategy": strategy,
            "client_order_id": client_order_id(strategy, epoch, seq),
            "orig_client_order_id": client_order_id(strategy, epoch, orig) if orig else None,
            "action": IntentAction(action).name,
            "symbol": known.symbol if known else str(instrument),
            "side": OrderSide(side).name,
            "type": OrderType(order_type).name,
            "tif": TimeInForce(tif).name,
            "price": known.price_text(price) if known else price,
            "qty": known.qty_text(qty) if known else qty,
            "flags": flags,
            "book_update_id": update_id,
        }
        return orjson.dumps(record) + b"\n"

    def _answer(
        self, header: bytes, now: int, instrument: int, strategy: int, seq: int, side: int, kind: ExecType, qty: int
    ) -> None:
        assert self._out is not None
        if kind in (ExecType.ACK, ExecType.REPLACED):
            self._venue_ids += 1
        leaves = qty if kind in (ExecType.ACK, ExecType.REPLACED) else 0
        scratch = self._scratch
        _PACK_REPORT(
            scratch, 0, _REPORT_TYPE, 0, instrument, 0, 0, 0, 0, 0, 0, 0,
            seq, self._venue_ids, 0, 0, 0, leaves, 0, kind, side, 0, 0, strategy, *NO_SLIPPAGE,
        )  # fmt: skip
        scratch[24:64] = header
        if self._held or not self._out.offer(self._scratch_view, now):
            self._held.append((bytes(scratch), now))

    def _release(self) -> bool:
        assert self._out is not None
        while self._held:
            record, now = self._held[0]
            if not self._out.offer(record, now):
                return False
            self._held.pop(0)
        return True
