"""Small strategies that do exactly what a test needs (named in configs as ``tests.unit...:Class``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hftpipe.strategy import Bar, BookView, OrderReport, Strategy, TimeInForce, Trade


class Recorder(Strategy):
    """Calls nothing on its own; records what its handlers saw. Tests act through ``actions``."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        timer_ns: int = 0

    def __init__(self, params: Any, host: Any) -> None:
        super().__init__(params, host)
        self.seen: list[tuple[str, Any]] = []
        self.slippage: list[tuple[int | float, ...]] = []
        """Each report's slippage fields, as ``on_order`` saw them."""
        self.on_book_do: Any = None

    def on_start(self) -> None:
        self.seen.append(("start", self.now))
        if self.params.timer_ns:
            self.set_timer("tick", self.params.timer_ns)

    def on_book(self, book: BookView) -> None:
        self.seen.append(("book", (book.id, book.update_id, book.bid_price, book.ask_price, book.state.name)))
        if self.on_book_do is not None:
            self.on_book_do(self, book)

    def on_trade(self, trade: Trade) -> None:
        self.seen.append(("trade", (trade.instrument.id, trade.price, trade.qty, trade.trade_id)))

    def on_bar(self, bar: Bar) -> None:
        self.seen.append(("bar", (bar.instrument.id, bar.close)))

    def on_order(self, report: OrderReport) -> None:
        assert report.order is not None
        self.seen.append(
            ("order", (report.exec_type.name, report.order.seq, report.order.state.name, report.reason.name))
        )
        self.slippage.append((report.est_avg_price, report.est_qty, report.est_touch_bps, report.est_mid_bps,
                              report.fill_touch_bps, report.fill_mid_bps))  # fmt: skip

    def on_timer(self, name: str, now: int) -> None:
        self.seen.append(("timer", (name, now)))


class JoinBid(Strategy):
    """Joins the best bid and best ask with one post-only order each, once per instrument."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        qty: str = "1.5"

    def on_book(self, book: BookView) -> None:
        if book.synced and not self.open_orders(book.id):
            qty = Decimal(self.params.qty)
            self.buy(book.id, qty, book.bid_price, post_only=True)
            self.sell(book.id, qty, book.ask_price, post_only=True)

    def on_trade(self, trade: Trade) -> None:
        if trade.qty > 10**9:  # a big print: take the other side for a small size, IOC
            self.sell(trade.instrument.id, 0.1, trade.price, tif=TimeInForce.IOC)


class Faulty(Strategy):
    """Raises in every on_book after it placed one order."""

    def on_book(self, book: BookView) -> None:
        if not self.open_orders(book.id) and book.synced:
            self.buy(book.id, Decimal(1), book.bid_price)
            return
        raise RuntimeError(f"bad model on update {book.update_id}")
