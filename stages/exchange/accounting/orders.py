"""The order table: every order accounting has sequenced, from hold to finish.

An order is *pending* from the moment accounting sequences it (its hold is
placed, it has a ``seq`` but no engine order id) until its NEW event comes
back, *open* from then until a terminal event (FILLED, CANCELED, EXPIRED), and
then *finished*: kept in a bounded history (``order_history`` most recent) so
``order.status`` can still answer. A NEW_ORDER the engine rejects never gets
an order id and is forgotten at once.

Client order ids are unique per (account, symbol) among pending and open
orders (Binance's duplicate check). A cancelReplace may give its new order the
id of the order it cancels, so for a moment two live orders share an id: the
index keeps a short list per id, oldest first.
"""

from __future__ import annotations

from collections import OrderedDict

from hftpipe.schema.exchange import OrderStatus

ClientKey = tuple[int, int, bytes]
"""(account, symbol id, client order id bytes)."""
OrderKey = tuple[int, int]
"""(symbol id, engine order id)."""


class Order:
    """Accounting's view of one order; ``hold`` is what is still locked for it (asset ``hold_asset``)."""

    __slots__ = (
        "account",
        "client_id",
        "cum_qty",
        "cum_quote",
        "hold",
        "hold_asset",
        "order_id",
        "order_type",
        "price",
        "qty",
        "quote_qty",
        "seq",
        "side",
        "status",
        "stp_mode",
        "symbol",
        "tif",
        "time_ns",
    )

    def __init__(
        self,
        seq: int,
        symbol: int,
        account: int,
        client_id: bytes,
        side: int,
        order_type: int,
        tif: int,
        stp_mode: int,
        price: int,
        qty: int,
        quote_qty: int,
        time_ns: int,
        hold_asset: int,
        hold: int,
    ) -> None:
        self.seq = seq
        self.symbol = symbol
        self.account = account
        self.client_id = client_id
        self.side = side
        self.order_type = order_type
        self.tif = tif
        self.stp_mode = stp_mode
        self.price = price
        self.qty = qty
        self.quote_qty = quote_qty
        self.time_ns = time_ns
        self.hold_asset = hold_asset
        self.hold = hold
        self.order_id = 0
        self.cum_qty = 0
        self.cum_quote = 0
        self.status = int(OrderStatus.NEW)

    def __repr__(self) -> str:
        return (
            f"Order(seq={self.seq}, symbol={self.symbol}, account={self.account}, id={self.order_id}, "
            f"client={self.client_id!r}, status={self.status}, hold={self.hold}@{self.hold_asset})"
        )


class OrderTable:
    def __init__(self, assets: int, history: int) -> None:
        self.history_limit = history
        self.pending: dict[int, Order] = {}
        self.open: dict[OrderKey, Order] = {}
        self.by_account: dict[int, dict[OrderKey, Order]] = {}
        self.live_ids: dict[ClientKey, list[Order]] = {}
        self.history: OrderedDict[OrderKey, Order] = OrderedDict()
        self.history_ids: dict[ClientKey, Order] = {}
        self.held = [0] * (assets + 1)
        """Sum of ``hold`` over pending and open orders, per asset (kept incrementally)."""

    # --------------------------------------------------------------- lifecycle
    def add_pending(self, order: Order) -> None:
        self.pending[order.seq] = order
        if order.client_id:
            self.live_ids.setdefault((order.account, order.symbol, order.client_id), []).append(order)
        self.held[order.hold_asset] += order.hold

    def acknowledge(self, order: Order, order_id: int) -> None:
        """Its NEW event came back: the engine's order id is known, the order is open."""
        self.pending.pop(order.seq, None)
        order.order_id = order_id
        key = (order.symbol, order_id)
        self.open[key] = order
        account = self.by_account.get(order.account)
        if account is None:
            account = self.by_account[order.account] = {}
        account[key] = order

    def consume(self, order: Order, amount: int) -> None:
        """A fill used ``amount`` of the order's hold."""
        order.hold -= amount
        self.held[order.hold_asset] -= amount

    def finish(self, order: Order, status: int) -> int:
        """The order ended: forget it as live, keep it in the history; returns the hold left to release."""
        order.status = status
        left = order.hold
        order.hold = 0
        self.held[order.hold_asset] -= left
        if order.order_id:
            key = (order.symbol, order.order_id)
            if self.open.pop(key, None) is not None:
                account = self.by_account.get(order.account)
                if account is not None:
                    account.pop(key, None)
                    if not account:
                        del self.by_account[order.account]
            self._remember(key, order)
        else:
            self.pending.pop(order.seq, None)
        if order.client_id:
            ckey = (order.account, order.symbol, order.client_id)
            same = self.live_ids.get(ckey)
            if same is not None:
                if order in same:
                    same.remove(order)
                if not same:
                    del self.live_ids[ckey]
        return left

    def _remember(self, key: OrderKey, order: Order) -> None:
        if self.history_limit <= 0:
            return
        self.history[key] = order
        if order.client_id:
            self.history_ids[(order.account, order.symbol, order.client_id)] = order
        while len(self.history) > self.history_limit:
            _, old = self.history.popitem(last=False)
            ckey = (old.account, old.symbol, old.client_id)
            if self.history_ids.get(ckey) is old:
                del self.history_ids[ckey]

    # ------------------------------------------------------------------ lookups
    def live_by_client(self, account: int, symbol: int, client_id: bytes) -> Order | None:
        """The oldest pending or open order of the account with that client id in that symbol."""
        same = self.live_ids.get((account, symbol, client_id))
        return same[0] if same else None

    def is_duplicate(self, account: int, symbol: int, client_id: bytes, replacing: Order | None = None) -> bool:
        same = self.live_ids.get((account, symbol, client_id))
        return same is not None and any(order is not replacing for order in same)

    def lookup(self, account: int, symbol: int, order_id: int, client_id: bytes) -> Order | None:
        """``order.status``: an acknowledged order (open or remembered) of this account, or ``None``.

        With both ``order_id`` and ``client_id`` the order must carry both (Binance).
        """
        order: Order | None
        if order_id > 0:
            key = (symbol, order_id)
            order = self.open.get(key) or self.history.get(key)
            if order is not None and client_id and order.client_id != client_id:
                order = None
        elif client_id:
            order = self.live_by_client(account, symbol, client_id)
            if order is None or not order.order_id:
                order = self.history_ids.get((account, symbol, client_id))
        else:
            order = None
        if order is None or order.account != account or not order.order_id:
            return None
        return order

    def open_orders(self, account: int, symbol: int = 0) -> list[Order]:
        """The account's open orders (all symbols when ``symbol`` is 0), by symbol then order id."""
        found = [o for o in self.by_account.get(account, {}).values() if not symbol or o.symbol == symbol]
        found.sort(key=lambda o: (o.symbol, o.order_id))
        return found

    def all_orders(
        self, account: int, symbol: int, from_id: int, start_ns: int, end_ns: int, limit: int
    ) -> list[Order]:
        """``allOrders``: the account's acknowledged orders in ``symbol`` (open and remembered), by order
        id; from ``from_id`` on (the first ``limit``), else the latest ``limit`` within the times."""
        found = [
            order
            for order in (*self.by_account.get(account, {}).values(), *self.history.values())
            if order.account == account
            and order.symbol == symbol
            and order.order_id >= from_id
            and start_ns <= order.time_ns
            and (not end_ns or order.time_ns <= end_ns)
        ]
        found.sort(key=lambda o: o.order_id)
        return found[:limit] if from_id else found[-limit:]

    def recompute_held(self) -> list[int]:
        """Sum of holds per asset from the orders themselves (the full invariant check)."""
        held = [0] * len(self.held)
        for order in self.pending.values():
            held[order.hold_asset] += order.hold
        for order in self.open.values():
            held[order.hold_asset] += order.hold
        return held

    def orders_snapshot(self) -> list[tuple[int, int, int, bytes, int, int, int, int, int]]:
        """Every pending and open order as plain values (tests compare two tables with it)."""
        rows = [
            (o.symbol, o.order_id, o.account, o.client_id, o.status, o.cum_qty, o.cum_quote, o.hold, o.seq)
            for o in (*self.pending.values(), *self.open.values())
        ]
        rows.sort()
        return rows
