"""The flow stage: seeded participants trading through the gateway's WebSocket API.

One :class:`~stages.exchange.flow.client.WsApiClient` per participant, signed
with that account's HMAC key from ``[[exchange.api_keys]]``, connected to
``ws://HOST:API_PORT/ws-api/v3``. The gateway may not be listening yet
(stages start in any order, and the exchange replays its journal first): the
clients retry with backoff and the stage simply waits.

Pacing is lock-step: each *round* steps the fair values once, asks every
connected participant for one request, sends them all, and waits for every
reply; rounds are ``len(participants) / orders_per_second`` apart, so the
configured rate is spread evenly over the participants. A slow reply delays
the round (the rate is a ceiling, never made up in bursts after a stall).

Reproducible (``[exchange.flow] seed``): given the same replies, every
participant sends the same requests in the same order, and the rounds step
the fair values identically (see ``participants``). Not reproducible: the
replies themselves — they depend on how the participants' requests
interleave in the exchange, on timing (timeouts, reconnects, rate limits),
on what other clients do, and on state the journal brought back; which
round a participant first joins depends on when its connection opened; and
``timestamp``/``signature`` come from the wall clock.

Counters: ``messages_out`` requests sent, ``messages_in`` replies,
``rejects`` replies with a 4xx error, ``rate_limited`` 429/418 replies (the
participant pauses), ``errors`` requests without a reply (timeout or lost
connection), 5xx replies and internal errors, ``timeouts``,
``reconnects``/``disconnects``/``connect_failures`` of the clients,
``rounds``. A reject or a disconnect never stops the stage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hftpipe.runtime import AsyncAgent, StageContext
from hftpipe.runtime.error_router import ErrorRouter
from hftpipe.schema.exchange_errors import UNKNOWN_ORDER
from hftpipe.substrate.counters import CounterKind
from stages.exchange.flow.client import ApiResponse, ConnectionLostError, WsApiClient
from stages.exchange.flow.market import Market
from stages.exchange.flow.participants import Participant, Request, build_participants
from stages.exchange.protocol.settings import ExchangeSettings, expect_settings

MAX_LAG_S: Final = 1.0
"""Fell further behind than this: restart the schedule instead of bursting to catch up."""
RATE_LIMIT_PAUSE_S: Final = (1.0, 30.0)
_WILDCARD_HOSTS: Final = ("", "0.0.0.0", "::")
_MAX_LOGGED_REJECTS: Final = 64


def api_url(settings: ExchangeSettings) -> str:
    host = "127.0.0.1" if settings.host in _WILDCARD_HOSTS else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"ws://{host}:{settings.api_port}/ws-api/v3"


class FlowStage(AsyncAgent):
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        settings: ExchangeSettings
        """The parsed ``[exchange]`` table (the config expander parses it once per process)."""

        def __post_init__(self) -> None:
            expect_settings(self.settings)

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params: FlowStage.Params = ctx.params
        self.settings = params.settings
        flow = self.settings.flow
        self.logger = logging.getLogger(f"hftpipe.{ctx.name}")
        self.url = api_url(self.settings)
        count = len(flow.makers) + len(flow.takers) + len(flow.cancellers)
        self.round_s = max(count, 1) / flow.orders_per_second
        self.market = Market(self.settings.symbols, flow.seed, flow.volatility_bps, self.round_s)
        self.participants: list[Participant] = build_participants(flow, self.market)
        self.clients = [self._client_for(p.account) for p in self.participants]
        self._sessions = [0] * len(self.participants)
        self._paused_until = [0.0] * len(self.participants)
        self._router = ErrorRouter(ctx, self.logger)
        self._sent = ctx.counter(CounterKind.MESSAGES_OUT)
        self._received = ctx.counter(CounterKind.MESSAGES_IN)
        self._errors = ctx.counter(CounterKind.ERRORS)
        self._rejects = ctx.counters.add("rejects")
        self._rate_limited = ctx.counters.add("rate_limited")
        self._timeouts = ctx.counters.add("timeouts")
        self._reconnects = ctx.counters.add("reconnects")
        self._disconnects = ctx.counters.add("disconnects")
        self._connect_failures = ctx.counters.add("connect_failures")
        self._rounds = ctx.counters.add("rounds")
        self._logged_rejects: set[tuple[str, int]] = set()

    def _client_for(self, account: str) -> WsApiClient:
        key = next(k for k in self.settings.api_keys if k.account == account and k.secret)
        return WsApiClient(self.url, key.api_key, key.secret, logger=self.logger)

    def on_start(self) -> None:
        self.logger.info(
            "flow: %d participants (%s) at %.1f requests/s, seed %d, against %s",
            len(self.participants),
            ", ".join(f"{p.role} {p.account}" for p in self.participants),
            self.settings.flow.orders_per_second,
            self.settings.flow.seed,
            self.url,
        )

    # -- the loop -----------------------------------------------------------------------------------
    async def run(self, stopping: asyncio.Event) -> None:
        connections = [asyncio.create_task(c.run(stopping)) for c in self.clients]
        stop_waiter = asyncio.ensure_future(stopping.wait())
        try:
            await self._rounds_until(stopping, stop_waiter)
        finally:
            stop_waiter.cancel()
            if connections:
                _, lingering = await asyncio.wait(connections, timeout=2.0)
                for task in lingering:
                    task.cancel()
                await asyncio.gather(*connections, return_exceptions=True)
            self._publish_client_stats()

    async def _rounds_until(self, stopping: asyncio.Event, stop_waiter: asyncio.Future[Any]) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not stopping.is_set():
            now = loop.time()
            active = [i for i, c in enumerate(self.clients) if c.connected and now >= self._paused_until[i]]
            if active:
                self.market.step()
                for i in active:
                    if self.clients[i].session != self._sessions[i]:
                        self._sessions[i] = self.clients[i].session
                        self.participants[i].reset()
                round_task = asyncio.ensure_future(asyncio.gather(*(self._act(i) for i in active)))
                await asyncio.wait({round_task, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
                if not round_task.done():
                    round_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await round_task
                    return
                self._rounds.add()
            self._publish_client_stats()
            next_at += self.round_s
            now = loop.time()
            if next_at < now - MAX_LAG_S:
                next_at = now
            if next_at > now:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stop_waiter), next_at - now)

    async def _act(self, index: int) -> None:
        participant, client = self.participants[index], self.clients[index]
        try:
            request = participant.next_request()
        except Exception as exc:  # noqa: BLE001 - a participant bug must not stop the flow
            self._router.on_error(exc)
            return
        self._sent.add()
        response: ApiResponse | None
        try:
            response = await client.request(request.method, request.params, signed=request.signed)
        except TimeoutError:
            self._timeouts.add()
            self._errors.add()
            response = None
        except ConnectionLostError:
            self._errors.add()
            response = None
        else:
            self._received.add()
            self._classify(index, request, response)
        try:
            participant.on_response(request, response)
        except Exception as exc:  # noqa: BLE001
            self._router.on_error(exc)

    def _classify(self, index: int, request: Request, response: ApiResponse) -> None:
        if response.ok:
            return
        if response.status in (429, 418):
            self._rate_limited.add()
            self._paused_until[index] = asyncio.get_running_loop().time() + self._pause_s(response)
        elif response.status >= 500:
            self._errors.add()
        elif not (request.method == "openOrders.cancelAll" and response.code == UNKNOWN_ORDER.code):
            self._rejects.add()  # (UNKNOWN_ORDER there only says there was nothing to cancel)
        kind = (request.method, response.code)
        if kind not in self._logged_rejects and len(self._logged_rejects) < _MAX_LOGGED_REJECTS:
            self._logged_rejects.add(kind)
            self.logger.info(
                "first %s reply %d %d %r (%s); further ones are only counted",
                request.method,
                response.status,
                response.code,
                response.msg,
                self.participants[index].account,
            )

    @staticmethod
    def _pause_s(response: ApiResponse) -> float:
        low, high = RATE_LIMIT_PAUSE_S
        retry_after = response.data.get("retryAfter") if isinstance(response.data, Mapping) else None
        if isinstance(retry_after, int):
            return min(max((retry_after - time.time_ns() // 1_000_000) / 1000, low), high)
        return low

    def _publish_client_stats(self) -> None:
        self._reconnects.set(sum(max(c.stats.connects - 1, 0) for c in self.clients))
        self._disconnects.set(sum(c.stats.disconnects for c in self.clients))
        self._connect_failures.set(sum(c.stats.connect_failures for c in self.clients))
