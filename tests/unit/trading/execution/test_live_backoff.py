"""LiveVenue against a scripted WebSocket API: the rate limiter seeded from exchangeInfo, a 429 and a 418.

The loopback exchange never gets as far as a 429 (the limiter holds first)
and cannot ban; the scripted venue (a real websockets server) answers one
``order.place`` with the refusal and ``retryAfter``, the next one normally.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import IntentAction, OrderSide, OrderType, TimeInForce
from stages.trading.execution.binance.client import HmacCredentials
from stages.trading.execution.live import LiveVenue
from stages.trading.execution.oms_reports import Report
from stages.trading.execution.oms_transitions import OmsState
from stages.trading.execution.paper_bridge import Cause
from stages.trading.execution.rate_limiter import SECOND_NS
from tests.unit.trading.execution.binance.fake_venue import FakeVenue, error, eventually, ok, running

BTCUSDT = Instrument(id=1, venue="binance", symbol="BTCUSDT", price_scale=2, qty_scale=5)
LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
]
KEY = (7, 1_765_000_000_000, 1)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _placed(params: dict[str, Any]) -> dict[str, Any]:
    return ok({
        "symbol": "BTCUSDT", "orderId": 11, "orderListId": -1, "clientOrderId": params["newClientOrderId"],
        "transactTime": _wall_ms(), "price": params["price"], "origQty": params["quantity"], "executedQty": "0",
        "cummulativeQuoteQty": "0", "status": "NEW", "timeInForce": "GTC", "type": "LIMIT", "side": "BUY",
    })  # fmt: skip


@pytest.mark.parametrize(("status", "code", "counter"), [(429, -1015, "throttled"), (418, -1003, "banned")])
def test_should_hold_every_request_until_retry_after_then_place_the_order_once(
    status: int, code: int, counter: str
) -> None:
    venue = FakeVenue(server_time_ms=_wall_ms)
    placed_at: list[int] = []
    retry_after_ms: list[int] = []

    def place(params: dict[str, Any]) -> dict[str, Any]:
        placed_at.append(time.time_ns())
        if len(placed_at) == 1:
            retry_after_ms.append(_wall_ms() + 300)
            return error(code, "over the limit", status, {"retryAfter": retry_after_ms[0]})
        return _placed(params)

    venue.answers["order.place"] = place
    venue.answers["exchangeInfo"] = lambda params: ok({"rateLimits": LIMITS, "symbols": []})
    venue.answers["openOrders.status"] = lambda params: ok([])
    reports: list[Report] = []

    async def main() -> None:
        async with running(venue):
            live = LiveVenue(venue.url, HmacCredentials("k", "s"), [BTCUSDT], lambda r, c: reports.append(r))
            await live.start()
            try:
                assert {(w.limit_type, w.length_ns) for w in live.limiter.windows} == {
                    ("REQUEST_WEIGHT", 60 * SECOND_NS),
                    ("ORDERS", 10 * SECOND_NS),
                    ("ORDERS", 86_400 * SECOND_NS),
                }  # every window from exchangeInfo before the first order
                cause: Cause = bytes(40)
                price, qty = BTCUSDT.price("30000"), BTCUSDT.qty("0.001")
                strategy, epoch, seq = KEY
                order_fields = (OrderSide.BUY, OrderType.LIMIT, TimeInForce.GTC, price, qty)
                now = time.monotonic_ns()
                live.intent(BTCUSDT.id, strategy, epoch, IntentAction.NEW, seq, 0, *order_fields, cause, now)
                order = live.oms.get(KEY)
                assert order is not None
                await eventually(lambda: order.state is OmsState.NEW, timeout_s=10.0)
                assert len(placed_at) == 2  # refused once (not run), then placed once
                # nothing went before retryAfter on the venue's clock (ours is only an estimate of it: the
                # limiter waits out its error too)
                assert placed_at[1] >= retry_after_ms[0] * 1_000_000
                assert live.counters()[counter] == 1 and live.retries == 1
                assert not [r for r in reports if r.exec_type.name == "REJECTED"]
            finally:
                await live.close()

    asyncio.run(main())
