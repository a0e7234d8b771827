"""One EX_COMMAND in, the EX_EVENT bodies and book changes it caused out: the engine's logic, no rings.

:class:`CommandProcessor` runs a command (an unpacked EX_COMMAND tuple) through
the symbol's :class:`~stages.exchange.core.matching.MatchingEngine` and translates
the engine's events into EX_EVENT bodies (:data:`~.codec.EventBody`), in order:

* NEW_ORDER: ``NEW`` (order_id, side, order_type, tif, stp_mode, price, qty,
  quote_qty, status NEW, the command's client_order_id); per match a ``TRADE``
  for the maker (``is_maker`` 1, the maker's account, order id, side, order
  fields and client id) then one for the taker (``is_maker`` 0), each with
  trade_id, last_price, last_qty, cum_qty, cum_quote (``sum(price * qty)``,
  scale ``price_scale + qty_scale``) and status PARTIALLY_FILLED or FILLED;
  ``EXPIRED`` for makers taken out by self-trade prevention and for the
  taker's remainder (``expire_reason`` an ExpireReason, status
  EXPIRED_IN_MATCH for STP, else EXPIRED); or one ``REJECTED`` (reject_code,
  reject_reason = the index of its text, no order id). The new
  order's engine-side client id is the command's ``tag``.
* CANCEL (by ``order_id`` != 0 and/or ``tag`` > 0; a negative order id matches
  nothing, so accounting can pass -1 for "no such order"): ``CANCELED`` (order_id,
  account, cum_qty, cum_quote, qty = original qty, the order's fields; the
  cancel's own id in client_order_id, the order's in orig_client_order_id)
  or ``REJECTED`` -2011.
* CANCEL_REPLACE: the new order's request checks and filters run first (Binance
  evaluates filters "before cancellation and order placement occurs"); a
  failure is one ``REJECTED`` and nothing else, the plain error of the whole
  request (no closing record: nothing was canceled or placed). Otherwise the cancel
  half's ``CANCELED``/``REJECTED`` (client id: ``cancel_client_order_id``),
  then, unless the cancel failed under STOP_ON_FAILURE, the new half's events
  as for NEW_ORDER, then ``CANCEL_REPLACE`` with status = ReplaceOutcome and
  order_id = the new order's id (0 if none). The new order's engine-side
  client id is the command's ``seq`` (accounting sets ``tag = seq``); the
  cancel target is ``order_id`` if != 0, else ``tag`` if it differs from
  ``seq`` (the target's own engine-side id, when accounting knows only that).
  ReplaceOutcome: SUCCESS, CANCEL_FAILED (STOP_ON_FAILURE, new order not
  tried), NEW_FAILED, BOTH_FAILED, CANCEL_FAILED_NEW_PLACED (ALLOW_FAILURE).
* CANCEL_ALL: one ``CANCELED`` per open order of the account, by order id;
  ``REJECTED`` -2011 "Unknown order sent." when it has none.
* DEPTH (``qty`` = limit, <= 0: 100, at most 5000): ``DEPTH_LEVEL`` records
  (side BID = 0 / ASK = 1, price, qty), bids best first then asks, then
  ``DONE`` with order_id = lastUpdateId (:attr:`update_id`).
* anything else: ``REJECTED`` -1000 (reason 0): the engine answers every command.

Events about another account's order (a maker) carry that account and
request_id 0; every other event carries the command's request_id and account.

Book changes go to :attr:`trades` (price, qty, trade_id, aggressor = the
taker's side) and :attr:`touched` (side, price) of every level whose quantity
changed, first touch first, each once; :attr:`update_id` advances by one per
touched level (the BOOK_DELTA update ids), whether or not market data gets
published, so it is a pure function of the commands.

To fill maker, cancel and expiry events the processor keeps one small record
per open order (:attr:`open`): side, type, tif, stp mode, price, qty,
cum_quote, client id bytes, account. The engine itself does not track
cum_quote, and this table avoids reaching into its internals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from hftpipe.schema.exchange import Command, Event, ExpireReason, OrderStatus, ReplaceMode, ReplaceOutcome
from hftpipe.schema.exchange_codec import (
    C_ACCOUNT,
    C_CANCEL_CLIENT_ORDER_ID,
    C_CAP,
    C_CLIENT_ORDER_ID,
    C_ORDER_ID,
    C_ORDER_TYPE,
    C_ORIG_CLIENT_ORDER_ID,
    C_PRICE,
    C_QTY,
    C_QUOTE_QTY,
    C_REPLACE_MODE,
    C_REQUEST_ID,
    C_SIDE,
    C_STP_MODE,
    C_TAG,
    C_TIF,
    SEQ,
    TS_VENUE,
    EventBody,
)
from hftpipe.schema.exchange_errors import ErrorCode, reject_reason
from hftpipe.schema.marketdata import BookSide
from stages.exchange.core.matching import Canceled, Expired, Filled, MatchingEngine, Rejected, Trade

DEFAULT_DEPTH: Final = 100
MAX_DEPTH: Final = 5000
UNKNOWN_COMMAND_CODE: Final = int(ErrorCode.UNKNOWN)

_NEW_ORDER: Final = int(Command.NEW_ORDER)
_CANCEL: Final = int(Command.CANCEL)
_CANCEL_REPLACE: Final = int(Command.CANCEL_REPLACE)
_CANCEL_ALL: Final = int(Command.CANCEL_ALL)
_DEPTH: Final = int(Command.DEPTH)
_STOP_ON_FAILURE: Final = int(ReplaceMode.STOP_ON_FAILURE)
_STP: Final = ExpireReason.STP

EV_NEW: Final = int(Event.NEW)
EV_TRADE: Final = int(Event.TRADE)
EV_CANCELED: Final = int(Event.CANCELED)
EV_EXPIRED: Final = int(Event.EXPIRED)
EV_REJECTED: Final = int(Event.REJECTED)
EV_DEPTH_LEVEL: Final = int(Event.DEPTH_LEVEL)
EV_DONE: Final = int(Event.DONE)
EV_CANCEL_REPLACE: Final = int(Event.CANCEL_REPLACE)
ST_NEW: Final = int(OrderStatus.NEW)
ST_PARTIALLY_FILLED: Final = int(OrderStatus.PARTIALLY_FILLED)
ST_FILLED: Final = int(OrderStatus.FILLED)
ST_CANCELED: Final = int(OrderStatus.CANCELED)
ST_REJECTED: Final = int(OrderStatus.REJECTED)
ST_EXPIRED: Final = int(OrderStatus.EXPIRED)
ST_EXPIRED_IN_MATCH: Final = int(OrderStatus.EXPIRED_IN_MATCH)
BID: Final = int(BookSide.BID)
"""Book sides: of a depth level, and of a trade's aggressor (market data)."""
ASK: Final = int(BookSide.ASK)

# Fields of the per-order record in ``CommandProcessor.open``.
O_SIDE, O_TYPE, O_TIF, O_STP, O_PRICE, O_QTY, O_CUM_QUOTE, O_CLIENT_ID, O_ACCOUNT = range(9)


class CommandProcessor:
    """See the module docstring. Deterministic: same commands, same bodies and book changes."""

    def __init__(self, engine: MatchingEngine) -> None:
        self.engine = engine
        self.open: dict[int, list[Any]] = {}
        """order id -> [side, type, tif, stp, price, qty, cum_quote, client id bytes, account] per open order."""
        self.trades: list[tuple[int, int, int, int]] = []
        """The last command's trades: (price, qty, trade_id, aggressor side)."""
        self.touched: list[tuple[int, int]] = []
        """The last command's changed levels: (side, price), first touch first, each once."""
        self.update_id = 0
        """The book update counter: +1 per changed level, from 1 (the first BOOK_DELTA's id)."""
        self.unknown_reasons = 0
        """Reject messages missing from exchange_errors.REJECT_MESSAGES (sent as reason 0); should stay 0."""
        self._new_order = engine.new_order
        self._cancel = engine.cancel
        self._quote_unit = 10**engine.qty_scale
        """Commands carry ``quote_qty`` at ``price_scale + qty_scale`` (exact, like holds); the
        engine spends at ``price_scale``: the budget is floored to it, so it never spends more
        than accounting held, and events report the command's own figure."""

    # ------------------------------------------------------------------ dispatch

    def execute(self, f: tuple[Any, ...]) -> list[EventBody]:
        """Run one unpacked EX_COMMAND; returns its event bodies (at least one)."""
        if self.trades:
            self.trades.clear()
        touched = self.touched
        if touched:
            touched.clear()
        (_, _, _, _, now, _, _, _, _, _, request_id, account, command, side, otype, tif, stp, _, _, _,
         price, qty, quote, order_id, tag, coid, _, _, cap) = f  # fmt: skip
        out: list[EventBody] = []
        if command == _NEW_ORDER:
            budget = quote // self._quote_unit
            events = self._new_order(account, tag, side, otype, tif, price, qty, budget, stp, now, cap)
            self._order_events(events, out, f, request_id, account, side, otype, tif, qty, quote, stp, coid)
        elif command == _CANCEL:
            events = self._cancel(account, order_id or None, tag if tag > 0 else None, now)
            self._cancel_events(events, f, coid, out)
        elif command == _CANCEL_REPLACE:
            self._cancel_replace(f, out)
        elif command == _CANCEL_ALL:
            self._cancel_events(self.engine.cancel_all(account, now), f, coid, out)
        elif command == _DEPTH:
            self._depth(f, out)
        else:
            out.append(self._rejected(f, UNKNOWN_COMMAND_CODE, "", b"", False))
        if touched:
            if len(touched) > 1:
                touched[:] = dict.fromkeys(touched)
            self.update_id += len(touched)
        return out

    # ------------------------------------------------------------------ orders

    def _order_events(
        self,
        events: Sequence[Any],
        out: list[EventBody],
        f: tuple[Any, ...],
        request_id: int,
        account: int,
        side: int,
        otype: int,
        tif: int,
        qty: int,
        quote: int,
        stp: int,
        coid: bytes,
    ) -> int:
        """Translate ``new_order``'s events; returns the new order's id (0: rejected)."""
        e = events[0]
        if type(e) is Rejected:
            out.append(self._rejected(f, e.code, e.message, coid, True))
            return 0
        oid: int = e[0]
        price: int = e[6]  # 0 for a MARKET order, whatever the command said
        out.append(
            (request_id, account, EV_NEW, side, otype, tif, ST_NEW, stp, 0, 0, 0, 0, 0, oid, price, qty, quote,
             0, 0, 0, 0, 0, 0, coid, b"")
        )  # fmt: skip
        n = len(events)
        if n == 1:  # the common case: it rests untouched
            self.open[oid] = [side, otype, tif, stp, price, qty, 0, coid, account]
            self.touched.append((side, price))
            return oid
        open_ = self.open
        add_trade = self.trades.append
        touch = self.touched.append
        cum_quote = 0
        done = False
        i = 1
        while i < n:
            e = events[i]
            kind = type(e)
            if kind is Trade:
                trade_id, tprice, tqty, moid, macct, mside, _, _, buyer_maker, _ = e
                maker = events[i + 1]
                taker = events[i + 2]
                i += 3
                amount = tprice * tqty
                info = open_[moid]
                mquote = info[O_CUM_QUOTE] + amount
                if type(maker) is Filled:
                    del open_[moid]
                    mstatus = ST_FILLED
                else:
                    info[O_CUM_QUOTE] = mquote
                    mstatus = ST_PARTIALLY_FILLED
                out.append(
                    (request_id if macct == account else 0, macct, EV_TRADE, mside, info[O_TYPE], info[O_TIF],
                     mstatus, info[O_STP], 1, 0, 0, 0, 0, moid, info[O_PRICE], info[O_QTY], 0, tprice, tqty,
                     maker[5], mquote, trade_id, 0, info[O_CLIENT_ID], b"")
                )  # fmt: skip
                cum_quote += amount
                if type(taker) is Filled:
                    done = True
                    tstatus = ST_FILLED
                else:
                    tstatus = ST_PARTIALLY_FILLED
                out.append(
                    (request_id, account, EV_TRADE, side, otype, tif, tstatus, stp, 0, 0, 0, 0, 0, oid, price, qty,
                     quote, tprice, tqty, taker[5], cum_quote, trade_id, 0, coid, b"")
                )  # fmt: skip
                add_trade((tprice, tqty, trade_id, ASK if buyer_maker else BID))
                touch((mside, tprice))
            elif kind is Expired:
                i += 1
                eoid, eacct, _, ecum, _, reason = e
                status = ST_EXPIRED_IN_MATCH if reason == _STP else ST_EXPIRED
                if eoid == oid:
                    done = True
                    out.append(
                        (request_id, account, EV_EXPIRED, side, otype, tif, status, stp, 0, reason, 0, 0, 0, oid,
                         price, qty, quote, 0, 0, ecum, cum_quote, 0, 0, coid, b"")
                    )  # fmt: skip
                else:  # a resting order of the taker's account, taken out by self-trade prevention
                    info = open_.pop(eoid)
                    out.append(
                        (request_id if eacct == account else 0, eacct, EV_EXPIRED, info[O_SIDE], info[O_TYPE],
                         info[O_TIF], status, info[O_STP], 0, reason, 0, 0, 0, eoid, info[O_PRICE], info[O_QTY], 0,
                         0, 0, ecum, info[O_CUM_QUOTE], 0, 0, info[O_CLIENT_ID], b"")
                    )  # fmt: skip
                    touch((info[O_SIDE], info[O_PRICE]))
            else:
                raise AssertionError(f"unexpected engine event after the ack: {e!r}")
        if not done:  # the remainder rests
            open_[oid] = [side, otype, tif, stp, price, qty, cum_quote, coid, account]
            touch((side, price))
        return oid

    def _cancel_events(self, events: Sequence[Any], f: tuple[Any, ...], coid: bytes, out: list[EventBody]) -> bool:
        """Translate ``cancel``/``cancel_all`` events; True if anything was canceled."""
        request_id = f[C_REQUEST_ID]
        canceled = False
        for e in events:
            if type(e) is Canceled:
                oid, account, _, cum, _ = e
                info = self.open.pop(oid)
                out.append(
                    (request_id, account, EV_CANCELED, info[O_SIDE], info[O_TYPE], info[O_TIF], ST_CANCELED,
                     info[O_STP], 0, 0, 0, 0, 0, oid, info[O_PRICE], info[O_QTY], 0, 0, 0, cum,
                     info[O_CUM_QUOTE], 0, 0, coid, info[O_CLIENT_ID])
                )  # fmt: skip
                self.touched.append((info[O_SIDE], info[O_PRICE]))
                canceled = True
            else:
                assert type(e) is Rejected, e
                out.append(self._rejected(f, e.code, e.message, coid, False))
        return canceled

    def _cancel_replace(self, f: tuple[Any, ...], out: list[EventBody]) -> None:
        engine = self.engine
        account = f[C_ACCOUNT]
        side, otype, tif, price, qty, quote, stp = (
            f[C_SIDE], f[C_ORDER_TYPE], f[C_TIF], f[C_PRICE], f[C_QTY], f[C_QUOTE_QTY], f[C_STP_MODE]
        )
        budget = quote // self._quote_unit
        reason = engine.check_replacement(side, otype, tif, price, qty, budget, stp)
        if reason is not None:
            out.append(self._rejected(f, reason.code, reason.message, f[C_CLIENT_ORDER_ID], True))
            return
        new_id = 0
        seq = f[SEQ]
        target_tag = f[C_TAG] if f[C_TAG] > 0 and f[C_TAG] != seq else None
        events = engine.cancel(account, f[C_ORDER_ID] or None, target_tag, f[TS_VENUE])
        canceled = self._cancel_events(events, f, f[C_CANCEL_CLIENT_ORDER_ID], out)
        if not canceled and f[C_REPLACE_MODE] == _STOP_ON_FAILURE:
            outcome = ReplaceOutcome.CANCEL_FAILED
        else:
            events = engine.new_order(
                account, seq, side, otype, tif, price, qty, budget, stp, f[TS_VENUE], f[C_CAP]
            )
            new_id = self._order_events(events, out, f, f[C_REQUEST_ID], account, side, otype, tif, qty, quote, stp,
                                        f[C_CLIENT_ORDER_ID])  # fmt: skip
            if canceled:
                outcome = ReplaceOutcome.SUCCESS if new_id else ReplaceOutcome.NEW_FAILED
            else:
                outcome = ReplaceOutcome.CANCEL_FAILED_NEW_PLACED if new_id else ReplaceOutcome.BOTH_FAILED
        out.append(
            (f[C_REQUEST_ID], account, EV_CANCEL_REPLACE, side, otype, tif, int(outcome), stp, 0, 0, 0, 0, 0,
             new_id, price, qty, quote, 0, 0, 0, 0, 0, 0, f[C_CLIENT_ORDER_ID], f[C_ORIG_CLIENT_ORDER_ID])
        )  # fmt: skip

    # ------------------------------------------------------------------ other

    def _depth(self, f: tuple[Any, ...], out: list[EventBody]) -> None:
        request_id = f[C_REQUEST_ID]
        account = f[C_ACCOUNT]
        limit = f[C_QTY]
        limit = DEFAULT_DEPTH if limit <= 0 else min(limit, MAX_DEPTH)
        bids, asks = self.engine.depth(limit)
        for side, levels in ((BID, bids), (ASK, asks)):
            for price, qty in levels:
                out.append(
                    (request_id, account, EV_DEPTH_LEVEL, side, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, price, qty, 0,
                     0, 0, 0, 0, 0, 0, b"", b"")
                )  # fmt: skip
        out.append(
            (request_id, account, EV_DONE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, self.update_id, 0, 0, 0,
             0, 0, 0, 0, 0, 0, b"", b"")
        )  # fmt: skip

    def _rejected(self, f: tuple[Any, ...], code: int, message: str, coid: bytes, order: bool) -> EventBody:
        """A REJECTED body; ``order``: about a new order (its request fields are copied)."""
        try:
            reason = reject_reason(message) if message else 0
        except ValueError:
            self.unknown_reasons += 1
            reason = 0
        if order:
            side, otype, tif, stp = f[C_SIDE], f[C_ORDER_TYPE], f[C_TIF], f[C_STP_MODE]
            price, qty, quote = f[C_PRICE], f[C_QTY], f[C_QUOTE_QTY]
        else:
            side = otype = tif = stp = price = qty = quote = 0
        return (
            f[C_REQUEST_ID], f[C_ACCOUNT], EV_REJECTED, side, otype, tif, ST_REJECTED, stp, 0, 0, code, 0,
            reason, 0, price, qty, quote, 0, 0, 0, 0, 0, 0, coid, f[C_ORIG_CLIENT_ORDER_ID],
        )  # fmt: skip
