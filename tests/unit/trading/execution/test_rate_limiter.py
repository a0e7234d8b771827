"""rate_limiter.py: the venue's fixed windows kept locally, corrected by responses, held after 429 / 418."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from stages.exchange.gateway.rate_limits import RateLimiter as LoopbackLimits
from stages.exchange.protocol.api_error import ApiError
from stages.exchange.protocol.exchange_info import rate_limits_info
from stages.exchange.protocol.settings import RateLimitSettings
from stages.trading.execution.rate_limiter import (
    DAY_NS,
    DEFAULT_BAN_NS,
    MINUTE_NS,
    MS_NS,
    ORDERS,
    RAW_REQUESTS,
    REQUEST_WEIGHT,
    SECOND_NS,
    RateLimiter,
    RequestKind,
)

ORDER, REQUEST = RequestKind.ORDER, RequestKind.REQUEST
TEN_S = 10 * SECOND_NS
FIVE_MIN = 5 * MINUTE_NS


def entry(kind: str, interval: str, num: int, limit: int, count: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"rateLimitType": kind, "interval": interval, "intervalNum": num, "limit": limit}
    if count is not None:
        out["count"] = count
    return out


BINANCE_SPOT = [
    entry(REQUEST_WEIGHT, "MINUTE", 1, 6000),
    entry(ORDERS, "SECOND", 10, 100),
    entry(ORDERS, "DAY", 1, 200000),
    entry(RAW_REQUESTS, "MINUTE", 5, 61000),
]
"""exchangeInfo's ``rateLimits`` on Binance spot."""


def utc_ns(year: int, month: int, day: int, hour: int, minute: int, second: int, microsecond: int = 0) -> int:
    """Wall-clock ns of a UTC date and time."""
    moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    return int(moment.timestamp()) * SECOND_NS + microsecond * 1_000


def small(orders_10s: int = 3, orders_day: int = 1000, weight: int = 100, **kwargs: Any) -> RateLimiter:
    return RateLimiter(
        [
            entry(REQUEST_WEIGHT, "MINUTE", 1, weight),
            entry(ORDERS, "SECOND", 10, orders_10s),
            entry(ORDERS, "DAY", 1, orders_day),
        ],
        **kwargs,
    )


# -- seeding -------------------------------------------------------------------------------------
def test_should_seed_one_window_per_per_request_limit_of_exchange_info_and_ignore_connections() -> None:
    limiter = RateLimiter([*BINANCE_SPOT, entry("CONNECTIONS", "MINUTE", 5, 300)])
    assert [(u.limit_type, u.length_ns, u.limit, u.used) for u in limiter.usage(0)] == [
        (REQUEST_WEIGHT, MINUTE_NS, 6000, 0),
        (ORDERS, TEN_S, 100, 0),
        (ORDERS, DAY_NS, 200000, 0),
        (RAW_REQUESTS, FIVE_MIN, 61000, 0),
    ]


def test_should_read_the_loopback_venues_own_exchange_info() -> None:
    limiter = RateLimiter(rate_limits_info(RateLimitSettings()))
    assert {(u.limit_type, u.length_ns): u.limit for u in limiter.usage(0)} == {
        (REQUEST_WEIGHT, MINUTE_NS): 6000,
        (ORDERS, TEN_S): 50,
        (ORDERS, DAY_NS): 160000,
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"rateLimitType": ORDERS, "interval": "FORTNIGHT", "intervalNum": 1, "limit": 5},
        {"rateLimitType": ORDERS, "interval": "SECOND", "intervalNum": 0, "limit": 5},
        {"rateLimitType": ORDERS, "interval": "SECOND", "intervalNum": 10},
        {"rateLimitType": ORDERS, "interval": "SECOND", "intervalNum": 10, "limit": "5"},
        {"interval": "SECOND", "intervalNum": 10, "limit": 5},
    ],
)
def test_should_refuse_an_exchange_info_entry_it_cannot_read(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RateLimiter([bad])


def test_should_refuse_a_skew_of_half_a_window_or_more() -> None:
    with pytest.raises(ValueError, match="half"):
        small(skew_ns=5 * SECOND_NS)
    assert small(skew_ns=5 * SECOND_NS - 1).skew_ns == 5 * SECOND_NS - 1


# -- fixed windows at their boundaries -------------------------------------------------------------
def test_should_let_a_burst_fill_the_ten_second_window_then_wait_exactly_until_it_ends() -> None:
    limiter = small(orders_10s=3)
    start = utc_ns(2021, 10, 12, 0, 0, 20)  # a 10 s boundary
    now = start + 7 * SECOND_NS
    assert [limiter.acquire(ORDER, 1, now) for _ in range(3)] == [0, 0, 0]
    assert limiter.acquire(ORDER, 1, now) == 3 * SECOND_NS  # until :30.000
    assert limiter.acquire(ORDER, 1, start + TEN_S - 1) == 1
    assert limiter.acquire(ORDER, 1, start + TEN_S) == 0
    assert limiter.count(ORDERS, TEN_S, start + TEN_S) == 1
    assert limiter.waits == 2


def test_should_align_windows_to_utc_wall_time_not_to_the_first_request() -> None:
    limiter = small(orders_10s=1)
    first = utc_ns(2021, 10, 12, 0, 0, 29, 999_999)  # the last microsecond of the window [:20, :30)
    assert limiter.acquire(ORDER, 1, first) == 0
    assert limiter.acquire(ORDER, 1, utc_ns(2021, 10, 12, 0, 0, 30)) == 0  # a new window, 1 µs later


def test_should_reset_the_minute_weight_on_the_minute() -> None:
    limiter = small(weight=10)
    now = utc_ns(2021, 10, 12, 13, 59, 59, 500_000)
    assert limiter.acquire(REQUEST, 10, now) == 0
    assert limiter.acquire(REQUEST, 1, now) == SECOND_NS // 2
    assert limiter.acquire(REQUEST, 10, utc_ns(2021, 10, 12, 14, 0, 0)) == 0


def test_should_reset_the_daily_orders_at_midnight_utc() -> None:
    limiter = small(orders_10s=100, orders_day=2)
    evening = utc_ns(2021, 10, 12, 23, 0, 0)
    assert limiter.acquire(ORDER, 1, evening) == 0
    assert limiter.acquire(ORDER, 1, evening + MINUTE_NS) == 0
    assert limiter.acquire(ORDER, 1, evening + 2 * MINUTE_NS) == utc_ns(2021, 10, 13, 0, 0, 0) - (
        evening + 2 * MINUTE_NS
    )
    assert limiter.acquire(ORDER, 1, utc_ns(2021, 10, 13, 0, 0, 0)) == 0


def test_should_wait_for_the_latest_of_several_full_windows() -> None:
    limiter = small(orders_10s=1, weight=2)
    now = utc_ns(2021, 10, 12, 0, 0, 5)
    assert limiter.acquire(ORDER, 2, now) == 0  # fills the 10 s window and the minute's weight
    assert limiter.acquire(ORDER, 1, now) == 55 * SECOND_NS  # the minute ends after the 10 s window


def test_should_count_nothing_when_it_says_wait() -> None:
    limiter = small(orders_10s=1, weight=100)
    now = utc_ns(2021, 10, 12, 0, 0, 5)
    assert limiter.acquire(ORDER, 1, now) == 0
    for _ in range(5):
        assert limiter.acquire(ORDER, 7, now) > 0
    assert limiter.count(REQUEST_WEIGHT, MINUTE_NS, now) == 1  # the refused ones spent no weight either


def test_should_count_weight_but_no_order_for_a_plain_request() -> None:
    limiter = small(orders_10s=1)
    now = utc_ns(2021, 10, 12, 0, 0, 5)
    assert limiter.acquire(REQUEST, 5, now) == 0
    assert limiter.count(ORDERS, TEN_S, now) == 0
    assert limiter.count(REQUEST_WEIGHT, MINUTE_NS, now) == 5
    assert limiter.acquire(ORDER, 1, now) == 0


def test_should_count_one_raw_request_per_request_whatever_its_weight() -> None:
    limiter = RateLimiter(BINANCE_SPOT)
    now = utc_ns(2021, 10, 12, 0, 0, 5)
    limiter.acquire(REQUEST, 20, now)
    limiter.acquire(ORDER, 1, now)
    assert limiter.count(RAW_REQUESTS, FIVE_MIN, now) == 2
    assert limiter.count(REQUEST_WEIGHT, MINUTE_NS, now) == 21


def test_should_refuse_a_request_heavier_than_a_whole_window() -> None:
    with pytest.raises(ValueError, match="never fit"):
        small(weight=10).acquire(REQUEST, 11, 0)


def test_should_keep_a_share_of_a_limit_for_other_clients_of_the_ip() -> None:
    limiter = small(weight=100, shares={REQUEST_WEIGHT: 0.2})
    now = utc_ns(2021, 10, 12, 0, 0, 5)
    assert limiter.acquire(REQUEST, 20, now) == 0
    assert limiter.acquire(REQUEST, 1, now) > 0
    [weight] = [u for u in limiter.usage(now) if u.limit_type == REQUEST_WEIGHT]
    assert (weight.limit, weight.budget, weight.used) == (100, 20, 20)


# -- correction from responses -----------------------------------------------------------------
def test_should_take_the_venues_count_when_it_is_more_than_ours() -> None:
    limiter = small(orders_10s=10, weight=100)
    now = utc_ns(2021, 10, 12, 0, 0, 5)
    limiter.acquire(ORDER, 1, now)
    limiter.on_response([entry(ORDERS, "SECOND", 10, 10, 9), entry(REQUEST_WEIGHT, "MINUTE", 1, 100, 40)], now)
    assert limiter.count(ORDERS, TEN_S, now) == 9
    assert limiter.count(REQUEST_WEIGHT, MINUTE_NS, now) == 40
    assert limiter.corrections == 2
    assert limiter.acquire(ORDER, 1, now) == 0
    assert limiter.acquire(ORDER, 1, now) > 0  # 9 + 1 = 10: full


def test_should_keep_its_own_count_when_the_venues_is_less() -> None:
    """A response that left before our later requests arrived shows fewer than we sent: ours is right."""
    limiter = small(orders_10s=10)
    now = utc_ns(2021, 10, 12, 0, 0, 5)
    for _ in range(4):
        limiter.acquire(ORDER, 1, now)
    limiter.on_response([entry(ORDERS, "SECOND", 10, 10, 1)], now)
    assert limiter.count(ORDERS, TEN_S, now) == 4
    assert limiter.corrections == 0


def test_should_follow_a_limit_the_venue_changed_and_learn_a_window_it_was_not_told_of() -> None:
    limiter = small(orders_10s=10)
    now = utc_ns(2021, 10, 12, 0, 0, 5)
    limiter.on_response([entry(ORDERS, "SECOND", 10, 2, 1), entry(ORDERS, "MINUTE", 1, 5, 4)], now)
    assert limiter.acquire(ORDER, 1, now) == 0  # 2 of 2 in 10 s, 5 of 5 in the new minute window
    assert limiter.acquire(ORDER, 1, now) == 55 * SECOND_NS  # the minute window ends last
    assert {(u.limit_type, u.length_ns): (u.limit, u.used) for u in limiter.usage(now)}[(ORDERS, MINUTE_NS)] == (5, 5)


def test_should_skip_and_count_a_response_entry_it_cannot_read() -> None:
    limiter = small()
    limiter.on_response(
        [{"rateLimitType": ORDERS}, entry(ORDERS, "SECOND", 10, 3, -1), entry("CONNECTIONS", "MINUTE", 5, 300, 2)], 0
    )
    assert limiter.malformed == 2
    assert limiter.corrections == 0


def test_should_credit_a_response_straddling_a_boundary_to_the_older_window() -> None:
    """Sent in one window, answered in the next: crediting the new window would block it for nothing."""
    limiter = small(orders_10s=3)
    boundary = utc_ns(2021, 10, 12, 0, 0, 30)
    assert limiter.acquire(ORDER, 1, boundary - MS_NS) == 0
    limiter.on_response([entry(ORDERS, "SECOND", 10, 3, 3)], boundary + MS_NS, sent_ns=boundary - MS_NS)
    assert limiter.count(ORDERS, TEN_S, boundary - MS_NS) == 3
    assert limiter.count(ORDERS, TEN_S, boundary + MS_NS) == 0
    assert limiter.acquire(ORDER, 1, boundary + MS_NS) == 0


# -- clock skew ------------------------------------------------------------------------------------
def test_should_count_a_request_near_a_boundary_in_both_windows_it_may_land_in() -> None:
    skew = 100 * MS_NS
    limiter = small(orders_10s=2, skew_ns=skew)
    boundary = utc_ns(2021, 10, 12, 0, 0, 30)
    assert limiter.acquire(ORDER, 1, boundary - 50 * MS_NS) == 0
    assert limiter.count(ORDERS, TEN_S, boundary - TEN_S) == 1
    assert limiter.count(ORDERS, TEN_S, boundary) == 1
    assert limiter.acquire(ORDER, 1, boundary - 50 * MS_NS) == 0
    # both windows are full now; the old one is believed over only a skew after its end
    assert limiter.acquire(ORDER, 1, boundary + 150 * MS_NS) == TEN_S - 50 * MS_NS


@pytest.mark.parametrize(("skew_ms", "errors"), [(0, True), (100, False)])
def test_should_need_the_skew_to_stay_under_a_venue_whose_clock_runs_ahead(skew_ms: int, errors: bool) -> None:
    """The venue's clock is 80 ms ahead: a burst just before our boundary lands in its next window."""
    settings = RateLimitSettings(orders_per_10s=5, orders_per_day=10_000, request_weight_per_minute=10_000)
    venue = LoopbackLimits(settings)
    limiter = RateLimiter(rate_limits_info(settings), skew_ns=skew_ms * MS_NS)
    offset = 80 * MS_NS
    refused = 0
    now = utc_ns(2021, 10, 12, 0, 0, 29, 960_000)
    for _ in range(20):
        wait = limiter.acquire(ORDER, 1, now)
        if wait:
            now += wait
            continue
        try:
            venue.add_order(1, (now + offset) // MS_NS)
        except ApiError:
            refused += 1
        now += 5 * MS_NS
    assert (refused > 0) is errors


# -- 429 / 418 -------------------------------------------------------------------------------------
def test_should_hold_everything_until_retry_after_once_throttled() -> None:
    limiter = small()
    now = utc_ns(2021, 10, 12, 0, 0, 5)
    retry_after_ms = (now + 3 * SECOND_NS) // MS_NS
    limiter.on_429(retry_after_ms, now)
    assert limiter.acquire(REQUEST, 1, now) == 3 * SECOND_NS
    assert limiter.acquire(ORDER, 1, now + SECOND_NS) == 2 * SECOND_NS
    assert limiter.acquire(REQUEST, 1, now + 3 * SECOND_NS) == 0
    assert limiter.throttled == 1


def test_should_hold_until_the_next_minute_after_a_429_without_retry_after() -> None:
    limiter = small()
    now = utc_ns(2021, 10, 12, 0, 0, 5)
    limiter.on_429(None, now)
    assert limiter.acquire(REQUEST, 1, now) == 55 * SECOND_NS


def test_should_hold_for_the_ban_after_a_418() -> None:
    limiter = small()
    now = utc_ns(2021, 10, 12, 0, 0, 5)
    limiter.on_418(None, now)
    assert limiter.acquire(REQUEST, 1, now) == DEFAULT_BAN_NS
    limiter.on_418((now + 3 * 3_600 * SECOND_NS) // MS_NS, now)
    assert limiter.acquire(ORDER, 1, now + DEFAULT_BAN_NS) == 3 * 3_600 * SECOND_NS - DEFAULT_BAN_NS
    assert limiter.bans == 2


def test_should_never_shorten_a_hold() -> None:
    limiter = small()
    now = utc_ns(2021, 10, 12, 0, 0, 5)
    limiter.on_418((now + 10 * SECOND_NS) // MS_NS, now)
    limiter.on_429((now + SECOND_NS) // MS_NS, now)
    assert limiter.acquire(REQUEST, 1, now) == 10 * SECOND_NS


def test_should_add_the_skew_to_a_hold() -> None:
    limiter = small(skew_ns=50 * MS_NS)
    now = utc_ns(2021, 10, 12, 0, 0, 5)
    limiter.on_429((now + SECOND_NS) // MS_NS, now)
    assert limiter.acquire(REQUEST, 1, now) == SECOND_NS + 50 * MS_NS


# -- storms ----------------------------------------------------------------------------------------
def window_totals(sent: list[tuple[int, RequestKind, int]], length_ns: int, orders: bool) -> Counter[int]:
    totals: Counter[int] = Counter()
    for now, kind, weight in sent:
        if orders and kind is ORDER:
            totals[now // length_ns] += 1
        elif not orders:
            totals[now // length_ns] += weight
    return totals


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_should_keep_a_storm_of_requests_inside_every_window(seed: int) -> None:
    """Thousands of requests as fast as the limiter allows: no aligned window of any limit is ever over."""
    rng = random.Random(seed)
    limits = {"weight": 40, "orders_10s": 7, "orders_day": 300}
    limiter = small(orders_10s=limits["orders_10s"], orders_day=limits["orders_day"], weight=limits["weight"])
    now = utc_ns(2021, 10, 12, 23, 50, 0) + rng.randrange(SECOND_NS)
    sent: list[tuple[int, RequestKind, int]] = []
    while len(sent) < 3_000:
        kind = ORDER if rng.random() < 0.6 else REQUEST
        weight = rng.choice((1, 1, 2, 4, 10))
        wait = limiter.acquire(kind, weight, now)
        if wait:
            now += wait
        else:
            sent.append((now, kind, weight))
            now += rng.randrange(0, 200 * MS_NS)
    assert max(window_totals(sent, MINUTE_NS, False).values()) <= limits["weight"]
    assert max(window_totals(sent, TEN_S, True).values()) <= limits["orders_10s"]
    assert max(window_totals(sent, DAY_NS, True).values()) <= limits["orders_day"]
    # it crossed midnights (the day's orders ran out each day), and used the windows fully
    assert len(window_totals(sent, DAY_NS, True)) > 2
    assert max(window_totals(sent, DAY_NS, True).values()) == limits["orders_day"]
    assert max(window_totals(sent, TEN_S, True).values()) == limits["orders_10s"]


def run_against_loopback(correct: bool, seed: int) -> tuple[int, int]:
    """Our requests and another client's on the same IP, against the loopback venue's own counters.

    The other client spends 30 of the minute's 60 weight in its first seconds; we keep no share for it.
    Returns (requests refused, requests sent).
    """
    rng = random.Random(seed)
    settings = RateLimitSettings(request_weight_per_minute=60, orders_per_10s=5, orders_per_day=10_000)
    venue = LoopbackLimits(settings)
    limiter = RateLimiter(rate_limits_info(settings))
    now = utc_ns(2021, 10, 12, 0, 0, 0)
    refused = sent = 0
    other_spent: set[int] = set()
    end = now + 10 * MINUTE_NS
    while now < end:
        minute = now // MINUTE_NS
        if minute not in other_spent and now % MINUTE_NS >= 2 * SECOND_NS:
            other_spent.add(minute)
            venue.add_weight("ip", 30, now // MS_NS)
        kind = ORDER if rng.random() < 0.5 else REQUEST
        weight = rng.choice((1, 2))
        wait = limiter.acquire(kind, weight, now)
        if wait:
            now += wait
            continue
        sent += 1
        try:
            venue.add_weight("ip", weight, now // MS_NS)
            if kind is ORDER:
                venue.add_order(7, now // MS_NS)
        except ApiError:
            refused += 1
        answered = now + 3 * MS_NS
        if correct:
            limiter.on_response(venue.status("ip", answered // MS_NS, 7 if kind is ORDER else None), answered, now)
        now = answered + rng.randrange(0, 500 * MS_NS)
    return refused, sent


@pytest.mark.parametrize("seed", [1, 2])
def test_should_never_meet_minus_1003_when_responses_show_another_clients_weight(seed: int) -> None:
    refused, sent = run_against_loopback(correct=True, seed=seed)
    assert sent > 200
    assert refused == 0


def test_should_meet_minus_1003_without_the_correction() -> None:
    """The counterfactual: the same run with responses ignored goes over the venue's limit."""
    refused, _ = run_against_loopback(correct=False, seed=1)
    assert refused > 0
