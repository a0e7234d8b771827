"""A market-data sink that keeps the books in this process.

Used by ``hftpipe book`` and the tests: the adapter's events are applied to
:class:`~hftpipe.schema.l2book.L2Book` objects exactly as the book stage applies the
records it reads from the ring, so checking these books checks the adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.l2book import L2Book
from hftpipe.schema.marketdata import BookState


@dataclass(slots=True)
class TradeSeen:
    price: int
    qty: int
    trade_id: int
    aggressor: int
    ts_venue: int


class BooksSink:
    def __init__(self) -> None:
        self.books: dict[int, L2Book] = {}
        self.states: dict[int, BookState] = {}
        self.trades: dict[int, list[TradeSeen]] = {}
        self.bbos: dict[int, tuple[int, int, int, int, int]] = {}
        self.crossed_updates: dict[int, int] = {}
        self.updates: dict[int, int] = {}

    def book(self, instrument: int) -> L2Book:
        book = self.books.get(instrument)
        if book is None:
            book = self.books[instrument] = L2Book(instrument)
        return book

    # -- MarketDataSink --------------------------------------------------------
    def book_clear(self, instrument: int, update_id: int, ts_venue: int, ts_recv: int) -> None:
        book = self.book(instrument)
        book.clear()
        book.update_id = update_id

    def book_level(
        self,
        instrument: int,
        side: int,
        price: int,
        qty: int,
        update_id: int,
        ts_venue: int,
        ts_recv: int,
        end: bool,
        snapshot: bool,
    ) -> None:
        book = self.book(instrument)
        book.set_level(side, price, qty)
        book.update_id = update_id
        if end:
            self.updates[instrument] = self.updates.get(instrument, 0) + 1
            if book.is_crossed():
                self.crossed_updates[instrument] = self.crossed_updates.get(instrument, 0) + 1

    def book_state(self, instrument: int, state: BookState, ts_recv: int) -> None:
        self.states[instrument] = state

    def trade(
        self, instrument: int, price: int, qty: int, trade_id: int, aggressor: int, ts_venue: int, ts_recv: int
    ) -> None:
        self.trades.setdefault(instrument, []).append(TradeSeen(price, qty, trade_id, aggressor, ts_venue))

    def bbo(
        self,
        instrument: int,
        bid_price: int,
        bid_qty: int,
        ask_price: int,
        ask_qty: int,
        update_id: int,
        ts_venue: int,
        ts_recv: int,
    ) -> None:
        self.bbos[instrument] = (bid_price, bid_qty, ask_price, ask_qty, update_id)

    # -- report ------------------------------------------------------------------
    def report(
        self, registry: InstrumentRegistry, depth: int | None, stats: dict[str, Any], update_ids: dict[str, int]
    ) -> dict[str, Any]:
        """``hftpipe book --json``: per venue symbol, the book as decimal strings, best first."""
        out: dict[str, Any] = {}
        for instrument in registry:
            book = self.books.get(instrument.id, L2Book(instrument.id))
            state = self.states.get(instrument.id, BookState.RESYNCING)
            out[instrument.symbol] = {
                "bids": [[instrument.price_text(p), instrument.qty_text(q)] for p, q in book.bids(depth)],
                "asks": [[instrument.price_text(p), instrument.qty_text(q)] for p, q in book.asks(depth)],
                "state": state.name.lower(),
                "last_update_id": update_ids.get(instrument.symbol, book.update_id),
                "stats": stats[instrument.symbol].as_json() if instrument.symbol in stats else {},
            }
        return out
