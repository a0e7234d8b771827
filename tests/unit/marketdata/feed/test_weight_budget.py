"""The REST weight budget, on times the test passes in: per calendar minute, header and Retry-After honoured."""

from __future__ import annotations

import pytest

from stages.marketdata.feed.weight_budget import WeightBudget, default_budget
from tests.unit.marketdata.feed.clocks import START


def test_should_let_requests_go_while_the_minute_has_room() -> None:
    budget = WeightBudget(100)
    for _ in range(2):
        assert budget.ready_at(50, START + 1) == START + 1
        budget.spend(50, START + 1)
    assert budget.used == 100


def test_should_hold_a_request_that_does_not_fit_until_the_next_minute() -> None:
    budget = WeightBudget(100)
    budget.spend(60, START + 10)
    assert budget.ready_at(50, START + 59.5) == START + 60
    assert budget.ready_at(50, START + 60) == START + 60  # a new minute, nothing spent in it
    budget.spend(50, START + 60)
    assert budget.used == 50


def test_should_let_a_request_heavier_than_the_budget_go_alone_at_the_start_of_a_minute() -> None:
    budget = WeightBudget(100)
    assert budget.ready_at(250, START) == START
    budget.spend(250, START)
    assert budget.ready_at(5, START + 1) == START + 60


def test_should_believe_the_venues_count_when_it_is_higher() -> None:
    budget = WeightBudget(4800)
    budget.spend(50, START + 1)
    budget.observe_used(4790, START + 2)  # other clients on the IP spent the rest
    assert budget.ready_at(50, START + 3) == START + 60
    budget.observe_used(10, START + 4)  # a lower count does not undo what this process spent
    assert budget.used == 4790


def test_should_hold_every_request_for_retry_after_even_in_a_new_minute() -> None:
    budget = WeightBudget(4800)
    budget.hold(120, START + 30)
    assert budget.ready_at(1, START + 61) == START + 150
    budget.hold(5, START + 31)  # a shorter hold does not shorten the longer one
    assert budget.blocked_until == START + 150


def test_should_default_to_most_of_the_venues_limit() -> None:
    assert default_budget(6000) == 4800
    assert default_budget(2400) == 1920
    assert default_budget(0) == 1


def test_should_refuse_an_empty_budget() -> None:
    with pytest.raises(ValueError, match=r"^a weight budget must be >= 1 per minute, got 0$"):
        WeightBudget(0)
