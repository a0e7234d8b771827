"""buckets.py: tokens come back one period after they are spent, so no window of a period sees more than N."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.trading.risk.buckets import SECOND_NS, RateLimit, TokenBucket


def test_should_give_a_burst_of_every_token_then_refuse() -> None:
    bucket = TokenBucket(3, 1_000)
    assert [bucket.take(0) for _ in range(4)] == [True, True, True, False]
    assert bucket.available(0) == 0


def test_should_return_a_token_exactly_one_period_after_it_was_spent() -> None:
    bucket = TokenBucket(2, 1_000)
    assert bucket.take(100) and bucket.take(400)
    assert not bucket.take(1_099)  # the first comes back at 1100
    assert bucket.take(1_100)
    assert not bucket.take(1_399)  # the second at 1400
    assert bucket.take(1_400)
    assert not bucket.take(1_400)


def test_should_spend_nothing_on_a_refused_take() -> None:
    bucket = TokenBucket(1, 1_000)
    assert bucket.take(0)
    for now in range(0, 1_000, 100):
        assert not bucket.take(now)
    assert bucket.take(1_000)  # the refusals did not push the return back


def test_should_not_change_anything_when_asked_if_ready() -> None:
    bucket = TokenBucket(1, 10)
    assert bucket.ready(0) and bucket.ready(0)
    bucket.spend(0)
    assert not bucket.ready(9) and bucket.ready(10)


def test_should_refuse_a_bucket_without_tokens_or_period() -> None:
    with pytest.raises(ValueError, match="tokens > 0"):
        TokenBucket(0, 10)
    with pytest.raises(ValueError, match="period_ns > 0"):
        TokenBucket(1, 0)


def _most_in_a_window(times: list[int], period: int) -> int:
    """The most of ``times`` (sorted) in any half-open interval of ``period``."""
    most, start = 0, 0
    for end, now in enumerate(times):
        while times[start] <= now - period:
            start += 1
        most = max(most, end - start + 1)
    return most


@settings(max_examples=200, deadline=None)
@given(
    tokens=st.integers(1, 6),
    period=st.integers(1, 50),
    steps=st.lists(st.integers(0, 30), min_size=1, max_size=120),
)
def test_should_never_let_more_than_its_tokens_through_any_window(tokens: int, period: int, steps: list[int]) -> None:
    # Against a sliding-window log (the definition): the bucket takes exactly when the log has room.
    bucket = TokenBucket(tokens, period)
    taken: list[int] = []
    now = 0
    for step in steps:
        now += step
        in_window = sum(1 for t in taken if t > now - period)
        assert bucket.take(now) == (in_window < tokens)
        if in_window < tokens:
            taken.append(now)
    assert _most_in_a_window(taken, period) <= tokens


def test_should_hold_a_venue_fixed_window_whatever_its_alignment() -> None:
    # A continuous-refill bucket would let 2N through one window: N at its start, N refilled by its end.
    bucket = TokenBucket(10, SECOND_NS)
    step = SECOND_NS // 100
    taken = [now for now in range(0, 5 * SECOND_NS, step) if bucket.take(now)]
    for offset in range(0, SECOND_NS, step // 3):
        for window in range(5):
            start = offset + window * SECOND_NS
            assert sum(1 for t in taken if start <= t < start + SECOND_NS) <= 10


def test_should_apply_per_second_and_per_10s_together() -> None:
    rate = RateLimit(orders_per_second=2, orders_per_10s=3)
    assert rate.order_ready(0)
    rate.spend_order(0)
    rate.spend_order(0)
    assert not rate.order_ready(SECOND_NS - 1)  # per second empty
    assert rate.order_ready(SECOND_NS)
    rate.spend_order(SECOND_NS)
    assert not rate.order_ready(2 * SECOND_NS)  # per second has tokens again, per 10 s does not
    assert not rate.order_ready(10 * SECOND_NS - 1)
    assert rate.order_ready(10 * SECOND_NS)


def test_should_count_cancels_apart_from_orders() -> None:
    rate = RateLimit(orders_per_second=1, cancels_per_second=1)
    rate.spend_order(0)
    assert not rate.order_ready(0)
    assert rate.cancel_ready(0)
    rate.spend_cancel(0)
    assert not rate.cancel_ready(SECOND_NS - 1) and rate.cancel_ready(SECOND_NS)


def test_should_be_unlimited_where_no_rate_is_set() -> None:
    rate = RateLimit()
    assert rate.unlimited
    for _ in range(1_000):
        assert rate.order_ready(0) and rate.cancel_ready(0)
        rate.spend_order(0)
        rate.spend_cancel(0)
