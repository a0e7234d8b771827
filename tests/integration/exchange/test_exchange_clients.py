"""What Binance's own clients need from the market port, against ``hftpipe exchange run`` with flow on:
uuid request ids, unserved names in the path, real HTTP, the public history endpoints (on both
ports), and klines pushed on Binance's cadence."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from stages.exchange.protocol.settings import ExchangeSettings
from tests.integration.exchange.rest_client import RestClient, running_exchange


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExchangeSettings]:
    with running_exchange(tmp_path_factory.mktemp("clients"), flow=True) as settings:
        market = RestClient(settings.market_port)
        try:
            deadline = time.monotonic() + 120
            while not market.request("GET", "/api/v3/trades?symbol=BTCUSDT&limit=5").body:
                assert time.monotonic() < deadline, "the flow generator never traded"
                time.sleep(0.2)
        finally:
            market.close()
        yield settings


async def _recv(ws: Any) -> Any:
    return orjson.loads(await asyncio.wait_for(ws.recv(), 60))


def test_uuid_request_ids_and_unserved_path_names(exchange: ExchangeSettings) -> None:
    async def scenario() -> None:
        base = f"ws://127.0.0.1:{exchange.market_port}"
        async with connect(f"{base}/ws/0") as ws:  # ccxt.pro: an index in the path, then SUBSCRIBE
            request_id = str(uuid.uuid4())
            await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@depth@1000ms"], "id": request_id}))
            assert await _recv(ws) == {"result": None, "id": request_id}
            await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": request_id}))
            assert await _recv(ws) == {"result": ["btcusdt@depth@1000ms"], "id": request_id}
            update = await _recv(ws)  # the 1 s diff stream, spelled out
            assert update["e"] == "depthUpdate" and update["s"] == "BTCUSDT" and update["U"] <= update["u"]
        async with connect(f"{base}/stream?streams=btcusdt@nope/btcusdt@trade") as ws:
            message = await _recv(ws)
            assert message["stream"] == "btcusdt@trade" and message["data"]["e"] == "trade"

    asyncio.run(scenario())


def test_the_market_port_answers_every_method_over_http(exchange: ExchangeSettings) -> None:
    market = RestClient(exchange.market_port)
    try:
        refused = market.request("POST", "/api/v3/depth", b"symbol=BTCUSDT")
        assert refused.status == 405 and refused.body["code"] == -1 and refused.headers["allow"] == "GET, HEAD"
        assert market.request("DELETE", "/api/v3/nowhere").status == 404
        assert market.request("GET", "/api/v3/ping").body == {}  # the same connection, still served
    finally:
        market.close()


@pytest.mark.parametrize("port_key", ["market_port", "rest_port"])
def test_public_history_endpoints(exchange: ExchangeSettings, port_key: str) -> None:
    client = RestClient(getattr(exchange, port_key))
    try:
        for path in ("/api/v3/klines", "/api/v3/uiKlines"):
            rows = client.request("GET", f"{path}?symbol=BTCUSDT&interval=1m&limit=3")
            assert rows.status == 200 and 1 <= len(rows.body) <= 3
            assert all(len(row) == 12 and row[6] == row[0] + 59_999 for row in rows.body)
            assert sum(row[8] for row in rows.body) >= 1
        bad = client.request("GET", "/api/v3/klines?symbol=BTCUSDT&interval=2m")
        assert (bad.status, bad.body) == (400, {"code": -1120, "msg": "Invalid interval."})
        aggs = client.request("GET", "/api/v3/aggTrades?symbol=BTCUSDT&limit=5").body
        assert 1 <= len(aggs) <= 5 and set(aggs[0]) == {"a", "p", "q", "f", "l", "T", "m", "M"}
        first = aggs[0]["a"]
        assert client.request("GET", f"/api/v3/aggTrades?symbol=BTCUSDT&fromId={first}&limit=1").body[0]["a"] == first
        trades = client.request("GET", "/api/v3/historicalTrades?symbol=BTCUSDT&limit=3").body
        assert 1 <= len(trades) <= 3 and trades == sorted(trades, key=lambda t: t["id"])
        average = client.request("GET", "/api/v3/avgPrice?symbol=BTCUSDT").body
        assert average["mins"] == 5 and float(average["price"]) > 0
        if port_key == "rest_port":
            answer = client.request("GET", "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1")
            assert int(answer.headers["x-mbx-used-weight-1m"]) >= 2
            assert client.request("GET", "/sapi/v1/system/status").body == {"status": 0, "msg": "normal"}
        else:
            assert client.request("GET", "/sapi/v1/system/status").status == 404
    finally:
        client.close()


def test_klines_are_pushed_on_binance_cadence_not_per_trade(exchange: ExchangeSettings) -> None:
    async def scenario() -> tuple[list[Any], list[Any], int]:
        names = "btcusdt@kline_1m/btcusdt@kline_1s/btcusdt@trade"
        messages: list[Any] = []
        async with connect(f"ws://127.0.0.1:{exchange.market_port}/stream?streams={names}") as ws:
            while sum(1 for m in messages if m["stream"] == "btcusdt@kline_1s") < 12:
                messages.append(await _recv(ws))
        minute = [m["data"] for m in messages if m["stream"] == "btcusdt@kline_1m"]
        second = [m["data"] for m in messages if m["stream"] == "btcusdt@kline_1s"]
        return minute, second, sum(1 for m in messages if m["stream"] == "btcusdt@trade")

    minute, second, trades = asyncio.run(scenario())
    ticks = sorted({k["E"] for k in second})  # every push of the 1s stream is one 1 s tick
    pushed = sorted({k["E"] for k in minute})
    assert set(pushed) <= set(ticks)  # 1m klines go out on ticks only, never on a trade
    assert len(ticks) >= 6 and 2 <= len(pushed) <= len(ticks) // 2 + 1
    assert all(ticks.index(b) - ticks.index(a) == 2 for a, b in itertools.pairwise(pushed))  # every 2 s
    assert trades > len(minute)
    closed = [k["k"]["t"] for k in second if k["k"]["x"]]
    assert len(closed) == len(set(closed))  # each 1s kline closes once


def test_ws_api_klines_answer_what_rest_klines_answer(exchange: ExchangeSettings) -> None:
    """``klines`` / ``uiKlines`` on the WebSocket API (ccxt ``fetch_ohlcv_ws``): REST's rows for the same
    closed window, REST's errors, weight 2 each."""

    def settled_rows(end: int) -> Any:
        rest = RestClient(exchange.market_port)
        try:
            return rest.request("GET", f"/api/v3/klines?symbol=BTCUSDT&interval=1s&endTime={end}&limit=5").body
        finally:
            rest.close()

    deadline = time.monotonic() + 120
    while True:  # a window of seconds that ended 3 s ago and holds trades: nothing changes it any more
        end = int(time.time()) * 1000 - 3_001
        expected = settled_rows(end)
        if expected:
            break
        assert time.monotonic() < deadline, "no 1s kline in the past"
        time.sleep(0.5)
    window = {"symbol": "BTCUSDT", "interval": "1s", "endTime": end, "limit": 5}

    async def scenario() -> list[Any]:
        answers = []
        async with connect(f"ws://127.0.0.1:{exchange.api_port}/ws-api/v3") as ws:
            requests: list[tuple[str, dict[str, Any]]] = [
                ("klines", window),
                ("uiKlines", window),
                ("klines", {**window, "interval": "2m"}),
                ("klines", {"interval": "1m"}),
                ("klines", {**window, "symbol": "NOPE"}),
                ("klines", {**window, "limit": 1.5}),
            ]
            for request_id, (method, params) in enumerate(requests):
                await ws.send(orjson.dumps({"id": request_id, "method": method, "params": params}))
                answer = await _recv(ws)
                assert answer["id"] == request_id
                answers.append(answer)
        return answers

    rows, ui_rows, bad_interval, no_symbol, unknown, bad_limit = asyncio.run(scenario())
    assert settled_rows(end) == expected
    for answer in (rows, ui_rows):
        assert answer["status"] == 200 and answer["result"] == expected
        weight = next(limit for limit in answer["rateLimits"] if limit["rateLimitType"] == "REQUEST_WEIGHT")
        assert weight["count"] >= 2
    assert (bad_interval["status"], bad_interval["error"]) == (400, {"code": -1120, "msg": "Invalid interval."})
    assert (no_symbol["status"], no_symbol["error"]["code"]) == (400, -1102)
    assert (unknown["status"], unknown["error"]) == (400, {"code": -1121, "msg": "Invalid symbol."})
    assert (bad_limit["status"], bad_limit["error"]["code"]) == (400, -1100)
