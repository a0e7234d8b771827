"""The supervisor with real stage processes: failures are detected, recorded and handled per policy."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hftpipe.runtime.config import load_config
from hftpipe.runtime.supervisor import PipelineAlreadyRunningError, StartupFailedError, Supervisor
from hftpipe.substrate.control_layout import PipelineState, StageState
from hftpipe.substrate.shm import list_entries
from tests.integration.probe_config import wait_for, write_probe_config


@pytest.fixture
def make_supervisor(tmp_path: Path, pipeline_name: str) -> Iterator[object]:
    started: list[Supervisor] = []

    def make(clock: Callable[[], float] = time.monotonic, **options: object) -> Supervisor:
        path = write_probe_config(tmp_path, pipeline_name, **options)  # type: ignore[arg-type]
        supervisor = Supervisor(load_config(path), clock=clock)
        started.append(supervisor)
        return supervisor

    yield make
    for supervisor in started:
        supervisor.destroy()


def _sink_received(supervisor: Supervisor) -> int:
    return supervisor.control.read_counters(supervisor.config.stage_index("sink"))["messages_in"]


def _pid_of(supervisor: Supervisor, stage: str) -> int:
    return supervisor.control.stage_pid(supervisor.config.stage_index(stage))


def test_should_start_every_stage_and_move_records_end_to_end(make_supervisor) -> None:  # type: ignore[no-untyped-def]
    supervisor: Supervisor = make_supervisor()
    supervisor.start()
    assert supervisor.control.state is PipelineState.RUNNING
    wait_for(lambda: _sink_received(supervisor) > 100, "records at the sink")
    for index in range(len(supervisor.processes)):
        assert supervisor.control.stage_state(index) is StageState.RUNNING
    assert supervisor.check()


def test_should_restart_stage_killed_with_sigkill_when_policy_is_restart(make_supervisor) -> None:  # type: ignore[no-untyped-def]
    supervisor: Supervisor = make_supervisor(on_failure="restart", max_restarts=2)
    supervisor.start()
    wait_for(lambda: _sink_received(supervisor) > 50, "records at the sink")
    victim = supervisor.config.stage_index("relay2")
    old_pid = _pid_of(supervisor, "relay2")
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: supervisor.check() and supervisor.control.stage_restarts(victim) == 1, "the restart")
    assert supervisor.failure is None
    assert supervisor.control.state is PipelineState.RUNNING
    assert _pid_of(supervisor, "relay2") != old_pid
    assert [e.message for e in supervisor.control.read_errors(None)] == ["stage relay2 killed by SIGKILL"]
    before = _sink_received(supervisor)
    wait_for(lambda: _sink_received(supervisor) > before + 50, "records flowing after the restart")


def test_should_restart_every_stage_on_fresh_memory_when_policy_is_restart_pipeline(make_supervisor) -> None:  # type: ignore[no-untyped-def]
    supervisor: Supervisor = make_supervisor(on_failure="restart-pipeline", max_restarts=1)
    supervisor.start()
    wait_for(lambda: _sink_received(supervisor) > 50, "records at the sink")
    old_pids = {stage.name: _pid_of(supervisor, stage.name) for stage in supervisor.processes}
    old_control = supervisor.control
    os.kill(old_pids["relay2"], signal.SIGKILL)
    wait_for(lambda: supervisor.check() and supervisor.pipeline_restarts == 1, "the pipeline restart")
    assert supervisor.failure is None
    assert supervisor.control is not old_control
    assert supervisor.control.state is PipelineState.RUNNING
    new_pids = {stage.name: _pid_of(supervisor, stage.name) for stage in supervisor.processes}
    assert all(new_pids[name] != old_pids[name] for name in old_pids)
    assert [e.message for e in supervisor.control.read_errors(None)] == [
        "stage relay2 killed by SIGKILL; pipeline restarted (1)"
    ]
    wait_for(lambda: _sink_received(supervisor) > 50, "records flowing after the restart")
    os.kill(new_pids["relay1"], signal.SIGKILL)
    wait_for(lambda: not supervisor.check(), "the stop once the restarts are used")
    assert supervisor.failure == "stage relay1 killed by SIGKILL (1 pipeline restarts used)"


def test_should_halt_then_stop_pipeline_when_stage_dies_and_policy_is_stop(make_supervisor) -> None:  # type: ignore[no-untyped-def]
    supervisor: Supervisor = make_supervisor(on_failure="stop")
    supervisor.start()
    os.kill(_pid_of(supervisor, "relay1"), signal.SIGKILL)
    wait_for(lambda: not supervisor.check(), "the failure to be detected")
    assert supervisor.failure == "stage relay1 killed by SIGKILL (on_failure = stop)"
    # Every other stage can see that the pipeline is halted before it is stopped.
    assert supervisor.control.state is PipelineState.HALTED
    assert supervisor.control.halted
    assert supervisor.control.stage_state(supervisor.config.stage_index("relay1")) is StageState.FAILED
    supervisor.stop()
    for stage in supervisor.processes:
        assert stage.process is not None and stage.process.poll() is not None
    supervisor.destroy()
    assert list_entries(supervisor.config.name) == []


def test_should_kill_and_report_stage_that_stops_heart_beating(make_supervisor) -> None:  # type: ignore[no-untyped-def]
    supervisor: Supervisor = make_supervisor(on_failure="stop", heartbeat_timeout_ms=300)
    supervisor.start()
    os.kill(_pid_of(supervisor, "relay3"), signal.SIGSTOP)  # alive, but silent
    wait_for(lambda: not supervisor.check(), "the stall to be detected")
    assert supervisor.failure is not None
    assert supervisor.failure.startswith("stage relay3 stopped heart-beating for ")
    assert supervisor.failure.endswith(" ms (killed) (on_failure = stop)")


def test_should_stop_after_max_restarts_are_used(make_supervisor) -> None:  # type: ignore[no-untyped-def]
    supervisor: Supervisor = make_supervisor(on_failure="restart", max_restarts=1)
    supervisor.start()
    victim = supervisor.config.stage_index("sink")
    os.kill(_pid_of(supervisor, "sink"), signal.SIGKILL)
    wait_for(lambda: supervisor.check() and supervisor.control.stage_restarts(victim) == 1, "the first restart")
    os.kill(_pid_of(supervisor, "sink"), signal.SIGKILL)
    wait_for(lambda: not supervisor.check(), "the second failure")
    assert supervisor.failure == "stage sink killed by SIGKILL (1 restarts used)"


class SteppedClock:
    """The supervisor's restart-rate clock, stepped by the test: no test waits out a window."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_should_stop_when_a_stage_is_killed_more_than_max_restarts_times_within_the_window(make_supervisor) -> None:  # type: ignore[no-untyped-def]
    supervisor: Supervisor = make_supervisor(on_failure="restart", max_restarts=2, restart_window_s=3600)
    supervisor.start()
    victim = supervisor.config.stage_index("sink")
    for restarts in (1, 2):
        os.kill(_pid_of(supervisor, "sink"), signal.SIGKILL)
        wait_for(lambda n=restarts: supervisor.check() and supervisor.control.stage_restarts(victim) == n, "a restart")
    os.kill(_pid_of(supervisor, "sink"), signal.SIGKILL)
    wait_for(lambda: not supervisor.check(), "the third failure within the window")
    assert supervisor.failure == "stage sink killed by SIGKILL (2 restarts used)"


def test_should_not_count_restarts_older_than_the_window(make_supervisor) -> None:  # type: ignore[no-untyped-def]
    """max_restarts is a rate: two faults an hour apart do not use up a burst of one, as a lifetime budget did."""
    clock = SteppedClock()
    supervisor: Supervisor = make_supervisor(on_failure="restart", max_restarts=1, restart_window_s=60, clock=clock)
    supervisor.start()
    victim = supervisor.config.stage_index("sink")
    os.kill(_pid_of(supervisor, "sink"), signal.SIGKILL)
    wait_for(lambda: supervisor.check() and supervisor.control.stage_restarts(victim) == 1, "the first restart")
    clock.now += 3600.0
    os.kill(_pid_of(supervisor, "sink"), signal.SIGKILL)
    wait_for(lambda: supervisor.check() and supervisor.control.stage_restarts(victim) == 2, "a restart an hour later")
    assert supervisor.failure is None
    os.kill(_pid_of(supervisor, "sink"), signal.SIGKILL)  # the same instant: a second one within the window
    wait_for(lambda: not supervisor.check(), "the stop")
    assert supervisor.failure == "stage sink killed by SIGKILL (1 restarts used)"


def test_should_rate_limit_pipeline_restarts_the_same_way(make_supervisor) -> None:  # type: ignore[no-untyped-def]
    clock = SteppedClock()
    supervisor: Supervisor = make_supervisor(
        on_failure="restart-pipeline", max_restarts=1, restart_window_s=60, relays=1, clock=clock
    )
    supervisor.start()
    os.kill(_pid_of(supervisor, "relay1"), signal.SIGKILL)
    wait_for(lambda: supervisor.check() and supervisor.pipeline_restarts == 1, "the first pipeline restart")
    clock.now += 3600.0
    os.kill(_pid_of(supervisor, "relay1"), signal.SIGKILL)
    wait_for(lambda: supervisor.check() and supervisor.pipeline_restarts == 2, "a pipeline restart an hour later")
    assert supervisor.failure is None
    os.kill(_pid_of(supervisor, "relay1"), signal.SIGKILL)
    wait_for(lambda: not supervisor.check(), "the stop")
    assert supervisor.failure == "stage relay1 killed by SIGKILL (1 pipeline restarts used)"


def test_should_refuse_to_start_a_pipeline_that_is_already_running(make_supervisor) -> None:  # type: ignore[no-untyped-def]
    first: Supervisor = make_supervisor()
    first.start()
    second: Supervisor = make_supervisor()
    with pytest.raises(PipelineAlreadyRunningError, match=rf"pipeline '{first.config.name}' is already running"):
        second.start()
    assert first.control.state is PipelineState.RUNNING


def test_should_stop_in_order_and_leave_nothing_in_dev_shm(make_supervisor) -> None:  # type: ignore[no-untyped-def]
    supervisor: Supervisor = make_supervisor()
    supervisor.start()
    wait_for(lambda: _sink_received(supervisor) > 10, "records at the sink")
    supervisor.stop()
    for index in range(len(supervisor.processes)):
        assert supervisor.control.stage_state(index) is StageState.CLOSED
        assert supervisor.control.stage_exit(index) == 0
    supervisor.destroy()
    assert list_entries(supervisor.config.name) == []


def test_should_fail_startup_and_clean_up_when_a_stage_cannot_start(tmp_path: Path, pipeline_name: str) -> None:
    path = write_probe_config(tmp_path, pipeline_name)
    config = load_config(path)
    path.write_text(path.read_text().replace("stages.probe:ProbeSink", "stages.probe:NoSuchSink"))
    supervisor = Supervisor(config)  # validated before the file changed: the stage process will fail
    with pytest.raises(StartupFailedError, match=r"stage '\w+' exited with status 78 during startup"):
        supervisor.start()
    assert list_entries(pipeline_name) == []


def test_should_pin_stage_and_apply_or_report_realtime_settings(make_supervisor) -> None:  # type: ignore[no-untyped-def]
    supervisor: Supervisor = make_supervisor(
        sink_settings=("cpu = 1", "realtime_priority = 10", "mlockall = true", 'idle = "blocking"')
    )
    supervisor.start()
    sink = supervisor.config.stage_index("sink")
    pid = _pid_of(supervisor, "sink")
    assert os.sched_getaffinity(pid) == {1}
    assert supervisor.control.stage_cpu(sink) == 1
    assert supervisor.control.stage_idle(sink) == "blocking"
    problems = [e.message for e in supervisor.control.read_errors(sink)]
    # Either the OS granted SCHED_FIFO, or the stage says exactly why not and runs on.
    fifo_refused = (
        "SCHED_FIFO priority 10 not permitted (needs CAP_SYS_NICE, or LimitRTPRIO= in the systemd unit); "
        "running SCHED_OTHER"
    )
    assert os.sched_getscheduler(pid) == os.SCHED_FIFO or fifo_refused in problems
    assert all(p == fifo_refused or p.startswith("mlockall failed: ") for p in problems)
    wait_for(lambda: _sink_received(supervisor) > 10, "records at the pinned sink")

