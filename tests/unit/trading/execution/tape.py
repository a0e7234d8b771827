"""The shipped Binance captures as a paper venue sees them: top-N books of synced instruments, and trades, in order.

The capture goes through the real ``BinanceAdapter`` into in-process books
(:class:`~stages.marketdata.capture.books_sink.BooksSink`, as the market-data
tests use them); after each atomic update of a SYNCED book its top N levels
are taken, as the book stage's DEPTH would carry them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.marketdata import BookState
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.replay import replay
from stages.marketdata.venues.binance.adapter import BinanceAdapter, BinanceFuturesAdapter
from tests.captures import capture

CAPTURES = {
    "spot": (BinanceAdapter, "BINANCE.ws.1.0", "BINANCE.http.0.0"),
    "futures": (BinanceFuturesAdapter, "BINANCE_FUTURES.ws.1.0", "BINANCE_FUTURES.http.0.0"),
}


@dataclass(frozen=True, slots=True)
class Depth:
    instrument: int
    now: int
    bid_prices: tuple[int, ...]
    bid_qtys: tuple[int, ...]
    ask_prices: tuple[int, ...]
    ask_qtys: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Print:
    instrument: int
    now: int
    price: int
    qty: int
    aggressor: int
    """The taker's side: 0 buyer, 1 seller (TRADE's ``aggressor``)."""


class TapeSink(BooksSink):
    def __init__(self, depth: int) -> None:
        super().__init__()
        self.depth = depth
        self.tape: list[Depth | Print] = []

    def _take(self, instrument: int, now: int) -> None:
        book = self.book(instrument)
        bids, asks = book.bids(self.depth), book.asks(self.depth)
        pad = [(0, 0)] * self.depth  # unused levels are zero, as in a DEPTH record
        bids, asks = (bids + pad)[: self.depth], (asks + pad)[: self.depth]
        self.tape.append(
            Depth(
                instrument,
                now,
                tuple(p for p, _ in bids),
                tuple(q for _, q in bids),
                tuple(p for p, _ in asks),
                tuple(q for _, q in asks),
            )
        )

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
        super().book_level(instrument, side, price, qty, update_id, ts_venue, ts_recv, end, snapshot)
        if end and self.states.get(instrument) is BookState.SYNCED:
            self._take(instrument, ts_recv)

    def book_state(self, instrument: int, state: BookState, ts_recv: int) -> None:
        was = self.states.get(instrument)
        super().book_state(instrument, state, ts_recv)
        if state is BookState.SYNCED and was is not BookState.SYNCED:
            self._take(instrument, ts_recv)

    def trade(
        self, instrument: int, price: int, qty: int, trade_id: int, aggressor: int, ts_venue: int, ts_recv: int
    ) -> None:
        super().trade(instrument, price, qty, trade_id, aggressor, ts_venue, ts_recv)
        if self.states.get(instrument) is BookState.SYNCED:
            self.tape.append(Print(instrument, ts_recv, price, qty, aggressor))


@functools.cache
def tape(name: str, depth: int = 10) -> tuple[tuple[Depth | Print, ...], InstrumentRegistry]:
    """The capture ``name`` (``spot`` or ``futures``): its tape, and the instruments the adapter registered."""
    cls, ws, http = CAPTURES[name]
    registry = InstrumentRegistry()
    sink = TapeSink(depth)
    replay(cls(sink, registry), capture(ws), capture(http))
    return tuple(sink.tape), registry
