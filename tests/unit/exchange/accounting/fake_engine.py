"""A small deterministic stand-in for the engine stage: cmd-<SYM> in, EX_EVENT records out.

It runs every command through :class:`stages.exchange.core.matching.MatchingEngine`
and writes the events the spec lists ("Engine -> accounting events"), header
copied from the command, END_OF_UPDATE on the last, REPLAY copied. Like the
real engine it never drops an event: a command's events wait locally until the
event ring takes them, and no further command is read meanwhile. Maker events
carry request_id 0 and no client id (accounting fills those in). It reads and
publishes through its ports, as a stage does, so every ring's hop is measured.

Command ``quote_qty`` is at ``price_scale + qty_scale`` (protocol.py); the
matching library takes it at ``price_scale``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from hftpipe.runtime import InputPort, OutputPort
from hftpipe.schema import exchange_codec as codec
from hftpipe.schema.exchange import Command, Event, ExpireReason, OrderStatus, ReplaceMode, ReplaceOutcome
from hftpipe.schema.exchange_errors import ErrorCode, reject_reason
from stages.exchange.core.matching import Ack, Canceled, Expired, Filled, PartiallyFilled, Rejected, Trade
from stages.exchange.core.matching import Event as MatchEvent
from stages.exchange.engine.stage import build_engine
from stages.exchange.protocol.settings import SymbolSettings


class _Info:
    __slots__ = ("account", "client_id", "cum_quote", "order_type", "price", "qty", "quote_qty", "side", "stp", "tif")

    def __init__(self, f: list[Any], side: int, order_type: int, tif: int, price: int) -> None:
        self.account = f[codec.C_ACCOUNT]
        self.client_id = f[codec.C_CLIENT_ORDER_ID]
        self.side, self.order_type, self.tif, self.price = side, order_type, tif, price
        self.qty = f[codec.C_QTY]
        self.quote_qty = f[codec.C_QUOTE_QTY]
        self.stp = f[codec.C_STP_MODE]
        self.cum_quote = 0


class FakeEngine:
    def __init__(self, symbol: SymbolSettings, commands: InputPort, events: OutputPort) -> None:
        self.symbol = symbol
        self.engine = build_engine(symbol, history=None)
        self.commands = commands.ring
        self._poll = commands.poll
        self._offer = events.offer
        self.queue: deque[tuple[bytes, int]] = deque()
        """Packed events waiting for room, with the ``now`` their command was taken at."""
        self.info: dict[int, _Info] = {}
        self.update_id = 0
        self.quote_divisor = 10**symbol.qty_scale
        """Command quote_qty -> the library's price scale (tests break it on purpose)."""
        self.seen: list[list[Any]] = []
        """Every command received, unpacked (tests look at flags, seq, tag, cap)."""

    def step(self) -> int:
        work = self._flush()
        while not self.queue and self._poll(self._on_command, 1):
            work += 1
            work += self._flush()
        return work

    def _flush(self) -> int:
        n = 0
        while self.queue and self._offer(*self.queue[0]):
            self.queue.popleft()
            n += 1
        return n

    # ------------------------------------------------------------------ commands
    def _on_command(self, buf: memoryview, offset: int, now: int) -> None:
        f = list(codec.unpack_command(buf, offset))
        self.seen.append(f)
        out: list[list[Any]] = []
        command = f[codec.C_COMMAND]
        account, now = f[codec.C_ACCOUNT], f[codec.TS_VENUE]
        e = self.engine
        if command == Command.NEW_ORDER:
            self._translate(self._new_order(f, f[codec.C_TAG]), f, out, f[codec.C_CLIENT_ORDER_ID])
        elif command == Command.CANCEL:
            oid = f[codec.C_ORDER_ID] if f[codec.C_ORDER_ID] > 0 else None
            tag = f[codec.C_TAG] if f[codec.C_TAG] > 0 else None
            self._translate(e.cancel(account, oid, tag, now), f, out, f[codec.C_CLIENT_ORDER_ID])
        elif command == Command.CANCEL_ALL:
            self._translate(e.cancel_all(account, now), f, out, f[codec.C_CLIENT_ORDER_ID])
        elif command == Command.CANCEL_REPLACE:
            self._cancel_replace(f, out)
        elif command == Command.DEPTH:
            bids, asks = e.depth(f[codec.C_QTY] or 100)
            for side, levels in ((0, bids), (1, asks)):
                for price, qty in levels:
                    rec = self._event(f, Event.DEPTH_LEVEL)
                    rec[codec.E_SIDE], rec[codec.E_PRICE], rec[codec.E_QTY] = side, price, qty
                    out.append(rec)
            done = self._event(f, Event.DONE)
            done[codec.E_ORDER_ID] = self.update_id
            out.append(done)
        else:
            rec = self._event(f, Event.REJECTED)
            rec[codec.E_REJECT_CODE] = ErrorCode.UNKNOWN
            out.append(rec)
        out[-1][codec.FLAGS] |= codec.END
        for rec in out:
            self.queue.append((codec.pack_event(*rec), now))

    def _new_order(self, f: list[Any], client: int) -> list[MatchEvent]:
        quote = f[codec.C_QUOTE_QTY] // self.quote_divisor
        return self.engine.new_order(
            f[codec.C_ACCOUNT], client, f[codec.C_SIDE], f[codec.C_ORDER_TYPE], f[codec.C_TIF], f[codec.C_PRICE],
            f[codec.C_QTY], quote, f[codec.C_STP_MODE], f[codec.TS_VENUE], f[codec.C_CAP],
        )  # fmt: skip

    def _cancel_replace(self, f: list[Any], out: list[list[Any]]) -> None:
        e = self.engine
        quote = f[codec.C_QUOTE_QTY] // self.quote_divisor
        reason = e.check_replacement(
            f[codec.C_SIDE], f[codec.C_ORDER_TYPE], f[codec.C_TIF], f[codec.C_PRICE], f[codec.C_QTY], quote,
            f[codec.C_STP_MODE],
        )  # fmt: skip
        if reason is not None:  # nothing tried: the plain error alone
            rejected = Rejected(f[codec.C_ACCOUNT], 0, reason.code, reason.message)
            self._translate([rejected], f, out, f[codec.C_CLIENT_ORDER_ID])
            return
        seq = f[codec.SEQ]
        oid = f[codec.C_ORDER_ID] if f[codec.C_ORDER_ID] > 0 else None
        tag = f[codec.C_TAG] if f[codec.C_TAG] > 0 and f[codec.C_TAG] != seq else None
        cancel = e.cancel(f[codec.C_ACCOUNT], oid, tag, f[codec.TS_VENUE])
        self._translate(cancel, f, out, f[codec.C_CANCEL_CLIENT_ORDER_ID])
        canceled = type(cancel[0]) is Canceled
        if not canceled and f[codec.C_REPLACE_MODE] == ReplaceMode.STOP_ON_FAILURE:
            outcome = ReplaceOutcome.CANCEL_FAILED
        else:
            placed = self._new_order(f, seq)
            self._translate(placed, f, out, f[codec.C_CLIENT_ORDER_ID])
            ok = type(placed[0]) is Ack
            if canceled:
                outcome = ReplaceOutcome.SUCCESS if ok else ReplaceOutcome.NEW_FAILED
            else:
                outcome = ReplaceOutcome.CANCEL_FAILED_NEW_PLACED if ok else ReplaceOutcome.BOTH_FAILED
        rec = self._event(f, Event.CANCEL_REPLACE)
        rec[codec.E_STATUS] = int(outcome)
        out.append(rec)

    # -------------------------------------------------------------------- events
    def _event(self, f: list[Any], event: Event, account: int | None = None) -> list[Any]:
        if account is None or account == f[codec.C_ACCOUNT]:
            rec = codec.blank_event(event, f[codec.INSTRUMENT], f[codec.SEQ], f[codec.C_REQUEST_ID], f[codec.C_ACCOUNT])
        else:  # about a maker of another account: no request of its own
            rec = codec.blank_event(event, f[codec.INSTRUMENT], f[codec.SEQ], 0, account)
        rec[codec.FLAGS] = f[codec.FLAGS] & codec.REPLAY
        rec[codec.TS_VENUE] = f[codec.TS_VENUE]
        rec[codec.TS_ORIGIN] = f[codec.TS_ORIGIN]
        return rec

    def _order_fields(self, rec: list[Any], oid: int, info: _Info) -> None:
        rec[codec.E_ORDER_ID] = oid
        rec[codec.E_SIDE], rec[codec.E_ORDER_TYPE], rec[codec.E_TIF], rec[codec.E_STP_MODE] = (
            info.side, info.order_type, info.tif, info.stp
        )  # fmt: skip
        rec[codec.E_PRICE], rec[codec.E_QTY], rec[codec.E_QUOTE_QTY] = info.price, info.qty, info.quote_qty

    def _translate(self, events: list[MatchEvent], f: list[Any], out: list[list[Any]], own_id: bytes) -> None:
        i, n = 0, len(events)
        while i < n:
            e = events[i]
            if type(e) is Ack:
                info = self.info[e.order_id] = _Info(f, e.side, e.order_type, e.tif, e.price)
                rec = self._event(f, Event.NEW)
                self._order_fields(rec, e.order_id, info)
                rec[codec.E_STATUS] = OrderStatus.NEW
                rec[codec.E_CLIENT_ORDER_ID] = f[codec.C_CLIENT_ORDER_ID]
                out.append(rec)
                self.update_id += 1
            elif type(e) is Trade:
                maker_status, taker_status = events[i + 1], events[i + 2]
                for status_event, is_maker in ((maker_status, 1), (taker_status, 0)):
                    assert isinstance(status_event, PartiallyFilled | Filled), status_event
                    oid = status_event.order_id
                    info = self.info[oid]
                    info.cum_quote += e.price * e.qty
                    rec = self._event(f, Event.TRADE, info.account)
                    self._order_fields(rec, oid, info)
                    rec[codec.E_IS_MAKER] = is_maker
                    rec[codec.E_TRADE_ID] = e.trade_id
                    rec[codec.E_LAST_PRICE], rec[codec.E_LAST_QTY] = e.price, e.qty
                    rec[codec.E_CUM_QTY] = status_event.cum_qty
                    rec[codec.E_CUM_QUOTE] = info.cum_quote
                    filled = type(status_event) is Filled
                    rec[codec.E_STATUS] = OrderStatus.FILLED if filled else OrderStatus.PARTIALLY_FILLED
                    if not is_maker:
                        rec[codec.E_CLIENT_ORDER_ID] = f[codec.C_CLIENT_ORDER_ID]
                    out.append(rec)
                self.update_id += 1
                i += 3
                continue
            elif type(e) is Expired:
                info = self.info[e.order_id]
                rec = self._event(f, Event.EXPIRED, info.account)
                self._order_fields(rec, e.order_id, info)
                rec[codec.E_EXPIRE_REASON] = int(e.reason)
                stp = e.reason == ExpireReason.STP
                rec[codec.E_STATUS] = OrderStatus.EXPIRED_IN_MATCH if stp else OrderStatus.EXPIRED
                rec[codec.E_CUM_QTY], rec[codec.E_CUM_QUOTE] = e.cum_qty, info.cum_quote
                out.append(rec)
            elif type(e) is Canceled:
                info = self.info[e.order_id]
                rec = self._event(f, Event.CANCELED, info.account)
                self._order_fields(rec, e.order_id, info)
                rec[codec.E_STATUS] = OrderStatus.CANCELED
                rec[codec.E_CUM_QTY], rec[codec.E_CUM_QUOTE] = e.cum_qty, info.cum_quote
                rec[codec.E_CLIENT_ORDER_ID] = own_id
                rec[codec.E_ORIG_CLIENT_ORDER_ID] = info.client_id
                out.append(rec)
                self.update_id += 1
            elif type(e) is Rejected:
                rec = self._event(f, Event.REJECTED)
                rec[codec.E_REJECT_CODE] = e.code
                try:
                    rec[codec.E_REJECT_REASON] = reject_reason(e.message)
                except ValueError:
                    rec[codec.E_REJECT_REASON] = 0
                rec[codec.E_STATUS] = OrderStatus.REJECTED
                rec[codec.E_CLIENT_ORDER_ID] = own_id
                out.append(rec)
            else:  # a status event not right after a Trade: none in the library's output
                raise AssertionError(f"unexpected engine event {e!r}")
            i += 1
