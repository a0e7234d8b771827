"""What both Coinbase feeds (Exchange and Advanced Trade) share: venue errors, snapshots, updates, resync.

Neither feed has a REST snapshot that lines up with its stream: a book that
can no longer be trusted (crossed, or an update that cannot be read) is
marked RESYNCING, its updates are ignored until its next snapshot, and a
resubscription is requested (see
:meth:`~stages.marketdata.venues.adapter.VenueAdapter.take_resubscribe_requests`).
"""

from __future__ import annotations

from typing import Any

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BookState
from stages.marketdata.venues.adapter import VenueAdapter


class CoinbaseAdapterBase(VenueAdapter):
    """Coinbase feeds (Exchange and Advanced Trade): venue errors, and resync by resubscribing.

    A product asked for stays pending (not asked again) until its next
    snapshot (each adapter calls :meth:`snapshot_received`) or a disconnect.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.venue_errors = 0
        """``error`` messages the venue sent (subscription refused, rate limits...)."""

    def venue_error(self, detail: str) -> None:
        self.venue_errors += 1
        if "venue error" not in self.problems.logged:
            self.problems.logged.add("venue error")
            self.logger.warning("%s error message (further ones are only counted): %s", self.venue, detail[:200])

    def _resync(self, instrument: Instrument, recv_ns: int, why: str) -> None:
        """The book is unknown: RESYNCING, ignore updates until the snapshot a resubscription brings."""
        self.stats_for(instrument.symbol).resyncs += 1
        self.logger.info("%s %s: resync (%s)", self.venue, instrument.symbol, why)
        self.mark(instrument, BookState.RESYNCING, recv_ns)
        self.request_resubscribe((instrument.symbol,))

    def _apply_snapshot(
        self, instrument: Instrument, levels: list[tuple[int, int, int]], update_id: int, ts_venue: int, recv_ns: int
    ) -> None:
        """A readable snapshot: the book is replaced and SYNCED, unless it is crossed (then it resyncs)."""
        stats = self.stats_for(instrument.symbol)
        self.begin_snapshot(instrument, update_id, ts_venue, recv_ns)
        if levels:
            replica = self.emit_levels(instrument, levels, update_id, ts_venue, recv_ns, snapshot=True)
            if replica.is_crossed():
                self.problems.problem(self.logger, "crossed book", f"{instrument.symbol} snapshot")
                stats.dropped += 1
                self._resync(instrument, recv_ns, "crossed snapshot")
                return
        stats.applied += 1
        self.mark(instrument, BookState.SYNCED, recv_ns)

    def _apply_update(
        self, instrument: Instrument, levels: list[tuple[int, int, int]], update_id: int, ts_venue: int, recv_ns: int
    ) -> None:
        """A readable update of a synced book, applied atomically; a book it leaves crossed resyncs."""
        replica = self.emit_levels(instrument, levels, update_id, ts_venue, recv_ns)
        self.stats_for(instrument.symbol).applied += 1
        if replica.is_crossed():
            self.problems.problem(self.logger, "crossed book", instrument.symbol)
            self._resync(instrument, recv_ns, "crossed book")
