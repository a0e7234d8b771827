"""What Kraken WebSocket v1 and v2 share: snapshots, truncated updates checked by CRC32, resync by resubscribing.

Both versions push a snapshot at the subscribed depth, then updates with
absolute sizes (0 removes a level). Kraken's rules for keeping the book
(docs.kraken.com, "Book checksum" guides for v1 and v2):

* apply every level of an update message, in order, before checking;
* then truncate each side to the subscribed depth: Kraken never sends a
  removal for a level pushed out of scope by an insert (and republishes, flag
  ``"r"`` in v1, the level that comes back into scope after a removal);
* then the checksum (:mod:`stages.marketdata.venues.kraken.checksum`).

The instrument is registered at exactly the decimals the venue writes the
pair with (:mod:`stages.marketdata.venues.kraken.decimals`), so the checksum
text of a level needs no formatting.

There is no REST snapshot to resync from: after a checksum mismatch (or an
update that cannot be applied) the pair is marked RESYNCING, its updates are
ignored until a new snapshot arrives, and a resubscription is requested
(:meth:`~stages.marketdata.venues.adapter.VenueAdapter.take_resubscribe_requests`): the
connection owner sends the texts of each version's ``resubscribe_messages``
(unsubscribe, then subscribe, which makes Kraken send a fresh snapshot).

Kraken has no update ids: each pair's book messages are numbered by a running
counter (snapshots included) that never goes back, across resubscriptions.
"""

from __future__ import annotations

from typing import Any, Final

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.l2book import L2Book
from hftpipe.schema.marketdata import BookState
from stages.marketdata.venues.adapter import VenueAdapter
from stages.marketdata.venues.kraken.pair_book import PairBook

KRAKEN_DEPTHS: Final = (10, 25, 100, 500, 1000)
"""The book depths Kraken accepts on a subscription."""


class KrakenAdapterBase(VenueAdapter):
    """What v1 and v2 share: snapshots, truncated updates, checksums, resubscription requests."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.depth not in KRAKEN_DEPTHS:
            raise ValueError(f"Kraken book depth must be one of {KRAKEN_DEPTHS}, got {self.depth}")
        self._books: dict[str, PairBook] = {}

    # -- book ------------------------------------------------------------------
    def _book(self, symbol: str, instrument: Instrument, depth: int) -> PairBook:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = PairBook(instrument, depth)
        book.depth = depth
        return book

    def _apply_snapshot(
        self, book: PairBook, levels: list[tuple[int, int, int]], ts_venue: int, recv_ns: int, checksum: int | None
    ) -> None:
        instrument = book.instrument
        book.update_id += 1
        self.stats_for(instrument.symbol).applied += 1
        self.begin_snapshot(instrument, book.update_id, ts_venue, recv_ns)
        book.invalidate()
        self.emit_levels(instrument, levels, book.update_id, ts_venue, recv_ns, snapshot=True, depth=book.depth)
        book.synced = True
        if checksum is not None and not self._checksum_matches(book, checksum, recv_ns):
            return
        self.mark(instrument, BookState.SYNCED, recv_ns)

    def _apply_update(
        self, book: PairBook, levels: list[tuple[int, int, int]], ts_venue: int, recv_ns: int, checksum: int | None
    ) -> None:
        """One venue update: levels plus truncation removals, END on the last; then the checksum."""
        instrument = book.instrument
        book.update_id += 1
        if self.validate_checksums:
            book.touch(levels)
        else:
            book.invalidate()  # nothing tracks the top 10 meanwhile
        replica = self.emit_levels(instrument, levels, book.update_id, ts_venue, recv_ns, depth=book.depth)
        self.stats_for(instrument.symbol).applied += 1
        if checksum is not None and self.validate_checksums:
            self._checksum_matches(book, checksum, recv_ns)
        elif replica.is_crossed():
            self.problems.problem(self.logger, "crossed book", instrument.symbol)
            self._resync(book, recv_ns, "crossed book")

    def _checksum_matches(self, book: PairBook, checksum: int, recv_ns: int) -> bool:
        if not self.validate_checksums:
            return True
        instrument = book.instrument
        replica = self.replicas.get(instrument.id) or L2Book(instrument.id)
        stats = self.stats_for(instrument.symbol)
        if book.checksum(replica) == checksum:
            stats.checksums_ok += 1
            return True
        stats.checksum_failures += 1
        self._resync(book, recv_ns, f"checksum mismatch (venue {checksum})")
        return False

    def _resync(self, book: PairBook, recv_ns: int, why: str) -> None:
        symbol = book.instrument.symbol
        self.stats_for(symbol).resyncs += 1
        self.logger.info("%s %s: resubscribing (%s)", self.venue, symbol, why)
        book.synced = False
        self.mark(book.instrument, BookState.RESYNCING, recv_ns)
        self.request_resubscribe((symbol,))

    def _unusable(self, symbol: str, recv_ns: int, why: str) -> None:
        """A book message of ``symbol`` that could not be applied: its book can no longer be trusted."""
        book = self._books.get(symbol)
        if book is not None and book.synced:
            self._resync(book, recv_ns, why)

    def on_disconnect(self, recv_ns: int) -> None:
        """Every book waits for the snapshot the reconnection's subscriptions bring."""
        for book in self._books.values():
            book.synced = False
        super().on_disconnect(recv_ns)
