"""REQUEST_WEIGHT per IP per minute, ORDERS per account per 10 s / day, connections per 5 min."""

from __future__ import annotations

import pytest

from stages.exchange.gateway.rate_limits import RateLimiter
from stages.exchange.protocol.api_error import ApiError
from stages.exchange.protocol.settings import RateLimitSettings

MINUTE = 1_699_999_980_000
"""A minute boundary (epoch ms)."""


def limiter(**limits: int) -> RateLimiter:
    return RateLimiter(RateLimitSettings(**limits))


def test_should_count_weight_per_ip_in_fixed_minutes() -> None:
    rl = limiter(request_weight_per_minute=10)
    rl.add_weight("1.1.1.1", 6, MINUTE + 1)
    rl.add_weight("1.1.1.1", 4, MINUTE + 59_999)
    rl.add_weight("2.2.2.2", 10, MINUTE + 5)
    with pytest.raises(ApiError) as caught:
        rl.add_weight("1.1.1.1", 1, MINUTE + 59_999)
    error = caught.value
    assert (error.status, error.code) == (429, -1003)
    assert error.msg == (
        "Too much request weight used; current limit is 10 request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API."
    )
    assert error.data == {"serverTime": MINUTE + 59_999, "retryAfter": MINUTE + 60_000}
    rl.add_weight("1.1.1.1", 10, MINUTE + 60_000)  # a new minute starts from zero
    assert rl.weight_used("1.1.1.1", MINUTE + 60_001) == 10


def test_should_not_enforce_weight_for_exempt_keys() -> None:
    rl = limiter(request_weight_per_minute=1)
    for _ in range(5):
        rl.add_weight("127.0.0.1", 1, MINUTE, exempt=True)
    rl.add_weight("127.0.0.1", 1, MINUTE)
    assert rl.weight_used("127.0.0.1", MINUTE) == 1


def test_should_limit_orders_per_ten_seconds_and_per_day() -> None:
    rl = limiter(orders_per_10s=2, orders_per_day=3)
    rl.add_order(7, MINUTE)
    rl.add_order(7, MINUTE + 9_999)
    with pytest.raises(ApiError) as short:
        rl.add_order(7, MINUTE + 9_999)
    assert (short.value.status, short.value.code) == (429, -1015)
    assert short.value.msg == "Too many new orders; current limit is 2 orders per 10 SECOND."
    rl.add_order(8, MINUTE + 9_999)  # per account
    rl.add_order(7, MINUTE + 10_000)
    with pytest.raises(ApiError) as day:
        rl.add_order(7, MINUTE + 20_000)
    assert day.value.msg == "Too many new orders; current limit is 3 orders per 1 DAY."
    rl.add_order(7, MINUTE + 20_000, exempt=True)  # counted, not enforced
    status = rl.status("ip", MINUTE + 20_000, account=7)
    assert status[:2] == [
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 2, "count": 1},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 3, "count": 4},
    ]


def test_should_show_only_request_weight_when_no_order_was_placed() -> None:
    rl = limiter()
    rl.add_weight("ip", 20, MINUTE)
    assert rl.status("ip", MINUTE) == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000, "count": 20}
    ]


def test_should_limit_connections_per_five_minutes() -> None:
    rl = limiter(connections_per_5min=2)
    start = MINUTE - MINUTE % 300_000
    assert rl.add_connection("ip", start)
    assert rl.add_connection("ip", start + 1)
    assert not rl.add_connection("ip", start + 299_999)
    assert rl.add_connection("other", start + 299_999)
    assert rl.add_connection("ip", start + 300_000)
