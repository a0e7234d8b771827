"""A venue that fills every order at once, at a price far worse than asked: losses on demand.

Only for tests of the loss breaker in a real pipeline: a NEW buy fills at
``price × (1 + slippage)``, a sell at ``price × (1 − slippage)`` (a market
order at the first price it ever saw for the instrument); replaces and
cancels are answered like the dry-run venue (REPLACED, CANCELED).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hftpipe.runtime import Agent, StageContext
from hftpipe.schema import SPECS
from hftpipe.schema.records import RecordType
from hftpipe.schema.trading import NO_SLIPPAGE, ExecType, IntentAction, OrderSide

_INTENT: Final = SPECS[RecordType.ORDER_INTENT].packer.unpack_from
_PACK: Final = SPECS[RecordType.EXEC_REPORT].packer.pack_into


class LosingVenue(Agent):
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        slippage: float = 0.5

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        self._slippage = (ctx.params or self.Params()).slippage
        self._polls = [port.poll for port in ctx.inputs.values()]
        self._out = ctx.output_port()
        self._scratch = bytearray(SPECS[RecordType.EXEC_REPORT].itemsize)
        self._view = memoryview(self._scratch)
        self._ids = 0
        self._open: dict[tuple[int, int], set[int]] = {}

    def do_work(self) -> int:
        return sum(poll(self._on_intent, 64) for poll in self._polls)

    def _on_intent(self, buf: memoryview, offset: int, now: int) -> None:
        if buf[offset] | (buf[offset + 1] << 8) != RecordType.ORDER_INTENT:
            return
        f = _INTENT(buf, offset)
        iid, seq, orig, price, qty, sid, action, side = f[2], f[10], f[11], f[12], f[13], f[16], f[17], f[18]
        cause = bytes(buf[offset + 24 : offset + 64])
        book = self._open.setdefault((sid, iid), set())
        if action == IntentAction.NEW:
            worse = 1 + self._slippage if side == OrderSide.BUY else 1 - self._slippage
            fill = max(1, int(price * worse)) if price else 1
            self._answer(cause, now, iid, sid, seq, side, ExecType.ACK, 0, 0, qty)
            self._answer(cause, now, iid, sid, seq, side, ExecType.FILL, fill, qty, 0)
        elif action == IntentAction.REPLACE:
            book.discard(orig)
            self._answer(cause, now, iid, sid, seq, side, ExecType.REPLACED, 0, 0, qty)
            book.add(seq)
        elif action == IntentAction.CANCEL:
            kind = ExecType.CANCELED if orig in book else ExecType.CANCEL_REJECTED
            book.discard(orig)
            self._answer(cause, now, iid, sid, orig, side, kind, 0, 0, 0)
        elif action == IntentAction.CANCEL_ALL:
            for open_seq in sorted(book):
                self._answer(cause, now, iid, sid, open_seq, side, ExecType.CANCELED, 0, 0, 0)
            book.clear()

    def _answer(self, cause: bytes, now: int, iid: int, sid: int, seq: int, side: int, kind: ExecType, price: int,
                qty: int, leaves: int) -> None:  # fmt: skip
        self._ids += 1
        _PACK(self._scratch, 0, RecordType.EXEC_REPORT, 0, iid, 0, 0, 0, 0, 0, 0, 0,
              seq, self._ids, price, qty, qty, leaves, 0, kind, side, 0, 0, sid, *NO_SLIPPAGE)  # fmt: skip
        self._scratch[24:64] = cause
        while not self._out.offer(self._view, now):
            pass
