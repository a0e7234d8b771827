"""What every venue adapter is: raw venue messages in, normalized market-data events out.

An adapter knows one venue's wire format and sync rules and nothing about IO:
the feed stage (or a capture replay, or a test) hands it each message with
the time it was received, and it calls a :class:`MarketDataSink`. The feed
stage's sink writes records into the feed -> book ring; the books sink used
by ``hftpipe book`` and the tests applies them to in-process books. So the
same adapter code is exercised live, in replay and in tests.

Book events come as: ``book_clear`` (a snapshot starts), ``book_level``
(absolute size at a price, 0 removes; ``end=True`` on the last level of one
atomic venue update), and ``book_state`` (synced / resyncing / stale): no
strategy may act on an instrument unless its last state is SYNCED.

A book that lost sync comes back in one of two ways, both asked for by the
adapter and carried out by whoever owns the IO, after every message:

* **REST snapshots** (Binance): :meth:`VenueAdapter.request_snapshot` queues a
  :class:`SnapshotRequest`; the owner fetches what
  :meth:`VenueAdapter.take_snapshot_requests` returns and hands the body to
  :meth:`VenueAdapter.on_snapshot`.
* **Resubscriptions** (Coinbase, Bybit, Kraken: venues whose only snapshot is
  the one a subscription brings): :meth:`VenueAdapter.request_resubscribe`
  queues one :class:`ResubscribeRequest` for the symbols not already pending,
  its ``messages`` built by the venue's :meth:`VenueAdapter.resubscribe_messages`
  (typically an unsubscribe, then a subscribe); the owner sends every message
  of what :meth:`VenueAdapter.take_resubscribe_requests` returns, in order, on
  the current connection. A symbol stays pending (not asked for again) until
  the adapter sees its next snapshot (:meth:`VenueAdapter.snapshot_received`)
  or the connection drops (a reconnect subscribes to everything anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from hftpipe.schema.fixedpoint import parse_fixed
from hftpipe.schema.instruments import Instrument, InstrumentRegistry
from hftpipe.schema.l2book import L2Book
from hftpipe.schema.marketdata import BookState

PRICE_CACHE_SIZE = 4096
"""Distinct price strings remembered per instrument (about 0.5 MiB at most)."""


class MarketDataSink(Protocol):
    def book_clear(self, instrument: int, update_id: int, ts_venue: int, ts_recv: int) -> None: ...

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
    ) -> None: ...

    def book_state(self, instrument: int, state: BookState, ts_recv: int) -> None: ...

    def trade(
        self, instrument: int, price: int, qty: int, trade_id: int, aggressor: int, ts_venue: int, ts_recv: int
    ) -> None: ...

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
    ) -> None: ...


class NullSink:
    """A MarketDataSink that does nothing: for measuring what an adapter costs on its own."""

    def book_clear(self, *args: Any) -> None:
        pass

    def book_level(self, *args: Any) -> None:
        pass

    def book_state(self, *args: Any) -> None:
        pass

    def trade(self, *args: Any) -> None:
        pass

    def bbo(self, *args: Any) -> None:
        pass


@dataclass(slots=True)
class InstrumentStats:
    """Per-instrument sync statistics, as ``hftpipe book --json`` reports them."""

    messages: int = 0
    applied: int = 0
    dropped: int = 0
    gaps: int = 0
    resyncs: int = 0
    checksums_ok: int = 0
    checksum_failures: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "messages": self.messages,
            "applied": self.applied,
            "dropped": self.dropped,
            "gaps": self.gaps,
            "resyncs": self.resyncs,
            "checksums_ok": self.checksums_ok,
            "checksum_failures": self.checksum_failures,
        }


@dataclass(slots=True)
class AdapterCounters:
    """Venue-wide problems: counted always, logged once per kind."""

    malformed: int = 0
    unknown: int = 0
    rejected_values: int = 0
    logged: set[str] = field(default_factory=set)

    def problem(self, logger: logging.Logger, kind: str, detail: str) -> None:
        if kind == "malformed":
            self.malformed += 1
        elif kind == "unknown":
            self.unknown += 1
        else:
            self.rejected_values += 1
        if kind not in self.logged:
            self.logged.add(kind)
            logger.warning("%s message (further ones are only counted): %s", kind, detail[:200])


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """A REST snapshot the adapter needs before it can sync ``symbol``."""

    symbol: str
    url: str
    weight: int = 1
    """What the venue charges for it against :attr:`VenueAdapter.rest_weight_per_minute`."""


@dataclass(frozen=True, slots=True)
class ResubscribeRequest:
    """JSON texts to send, in order, on the current connection so the venue resends ``symbols``' books."""

    symbols: tuple[str, ...]
    messages: tuple[str, ...]


class VenueAdapter:
    """Base of every venue adapter: instruments, statistics and problem counting.

    Subclasses implement :meth:`on_message` (and, for REST-synced venues,
    :meth:`on_snapshot`), register instruments with :meth:`instrument`, and call
    the sink. IO is not theirs: whoever owns the connection calls
    :meth:`websocket_urls`/:meth:`subscriptions` to connect, hands every
    received message to :meth:`on_message` with its receive time, fetches what
    :meth:`take_snapshot_requests` asks for, sends what
    :meth:`take_resubscribe_requests` asks for, and calls :meth:`on_disconnect`
    when the connection drops.
    """

    venue: str = ""
    ws_url: str = ""
    """The venue's one WebSocket endpoint, for adapters that connect to one (see :meth:`websocket_urls`)."""
    rest_weight_per_minute: int = 0
    """The REST request weight the venue allows one IP per minute (0: no REST snapshots are asked for)."""
    default_price_scale: int = 8
    default_qty_scale: int = 8

    def __init__(
        self,
        sink: MarketDataSink,
        registry: InstrumentRegistry,
        *,
        symbols: Sequence[str] = (),
        depth: int = 1000,
        validate_checksums: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        self.sink = sink
        self.registry = registry
        self.symbols = tuple(symbols)
        self.depth = depth
        self.validate_checksums = validate_checksums
        self.logger = logger or logging.getLogger(f"hftpipe.feed.{self.venue}")
        self.stats: dict[str, InstrumentStats] = {}
        self.problems = AdapterCounters()
        self._price_cache: dict[int, dict[str, int]] = {}
        self.replicas: dict[int, L2Book] = {}
        """The adapter's own copy of each book: checksums and crossed-book checks use it."""
        self.update_ids: dict[str, int] = {}
        self.synced: dict[str, bool] = {}
        self._snapshot_requests: list[SnapshotRequest] = []
        self._resubscribe_requests: list[ResubscribeRequest] = []
        self._resubscribe_pending: set[str] = set()

    # -- instruments -------------------------------------------------------
    def instrument(self, symbol: str, price_scale: int | None = None, qty_scale: int | None = None) -> Instrument:
        """The registered instrument for ``symbol``, registering it on first sight."""
        try:
            return self.registry.by_symbol(self.venue, symbol)
        except KeyError:
            pass
        instrument = Instrument(
            id=self.registry.next_id(),
            venue=self.venue,
            symbol=symbol,
            price_scale=self.default_price_scale if price_scale is None else price_scale,
            qty_scale=self.default_qty_scale if qty_scale is None else qty_scale,
        )
        self.registry.add(instrument)
        self.stats[symbol] = InstrumentStats()
        return instrument

    def stats_for(self, symbol: str) -> InstrumentStats:
        stats = self.stats.get(symbol)
        if stats is None:
            stats = self.stats[symbol] = InstrumentStats()
        return stats

    # -- emitting (replica + sink together) -------------------------------------
    def begin_snapshot(self, instrument: Instrument, update_id: int, ts_venue: int, recv_ns: int) -> None:
        replica = self.replicas.get(instrument.id)
        if replica is None:
            replica = self.replicas[instrument.id] = L2Book(instrument.id)
        replica.clear()
        replica.update_id = update_id
        self.update_ids[instrument.symbol] = update_id
        self.sink.book_clear(instrument.id, update_id, ts_venue, recv_ns)

    def emit_levels(
        self,
        instrument: Instrument,
        levels: Sequence[tuple[int, int, int]],
        update_id: int,
        ts_venue: int,
        recv_ns: int,
        snapshot: bool = False,
        depth: int | None = None,
    ) -> L2Book:
        """Apply ``(side, price, qty)`` levels to the replica and send them; the last carries END.

        With ``depth`` (venues that keep only their best ``depth`` levels and do
        not always remove the ones pushed out), the replica is then cut to
        ``depth`` per side and the cut levels are sent as ``(side, price, 0)``
        removals after ``levels``, in the same atomic update.
        """
        replica = self.replicas.get(instrument.id)
        if replica is None:
            replica = self.replicas[instrument.id] = L2Book(instrument.id)
        set_level = replica.set_level
        book_level = self.sink.book_level
        iid = instrument.id
        if depth is None:
            last = len(levels) - 1
            for i, (side, price, qty) in enumerate(levels):
                set_level(side, price, qty)
                book_level(iid, side, price, qty, update_id, ts_venue, recv_ns, i == last, snapshot)
        else:
            for side, price, qty in levels:
                set_level(side, price, qty)
            cut = replica.truncate(depth)
            if cut:
                levels = [*levels, *[(side, price, 0) for side, price in cut]]
            last = len(levels) - 1
            for i, (side, price, qty) in enumerate(levels):
                book_level(iid, side, price, qty, update_id, ts_venue, recv_ns, i == last, snapshot)
        replica.update_id = update_id
        self.update_ids[instrument.symbol] = update_id
        return replica

    def mark(self, instrument: Instrument, state: BookState, recv_ns: int) -> None:
        self.synced[instrument.symbol] = state is BookState.SYNCED
        self.sink.book_state(instrument.id, state, recv_ns)

    def parse_levels(
        self, instrument: Instrument, side: int, raw_levels: Sequence[Sequence[Any]], out: list[tuple[int, int, int]]
    ) -> None:
        """``[["price", "qty", ...], ...]`` -> ``out``; raises ValueError on any bad value.

        Prices are cached per instrument (text -> int): book updates keep touching
        the same few levels (91 % of prices repeat in the Binance futures capture).
        """
        price_of = instrument.price
        qty_scale = instrument.qty_scale
        cache = self._price_cache.get(instrument.id)
        if cache is None:
            cache = self._price_cache[instrument.id] = {}
        for level in raw_levels:
            if not isinstance(level, list | tuple) or len(level) < 2:
                raise ValueError(f"a level must be [price, qty, ...], got {level!r}")
            text = level[0]
            try:
                price = cache.get(text) if isinstance(text, str) else None
                if price is None:
                    price = price_of(text)
                    if len(cache) < PRICE_CACHE_SIZE:
                        cache[text] = price
                qty = parse_fixed(level[1], qty_scale)
            except (IndexError, TypeError, AttributeError) as exc:
                raise ValueError(f"malformed level {level!r}") from exc
            if price <= 0 or qty < 0:
                raise ValueError(f"level out of range: {level[0]!r} x {level[1]!r}")
            out.append((side, price, qty))

    # -- connection ----------------------------------------------------------
    def websocket_urls(self) -> list[str]:
        """The endpoints to connect to: the venue's ``ws_url`` unless the adapter builds them (combined streams)."""
        if not self.ws_url:
            raise NotImplementedError(f"{type(self).__name__} names no WebSocket endpoint")
        return [self.ws_url]

    def subscriptions(self, url: str) -> list[str]:
        """JSON texts to send after connecting to ``url``."""
        return []

    def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        raise NotImplementedError

    def request_snapshot(self, request: SnapshotRequest) -> None:
        if request not in self._snapshot_requests:
            self._snapshot_requests.append(request)

    def take_snapshot_requests(self) -> list[SnapshotRequest]:
        requests, self._snapshot_requests = self._snapshot_requests, []
        return requests

    def on_snapshot(self, symbol: str, raw: str | bytes, recv_ns: int) -> bool:
        """Rebuild ``symbol``'s book from a REST snapshot; False when it could not be used (stale, malformed).

        A snapshot that was used counts as a sync even if the buffered diffs then show a gap.
        """
        raise NotImplementedError(f"{self.venue} does not sync from REST snapshots")

    def resubscribe_messages(self, symbols: Sequence[str]) -> list[str]:
        """The JSON texts that make the venue resend the books of ``symbols`` (venues that resync so)."""
        raise NotImplementedError(f"{self.venue} does not resync books by resubscribing")

    def request_resubscribe(self, symbols: Iterable[str], *, force: bool = False) -> None:
        """Ask for new snapshots of ``symbols`` by resubscribing, in one request.

        Symbols already pending are skipped (unless ``force``: a request may
        have been lost, e.g. in a sequence gap); nothing is queued if none is left.
        """
        pending = self._resubscribe_pending
        wanted = tuple(s for s in dict.fromkeys(symbols) if force or s not in pending)
        if not wanted:
            return
        pending.update(wanted)
        self._resubscribe_requests.append(ResubscribeRequest(wanted, tuple(self.resubscribe_messages(wanted))))

    def take_resubscribe_requests(self) -> list[ResubscribeRequest]:
        """The resubscriptions asked for since the last call, oldest first (the caller must send them)."""
        requests, self._resubscribe_requests = self._resubscribe_requests, []
        return requests

    def resubscribe_pending(self, symbol: str) -> bool:
        """A resubscription of ``symbol`` was asked for and its snapshot has not come yet."""
        return symbol in self._resubscribe_pending

    def snapshot_received(self, symbol: str) -> None:
        """The venue sent a snapshot of ``symbol``: a resubscription of it is no longer pending."""
        self._resubscribe_pending.discard(symbol)

    def on_disconnect(self, recv_ns: int) -> None:
        """Every book of this connection is unknown until the venue resends it.

        Pending resubscriptions are dropped: a reconnect subscribes to everything afresh.
        """
        self._resubscribe_requests.clear()
        self._resubscribe_pending.clear()
        for symbol in self.stats:
            self.mark(self.registry.by_symbol(self.venue, symbol), BookState.RESYNCING, recv_ns)

    def decode_object(self, raw: str | bytes) -> dict[str, Any] | None:
        """A venue message that must be a JSON object; anything else is counted as malformed."""
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.malformed(str(raw)[:200])
            return None
        if not isinstance(message, dict):
            self.malformed(str(raw)[:200])
            return None
        return message

    # -- problems ------------------------------------------------------------
    def malformed(self, detail: str) -> None:
        self.problems.problem(self.logger, "malformed", detail)

    def unknown(self, detail: str) -> None:
        self.problems.problem(self.logger, "unknown", detail)

    def rejected_value(self, detail: str) -> None:
        self.problems.problem(self.logger, "rejected value", detail)
