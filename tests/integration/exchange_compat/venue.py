"""One running exchange for a client's tests: its base URLs, the funded demo key, and plain REST reads."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from stages.exchange.protocol.settings import ExchangeSettings
from tests.integration.exchange.harness import RunningExchange

Book = dict[str, dict[Decimal, Decimal]]
"""``{"bids": {price: qty}, "asks": {price: qty}}``: how every client's book is compared."""

SYMBOL = "BTCUSDT"


@dataclass(frozen=True)
class Venue:
    """What a client is told about the exchange: base URLs and the demo account's HMAC key, nothing else."""

    exchange: RunningExchange
    settings: ExchangeSettings
    api_key: str
    secret: str

    @property
    def host(self) -> str:
        return self.settings.host

    @property
    def market_http(self) -> str:
        """Public REST on the market port (``/api/v3/...`` under it)."""
        return f"http://{self.host}:{self.settings.market_port}"

    @property
    def rest_http(self) -> str:
        """The REST API (``rest_port``): public and signed, the one base a client's REST URLs point at."""
        return f"http://{self.host}:{self.settings.rest_port}"

    @property
    def market_ws(self) -> str:
        """Market streams base (``/ws/<stream>``, ``/stream?streams=``)."""
        return f"ws://{self.host}:{self.settings.market_port}"

    @property
    def user_data_ws(self) -> str:
        """The listenKey user data stream base (``/ws/<listenKey>``): the REST port, never the market port."""
        return f"ws://{self.host}:{self.settings.rest_port}"

    @property
    def api_ws(self) -> str:
        """The WebSocket API endpoint."""
        return f"ws://{self.host}:{self.settings.api_port}/ws-api/v3"

    def get(self, path: str) -> Any:
        """A public REST read on the market port, decoded."""
        with urllib.request.urlopen(f"{self.market_http}{path}", timeout=30) as reply:
            return json.loads(reply.read())

    def depth(self, symbol: str = SYMBOL) -> tuple[int, Book]:
        """REST depth (the whole book): its ``lastUpdateId`` and levels."""
        snapshot = self.get(f"/api/v3/depth?symbol={symbol}&limit=5000")
        return int(snapshot["lastUpdateId"]), book_of(snapshot["bids"], snapshot["asks"])

    def best_ask(self, symbol: str = SYMBOL) -> Decimal:
        return min(self.depth(symbol)[1]["asks"])

    def best_bid(self, symbol: str = SYMBOL) -> Decimal:
        return max(self.depth(symbol)[1]["bids"])


def book_of(bids: Any, asks: Any) -> Book:
    """Levels as ``[[price, qty], ...]`` (strings or numbers) -> a comparable book without empty levels."""
    return {
        side: {Decimal(str(level[0])): Decimal(str(level[1])) for level in levels if Decimal(str(level[1])) != 0}
        for side, levels in (("bids", bids), ("asks", asks))
    }


async def book_at_rest_update_id(
    venue: Venue, books: dict[int, Book], *, symbol: str = SYMBOL, timeout_s: float = 40.0
) -> tuple[int, Book, Book]:
    """The client's book after some diff ended exactly at REST depth's ``lastUpdateId``, and that REST book.

    ``books`` is filled by the client's own callbacks (update id -> its book then) while this waits. The flow
    keeps trading, so REST depth is read until its update id is one the client stood at (a 100 ms diff ends
    there) after it applied at least one diff past its own snapshot.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(books) < 2:
            await asyncio.sleep(0.05)
            continue
        first = min(books)
        last_id, rest_book = await asyncio.to_thread(venue.depth, symbol)
        while max(books) < last_id and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if last_id > first and last_id in books:
            return last_id, books[last_id], rest_book
        await asyncio.sleep(0.05)
    raise AssertionError(f"no REST depth stood at an update id the client's book reached: {sorted(books)[-10:]}")


async def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Waits on a condition another task makes true (a client's callback), failing with ``what`` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
