"""A small stand-in for accounting + engines: EX_COMMAND in, the EX_EVENT answer the spec describes out.

Enough of an exchange to drive the gateway the way the real pipeline will:
LIMIT / LIMIT_MAKER / MARKET orders with price-time matching at the maker's
price, GTC/IOC/FOK, holds and balances with commissions to the fee account,
cancels, cancel-replace, cancel-all, queries, depth, deposits and
withdrawals. No self-trade prevention, no journal. Records follow the spec:
the command's events (makers' TRADE before the taker's), then one BALANCE per
changed (account, asset), then DONE with END_OF_UPDATE.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from hftpipe.schema.exchange import ALL_ACCOUNTS, FEE_ACCOUNT, Command, Event, OrderStatus, ReplaceMode, ReplaceOutcome
from hftpipe.schema.exchange_codec import CommandRecord, EventRecord, decode_id, encode_id
from hftpipe.schema.exchange_errors import (
    DUPLICATE_ORDER,
    INSUFFICIENT_BALANCE,
    LOT_SIZE,
    NOTIONAL,
    ORDER_DOES_NOT_EXIST,
    PRICE_FILTER,
    UNKNOWN_ORDER,
    WOULD_TAKE,
    RejectReason,
    reject_reason,
)
from hftpipe.schema.marketdata import BookSide
from hftpipe.schema.records import RecordFlag
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from stages.exchange.protocol.settings import ExchangeSettings, SymbolSettings

END = int(RecordFlag.END_OF_UPDATE)
OPEN = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


@dataclass
class FakeOrder:
    order_id: int
    account: int
    symbol: SymbolSettings
    side: int
    order_type: int
    tif: int
    stp_mode: int
    price: int
    qty: int
    quote_qty: int
    client_id: str
    time_ns: int
    cum_qty: int = 0
    cum_quote: int = 0
    status: OrderStatus = OrderStatus.NEW
    held: int = 0
    """Asset units still locked for it."""

    @property
    def remaining(self) -> int:
        return self.qty - self.cum_qty


@dataclass
class Answer:
    events: list[EventRecord] = field(default_factory=list)
    changed: set[tuple[int, int]] = field(default_factory=set)


class FakeAccounting:
    def __init__(self, settings: ExchangeSettings) -> None:
        self.settings = settings
        self.balances: dict[tuple[int, int], list[int]] = {}
        for account in settings.accounts:
            for asset, amount in account.deposits:
                self.balances[(account.account_id, asset)] = [amount, 0]
        self.orders: dict[int, FakeOrder] = {}
        self.next_order_id = 1
        self.next_trade_id = 1
        self.update_id = 0
        self.seq = 0
        self.commands: list[CommandRecord] = []

    # -- helpers ------------------------------------------------------------------------------
    def _balance(self, account: int, asset: int) -> list[int]:
        return self.balances.setdefault((account, asset), [0, 0])

    def _event(self, cmd: CommandRecord, event: Event, **fields: object) -> EventRecord:
        base: dict[str, object] = {
            "instrument": cmd.instrument,
            "seq": self.seq,
            "ts_venue": self._now,
            "ts_origin": cmd.ts_origin,
            "request_id": cmd.request_id,
            "account": cmd.account,
            "event": int(event),
        }
        base.update(fields)
        return EventRecord(**base)  # type: ignore[arg-type]

    def _reject(self, cmd: CommandRecord, reason: RejectReason) -> EventRecord:
        return self._event(cmd, Event.REJECTED, reject_code=reason.code, reject_reason=reject_reason(reason.message))

    def _order_fields(self, order: FakeOrder) -> dict[str, object]:
        return {
            "account": order.account,
            "order_id": order.order_id,
            "side": order.side,
            "order_type": order.order_type,
            "tif": order.tif,
            "stp_mode": order.stp_mode,
            "price": order.price,
            "qty": order.qty,
            "quote_qty": order.quote_qty,
            "cum_qty": order.cum_qty,
            "cum_quote": order.cum_quote,
            "status": int(order.status),
            "client_order_id": encode_id(order.client_id),
        }

    def _release(self, order: FakeOrder, answer: Answer) -> None:
        if order.held:
            asset = order.symbol.quote_asset if order.side == OrderSide.BUY else order.symbol.base_asset
            balance = self._balance(order.account, asset)
            balance[0] += order.held
            balance[1] -= order.held
            order.held = 0
            answer.changed.add((order.account, asset))

    # -- entry point ----------------------------------------------------------------------------
    def handle(self, cmd: CommandRecord) -> list[EventRecord]:
        self.commands.append(cmd)
        self._now = time.time_ns()
        kind = Command(cmd.command)
        if kind in (Command.NEW_ORDER, Command.CANCEL, Command.CANCEL_REPLACE, Command.CANCEL_ALL):
            self.seq += 1
        answer = Answer()
        getattr(self, f"_on_{kind.name.lower()}")(cmd, answer)
        for account, asset in sorted(answer.changed):
            free, locked = self._balance(account, asset)
            answer.events.append(
                self._event(cmd, Event.BALANCE, account=account, commission_asset=asset, qty=free, quote_qty=locked)
            )
        answer.events.append(self._event(cmd, Event.DONE, flags=END))
        return answer.events

    # -- orders -----------------------------------------------------------------------------------
    def _on_new_order(self, cmd: CommandRecord, answer: Answer) -> None:
        self._place(cmd, cmd.client_order_id, answer)

    def _place(self, cmd: CommandRecord, client_id_raw: bytes, answer: Answer) -> bool:
        symbol = self.settings.symbols[cmd.instrument - 1]
        client_id = decode_id(client_id_raw)
        mine = (o for o in self.orders.values() if o.account == cmd.account and o.status in OPEN)
        if any(o.client_id == client_id for o in mine):
            answer.events.append(self._reject(cmd, DUPLICATE_ORDER))
            return False
        if cmd.order_type != OrderType.MARKET:
            if cmd.price % symbol.tick_size or not symbol.min_price <= cmd.price <= symbol.max_price:
                answer.events.append(self._reject(cmd, PRICE_FILTER))
                return False
            if cmd.price * cmd.qty < symbol.min_notional * 10**symbol.qty_scale:
                answer.events.append(self._reject(cmd, NOTIONAL))
                return False
        if cmd.qty and (cmd.qty % symbol.step_size or not symbol.min_qty <= cmd.qty <= symbol.max_qty):
            answer.events.append(self._reject(cmd, LOT_SIZE))
            return False
        book = [o for o in self.orders.values() if o.symbol is symbol and o.status in OPEN and o.side != cmd.side]
        book.sort(key=lambda o: (o.price if cmd.side == OrderSide.BUY else -o.price, o.order_id))
        limit = cmd.price if cmd.order_type != OrderType.MARKET else None

        def crosses(maker: FakeOrder) -> bool:
            return limit is None or (maker.price <= limit if cmd.side == OrderSide.BUY else maker.price >= limit)

        if cmd.order_type == OrderType.LIMIT_MAKER and book and crosses(book[0]):
            answer.events.append(self._reject(cmd, WOULD_TAKE))
            return False
        hold = 0
        if cmd.order_type != OrderType.MARKET:
            buy = cmd.side == OrderSide.BUY
            hold = symbol.quote_to_asset(cmd.price * cmd.qty) if buy else symbol.qty_to_asset(cmd.qty)
            asset = symbol.quote_asset if buy else symbol.base_asset
            balance = self._balance(cmd.account, asset)
            if balance[0] < hold:
                answer.events.append(self._reject(cmd, INSUFFICIENT_BALANCE))
                return False
            balance[0] -= hold
            balance[1] += hold
            answer.changed.add((cmd.account, asset))
        order = FakeOrder(
            order_id=self.next_order_id,
            account=cmd.account,
            symbol=symbol,
            side=cmd.side,
            order_type=cmd.order_type,
            tif=cmd.tif,
            stp_mode=cmd.stp_mode,
            price=cmd.price,
            qty=cmd.qty,
            quote_qty=cmd.quote_qty,
            client_id=client_id,
            time_ns=self._now,
            held=hold,
        )
        self.next_order_id += 1
        self.orders[order.order_id] = order
        answer.events.append(self._event(cmd, Event.NEW, **self._order_fields(order)))
        available = sum(m.remaining for m in book if crosses(m))
        if cmd.tif == TimeInForce.FOK and cmd.order_type == OrderType.LIMIT and available < order.qty:
            self._expire(cmd, order, 2, answer)
            return True
        for maker in book:
            if order.remaining <= 0 or not crosses(maker):
                break
            self._trade(cmd, order, maker, answer)
        if order.remaining > 0:
            if order.order_type == OrderType.MARKET:
                self._expire(cmd, order, 4, answer)
            elif order.tif == TimeInForce.IOC:
                self._expire(cmd, order, 1, answer)
            else:
                self.update_id += 1
        return True

    def _trade(self, cmd: CommandRecord, taker: FakeOrder, maker: FakeOrder, answer: Answer) -> None:
        symbol = taker.symbol
        qty = min(taker.remaining, maker.remaining)
        price = maker.price
        quote = price * qty
        trade_id = self.next_trade_id
        self.next_trade_id += 1
        self.update_id += 1
        base_units, quote_units = symbol.qty_to_asset(qty), symbol.quote_to_asset(quote)
        for order, rate in ((maker, self.settings.maker_commission), (taker, self.settings.taker_commission)):
            order.cum_qty += qty
            order.cum_quote += quote
            order.status = OrderStatus.FILLED if order.remaining == 0 else OrderStatus.PARTIALLY_FILLED
            is_buyer = order.side == OrderSide.BUY
            received_asset = symbol.base_asset if is_buyer else symbol.quote_asset
            received = base_units if is_buyer else quote_units
            commission = received * rate // 10**8
            paid_asset = symbol.quote_asset if is_buyer else symbol.base_asset
            paid = quote_units if is_buyer else base_units
            paying = self._balance(order.account, paid_asset)
            if order.order_type == OrderType.MARKET:
                paying[0] -= paid
            else:
                hold_part = symbol.quote_to_asset(order.price * qty) if is_buyer else paid
                paying[1] -= hold_part
                paying[0] += hold_part - paid
                order.held -= hold_part
            self._balance(order.account, received_asset)[0] += received - commission
            self._balance(FEE_ACCOUNT, received_asset)[0] += commission
            answer.changed |= {
                (order.account, paid_asset),
                (order.account, received_asset),
                (FEE_ACCOUNT, received_asset),
            }
            answer.events.append(
                self._event(
                    cmd,
                    Event.TRADE,
                    **self._order_fields(order),
                    is_maker=int(order is maker),
                    trade_id=trade_id,
                    last_price=price,
                    last_qty=qty,
                    commission=commission,
                    commission_asset=received_asset,
                )
            )
            if order.status == OrderStatus.FILLED:
                self._release(order, answer)

    def _expire(self, cmd: CommandRecord, order: FakeOrder, reason: int, answer: Answer) -> None:
        order.status = OrderStatus.EXPIRED
        self._release(order, answer)
        answer.events.append(self._event(cmd, Event.EXPIRED, **self._order_fields(order), expire_reason=reason))

    def _find(self, cmd: CommandRecord, order_id: int, orig: bytes, open_only: bool) -> FakeOrder | None:
        orig_id = decode_id(orig)
        for order in self.orders.values():
            if order.account != cmd.account or order.symbol.symbol_id != cmd.instrument:
                continue
            if open_only and order.status not in OPEN:
                continue
            if (order_id and order.order_id == order_id) or (not order_id and orig_id and order.client_id == orig_id):
                if order_id and orig_id and order.client_id != orig_id:
                    return None
                return order
        return None

    def _cancel(self, cmd: CommandRecord, order: FakeOrder, new_id: bytes, answer: Answer) -> None:
        order.status = OrderStatus.CANCELED
        self._release(order, answer)
        self.update_id += 1
        fields = self._order_fields(order)
        fields["client_order_id"] = new_id
        fields["orig_client_order_id"] = encode_id(order.client_id)
        answer.events.append(self._event(cmd, Event.CANCELED, **fields))

    def _on_cancel(self, cmd: CommandRecord, answer: Answer) -> None:
        order = self._find(cmd, cmd.order_id, cmd.orig_client_order_id, open_only=True)
        if order is None:
            answer.events.append(self._reject(cmd, UNKNOWN_ORDER))
            return
        self._cancel(cmd, order, cmd.client_order_id, answer)

    def _on_cancel_replace(self, cmd: CommandRecord, answer: Answer) -> None:
        order = self._find(cmd, cmd.order_id, cmd.orig_client_order_id, open_only=True)
        cancelled = order is not None
        if order is None:
            answer.events.append(self._reject(cmd, UNKNOWN_ORDER))
        else:
            self._cancel(cmd, order, cmd.cancel_client_order_id, answer)
        placed = False
        attempted = cancelled or cmd.replace_mode == ReplaceMode.ALLOW_FAILURE
        if attempted:
            placed = self._place(cmd, cmd.client_order_id, answer)
        if cancelled and placed:
            outcome = ReplaceOutcome.SUCCESS
        elif not cancelled and not attempted:
            outcome = ReplaceOutcome.CANCEL_FAILED
        elif cancelled:
            outcome = ReplaceOutcome.NEW_FAILED
        else:
            outcome = ReplaceOutcome.BOTH_FAILED if not placed else ReplaceOutcome.CANCEL_FAILED
        answer.events.append(self._event(cmd, Event.CANCEL_REPLACE, status=int(outcome)))

    def _on_cancel_all(self, cmd: CommandRecord, answer: Answer) -> None:
        mine = [
            o
            for o in self.orders.values()
            if o.account == cmd.account and o.symbol.symbol_id == cmd.instrument and o.status in OPEN
        ]
        if not mine:
            answer.events.append(self._reject(cmd, UNKNOWN_ORDER))
        for order in mine:
            self._cancel(cmd, order, cmd.client_order_id, answer)

    # -- queries ----------------------------------------------------------------------------------
    def _order_record(self, cmd: CommandRecord, order: FakeOrder) -> EventRecord:
        return self._event(
            cmd, Event.ORDER, instrument=order.symbol.symbol_id, ts_venue=order.time_ns, **self._order_fields(order)
        )

    def _on_order_status(self, cmd: CommandRecord, answer: Answer) -> None:
        order = self._find(cmd, cmd.order_id, cmd.orig_client_order_id, open_only=False)
        if order is None:
            answer.events.append(self._reject(cmd, ORDER_DOES_NOT_EXIST))
            return
        answer.events.append(self._order_record(cmd, order))

    def _on_open_orders(self, cmd: CommandRecord, answer: Answer) -> None:
        for order in self.orders.values():
            if order.account == cmd.account and order.status in OPEN and cmd.instrument in (0, order.symbol.symbol_id):
                answer.events.append(self._order_record(cmd, order))

    def _on_account_status(self, cmd: CommandRecord, answer: Answer) -> None:
        for (account, asset), (free, locked) in sorted(self.balances.items()):
            if account == cmd.account:
                answer.events.append(
                    self._event(cmd, Event.BALANCE, commission_asset=asset, qty=free, quote_qty=locked)
                )

    def _on_depth(self, cmd: CommandRecord, answer: Answer) -> None:
        symbol = self.settings.symbols[cmd.instrument - 1]
        levels: dict[tuple[int, int], int] = {}
        for order in self.orders.values():
            if order.symbol is symbol and order.status in OPEN:
                levels[(order.side, order.price)] = levels.get((order.side, order.price), 0) + order.remaining
        bids = sorted(((p, q) for (s, p), q in levels.items() if s == OrderSide.BUY), reverse=True)[: cmd.qty]
        asks = sorted((p, q) for (s, p), q in levels.items() if s == OrderSide.SELL)[: cmd.qty]
        for side, book in ((BookSide.BID, bids), (BookSide.ASK, asks)):
            for price, qty in book:
                answer.events.append(self._event(cmd, Event.DEPTH_LEVEL, side=int(side), price=price, qty=qty))
        answer.events.append(self._event(cmd, Event.DONE, order_id=self.update_id))

    # -- admin ----------------------------------------------------------------------------------
    def _on_deposit(self, cmd: CommandRecord, answer: Answer) -> None:
        self._balance(cmd.account, cmd.asset)[0] += cmd.qty
        answer.events.append(self._event(cmd, Event.BALANCE_UPDATE, commission_asset=cmd.asset, qty=cmd.qty))
        answer.changed.add((cmd.account, cmd.asset))

    def _on_withdraw(self, cmd: CommandRecord, answer: Answer) -> None:
        balance = self._balance(cmd.account, cmd.asset)
        if balance[0] < cmd.qty:
            answer.events.append(self._reject(cmd, INSUFFICIENT_BALANCE))
            return
        balance[0] -= cmd.qty
        answer.events.append(self._event(cmd, Event.BALANCE_UPDATE, commission_asset=cmd.asset, qty=-cmd.qty))
        answer.changed.add((cmd.account, cmd.asset))

    def _on_balances(self, cmd: CommandRecord, answer: Answer) -> None:
        for (account, asset), (free, locked) in sorted(self.balances.items()):
            if cmd.account in (ALL_ACCOUNTS, account):
                answer.events.append(
                    self._event(cmd, Event.BALANCE, account=account, commission_asset=asset, qty=free, quote_qty=locked)
                )
