"""The feed stage's REST snapshots against the loopback replay server: no refetch loop, whatever the reason.

A book whose snapshot cannot sync it (older than the buffered diffs, malformed,
answered 404, or a replay of the one snapshot after a gap) used to be fetched
again the moment the answer came: hundreds of requests a second. Every request
now waits out the book's backoff and the venue's weight budget, on a clock the
test steps by hand, so the requests are counted per clock step, not per second.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from hftpipe.runtime import StageContext
from hftpipe.substrate.counters import CounterKind
from stages.marketdata.capture.format import CaptureEvent, EventKind, format_event, read_capture
from stages.marketdata.capture.replay_server import ReplayServer
from stages.marketdata.feed.stage import FeedStage
from tests.captures import CAPTURES, capture
from tests.integration.feed_running import running, until
from tests.unit.marketdata.feed.clocks import START, ManualClock

SYMBOL = "NKNUSDT"
OTHERS = ("BLZETH", "LRCBTC", "RUNEEUR")
RUNAWAY = 50
"""Requests past this mean the loop is back: the test stops waiting and fails on its counts."""


def _is_depth_of(event: CaptureEvent, symbol: str) -> bool:
    return event.kind is EventKind.RECEIVED and f'"s":"{symbol}","U"' in event.payload


def _write(path: Path, events: list[CaptureEvent]) -> Path:
    path.write_text("\n".join(format_event(e) for e in events) + "\n")
    return path


def _scenario(name: str, tmp_path: Path) -> tuple[Path, Path, int]:
    """(WebSocket capture, HTTP capture, requests for ``SYMBOL`` before its first retry) of a scenario."""
    ws, http = capture("BINANCE.ws.1.0"), capture("BINANCE.http.0.0")
    first_id = json.loads(next(e for e in ws if _is_depth_of(e, SYMBOL)).payload)["data"]["U"]

    def with_snapshot(body: dict[str, object] | None) -> list[CaptureEvent]:
        mine = [e for e in http if SYMBOL in e.url]
        rest = [e for e in http if SYMBOL not in e.url]
        return rest if body is None else [*rest, *(replace(e, payload=json.dumps(body)) for e in mine)]

    first_requests = 1
    if name == "stale":
        real = json.loads(next(e for e in http if SYMBOL in e.url).payload)
        http = with_snapshot({**real, "lastUpdateId": first_id - 5})  # older than the first diff
    elif name == "malformed":
        http = with_snapshot({"code": -1, "msg": "no lastUpdateId"})
    elif name == "not found":
        http = with_snapshot(None)
    elif name == "gap":
        depth = [i for i, e in enumerate(ws) if _is_depth_of(e, SYMBOL)]
        dropped = depth[len(depth) // 2]
        ws = ws[:dropped] + ws[dropped + 1 :]
        first_requests = 2  # the first sync, then the gap's at once (a sync resets the backoff)
    return _write(tmp_path / "pacing.ws", ws), _write(tmp_path / "pacing.http", http), first_requests


@pytest.mark.parametrize("name", ["stale", "malformed", "not found", "gap"])
def test_should_back_off_a_book_whose_snapshot_does_not_sync_it(
    name: str, make_feed: Callable[..., StageContext], tmp_path: Path
) -> None:
    ws, http, first_requests = _scenario(name, tmp_path)
    total = sum(e.kind is EventKind.RECEIVED for e in read_capture(ws))
    clock = ManualClock()
    counts: list[int] = []
    waits: list[float] = []

    async def scenario() -> tuple[FeedStage, ReplayServer]:
        async with ReplayServer(ws, http, pace="fast") as server:
            ctx = make_feed(
                url=f"{server.ws_url}/stream?streams=x",
                rest_url=server.http_url,
                snapshot_retry_min_s=1.0,
                snapshot_retry_max_s=8.0,
            )
            stage = FeedStage(ctx, clock=clock)
            requests = stage.fetcher.stats.requests
            messages = ctx.counter(CounterKind.MESSAGES_IN)

            def answered() -> int:
                return server.counters.snapshots_served + server.counters.http_not_found

            def parked_after(count: int) -> bool:
                """``SYMBOL``'s task sent ``count`` requests and waits on the clock (or the loop is back)."""
                return (requests.get(SYMBOL) == count and bool(clock.parked)) or answered() > RUNAWAY

            async with running(stage) as task:
                await until(
                    task,
                    lambda: (
                        messages.value == total
                        and all(stage.adapter.synced.get(s) for s in OTHERS)
                        and parked_after(first_requests)
                    )
                    or answered() > RUNAWAY,
                )
                assert answered() <= RUNAWAY, f"refetch loop: {answered()} answers to {messages.value} messages"
                counts.append(requests.get(SYMBOL, 0))
                for _ in range(5):  # five steps of the clock: one request each
                    waits.append(clock.parked[0] - clock.now)
                    clock.advance_to(clock.parked[0])
                    await until(task, lambda: parked_after(counts[-1] + 1))
                    counts.append(requests.get(SYMBOL, 0))
            return stage, server

    stage, server = asyncio.run(scenario())
    assert counts == list(range(first_requests, first_requests + 6))
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]  # doubling, capped at snapshot_retry_max_s
    assert clock.now == START + sum(waits)
    assert {s: stage.fetcher.stats.requests[s] for s in OTHERS} == dict.fromkeys(OTHERS, 1)
    assert not stage.adapter.synced.get(SYMBOL)
    counters = stage.ctx.counters
    assert counters.add(f"{SYMBOL}:snapshots").value == counts[-1]
    assert counters.add("snapshot_retries").value == 5
    assert counters.add("snapshot_backoffs").value == 6  # the sixth is waiting
    assert counters.add("weight_waits").value == 0
    if name == "not found":
        assert counters.add("snapshot_errors").value == counts[-1]
        assert server.counters.http_not_found == counts[-1]
    else:
        assert counters.add("snapshot_errors").value == 0
        assert counters.add("snapshots_fetched").value == counts[-1] + len(OTHERS)


def test_should_hold_snapshots_past_the_weight_budget_until_the_next_minute(
    make_feed: Callable[..., StageContext],
) -> None:
    """Four books of weight 50 (``limit=1000``) and a budget of 100 a minute, no used-weight header:
    two snapshots go, two wait for the minute to turn, then every book syncs."""
    clock = ManualClock()
    ws, http = "BINANCE.ws.1.0", "BINANCE.http.0.0"
    total = sum(e.kind is EventKind.RECEIVED for e in capture(ws))

    async def scenario() -> tuple[FeedStage, list[int]]:
        async with ReplayServer(CAPTURES / ws, CAPTURES / http, pace="fast") as server:
            ctx = make_feed(url=f"{server.ws_url}/stream?streams=x", rest_url=server.http_url, rest_weight_budget=100)
            stage = FeedStage(ctx, clock=clock)
            messages = ctx.counter(CounterKind.MESSAGES_IN)
            served: list[int] = []
            async with running(stage) as task:
                await until(
                    task,
                    lambda: messages.value == total
                    and len(clock.parked) == 2
                    and sum(map(bool, stage.adapter.synced.values())) == 2,
                )
                served.append(server.counters.snapshots_served)
                clock.advance_to(clock.parked[0])
                await until(task, lambda: all(stage.adapter.synced.get(s) for s in (SYMBOL, *OTHERS)))
                served.append(server.counters.snapshots_served)
            return stage, served

    stage, served = asyncio.run(scenario())
    assert served == [2, 4]
    assert clock.now == START + 60
    assert stage.ctx.counters.add("weight_waits").value == 2
    assert stage.fetcher.budget.used == 100
    assert stage.ctx.counters.add("snapshot_backoffs").value == 0
