"""The feed stage: venue WebSockets in, normalized records out on the feed -> book ring.

One asyncio loop in the stage process, one connection per venue endpoint.
Each received message is timestamped (``time.monotonic_ns``) the moment the
client hands it over and given to the venue adapter, whose events the
:class:`~stages.marketdata.feed.ring_sink.RingSink` packs into the ring.

Robustness:

* reconnect with exponential backoff and full jitter (``reconnect_min_s`` ..
  ``reconnect_max_s``); every book of a dropped connection is marked
  RESYNCING at once, and re-synced from the venue after reconnecting;
* WebSocket ping/pong keep-alive (``ping_interval_s``; a missing pong drops
  the connection);
* a connection older than ``max_connection_age_s`` (Binance closes at 24 h)
  is replaced *without a gap*: the new one is opened first and both feed the
  same adapter until the new one has delivered for ``handover_s``; sequence
  checks drop what both delivered, then the old one is closed;
* an instrument silent for ``stale_after_s`` is marked STALE (and SYNCED
  again with its next applied update);
* REST snapshots go through :class:`~stages.marketdata.feed.snapshots.SnapshotFetcher`,
  one book at a time: every request, a retry after a stale or malformed
  snapshot or a failed request included, waits out its book's exponential
  backoff (``snapshot_retry_min_s`` .. ``snapshot_retry_max_s``, reset once the
  book syncs) and the venue's REST weight budget (``rest_weight_budget``);
  the resubscriptions an adapter asks for (venues whose only snapshot is the
  one a subscription brings) are sent on the connection the message that
  caused them came on (counter ``resubscribes``: one per request sent);
* a full feed -> book ring never blocks the loop: the sink holds records back
  in order (:mod:`~stages.marketdata.feed.ring_sink`) and whatever produced
  them (a connection's reader, a snapshot fetch, the staleness monitor) waits
  until they are in the ring before producing more, so a slow book stage
  pauses the reading of the sockets, not the pings. Should more than
  ``max_backlog`` records pile up, they are dropped (counter ``drops``),
  every book is marked RESYNCING, and the connection is replaced so that the
  venue resends every book (counter ``backlog_resyncs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from websockets.asyncio.client import ClientConnection, connect

from hftpipe.runtime import AsyncAgent, StageContext
from hftpipe.runtime.validation import ConfigError, at_least, not_above, positive
from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.marketdata import BookState
from hftpipe.schema.records import RecordFlag
from hftpipe.substrate.counters import Counter, CounterKind
from stages.marketdata.capture.format import CaptureWriter, EventKind
from stages.marketdata.feed.clock import SYSTEM_CLOCK, Clock
from stages.marketdata.feed.ring_sink import MAX_BACKLOG, RingSink
from stages.marketdata.feed.snapshots import SnapshotError, SnapshotFetcher
from stages.marketdata.feed.weight_budget import default_budget
from stages.marketdata.venues.adapter import SnapshotRequest
from stages.marketdata.venues.registry import adapter_class, adapter_path

_PER_INSTRUMENT = ("gaps", "resyncs", "checksum_failures", "snapshots")
_SNAPSHOT_COUNTERS = (
    "snapshots_fetched",
    "snapshot_errors",
    "snapshot_retries",
    "snapshot_backoffs",
    "weight_waits",
    "rate_limited",
)
_PROBLEM_COUNTERS = ("malformed", "unknown", "rejected_values", "gaps", "resyncs", "checksum_failures", "dropped")


class FeedStage(AsyncAgent):
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        venue: str
        symbols: list[str] = field(default_factory=list)
        url: str = ""
        """WebSocket URL override (e.g. a loopback replay server); default: the venue's."""
        rest_url: str = ""
        """REST base override for snapshots (``http://127.0.0.1:9443``); default: the venue's."""
        depth: int = 1000
        validate_checksums: bool = True
        reconnect_min_s: float = 0.5
        reconnect_max_s: float = 30.0
        ping_interval_s: float = 20.0
        stale_after_s: float = 30.0
        max_connection_age_s: float = 23.5 * 3600
        handover_s: float = 5.0
        replay: bool = False
        """Mark records REPLAY (the source is a capture, not a live venue)."""
        record_to: Path | None = None
        """Also write every message received and sent to this capture file (relative: to the config file)."""
        max_backlog: int = MAX_BACKLOG
        """Records held back while the feed -> book ring is full before they are dropped and every book resynced."""
        snapshot_retry_min_s: float = 1.0
        """A book's second snapshot request before it synced waits this long, each further one twice as long..."""
        snapshot_retry_max_s: float = 30.0
        """... up to this."""
        rest_weight_budget: int = 0
        """REST request weight the feed may spend per minute; 0: 80 % of the venue's per-IP limit."""

        def __post_init__(self) -> None:
            adapter_path(self.venue)  # raises ValueError naming the choices
            if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
                raise ValueError("reconnect_min_s must be > 0 and <= reconnect_max_s")
            if self.depth <= 0 or self.stale_after_s <= 0 or self.handover_s <= 0 or self.max_backlog <= 0:
                raise ValueError("depth, stale_after_s, handover_s and max_backlog must be > 0")
            positive("snapshot_retry_min_s", self.snapshot_retry_min_s)
            retry_min, retry_max = self.snapshot_retry_min_s, self.snapshot_retry_max_s
            not_above("snapshot_retry_min_s", retry_min, "snapshot_retry_max_s", retry_max)
            at_least("rest_weight_budget", self.rest_weight_budget, 0)
            positive("ping_interval_s", self.ping_interval_s)
            not_above("handover_s", self.handover_s, "max_connection_age_s", self.max_connection_age_s)
            if self.record_to is not None:
                folder = Path(self.record_to).parent
                if not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
                    raise ConfigError("record_to", f"{folder} is not a directory this user can write to")

    def __init__(self, ctx: StageContext, *, clock: Clock = SYSTEM_CLOCK) -> None:
        """``clock`` paces the REST snapshots (tests step it by hand)."""
        super().__init__(ctx)
        self.params: FeedStage.Params = ctx.params
        self.logger = logging.getLogger(f"hftpipe.feed.{self.params.venue}")
        self._stopping = asyncio.Event()
        self._resync_all = asyncio.Event()
        """Set when the sink dropped records: the connection is replaced so the venue resends every book."""
        self.sink = RingSink(
            ctx.output_port(),
            int(RecordFlag.REPLAY) if self.params.replay else 0,
            drops=ctx.counter(CounterKind.DROPS),
            max_backlog=self.params.max_backlog,
            on_overflow=self._resync_all.set,
            logger=self.logger,
        )
        url = self.params.url or None
        venue_adapter = adapter_class(self.params.venue, url)
        self.registry = InstrumentRegistry(i for i in ctx.instruments if i.venue == venue_adapter.venue)
        """Declared ``[[instruments]]`` keep their ids; a symbol not declared gets the next free one."""
        self.adapter = venue_adapter(
            self.sink,
            self.registry,
            symbols=self.params.symbols,
            depth=self.params.depth,
            validate_checksums=self.params.validate_checksums,
            logger=self.logger,
        )
        self.fetcher = SnapshotFetcher(
            self.logger,
            weight_budget=self.params.rest_weight_budget or default_budget(self.adapter.rest_weight_per_minute),
            retry_min_s=self.params.snapshot_retry_min_s,
            retry_max_s=self.params.snapshot_retry_max_s,
            clock=clock,
        )
        self._received = ctx.counter(CounterKind.MESSAGES_IN)
        self._reconnects = ctx.counters.add("reconnects")
        self._handovers = ctx.counters.add("handovers")
        self._stale_marks = ctx.counters.add("stale_marks")
        self._books_stale = ctx.counters.gauge("books_stale")
        """How many books are stale now (``stale_marks`` counts the events); alerts watch this level."""
        self._books_unsynced = ctx.counters.gauge("books_unsynced")
        """How many books are not synced now: waiting for their first snapshot or resyncing."""
        self._snapshot_counters = [ctx.counters.add(name) for name in _SNAPSHOT_COUNTERS]
        self._resubscribes = ctx.counters.add("resubscribes")
        self._backlog_resyncs = ctx.counters.add("backlog_resyncs")
        self._problem_counters = {name: ctx.counters.add(name) for name in _PROBLEM_COUNTERS}
        self._instrument_counters: dict[str, list[Counter]] = {}
        self._instrument_counters_full = False
        self._last_id: dict[str, int] = {}
        self._last_change_ns: dict[str, int] = {}
        self._stale: set[str] = set()
        self._snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        """One per book being fetched: it fetches again while the adapter asks again."""
        self._snapshot_wanted: dict[str, SnapshotRequest] = {}
        self._recorder: CaptureWriter | None = None

    # -- lifecycle ------------------------------------------------------------
    async def run(self, stopping: asyncio.Event) -> None:
        self._stopping = stopping
        record_file = open(self.params.record_to, "a", encoding="utf-8") if self.params.record_to else None  # noqa: SIM115
        self._recorder = CaptureWriter(record_file) if record_file else None
        monitor = asyncio.create_task(self._monitor(stopping))
        try:
            await self._connection_loop(stopping)
        finally:
            monitor.cancel()
            for task in list(self._snapshot_tasks.values()):
                task.cancel()
            self.sink.finish()
            self._publish_counters()
            if record_file:
                record_file.close()

    async def _connection_loop(self, stopping: asyncio.Event) -> None:
        urls = [self.params.url] if self.params.url else self.adapter.websocket_urls()
        url = urls[0]
        delay = self.params.reconnect_min_s
        current: ClientConnection | None = None
        while not stopping.is_set():
            try:
                current = await self._open(url)
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                self._reconnects.add()
                self.ctx.errors.record(f"connect {url}: {type(exc).__name__}")
                self.logger.warning("connect %s failed (%s); retrying", url, exc)
                await self._sleep(stopping, delay)
                delay = min(delay * 2, self.params.reconnect_max_s)
                continue
            delay = self.params.reconnect_min_s
            current = await self._pump_until_replaced(url, current, stopping)
            if current is None:
                now = time.monotonic_ns()
                self.adapter.on_disconnect(now)
                await self.sink.drain(self._stopping)
                if not stopping.is_set():
                    self._reconnects.add()
                    await self._sleep(stopping, delay)

    async def _open(self, url: str) -> ClientConnection:
        connection = await connect(
            url,
            max_size=None,
            ping_interval=self.params.ping_interval_s,
            ping_timeout=self.params.ping_interval_s,
            open_timeout=10,
        )
        if self._recorder:
            self._recorder.write(EventKind.CONNECT, time.time(), url=url)
        for text in self.adapter.subscriptions(url):
            await connection.send(text)
            if self._recorder:
                self._recorder.write(EventKind.SENT, time.time(), text, url=url)
        self.logger.info("connected to %s", url)
        return connection

    async def _pump_until_replaced(
        self, url: str, connection: ClientConnection, stopping: asyncio.Event
    ) -> ClientConnection | None:
        """Read ``connection`` until it drops (None) or, aged out, hand over to a new one."""
        opened = time.monotonic()
        reader = asyncio.create_task(self._read(connection, url))
        stop_wait = asyncio.create_task(stopping.wait())
        resync_wait = asyncio.create_task(self._resync_all.wait())
        try:
            while True:
                age_left = self.params.max_connection_age_s - (time.monotonic() - opened)
                done, _ = await asyncio.wait(
                    {reader, stop_wait, resync_wait}, timeout=max(age_left, 0), return_when=asyncio.FIRST_COMPLETED
                )
                if stop_wait in done:
                    await connection.close()
                    return None
                if resync_wait in done:
                    self._resync_all.clear()
                    self._backlog_resyncs.add()
                    self.ctx.errors.record(f"feed ring backlog overflowed: reconnecting {url} to resync every book")
                    self.logger.warning("records were dropped: reconnecting to %s so every book is resent", url)
                    await connection.close()
                    return None
                if reader in done:
                    exc = reader.exception()
                    if exc is not None and not isinstance(exc, websockets.ConnectionClosed):
                        self.ctx.errors.record(f"read {url}: {type(exc).__name__}")
                    self.logger.warning("connection to %s closed (%s)", url, exc or "by the venue")
                    return None
                # Aged out: overlap a new connection, then retire the old one.
                try:
                    replacement = await self._open(url)
                except (OSError, websockets.WebSocketException, TimeoutError):
                    opened = time.monotonic() - self.params.max_connection_age_s + self.params.reconnect_max_s
                    continue
                new_reader = asyncio.create_task(self._read(replacement, url))
                await asyncio.sleep(self.params.handover_s)
                reader.cancel()
                await connection.close()
                self._handovers.add()
                self.logger.info("replaced %s connection after %.0f s without a gap", url, time.monotonic() - opened)
                connection, reader, opened = replacement, new_reader, time.monotonic()
        finally:
            stop_wait.cancel()
            resync_wait.cancel()
            if not reader.done():
                reader.cancel()

    async def _read(self, connection: ClientConnection, url: str = "") -> None:
        """Hand every message of ``connection`` (to ``url``) to the adapter; start or send what it asks for.

        While the sink holds records back, the next message is not read.
        """
        adapter = self.adapter
        sink = self.sink
        received = self._received
        recorder = self._recorder
        async for raw in connection:
            recv_ns = time.monotonic_ns()
            received.add()
            if recorder:
                recorder.write(EventKind.RECEIVED, time.time(), raw if isinstance(raw, str) else raw.decode())
            adapter.on_message(raw, recv_ns)
            for request in adapter.take_snapshot_requests():
                self._start_snapshot(request)
            for resubscribe in adapter.take_resubscribe_requests():
                self._resubscribes.add()
                for text in resubscribe.messages:
                    await connection.send(text)
                    if recorder:
                        recorder.write(EventKind.SENT, time.time(), text, url=url)
            if sink.backlogged:
                await sink.drain(self._stopping)

    # -- snapshots ------------------------------------------------------------------
    def _start_snapshot(self, request: SnapshotRequest) -> None:
        """Fetch ``request``, or have its book's running fetch go again: one request per book at a time."""
        symbol = request.symbol
        self._snapshot_wanted[symbol] = request
        if symbol not in self._snapshot_tasks:
            self._snapshot_tasks[symbol] = asyncio.create_task(self._snapshots_of(symbol))

    async def _snapshots_of(self, symbol: str) -> None:
        """Fetch ``symbol``'s snapshots while the adapter wants one; every try through the fetcher's gates."""
        try:
            while (request := self._snapshot_wanted.pop(symbol, None)) is not None:
                body, recv_ns = await self._fetch(request)
                if self._recorder:
                    self._recorder.write(EventKind.HTTP, time.time(), body.decode(), url=request.url)
                if self.adapter.on_snapshot(symbol, body, recv_ns):
                    self.fetcher.synced(symbol)
                for follow_up in self.adapter.take_snapshot_requests():
                    self._start_snapshot(follow_up)
                await self.sink.drain(self._stopping)
        finally:
            del self._snapshot_tasks[symbol]  # no await since the last check: no request is missed

    async def _fetch(self, request: SnapshotRequest) -> tuple[bytes, int]:
        """An answer to ``request``; failed requests are counted, logged, and tried again after backoff."""
        url = request.url
        if self.params.rest_url:
            path = url.split("://", 1)[-1].split("/", 1)[-1]
            url = f"{self.params.rest_url.rstrip('/')}/{path}"
        try:
            while True:
                try:
                    return await self.fetcher.fetch(url, request.symbol, request.weight)
                except SnapshotError as exc:
                    self.ctx.errors.record(f"snapshot: {exc}")
                    self.logger.warning("snapshot %s failed (%s); trying again", request.symbol, exc)
        finally:
            self._publish_snapshot_counters()

    # -- staleness and counters ----------------------------------------------------
    async def _monitor(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await asyncio.sleep(min(1.0, self.params.stale_after_s / 4))
            self._check_stale(time.monotonic_ns())
            self._publish_counters()
            await self.sink.drain(stopping)

    def _check_stale(self, now: int) -> None:
        stale_ns = int(self.params.stale_after_s * 1e9)
        for symbol, update_id in self.adapter.update_ids.items():
            if self._last_id.get(symbol) != update_id:
                self._last_id[symbol] = update_id
                self._last_change_ns[symbol] = now
                if symbol in self._stale and self.adapter.synced.get(symbol):
                    self._stale.discard(symbol)
                    self.sink.book_state(self.registry.by_symbol(self.adapter.venue, symbol).id, BookState.SYNCED, now)
            elif symbol not in self._stale and now - self._last_change_ns[symbol] > stale_ns:
                self._stale.add(symbol)
                self._stale_marks.add()
                self.logger.warning("%s: no update for %.0f s; marked stale", symbol, self.params.stale_after_s)
                self.sink.book_state(self.registry.by_symbol(self.adapter.venue, symbol).id, BookState.STALE, now)

    def _publish_counters(self) -> None:
        totals: dict[str, int] = {name: 0 for name in _PROBLEM_COUNTERS}
        totals["malformed"] = self.adapter.problems.malformed
        totals["unknown"] = self.adapter.problems.unknown
        totals["rejected_values"] = self.adapter.problems.rejected_values
        for stats in self.adapter.stats.values():
            totals["gaps"] += stats.gaps
            totals["resyncs"] += stats.resyncs
            totals["checksum_failures"] += stats.checksum_failures
            totals["dropped"] += stats.dropped
        for name, value in totals.items():
            self._problem_counters[name].set(value)
        self._books_stale.set(len(self._stale))
        books = {*self.adapter.symbols, *self.adapter.synced}  # configured, or only named by the stream URL
        self._books_unsynced.set(sum(1 for symbol in books if not self.adapter.synced.get(symbol)))
        requests = self.fetcher.stats.requests
        for symbol, stats in self.adapter.stats.items():
            counters = self._instrument_counters.get(symbol)
            if counters is None:
                counters = self._instrument_counters[symbol] = self._register_instrument_counters(symbol)
            values = (stats.gaps, stats.resyncs, stats.checksum_failures, requests.get(symbol, 0))
            for counter, value in zip(counters, values, strict=False):
                counter.set(value)
        self._publish_snapshot_counters()

    def _publish_snapshot_counters(self) -> None:
        stats = self.fetcher.stats
        values = (stats.fetched, stats.failed, stats.retries, stats.backoffs, stats.weight_waits, stats.rate_limited)
        for counter, value in zip(self._snapshot_counters, values, strict=True):
            counter.set(value)

    def _register_instrument_counters(self, symbol: str) -> list[Counter]:
        """``SYMBOL:gaps``, ``SYMBOL:resyncs``, ``SYMBOL:checksum_failures``, ``SYMBOL:snapshots`` while slots last.

        The venue-wide totals are always kept; once the stage's slots are used
        up, further instruments are only in the totals (logged once).
        """
        try:
            return [self.ctx.counters.add(f"{symbol}:{kind}") for kind in _PER_INSTRUMENT]
        except (RuntimeError, ValueError) as exc:
            if not self._instrument_counters_full:
                self._instrument_counters_full = True
                self.logger.warning("no more per-instrument counters (%s): totals only from %s on", exc, symbol)
            return []

    @staticmethod
    async def _sleep(stopping: asyncio.Event, base_s: float) -> None:
        """Full jitter: a herd of reconnecting clients must not arrive together."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=random.uniform(0, base_s) + base_s / 2)
