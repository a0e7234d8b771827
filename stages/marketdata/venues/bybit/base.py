"""What Bybit's v5 and legacy feeds share: per-topic sync state, resync by resubscribing, ``op`` answers.

Neither feed has a REST snapshot that lines up with the stream: a book that
can no longer be trusted is marked RESYNCING, its deltas are dropped, and its
topic is resubscribed (see
:meth:`~stages.marketdata.venues.adapter.VenueAdapter.take_resubscribe_requests`);
the snapshot that answers re-syncs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BookState
from stages.marketdata.venues.adapter import VenueAdapter

PRICE_CACHE_SIZE: Final = 4096
"""Price texts remembered per topic (:attr:`TopicSync.prices`)."""

BAD_SHAPE: Final = (KeyError, TypeError, IndexError, AttributeError)
"""What a message of the wrong shape raises while being read (counted as malformed)."""


@dataclass(slots=True)
class TopicSync:
    """Sync state of one book topic."""

    topic: str
    depth: int
    last_id: int = 0
    """``u`` (v5) or ``cross_seq`` (legacy) of the last applied message."""
    awaiting_snapshot: bool = True
    ids: dict[Any, tuple[int, int]] = field(default_factory=dict)
    """Legacy only: venue level id -> (side, price)."""
    prices: dict[str, int] = field(default_factory=dict)
    """Price text -> fixed point: a parse cache (the same few hundred prices recur), at most PRICE_CACHE_SIZE."""


class BybitAdapterBase(VenueAdapter):
    """What Bybit's v5 and legacy feeds share: per-topic sync state, resync by resubscribing, op answers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._books: dict[str, TopicSync] = {}
        self.failed_requests = 0
        """``op`` requests (subscribe, ping) the venue answered with ``success: false``."""

    # -- resubscription ---------------------------------------------------------
    def resubscribe_messages(self, symbols: Sequence[str]) -> list[str]:
        """Unsubscribe, then subscribe again, the book topics of ``symbols`` (the venue then sends snapshots)."""
        topics = [self._books[symbol].topic for symbol in symbols]
        return [
            orjson.dumps({"op": "unsubscribe", "args": topics}).decode(),
            orjson.dumps({"op": "subscribe", "args": topics}).decode(),
        ]

    def resync(self, instrument: Instrument, sync: TopicSync, why: str, recv_ns: int) -> None:
        """Stop trusting ``instrument``'s book: RESYNCING, deltas dropped, resubscription requested."""
        if not sync.awaiting_snapshot:
            stats = self.stats_for(instrument.symbol)
            stats.gaps += 1
            stats.resyncs += 1
            sync.awaiting_snapshot = True
            self.logger.info("%s %s: resync (%s)", self.venue, instrument.symbol, why)
            self.mark(instrument, BookState.RESYNCING, recv_ns)
        self.request_resubscribe((instrument.symbol,))

    def reject_book_message(
        self, instrument: Instrument, sync: TopicSync, snapshot: bool, recv_ns: int, exc: Exception
    ) -> None:
        """A book message that failed to read: counted by kind (shape or value), then handled as unusable."""
        if isinstance(exc, BAD_SHAPE):
            self.malformed(f"{instrument.symbol}: {exc!r}")
        else:
            self.rejected_value(f"{instrument.symbol}: {exc}")
        self.unusable(instrument, sync, snapshot, recv_ns)

    def unusable(self, instrument: Instrument, sync: TopicSync, snapshot: bool, recv_ns: int) -> None:
        """A book message that could not be applied: the book misses it, unless it was not synced anyway."""
        if snapshot:
            self.snapshot_received(instrument.symbol)
        if snapshot or not sync.awaiting_snapshot:
            self.resync(instrument, sync, "unusable book message", recv_ns)
        else:
            self.stats_for(instrument.symbol).dropped += 1

    def on_disconnect(self, recv_ns: int) -> None:
        """Every book waits for the snapshot that follows the re-subscription on reconnect."""
        for sync in self._books.values():
            sync.awaiting_snapshot = True
        super().on_disconnect(recv_ns)

    def on_op_answer(self, message: dict[str, Any]) -> None:
        """Subscribe acks and pongs are silent; a refusal is logged and counted."""
        if message.get("success") is False:
            self.failed_requests += 1
            self.logger.warning("%s refused a request: %s", self.venue, str(message)[:200])
