"""The publisher stage: drains every ``md-<SYMBOL>`` ring and serves Binance market data.

Three kinds of work share the stage's event loop:

* the ring drain (:meth:`PublisherStage.drain`): polls every md ring, applies
  records to the symbol's :class:`~.market.SymbolMarket` and fans events out to
  subscriber queues. It is synchronous and never awaits a socket, so the rings
  empty at the rate the publisher can compute, whatever the clients do; it
  yields to the loop between batches and, when the rings are empty, parks on the
  stage's doorbell in a worker thread (:class:`~hftpipe.substrate.async_idle.AsyncIdle`);
* the clock: every 100 ms the fast diff/partial-depth streams, every second the
  slow ones, tickers and klines;
* the websockets server (:mod:`.server`): one writer task per client, REST.

The stage reads nothing but md rings, which carry only BOOK_DELTA and TRADE
records, so no account data can leak to a market-data client by construction.

Latency: the md rings' input ports record the engine -> publisher hop of
every record (each carries the engine's stamp: the time it took the command
that caused it) and count ``messages_in``; the stage records end to end,
``now - ts_origin`` (the gateway's receipt of the request), on every record
that ends an update, ``now`` being when the port took it.

Counters: ``messages_in`` (records, by the ports), ``messages_out`` (frames
queued to clients), ``drops`` (clients closed as slow consumers), ``clients``
(connected now), ``connections``, ``rest_requests``, ``rest_errors``,
``book_snapshots`` (engine snapshots applied: each one is a ``U`` gap on the
diff streams), ``unknown_records``, ``rate_closes`` (clients closed for sending
too many messages), ``stream_names`` (entries of the stream catalog: fixed
at start, whatever clients send) and ``unserved_stream_names`` (names in a
connection path that are not served here: accepted and silent, as on Binance).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass
from typing import Any, Final

from hftpipe.runtime import AsyncAgent, InputPort, StageContext
from hftpipe.runtime.listening import bind_tcp_listener
from hftpipe.substrate.async_idle import AsyncIdle
from hftpipe.substrate.counters import CounterKind
from stages.exchange.protocol.settings import ExchangeSettings, expect_settings
from stages.exchange.protocol.topology import market_ring
from stages.exchange.publisher.hub import StreamHub
from stages.exchange.publisher.market import EndHook, SymbolMarket
from stages.exchange.publisher.server import MarketDataServer

FAST_TICK_S: Final = 0.1
SLOW_EVERY: Final = 10
"""Fast ticks per slow tick (1000 ms)."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class PublisherStage(AsyncAgent):
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        settings: ExchangeSettings
        """The parsed ``[exchange]`` table (the config expander parses it once per process)."""
        batch: int = 256
        """Records taken from one ring per drain cycle. Bounds what one cycle can queue to a
        client before its writer runs (see :mod:`.session` on how bursts are told from lag)."""
        idle_sleep_ms: float = 1.0
        """Longest sleep when every ring is empty and the stage has no doorbell (tests)."""

        def __post_init__(self) -> None:
            expect_settings(self.settings)
            if self.batch < 1:
                raise ValueError("batch must be >= 1")
            if not 0 < self.idle_sleep_ms <= 100:
                raise ValueError("idle_sleep_ms must be in (0, 100]")

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params: PublisherStage.Params = ctx.params
        self.params = params
        self.settings = params.settings
        self.hub = StreamHub()
        self.markets: dict[str, SymbolMarket] = {}
        self._ports: list[tuple[InputPort, SymbolMarket]] = []
        on_end = self._end_to_end_recorder()
        for symbol in self.settings.symbols:
            port = ctx.input_port(market_ring(symbol.symbol))
            market = SymbolMarket(symbol, self.hub, wall_clock_ms)
            market.on_end = on_end
            self.markets[symbol.symbol] = market
            self._ports.append((port, market))
        self.server = MarketDataServer(self.settings, self.markets, self.hub, wall_clock_ms)
        self._listener: socket.socket | None = None
        """The market port, bound in :meth:`on_start` (a stage driven without it binds in ``run``)."""
        self.listening = asyncio.Event()
        """Set once the port is bound (tests wait on it; :attr:`port` is valid then)."""
        self._out = ctx.counter(CounterKind.MESSAGES_OUT)
        self._drops = ctx.counter(CounterKind.DROPS)
        self._clients = ctx.counters.gauge("clients")
        self._connections = ctx.counters.add("connections")
        self._rest_requests = ctx.counters.add("rest_requests")
        self._rest_errors = ctx.counters.add("rest_errors")
        self._snapshots = ctx.counters.add("book_snapshots")
        self._unknown = ctx.counters.add("unknown_records")
        self._rate_closes = ctx.counters.add("rate_closes")
        self._stream_names = ctx.counters.gauge("stream_names")
        self._unserved = ctx.counters.add("unserved_stream_names")
        self.server.on_drop = lambda _session: self._drops.add()
        self._ticks = 0

    @property
    def port(self) -> int:
        return self.server.port

    def _end_to_end_recorder(self) -> EndHook:
        """Per END record: gateway receipt -> taken here, end to end (the ports measure the hop)."""
        record_end_to_end = self.ctx.end_to_end.record

        def on_end(fields: tuple[Any, ...], now: int) -> None:
            origin = fields[5]
            if origin:
                record_end_to_end(now - origin)

        return on_end

    # -- work ------------------------------------------------------------------------
    def drain(self) -> int:
        """Apply everything the rings hold (up to ``batch`` per ring); how many records."""
        self.server.check_backlogs()
        batch = self.params.batch
        total = 0
        for port, market in self._ports:
            total += port.poll(market.on_record, batch)
        if total:
            self._out.set(self.hub.published)
        return total

    def tick(self, now_ms: int | None = None) -> None:
        """One 100 ms tick (every tenth also the 1000 ms streams)."""
        now = wall_clock_ms() if now_ms is None else now_ms
        self._ticks += 1
        slow = self._ticks % SLOW_EVERY == 0
        for market in self.markets.values():
            market.on_fast_tick(now)
            if slow:
                market.on_slow_tick(now)
        self._publish_counters()

    def _publish_counters(self) -> None:
        server = self.server
        self._out.set(self.hub.published)
        self._clients.set(len(server.sessions))
        self._connections.set(server.connections)
        self._rest_requests.set(server.rest.requests)
        self._rest_errors.set(server.rest.errors)
        self._snapshots.set(sum(m.snapshots for m in self.markets.values()))
        self._unknown.set(sum(m.unknown_records for m in self.markets.values()))
        self._rate_closes.set(server.rate_closes)
        self._stream_names.set(len(server.catalog))
        self._unserved.set(server.unserved_names)

    async def _drain_forever(self) -> None:
        rings = [port.ring for port, _ in self._ports]
        idle = AsyncIdle(rings, self.ctx.doorbell, max_sleep_s=self.params.idle_sleep_ms / 1000)
        while True:
            await idle.idle(self.drain())

    async def _tick_forever(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += FAST_TICK_S
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:  # behind (a long callback): skip the missed ticks rather than burst them
                due = loop.time()
                await asyncio.sleep(0)
            self.drain()
            self.tick()

    def on_start(self) -> None:
        """Bind the market port before READY: a port in use fails the start (exit 78), not the run."""
        self._listener = bind_tcp_listener(self.settings.host, self.settings.market_port, "exchange.market_port")

    async def run(self, stopping: asyncio.Event) -> None:
        await self.server.start(self._listener)
        self.listening.set()
        tasks = [asyncio.create_task(self._drain_forever()), asyncio.create_task(self._tick_forever())]
        stop = asyncio.create_task(stopping.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stop:
                    task.result()  # a crashed loop fails the stage
        finally:
            for task in [*tasks, stop]:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.server.stop()
            self._publish_counters()
