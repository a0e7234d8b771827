"""The strategy stage's params: every mistake exits 78 naming its key, before any process starts."""

from __future__ import annotations

from typing import Any

import pytest

from hftpipe.runtime.validation import ConfigError
from hftpipe.strategy import Rounding
from stages.trading.strategy.settings import ClockMode
from tests.unit.trading.strategy.harness import config

RECORDER = "tests.unit.trading.strategy.strategies:Recorder"
JOIN = "tests.unit.trading.strategy.strategies:JoinBid"
KEY = "stages.strategy.params"


def _error(strategy: dict[str, Any], **stage: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        config("cfg", strategy, **stage)
    return caught.value


def test_should_parse_one_inline_strategy_with_its_own_params() -> None:
    parsed = config("cfg", {"id": 4, "name": "join", "class": JOIN, "params": {"qty": "2"}, "rounding": "refuse"})
    params = parsed.stage("strategy").params
    (settings,) = params.strategies
    assert (settings.id, settings.name, settings.params.qty, settings.rounding) == (4, "join", "2", Rounding.REFUSE)
    assert (params.clock, params.epoch, params.conflate) == (ClockMode.RECORDS, 1_765_000_000_000, True)


def test_should_host_several_strategies_from_a_list() -> None:
    parsed = config("cfg", {"strategies": [{"id": 1, "class": JOIN}, {"id": 2, "class": RECORDER, "name": "rec"}]})
    assert [(s.id, s.name) for s in parsed.stage("strategy").params.strategies] == [(1, "s1"), (2, "rec")]


@pytest.mark.parametrize(
    ("strategy", "key", "reason"),
    [
        ({"id": 1}, f"{KEY}.class", 'missing: name the strategy class as "module:Class"'),
        ({"class": JOIN}, f"{KEY}.id", "missing: every strategy needs an id 1..65535 (it is in its client order ids)"),
        ({"id": 70000, "class": JOIN}, f"{KEY}.id", "must be 1..65535, got 70000"),
        ({"id": 1, "class": JOIN, "colour": 1}, f"{KEY}.colour", None),
        ({"id": 1, "class": JOIN, "params": {"qty": 5}}, f"{KEY}.params.qty", "must be str, got 5"),
        ({"id": 1, "class": JOIN, "params": {"size": "5"}}, f"{KEY}.params.size", "unknown key (allowed: qty)"),
        ({"id": 1, "class": JOIN, "rounding": "nearest"}, f"{KEY}.rounding", None),
        ({"id": 1, "class": JOIN, "instruments": "AAAUSDT"}, f"{KEY}.instruments",
         "must be a list of symbols, got 'AAAUSDT'"),
        ({"id": 1, "class": JOIN, "max_errors": 0}, f"{KEY}.max_errors", None),
        ({"id": 1, "class": JOIN, "name": "has space"}, f"{KEY}.name", None),
        ({"id": 1, "class": "stages.probe:ProbeSink"}, f"{KEY}.class", None),
        ({"strategies": [{"id": 1, "class": JOIN}, {"id": 1, "class": JOIN, "name": "b"}]},
         f"{KEY}.strategies[1].id", "strategy id 1 is already 's1''s"),
        ({"strategies": [{"id": 1, "class": JOIN}], "id": 2}, f"{KEY}.id", None),
    ],
)  # fmt: skip
def test_should_name_the_key_of_each_strategy_config_error(
    strategy: dict[str, Any], key: str, reason: str | None
) -> None:
    error = _error(strategy)
    assert error.key == key
    if reason is not None:
        assert error.reason == reason


@pytest.mark.parametrize(
    ("stage", "key"), [({"clock": "wall"}, f"{KEY}.clock"), ({"conflate": "yes"}, f"{KEY}.conflate")]
)
def test_should_name_the_key_of_each_stage_setting_error(stage: dict[str, Any], key: str) -> None:
    assert _error({"id": 1, "class": JOIN}, **stage).key == key


def test_should_refuse_to_start_a_strategy_on_an_undeclared_instrument(pipeline_name: str) -> None:
    from tests.unit.trading.strategy.harness import Harness

    with pytest.raises(ValueError, match=r"stages\.strategy\.params\.instruments: 'XYZUSDT' is not declared"):
        Harness(pipeline_name, {"id": 1, "class": JOIN, "instruments": ["XYZUSDT"]})
