"""One symbol's book as the engine published it, and the diff windows of ``@depth``.

Updates are applied whole: the caller collects one END_OF_UPDATE-delimited
group of BOOK_DELTA records and hands it over at once, so whatever reads the
replica between awaits (a REST snapshot, a partial-depth push) sees the book
after some complete engine command, never half of one. ``update_id`` is then
the last applied update id, i.e. the ``lastUpdateId`` a Binance client syncs on.

A diff window collects the levels changed since its last flush, each at its
latest quantity, with ``U`` the first and ``u`` the last update id it covers.
Because the engine's update ids grow by one per BOOK_DELTA record and every
update goes into every window, consecutive flushed windows satisfy
``U == previous u + 1``. A snapshot (the engine dropped records and resent its
whole book) discards the windows' pending content: the next window starts after
the snapshot's update id, so a client sees the gap and resyncs from REST, where
the snapshot's book and id are already in place.
"""

from __future__ import annotations

from collections.abc import Iterable

from hftpipe.schema.l2book import L2Book
from hftpipe.schema.marketdata import BookSide

_BID = int(BookSide.BID)

Delta = tuple[int, int, int]
"""``(side, price, qty)``: the level's new total, 0 when it is gone."""


class DiffWindow:
    """Coalesced level changes over update ids ``first..last`` (0 = empty)."""

    __slots__ = ("asks", "bids", "first", "last")

    def __init__(self) -> None:
        self.first = 0
        self.last = 0
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    def add(self, deltas: Iterable[Delta], first: int, last: int) -> None:
        if not self.first:
            self.first = first
        self.last = last
        bids, asks = self.bids, self.asks
        for side, price, qty in deltas:
            if side == _BID:
                bids[price] = qty
            else:
                asks[price] = qty

    def take(self) -> tuple[int, int, list[tuple[int, int]], list[tuple[int, int]]] | None:
        """``(U, u, bids best-first, asks best-first)`` and start a new window; ``None`` if empty."""
        if not self.first:
            return None
        taken = (
            self.first,
            self.last,
            sorted(self.bids.items(), reverse=True),
            sorted(self.asks.items()),
        )
        self.reset()
        return taken

    def reset(self) -> None:
        self.first = self.last = 0
        self.bids = {}
        self.asks = {}


class Replica:
    """The book, its ``lastUpdateId``, and the diff windows fed from the same updates."""

    __slots__ = ("book", "resets", "update_id", "windows")

    def __init__(self, windows: int = 2) -> None:
        self.book = L2Book()
        self.update_id = 0
        self.resets = 0
        """Snapshots applied (each one a gap for diff-stream clients)."""
        self.windows = tuple(DiffWindow() for _ in range(windows))

    def apply(self, deltas: list[Delta], first: int, last: int) -> None:
        """One complete update: set each level, advance ``update_id``, feed the windows."""
        set_level = self.book.set_level
        for side, price, qty in deltas:
            set_level(side, price, qty)
        self.update_id = last
        if deltas:
            for window in self.windows:
                window.add(deltas, first, last)

    def replace(self, deltas: list[Delta], update_id: int) -> None:
        """A snapshot: the book becomes exactly ``deltas``; pending diffs are void."""
        book = self.book
        book.clear()
        for side, price, qty in deltas:
            book.set_level(side, price, qty)
        self.update_id = update_id
        self.resets += 1
        for window in self.windows:
            window.reset()

    def top(self) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        return self.book.best_bid(), self.book.best_ask()

    def depth(self, limit: int) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        """``(lastUpdateId, bids, asks)``, best ``limit`` levels per side, best first."""
        return self.update_id, self.book.bids(limit), self.book.asks(limit)
