"""The feed stage's snapshot pacing parameters: checked, and the venue's budget when none is given."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stages.marketdata.feed.stage import FeedStage
from tests.unit.marketdata.feed.pipeline import FeedPipeline


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"snapshot_retry_min_s": 0.0}, "snapshot_retry_min_s: must be > 0, got 0.0"),
        (
            {"snapshot_retry_min_s": 5.0, "snapshot_retry_max_s": 1.0},
            r"snapshot_retry_min_s: must be <= snapshot_retry_max_s \(1.0\), got 5.0",
        ),
        ({"rest_weight_budget": -1}, "rest_weight_budget: must be >= 0, got -1"),
    ],
)
def test_should_refuse_pacing_that_cannot_work(params: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        FeedStage.Params(venue="binance", **params)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("venue", "budget", "expected"),
    [("binance", 0, 4800), ("binance-futures", 0, 1920), ("binance", 100, 100)],
)
def test_should_budget_most_of_the_venues_rest_weight_unless_told(
    feed_pipeline: Callable[..., FeedPipeline], venue: str, budget: int, expected: int
) -> None:
    stage = FeedStage(feed_pipeline(venue=venue, symbols=["BTCUSDT"], rest_weight_budget=budget).feed)
    assert stage.fetcher.budget.per_minute == expected
