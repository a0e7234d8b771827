"""retry.py: full-jitter backoff within its bounds and repeatable; what each error class allows each action."""

from __future__ import annotations

import random

import pytest

from stages.trading.execution.retry import (
    Action,
    Decision,
    ErrorClass,
    RetryPolicy,
    Verdict,
    full_jitter_ns,
)

MS = 1_000_000


def policy(seed: int = 7, max_attempts: int = 5, max_age_ns: int = 0) -> RetryPolicy:
    return RetryPolicy(10 * MS, 1_000 * MS, max_attempts, max_age_ns, random.Random(seed))


# -- backoff -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 10), (2, 20), (3, 40), (7, 640), (8, 1000), (200, 1000)])
def test_should_draw_every_delay_between_zero_and_the_capped_doubling(attempt: int, ceiling: int) -> None:
    rng = random.Random(attempt)
    delays = [full_jitter_ns(attempt, 10 * MS, 1_000 * MS, rng) for _ in range(2_000)]
    assert min(delays) >= 0
    assert max(delays) <= ceiling * MS
    # full jitter: spread over the whole range, not bunched at its top
    assert min(delays) < ceiling * MS // 10
    assert max(delays) > ceiling * MS * 9 // 10
    assert ceiling * MS * 0.4 < sum(delays) / len(delays) < ceiling * MS * 0.6


def test_should_repeat_the_same_delays_with_the_same_seed() -> None:
    first = [policy(seed=42).delay_ns(n) for n in range(1, 20)]
    second = [policy(seed=42).delay_ns(n) for n in range(1, 20)]
    other = [policy(seed=43).delay_ns(n) for n in range(1, 20)]
    assert first == second
    assert first != other


def test_should_give_integer_nanoseconds() -> None:
    assert all(type(policy().delay_ns(n)) is int for n in range(1, 10))


def test_should_refuse_an_attempt_count_below_one_and_bad_bounds() -> None:
    with pytest.raises(ValueError):
        full_jitter_ns(0, 1, 2, random.Random(1))
    with pytest.raises(ValueError):
        RetryPolicy(10, 5, 3)
    with pytest.raises(ValueError):
        RetryPolicy(1, 5, 0)


# -- the policy --------------------------------------------------------------------------------
@pytest.mark.parametrize("action", list(Action))
def test_should_never_send_again_what_the_venue_refused_for_good(action: Action) -> None:
    assert policy().decide(action, ErrorClass.NEVER_RETRY, 1, 0, 0) == Decision(Verdict.GIVE_UP, 0)


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("error", [ErrorClass.TRANSIENT, ErrorClass.BACK_OFF, ErrorClass.BANNED])
def test_should_retry_anything_the_venue_did_not_do(action: Action, error: ErrorClass) -> None:
    decision = policy().decide(action, error, 1, 0, 0)
    assert decision.verdict is Verdict.RETRY
    assert 0 <= decision.delay_ns <= 10 * MS


@pytest.mark.parametrize("action", [Action.PLACE, Action.REPLACE])
def test_should_query_rather_than_resend_an_order_whose_outcome_is_unknown(action: Action) -> None:
    """It may be live, or already filled (then a resend with the same client id would place it again)."""
    decision = policy(max_attempts=1, max_age_ns=1).decide(action, ErrorClass.UNKNOWN_OUTCOME, 9, 0, 10**12)
    assert decision.verdict is Verdict.QUERY  # whatever its attempts or its age


@pytest.mark.parametrize("action", [Action.CANCEL, Action.QUERY])
def test_should_resend_a_cancel_or_a_read_whose_outcome_is_unknown(action: Action) -> None:
    assert policy().decide(action, ErrorClass.UNKNOWN_OUTCOME, 1, 0, 0).verdict is Verdict.RETRY


def test_should_give_up_after_max_attempts() -> None:
    p = policy(max_attempts=3)
    assert [p.decide(Action.CANCEL, ErrorClass.TRANSIENT, n, 0, 0).verdict for n in (1, 2, 3, 4)] == [
        Verdict.RETRY,
        Verdict.RETRY,
        Verdict.GIVE_UP,
        Verdict.GIVE_UP,
    ]


def test_should_drop_a_new_order_that_would_go_stale_but_keep_retrying_a_cancel() -> None:
    p = RetryPolicy(100 * MS, 100 * MS, 10, 150 * MS, random.Random(1))
    # the delay is uniform in [0, 100 ms]: from 100 ms after the first attempt, some land past 150 ms
    verdicts = {p.decide(Action.PLACE, ErrorClass.TRANSIENT, 1, 0, 100 * MS).verdict for _ in range(200)}
    assert verdicts == {Verdict.RETRY, Verdict.GIVE_UP}
    assert p.decide(Action.PLACE, ErrorClass.TRANSIENT, 1, 0, 151 * MS).verdict is Verdict.GIVE_UP
    assert p.decide(Action.CANCEL, ErrorClass.TRANSIENT, 1, 0, 10**12).verdict is Verdict.RETRY


def test_should_grow_the_delay_ceiling_with_each_attempt() -> None:
    p = policy(max_attempts=100)
    ceilings = [max(p.decide(Action.QUERY, ErrorClass.TRANSIENT, n, 0, 0).delay_ns for _ in range(300)) for n in (1, 4)]
    assert ceilings[0] <= 10 * MS < ceilings[1] <= 80 * MS
