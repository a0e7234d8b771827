"""Per-book snapshot backoff, on times the test passes in: doubling, capped, reset by a sync."""

from __future__ import annotations

import pytest

from stages.marketdata.feed.backoff import Backoff
from tests.unit.marketdata.feed.clocks import START


def test_should_let_the_first_attempt_go_at_once() -> None:
    backoff = Backoff(1.0, 8.0)
    assert backoff.attempts("X") == 0
    assert backoff.ready_at("X") == 0.0


def test_should_double_the_wait_after_each_failed_attempt_up_to_the_cap() -> None:
    backoff = Backoff(1.0, 8.0)
    now, delays = START, []
    for _ in range(6):
        delays.append(backoff.attempted("X", now))
        assert backoff.ready_at("X") == now + delays[-1]
        now = backoff.ready_at("X") + 0.25  # the attempt took a quarter of a second
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert backoff.attempts("X") == 6


def test_should_keep_books_apart_and_reset_one_that_synced() -> None:
    backoff = Backoff(1.0, 8.0)
    backoff.attempted("X", START)
    backoff.attempted("X", START + 1)
    backoff.attempted("Y", START + 1)
    backoff.reset("X")
    assert (backoff.attempts("X"), backoff.ready_at("X")) == (0, 0.0)
    assert (backoff.attempts("Y"), backoff.ready_at("Y")) == (1, START + 2)
    assert backoff.attempted("X", START + 3) == 1.0  # after a sync, the ladder starts again


def test_should_not_overflow_after_very_many_attempts() -> None:
    backoff = Backoff(0.5, 30.0)
    for _ in range(5000):
        delay = backoff.attempted("X", START)
    assert delay == 30.0


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_should_refuse_bounds_that_cannot_back_off(low: float, high: float) -> None:
    with pytest.raises(ValueError, match=r"^backoff needs 0 < min_s <= max_s"):
        Backoff(low, high)
