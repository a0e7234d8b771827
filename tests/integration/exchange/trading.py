"""A seeded test trader on the running exchange: signed requests through the WebSocket API."""

from __future__ import annotations

import asyncio
import random
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from hftpipe.schema.fixedpoint import format_fixed
from stages.exchange.flow.client import ApiResponse, WsApiClient
from stages.exchange.protocol.settings import ExchangeSettings, SymbolSettings


def settings_of(config: Path) -> ExchangeSettings:
    return ExchangeSettings.from_raw(tomllib.loads(config.read_text())["exchange"])


def api_url(settings: ExchangeSettings) -> str:
    return f"ws://{settings.host}:{settings.api_port}/ws-api/v3"


@asynccontextmanager
async def connected(settings: ExchangeSettings, account: str) -> AsyncIterator[WsApiClient]:
    key = next(k for k in settings.api_keys if k.account == account and k.secret)
    client = WsApiClient(api_url(settings), key.api_key, key.secret, request_timeout_s=30.0)
    stopping = asyncio.Event()
    runner = asyncio.create_task(client.run(stopping))
    try:
        await asyncio.wait_for(client.wait_connected(), 30.0)
        yield client
    finally:
        stopping.set()
        await runner


@dataclass
class Acked:
    """Orders the exchange acknowledged: (symbol, orderId) -> clientOrderId."""

    orders: dict[tuple[str, int], str] = field(default_factory=dict)


def random_order(rng: random.Random, symbol: SymbolSettings, tag: str) -> dict[str, Any]:
    """A LIMIT GTC order within 0.5 % of the initial price; about a third cross and trade."""
    ticks = rng.randint(
        -symbol.initial_price // symbol.tick_size // 200, symbol.initial_price // symbol.tick_size // 200
    )
    price = symbol.initial_price + ticks * symbol.tick_size
    notional_floor = Decimal(format_fixed(symbol.min_notional, symbol.price_scale)) / Decimal(
        format_fixed(price, symbol.price_scale)
    )
    min_steps = int(notional_floor * 10**symbol.qty_scale / symbol.step_size) + 1
    qty = symbol.step_size * rng.randint(min_steps, min_steps * 4)
    return {
        "symbol": symbol.symbol,
        "side": rng.choice(["BUY", "SELL"]),
        "type": "LIMIT",
        "timeInForce": "GTC",
        "price": format_fixed(price, symbol.price_scale),
        "quantity": format_fixed(qty, symbol.qty_scale),
        "newClientOrderId": tag,
    }


async def place_random_orders(
    client: WsApiClient, settings: ExchangeSettings, seed: int, count: int, acked: Acked, prefix: str
) -> list[ApiResponse]:
    rng = random.Random(seed)
    replies = []
    for i in range(count):
        symbol = settings.symbols[i % len(settings.symbols)]
        reply = await client.request("order.place", random_order(rng, symbol, f"{prefix}-{seed}-{i}"))
        replies.append(reply)
        if reply.ok:
            acked.orders[(symbol.symbol, int(reply.result["orderId"]))] = reply.result["clientOrderId"]
    return replies


async def engine_depth(client: WsApiClient, symbol: str) -> dict[str, Any]:
    reply = await client.request("depth", {"symbol": symbol, "limit": 5000}, signed=False)
    assert reply.ok, reply
    result: dict[str, Any] = reply.result
    return result
