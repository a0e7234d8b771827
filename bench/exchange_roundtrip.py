"""Order round trips through the whole loopback exchange (``python -m bench.exchange_roundtrip``).

Starts ``hftpipe exchange run`` with the shipped config on free ports, a
private state dir and the flow generator off, then, over the Binance WebSocket
API with an HMAC key:

* **latency**: one order at a time, a LIMIT far from the market then its
  cancel; each request's round trip (client send -> response parsed) goes into
  the project's log-linear histogram (``HistogramSnapshot``);
* **throughput**: ``--window`` requests in flight at once from one connection,
  place/cancel pairs, for ``--seconds``;
* **REST latency**: the same place/cancel pairs over the REST API (``rest_port``,
  one keep-alive HTTP connection, HMAC-signed form bodies), in the same run, so
  the two transports are compared on the same machine state.

Every round trip crosses gateway -> accounting (hold, journal write) -> engine
-> accounting (settle) -> gateway: four ring hops, two JSON edges and one
``write(2)``. Reported: p50/p90/p99/max per request kind, and requests/s.
Nothing here asserts a speed; the figures go to bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from hftpipe.protocols.binance_signing import hmac_signature
from hftpipe.substrate.histogram import HistogramSnapshot
from stages.exchange.flow.client import WsApiClient
from stages.exchange.protocol.settings import ExchangeSettings

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "configs" / "exchange.toml"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _config(directory: Path) -> Path:
    text = CONFIG.read_text()
    text = text.replace('name = "exchange"', f'name = "bench-{os.getpid()}"')
    text = text.replace("market_port = 9443", f"market_port = {_free_port()}")
    text = text.replace("api_port = 9444", f"api_port = {_free_port()}")
    text = text.replace("rest_port = 9445", f"rest_port = {_free_port()}")
    text = text.replace("[exchange]\n", f'[exchange]\nstate_dir = "{directory / "state"}"\n')
    text = text.replace("enabled = true", "enabled = false")
    path = directory / "exchange.toml"
    path.write_text(text)
    return path


def _start(config: Path) -> subprocess.Popen[str]:
    hftpipe = shutil.which("hftpipe", path=str(Path(sys.executable).parent))
    command = [hftpipe] if hftpipe else [sys.executable, "-m", "hftpipe"]
    process = subprocess.Popen([*command, "exchange", "run", "-c", str(config)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("exchange ready:"):
            return process
    raise RuntimeError(f"the exchange exited ({process.wait()}) before it was ready")


def _order(symbol: str, i: int) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "price": "30000.00",
        "quantity": "0.00100",
        "newClientOrderId": f"bench-{i}",
        "newOrderRespType": "RESULT",
    }


def _percentiles(values_ns: list[int]) -> dict[str, float]:
    snap = HistogramSnapshot.from_values(values_ns)
    return {f"p{q:g}_us": round(snap.value_at_percentile(q) / 1000, 1) for q in (50, 90, 99)} | {
        "max_us": round(snap.max_value / 1000, 1),
        "count": snap.count,
    }


async def _latency(client: WsApiClient, count: int) -> dict[str, Any]:
    place: list[int] = []
    cancel: list[int] = []
    for i in range(count):
        start = time.perf_counter_ns()
        placed = await client.request("order.place", _order("BTCUSDT", i))
        place.append(time.perf_counter_ns() - start)
        assert placed.ok, placed
        start = time.perf_counter_ns()
        canceled = await client.request("order.cancel", {"symbol": "BTCUSDT", "orderId": placed.result["orderId"]})
        cancel.append(time.perf_counter_ns() - start)
        assert canceled.ok, canceled
    return {"order.place": _percentiles(place), "order.cancel": _percentiles(cancel)}


def _rest_latency(settings: ExchangeSettings, count: int) -> dict[str, Any]:
    """Sequential place/cancel pairs over ``POST``/``DELETE /api/v3/order`` on one keep-alive connection."""
    key = next(k for k in settings.api_keys if k.account == "mm-1")
    secret = key.secret or ""
    connection = http.client.HTTPConnection(settings.host, settings.rest_port, timeout=60)

    def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
        text = "&".join(f"{name}={value}" for name, value in params.items())
        text += f"&timestamp={int(time.time() * 1000)}"
        text += f"&signature={hmac_signature(secret, text)}"
        headers = {"X-MBX-APIKEY": key.api_key, "Content-Type": "application/x-www-form-urlencoded"}
        if method == "POST":
            connection.request(method, "/api/v3/order", body=text, headers=headers)
        else:
            connection.request(method, f"/api/v3/order?{text}", headers=headers)
        response = connection.getresponse()
        body: dict[str, Any] = json.loads(response.read())
        assert response.status == 200, body
        return body

    place: list[int] = []
    cancel: list[int] = []
    try:
        for i in range(count):
            start = time.perf_counter_ns()
            placed = call("POST", _order("BTCUSDT", 20_000_000 + i))
            place.append(time.perf_counter_ns() - start)
            start = time.perf_counter_ns()
            call("DELETE", {"symbol": "BTCUSDT", "orderId": placed["orderId"]})
            cancel.append(time.perf_counter_ns() - start)
    finally:
        connection.close()
    return {"POST /api/v3/order": _percentiles(place), "DELETE /api/v3/order": _percentiles(cancel)}


async def _throughput(client: WsApiClient, window: int, seconds: float) -> dict[str, Any]:
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(w: int) -> None:
        nonlocal done
        i = 0
        while time.monotonic() < deadline:
            placed = await client.request("order.place", _order("BTCUSDT", 10_000_000 + w * 1_000_000 + i))
            assert placed.ok, placed
            canceled = await client.request("order.cancel", {"symbol": "BTCUSDT", "orderId": placed.result["orderId"]})
            assert canceled.ok, canceled
            done += 2
            i += 1

    start = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(window)))
    return {"requests": done, "requests_per_s": round(done / (time.monotonic() - start)), "window": window}


async def _measure(settings: ExchangeSettings, count: int, window: int, seconds: float) -> dict[str, Any]:
    key = next(k for k in settings.api_keys if k.account == "mm-1")
    url = f"ws://{settings.host}:{settings.api_port}/ws-api/v3"
    client = WsApiClient(url, key.api_key, key.secret, request_timeout_s=60.0)
    stopping = asyncio.Event()
    runner = asyncio.create_task(client.run(stopping))
    await asyncio.wait_for(client.wait_connected(), 30)
    try:
        await _latency(client, min(count, 200))  # warm-up
        latency = await _latency(client, count)
        await asyncio.to_thread(_rest_latency, settings, min(count, 200))  # warm-up
        rest = await asyncio.to_thread(_rest_latency, settings, count)
        return {"latency": latency, "rest_latency": rest, "throughput": await _throughput(client, window, seconds)}
    finally:
        stopping.set()
        await runner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000, help="sequential place+cancel pairs for latency")
    parser.add_argument("--window", type=int, default=32, help="requests in flight for throughput")
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput run length")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp))
        settings = ExchangeSettings.from_raw(tomllib.loads(config.read_text())["exchange"])
        process = _start(config)
        try:
            result = asyncio.run(_measure(settings, args.orders, args.window, args.seconds))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    result["cores"] = len(os.sched_getaffinity(0))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
