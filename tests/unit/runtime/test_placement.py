"""placement.py: what cpu = "auto" and idle = "auto" become for the cores a host offers."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from hftpipe.runtime.config import PipelineConfig, parse_config
from hftpipe.runtime.placement import Placement, plan_placement
from hftpipe.runtime.validation import ConfigError
from tests.conftest import PROBE_CONFIG

STAGES = ["source", "relay1", "relay2", "relay3", "sink"]
MANY_CPUS = set(range(16))


def _default_raw() -> dict[str, Any]:
    return tomllib.loads(PROBE_CONFIG.read_text())


def _config(raw: dict[str, Any] | None = None) -> PipelineConfig:
    """The default 5-stage probe pipeline, validated against a synthetic 16-core host."""
    return parse_config(raw if raw is not None else _default_raw(), allowed_cpus=MANY_CPUS)


def _with_stage(stage: str, **settings: Any) -> PipelineConfig:
    raw = _default_raw()
    raw["stages"][stage].update(settings)
    return _config(raw)


def test_should_leave_stages_unpinned_and_block_consumers_when_cores_are_fewer_than_stages() -> None:
    plan = plan_placement(_config(), [0, 1], machine="x86_64")
    assert plan.stages == {
        "source": Placement(None, "backoff"),
        "relay1": Placement(None, "blocking"),
        "relay2": Placement(None, "blocking"),
        "relay3": Placement(None, "blocking"),
        "sink": Placement(None, "blocking"),
    }
    assert plan.explanation == (
        "auto placement: 2 cores for 5 stages: fewer cores than stages: auto stages unpinned, consumers block on "
        "their doorbell (source=cpu -/backoff, relay1=cpu -/blocking, relay2=cpu -/blocking, "
        "relay3=cpu -/blocking, sink=cpu -/blocking)"
    )


def test_should_give_each_stage_a_dedicated_spinning_core_and_leave_core_0_spare() -> None:
    plan = plan_placement(_config(), [0, 1, 2, 3, 4, 5], machine="x86_64")
    assert plan.stages == {name: Placement(cpu, "busy-spin") for name, cpu in zip(STAGES, range(1, 6), strict=True)}
    assert plan.explanation == (
        "auto placement: 6 cores for 5 stages: each auto stage on its own core, core 0 left to the OS and "
        "supervisor (source=cpu 1/busy-spin, relay1=cpu 2/busy-spin, relay2=cpu 3/busy-spin, "
        "relay3=cpu 4/busy-spin, sink=cpu 5/busy-spin)"
    )


def test_should_pin_one_stage_per_core_and_back_off_when_cores_equal_stages() -> None:
    plan = plan_placement(_config(), [0, 1, 2, 3, 4], machine="x86_64")
    assert plan.stages == {name: Placement(cpu, "backoff") for name, cpu in zip(STAGES, range(5), strict=True)}
    assert plan.explanation.startswith(
        "auto placement: 5 cores for 5 stages: one stage per core, no spare core, so stages back off instead of "
        "spinning ("
    )


def test_should_sort_the_cores_it_is_given() -> None:
    plan = plan_placement(_config(), [5, 3, 0, 4, 1, 2], machine="x86_64")
    assert [p.cpu for p in plan.stages.values()] == [1, 2, 3, 4, 5]


def test_should_say_core_in_the_singular_for_one_core() -> None:
    plan = plan_placement(_config(), [0], machine="x86_64")
    assert plan.explanation.startswith("auto placement: 1 core for 5 stages: ")


def test_should_use_blocking_everywhere_on_a_weakly_ordered_cpu() -> None:
    for cores in ([0, 1], [0, 1, 2, 3, 4], list(range(8))):
        plan = plan_placement(_config(), cores, machine="aarch64")
        assert {p.idle for p in plan.stages.values()} == {"blocking"}, cores
    dedicated = plan_placement(_config(), list(range(6)), machine="aarch64")
    assert [p.cpu for p in dedicated.stages.values()] == [1, 2, 3, 4, 5]  # pinning is unaffected


def test_should_reject_an_explicit_busy_spin_on_a_weakly_ordered_cpu() -> None:
    config = _with_stage("relay2", idle="busy-spin")
    with pytest.raises(ConfigError) as exc:
        plan_placement(config, list(range(6)), machine="aarch64")
    assert exc.value.key == "stages.relay2.idle"
    assert exc.value.reason == (
        "idle strategy 'busy-spin' relies on x86-64 store ordering; this CPU is aarch64: use idle = \"blocking\""
    )


def test_should_keep_an_explicit_blocking_idle_on_a_weakly_ordered_cpu() -> None:
    plan = plan_placement(_with_stage("relay2", idle="blocking"), [0, 1], machine="aarch64")
    assert plan.stages["relay2"].idle == "blocking"


def test_should_keep_an_explicit_idle_even_where_auto_would_choose_otherwise() -> None:
    plan = plan_placement(_with_stage("sink", idle="busy-spin"), [0, 1], machine="x86_64")
    assert plan.stages["sink"] == Placement(None, "busy-spin")
    assert plan.stages["relay3"] == Placement(None, "blocking")


def test_should_keep_explicit_pins_and_give_auto_stages_the_other_cores() -> None:
    plan = plan_placement(_with_stage("source", cpu=3), list(range(6)), machine="x86_64")
    assert {name: p.cpu for name, p in plan.stages.items()} == {
        "source": 3,
        "relay1": 1,
        "relay2": 2,
        "relay3": 4,
        "sink": 5,
    }


def test_should_leave_a_stage_with_cpu_none_unpinned_even_with_cores_to_spare() -> None:
    plan = plan_placement(_with_stage("relay1", cpu="none"), list(range(8)), machine="x86_64")
    assert plan.stages["relay1"] == Placement(None, "busy-spin")
    assert [plan.stages[s].cpu for s in ("source", "relay2", "relay3", "sink")] == [1, 2, 3, 4]
    assert "relay1=cpu -/busy-spin" in plan.explanation


def test_should_record_asyncio_stages_as_idling_in_their_event_loop() -> None:
    from hftpipe.runtime.config import load_config
    from hftpipe.runtime.placement import plan_placement
    from tests.conftest import MARKETDATA_CONFIG

    plan = plan_placement(load_config(MARKETDATA_CONFIG), [0, 1])
    assert {name: p.idle for name, p in plan.stages.items()} == {
        "venue": "event-loop", "feed": "event-loop", "book": "blocking", "sink": "blocking",
    }
