"""The one ``module:Class`` loader: a base class check, and moved classes named by their new path."""

from __future__ import annotations

import pytest

from hftpipe.runtime import Agent, AsyncAgent
from hftpipe.runtime.loader import load_class, moved_classes
from hftpipe.runtime.validation import ConfigError
from stages.probe import ProbeSink


def test_should_load_a_class_that_is_a_subclass_of_the_base() -> None:
    assert load_class("stages.probe:ProbeSink", "k", Agent) is ProbeSink


def test_should_refuse_a_class_that_is_not_a_subclass_of_the_base() -> None:
    with pytest.raises(ConfigError) as caught:
        load_class("stages.probe:ProbeSink", "stages.out.class", AsyncAgent)
    assert (caught.value.key, caught.value.reason) == ("stages.out.class", "stages.probe:ProbeSink is not a AsyncAgent")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("stages.feed.stage:FeedStage", "stages.marketdata.feed.stage:FeedStage"),
        ("stages.book.stage:BookStage", "stages.marketdata.book.stage:BookStage"),
        ("stages.replay_venue:ReplayVenueStage", "stages.marketdata.capture.replay_venue:ReplayVenueStage"),
    ],
)
def test_should_name_the_new_path_of_a_moved_stage_class(old: str, new: str) -> None:
    assert moved_classes()[old] == new
    with pytest.raises(ConfigError) as caught:
        load_class(old, "stages.feed.class")
    assert (caught.value.key, caught.value.reason) == ("stages.feed.class", f"{old} has moved: name it {new!r}")
    assert load_class(new, "stages.feed.class").__name__ == new.partition(":")[2]
