"""processes.py + config + placement: which stages share an OS process, what "auto" decides for the
cores a host offers, the errors that name their key, and a composite placed as one."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest

from hftpipe.runtime.config import PipelineConfig, parse_config
from hftpipe.runtime.placement import Placement, plan_placement
from hftpipe.runtime.validation import ConfigError
from tests.conftest import PROBE_CONFIG

STAGES = ("source", "relay1", "relay2", "relay3", "sink")
MANY = set(range(16))


def _raw(**per_stage: dict[str, Any]) -> dict[str, Any]:
    raw = tomllib.loads(PROBE_CONFIG.read_text())
    for stage, settings in per_stage.items():
        raw["stages"][stage].update(copy.deepcopy(settings))
    return raw


def _parse(raw: dict[str, Any], cpus: set[int] = MANY) -> PipelineConfig:
    return parse_config(raw, allowed_cpus=cpus)


def _error(raw: dict[str, Any], cpus: set[int] = MANY) -> tuple[str, str]:
    with pytest.raises(ConfigError) as exc:
        _parse(raw, cpus)
    return exc.value.key, exc.value.reason


def test_should_run_every_stage_in_a_process_of_its_own_by_default() -> None:
    config = _parse(_raw())
    assert {name: [s.name for s in members] for name, members in config.processes().items()} == {
        name: [name] for name in STAGES
    }


def test_should_group_stages_that_name_the_same_process_in_declared_order() -> None:
    config = _parse(_raw(relay3={"process": "mid"}, relay1={"process": "mid"}))
    assert {name: [s.name for s in members] for name, members in config.processes().items()} == {
        "source": ["source"],
        "mid": ["relay1", "relay3"],
        "relay2": ["relay2"],
        "sink": ["sink"],
    }
    assert config.stage("relay3").process == "mid"


def test_should_let_a_stage_join_the_process_named_after_another_stage() -> None:
    config = _parse(_raw(relay1={"process": "source"}))
    assert [s.name for s in config.process_stages("source")] == ["source", "relay1"]


def test_should_co_locate_auto_stages_joined_by_rings_only_when_cores_are_fewer_than_processes() -> None:
    auto = {"process": "auto"}
    raw = _raw(relay1=auto, relay2=auto, relay3=auto, sink=auto)
    # 2 cores, 5 processes one per stage: the auto stages (one chain of rings) share one process.
    few = _parse(raw, {0, 1})
    assert {name: [s.name for s in m] for name, m in few.processes().items()} == {
        "source": ["source"],
        "auto-relay1": ["relay1", "relay2", "relay3", "sink"],
    }
    # Enough cores: each runs alone.
    assert list(_parse(raw, set(range(5))).processes()) == list(STAGES)


def test_should_not_merge_auto_stages_that_no_ring_joins() -> None:
    auto = {"process": "auto"}
    config = _parse(_raw(source=auto, relay1=auto, relay3=auto, sink=auto), {0})
    # relay2 (not auto) cuts the chain: two parts.
    assert {name: [s.name for s in m] for name, m in config.processes().items()} == {
        "auto-source": ["source", "relay1"],
        "relay2": ["relay2"],
        "auto-relay3": ["relay3", "sink"],
    }


@pytest.mark.parametrize(
    ("settings", "key", "reason"),
    [
        (
            {"relay1": {"process": "mid", "cpu": 2}, "relay2": {"process": "mid", "cpu": 3}},
            "stages.relay2.cpu",
            "3 differs from 2 of stage 'relay1', which runs in the same process 'mid': a process has one cpu",
        ),
        (
            {"relay1": {"process": "mid", "idle": "blocking"}, "relay2": {"process": "mid"}},
            "stages.relay2.idle",
            "'auto' differs from 'blocking' of stage 'relay1', which runs in the same process 'mid':"
            " a process has one idle",
        ),
        (
            {"relay1": {"process": "mid", "mlockall": True}, "relay2": {"process": "mid"}},
            "stages.relay2.mlockall",
            "False differs from True of stage 'relay1', which runs in the same process 'mid':"
            " a process has one mlockall",
        ),
        (
            {"relay1": {"process": "mid"}, "relay2": {"process": "relay1"}},
            "stages.relay2.process",
            "'relay1' is a stage that runs in process 'mid': name a process, not a stage",
        ),
        (
            {"relay1": {"process": "auto-x"}},
            "stages.relay1.process",
            "names starting 'auto-' are given by \"auto\"",
        ),
        (
            {"relay1": {"process": "a/b"}},
            "stages.relay1.process",
            "process name 'a/b' must be 1-48 characters of A-Z a-z 0-9 _ -",
        ),
        ({"relay1": {"process": 3}}, "stages.relay1.process", "must be a string, got 3"),
    ],
    ids=["pinned cores", "idle", "mlockall", "a stage elsewhere", "auto- prefix", "bad name", "not a string"],
)
def test_should_name_the_key_of_a_process_its_stages_disagree_on(
    settings: dict[str, dict[str, Any]], key: str, reason: str
) -> None:
    assert _error(_raw(**settings)) == (key, reason)


def test_should_let_stages_of_one_process_share_their_pinned_core() -> None:
    config = _parse(_raw(relay1={"process": "mid", "cpu": 2}, relay2={"process": "mid", "cpu": 2}))
    assert config.stage("relay2").cpu == 2
    # ... but never with a stage of another process.
    key, reason = _error(
        _raw(relay1={"process": "mid", "cpu": 2}, relay2={"process": "mid", "cpu": 2}, sink={"cpu": 2})
    )
    assert (key, reason) == ("stages.sink.cpu", "core 2 is already given to stage 'relay1'")


def test_should_place_a_composite_as_one_unit() -> None:
    config = _parse(_raw(relay1={"process": "mid"}, relay2={"process": "mid"}, relay3={"process": "mid"}))
    # 3 processes on 4 cores: dedicated cores, the composite's three stages on one.
    plan = plan_placement(config, [0, 1, 2, 3], machine="x86_64")
    assert plan.stages == {
        "source": Placement(1, "busy-spin"),
        "relay1": Placement(2, "busy-spin"),
        "relay2": Placement(2, "busy-spin"),
        "relay3": Placement(2, "busy-spin"),
        "sink": Placement(3, "busy-spin"),
    }
    assert plan.explanation.startswith("auto placement: 4 cores for 5 stages in 3 processes: each auto stage on")
    # On 2 cores it is shared: unpinned, and the composite blocks on its one doorbell.
    shared = plan_placement(config, [0, 1], machine="x86_64")
    assert shared.stages["relay2"] == Placement(None, "blocking")
