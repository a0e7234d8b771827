"""RestartLimiter: at most ``burst`` restarts within any window, on a clock the test steps."""

from __future__ import annotations

import pytest

from hftpipe.runtime.restart_limit import RestartLimiter


class SteppedClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_should_allow_the_burst_within_the_window_and_refuse_one_more() -> None:
    clock = SteppedClock()
    limit = RestartLimiter(3, 60.0, clock)
    assert [limit.allow() for _ in range(3)] == [True, True, True]
    clock.now += 59.0
    assert not limit.allow()
    assert limit.recent() == 3


def test_should_forget_restarts_older_than_the_window() -> None:
    """Five faults hours apart never add up: each finds the window empty."""
    clock = SteppedClock()
    limit = RestartLimiter(1, 60.0, clock)
    for _ in range(5):
        assert limit.allow()
        assert limit.recent() == 1
        clock.now += 3600.0
    assert limit.recent() == 0


def test_should_let_each_restart_age_out_on_its_own() -> None:
    clock = SteppedClock()
    limit = RestartLimiter(2, 10.0, clock)
    assert limit.allow()  # t = 0
    clock.now += 6.0
    assert limit.allow()  # t = 6
    clock.now += 3.0
    assert not limit.allow()  # t = 9: two within the last 10 s
    clock.now += 1.0
    assert limit.recent() == 1  # t = 10: the first is exactly one window old, no longer counted
    assert limit.allow()
    assert not limit.allow()


def test_should_never_allow_a_restart_with_a_burst_of_zero() -> None:
    assert not RestartLimiter(0, 60.0, SteppedClock()).allow()


@pytest.mark.parametrize(("burst", "window_s"), [(-1, 60.0), (3, 0.0), (3, -1.0)])
def test_should_refuse_a_negative_burst_or_an_empty_window(burst: int, window_s: float) -> None:
    with pytest.raises(ValueError, match="burst must be >= 0 and window_s > 0"):
        RestartLimiter(burst, window_s)
