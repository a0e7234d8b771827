"""Composite processes under the real supervisor: several stages in one OS process, still measured,
reported and supervised per stage; a stage failing inside one fails (and restarts) the whole process."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hftpipe.runtime.config import load_config
from hftpipe.runtime.report import pipeline_report
from hftpipe.runtime.supervisor import Supervisor
from hftpipe.runtime.validation import EX_CONFIG
from hftpipe.substrate.control_layout import PipelineState, StageState
from hftpipe.substrate.shm import list_entries
from tests.integration.probe_config import wait_for, write_probe_config

RELAYS = ("relay1", "relay2", "relay3")
IN_RELAYS = {relay: ('process = "relays"',) for relay in RELAYS}
ASYNC_RELAY = "tests.integration.composite_stages:AsyncRelay"
FAILING_RELAY = "tests.integration.composite_stages:FailingRelay"


@pytest.fixture
def make_supervisor(tmp_path: Path, pipeline_name: str) -> Iterator[Callable[..., Supervisor]]:
    started: list[Supervisor] = []

    def make(**options: object) -> Supervisor:
        supervisor = Supervisor(load_config(write_probe_config(tmp_path, pipeline_name, **options)))  # type: ignore[arg-type]
        started.append(supervisor)
        return supervisor

    yield make
    for supervisor in started:
        supervisor.destroy()


def _index(supervisor: Supervisor, stage: str) -> int:
    return supervisor.config.stage_index(stage)


def _pid(supervisor: Supervisor, stage: str) -> int:
    return supervisor.control.stage_pid(_index(supervisor, stage))


def _received(supervisor: Supervisor, stage: str = "sink") -> int:
    return supervisor.control.read_counters(_index(supervisor, stage))["messages_in"]


def test_should_run_polling_and_asyncio_stages_in_one_process_each_measured_and_reported_as_its_own(
    make_supervisor: Callable[..., Supervisor],
) -> None:
    supervisor = make_supervisor(stage_settings=IN_RELAYS, relay_classes={"relay2": ASYNC_RELAY})
    supervisor.start()
    assert [p.name for p in supervisor.processes] == ["source", "relays", "sink"]
    wait_for(lambda: _received(supervisor) > 500, "records through the composite to the sink")
    relay_pids = {_pid(supervisor, r) for r in RELAYS}
    assert len(relay_pids) == 1
    assert relay_pids.isdisjoint({_pid(supervisor, "source"), _pid(supervisor, "sink")})
    assert supervisor.processes[1].process is not None and relay_pids == {supervisor.processes[1].process.pid}
    for name in ("source", *RELAYS, "sink"):
        assert supervisor.control.stage_state(_index(supervisor, name)) is StageState.RUNNING
    assert supervisor.control.stage_idle(_index(supervisor, "relay1")) == "event-loop"  # an asyncio stage inside
    assert supervisor.check()
    supervisor.stop()
    assert supervisor.objects is not None
    report = pipeline_report(supervisor.control, supervisor.objects.rings)
    counters = report["counters"]
    sent = counters["source"]["messages_out"]
    # Nothing lost or repeated on the way, every stage counted its own records in and out.
    for name in RELAYS:
        assert counters[name]["messages_in"] == counters[name]["messages_out"] == sent, name
        assert counters[name]["heartbeat_ns"] > 0
        assert counters[name]["errors"] == 0
        assert report["stages"][name]["state"] == "closed"
        assert report["stages"][name]["last_exit"] == 0
    assert counters["sink"]["messages_in"] == sent
    assert counters["sink"]["sequence_gaps"] == 0 and counters["sink"]["sequence_repeats"] == 0
    assert counters["relay1"]["duty_cycles"] > 0 and counters["relay3"]["duty_cycles"] > 0  # the polling ones
    # Every hop has its own histogram, the ones inside the composite too.
    hops = {h["name"]: h["count"] for h in report["latency"]["hops"]}
    assert hops == {"source-relay1": sent, "relay1-relay2": sent, "relay2-relay3": sent, "relay3-sink": sent}
    assert report["latency"]["end_to_end"]["count"] == sent
    supervisor.destroy()
    assert list_entries(supervisor.config.name) == []


@pytest.mark.parametrize(
    "relay1_class", ["stages.probe:ProbeRelay", ASYNC_RELAY], ids=["polling only", "on an event loop"]
)
def test_should_report_a_failing_stage_in_a_composite_and_restart_the_whole_process(
    make_supervisor: Callable[..., Supervisor], relay1_class: str
) -> None:
    supervisor = make_supervisor(
        stage_settings={**IN_RELAYS, "relay2": ('process = "relays"', "params = { fail_after = 200 }")},
        relay_classes={"relay1": relay1_class, "relay2": FAILING_RELAY},
        on_failure="restart",
        max_restarts=1,
        pipeline_settings=("max_consecutive_errors = 5",),
    )
    supervisor.start()
    first_pid = _pid(supervisor, "relay1")
    relay2 = _index(supervisor, "relay2")
    wait_for(lambda: supervisor.check() and supervisor.control.stage_restarts(relay2) == 1, "the restart")
    message = "process relays (relay1, relay2, relay3) exited with status 70; stage relay2 failed"
    assert [e.message for e in supervisor.control.read_errors(None)] == [message]
    # The failing stage's own error log says what it raised; its siblings' stay clean.
    assert [e.message for e in supervisor.control.read_errors(relay2)] == ["RuntimeError: relay gave up"]
    assert supervisor.control.read_counters(relay2)["errors"] >= 5  # max_consecutive_errors, then it failed
    for name in ("relay1", "relay3"):
        assert supervisor.control.read_errors(_index(supervisor, name)) == []
    # The whole process was restarted: every stage of it, in one new process.
    wait_for(lambda: _pid(supervisor, "relay1") != first_pid, "the new process to register")
    assert len({_pid(supervisor, r) for r in RELAYS}) == 1
    assert [supervisor.control.stage_restarts(_index(supervisor, r)) for r in RELAYS] == [1, 1, 1]
    assert supervisor.control.stage_restarts(_index(supervisor, "sink")) == 0
    # It fails again 200 records later: the restart budget is spent, the pipeline stops.
    wait_for(lambda: not supervisor.check(), "the second failure")
    assert supervisor.failure == f"{message} (1 restarts used)"
    assert supervisor.control.stage_state(relay2) is StageState.FAILED
    for name in ("relay1", "relay3"):
        assert supervisor.control.stage_state(_index(supervisor, name)) is StageState.CLOSED
    assert supervisor.control.state is PipelineState.HALTED


def test_should_restart_a_killed_composite_as_a_whole(make_supervisor: Callable[..., Supervisor]) -> None:
    supervisor = make_supervisor(stage_settings=IN_RELAYS, on_failure="restart", max_restarts=1)
    supervisor.start()
    wait_for(lambda: _received(supervisor) > 50, "records at the sink")
    old_pid = _pid(supervisor, "relay2")
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: supervisor.check() and _pid(supervisor, "relay1") != old_pid, "the restart")
    assert [e.message for e in supervisor.control.read_errors(None)] == [
        "process relays (relay1, relay2, relay3) killed by SIGKILL"
    ]
    assert [supervisor.control.stage_restarts(_index(supervisor, r)) for r in RELAYS] == [1, 1, 1]
    before = _received(supervisor)
    wait_for(lambda: _received(supervisor) > before + 50, "records flowing again after the restart")


def test_should_refuse_a_stage_of_a_composite_started_alone_and_name_its_process(
    tmp_path: Path, pipeline_name: str, hftpipe_cmd: list[str]
) -> None:
    path = write_probe_config(tmp_path, pipeline_name, stage_settings=IN_RELAYS)
    result = subprocess.run(
        [*hftpipe_cmd, "stage", "relay2", "-c", str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == EX_CONFIG
    assert "stages.relay2.process: it runs in process 'relays' with relay1, relay2, relay3" in result.stderr
    assert "hftpipe process relays" in result.stderr


def test_should_exit_78_naming_the_key_of_a_process_mixing_pinned_cores(
    tmp_path: Path, pipeline_name: str, hftpipe_cmd: list[str]
) -> None:
    settings = {"relay1": ('process = "relays"', "cpu = 0"), "relay2": ('process = "relays"', "cpu = 1")}
    path = write_probe_config(tmp_path, pipeline_name, stage_settings=settings)
    result = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(path), "--duration", "1"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == EX_CONFIG
    assert "stages.relay2.cpu: 1 differs from 0 of stage 'relay1', which runs in the same process 'relays'" in (
        result.stderr
    )
    assert list_entries(pipeline_name) == []
