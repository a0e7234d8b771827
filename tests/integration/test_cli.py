"""The ``hftpipe`` command as a user runs it: real processes, real shared memory."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.control_layout import PipelineState
from hftpipe.substrate.shm import SHM_DIR, list_entries
from tests.conftest import MARKETDATA_CONFIG, PROBE_CONFIG
from tests.integration.cli_output import one_line_error
from tests.integration.probe_config import wait_for, write_probe_config


def _is_running(name: str) -> bool:
    try:
        control = ControlFile.attach(name, readonly=True)
    except (FileNotFoundError, RuntimeError):
        return False
    try:
        return control.state is PipelineState.RUNNING
    finally:
        control.close()


@pytest.fixture
def background_run(hftpipe_cmd: list[str], tmp_path: Path, pipeline_name: str) -> Iterator[subprocess.Popen[str]]:
    """``hftpipe run`` in the background on a probe pipeline, until the test is done with it."""
    config = write_probe_config(tmp_path, pipeline_name)
    process = subprocess.Popen(
        [*hftpipe_cmd, "run", "-c", str(config), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: _is_running(pipeline_name) or process.poll() is not None, "the pipeline to run")
        assert process.poll() is None, process.communicate()
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=60)


def test_should_print_json_summary_with_nonzero_counts_for_default_pipeline(
    hftpipe_cmd: list[str], pipeline_name: str
) -> None:
    result = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(PROBE_CONFIG), "--name", pipeline_name, "--duration", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["pipeline"] == pipeline_name
    assert summary["failure"] is None
    counters = summary["counters"]
    assert counters["source"]["messages_out"] > 0
    assert counters["sink"]["messages_in"] > 0
    assert counters["sink"]["sequence_gaps"] == 0
    assert counters["sink"]["sequence_repeats"] == 0
    hops = summary["latency"]["hops"]
    assert [h["name"] for h in hops] == ["source-relay1", "relay1-relay2", "relay2-relay3", "relay3-sink"]
    for hop in [*hops, summary["latency"]["end_to_end"]]:
        assert hop["count"] > 0
        assert 0 < hop["p50_ns"] <= hop["p99_ns"] <= hop["p999_ns"] <= hop["max_ns"]
        assert set(hop) >= {"count", "p50_ns", "p99_ns", "p999_ns", "max_ns"}
    assert summary["latency"]["end_to_end"]["count"] == counters["sink"]["messages_in"]
    for ring in summary["rings"].values():
        assert ring["produced"] == ring["consumed"] > 0  # stopped upstream first: every ring drained
    assert summary["placement"].startswith("auto placement: ")


def test_should_stop_cleanly_on_sigterm_and_still_print_the_summary(
    background_run: subprocess.Popen[str], pipeline_name: str
) -> None:
    background_run.send_signal(signal.SIGTERM)
    stdout, stderr = background_run.communicate(timeout=60)
    assert background_run.returncode == 0, stderr
    summary = json.loads(stdout)
    assert {info["state"] for info in summary["stages"].values()} == {"closed"}
    assert {info["last_exit"] for info in summary["stages"].values()} == {0}
    assert list_entries(pipeline_name) == []


def test_should_report_running_pipeline_with_stat_and_latency(
    background_run: subprocess.Popen[str], hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path
) -> None:
    stat = subprocess.run(
        [*hftpipe_cmd, "stat", "--name", pipeline_name, "--json"], capture_output=True, text=True, check=True
    )
    report = json.loads(stat.stdout)
    assert report["state"] == "running"
    assert report["owner_pid"] == background_run.pid
    assert set(report["stages"]) == {"source", "relay1", "relay2", "relay3", "sink"}
    assert set(report["rings"]) == {"source-relay1", "relay1-relay2", "relay2-relay3", "relay3-sink"}

    wait_for(lambda: _e2e_count(hftpipe_cmd, pipeline_name) > 0, "latency samples")
    hgrm = tmp_path / "e2e.hgrm"
    subprocess.run([*hftpipe_cmd, "latency", "--name", pipeline_name, "--hgrm", str(hgrm)], check=True)
    text = hgrm.read_text()
    assert text.splitlines()[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    assert "#[Max     =" in text

    text_stat = subprocess.run(
        [*hftpipe_cmd, "stat", "--name", pipeline_name], capture_output=True, text=True, check=True
    )
    assert f"pipeline {pipeline_name} [running]" in text_stat.stdout


def _e2e_count(hftpipe_cmd: list[str], name: str) -> int:
    out = subprocess.run(
        [*hftpipe_cmd, "latency", "--name", name, "--json"], capture_output=True, text=True, check=True
    )
    return int(json.loads(out.stdout)["end_to_end"]["count"])


def test_should_remove_segments_of_killed_supervisor_at_next_start(
    background_run: subprocess.Popen[str], hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path
) -> None:
    stage_pids = [
        s["pid"]
        for s in json.loads(
            subprocess.run(
                [*hftpipe_cmd, "stat", "--name", pipeline_name, "--json"], capture_output=True, text=True, check=True
            ).stdout
        )["stages"].values()
    ]
    background_run.kill()
    background_run.wait(timeout=30)  # not communicate(): the orphaned stages still hold its pipes
    # The stages notice their owner is gone and leave; the segments stay behind, stale.
    wait_for(lambda: not any(_alive(pid) for pid in stage_pids), "orphaned stages to exit")
    left = list_entries(pipeline_name)
    assert left and not any(entry.alive for entry in left)
    listing = subprocess.run([*hftpipe_cmd, "shm", "ls"], capture_output=True, text=True, check=True).stdout
    assert f"/hftpipe.{pipeline_name}.control" in listing and "STALE" in listing

    config = tmp_path / f"{pipeline_name}.toml"
    again = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(config), "--duration", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert f"stale shared-memory objects of a dead owner: /hftpipe.{pipeline_name}.control" in again.stderr
    assert json.loads(again.stdout)["counters"]["sink"]["messages_in"] > 0
    assert list_entries(pipeline_name) == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of the killed supervisor is gone for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_should_clean_only_stale_segments_with_shm_clean(
    background_run: subprocess.Popen[str], hftpipe_cmd: list[str], pipeline_name: str
) -> None:
    subprocess.run([*hftpipe_cmd, "shm", "clean"], capture_output=True, text=True, check=True)
    assert _is_running(pipeline_name), "shm clean must leave a live pipeline alone"
    assert all(entry.alive for entry in list_entries(pipeline_name))


def test_should_exit_78_naming_the_key_for_a_bad_config(hftpipe_cmd: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(PROBE_CONFIG.read_text().replace("capacity = 4096", "capacity = 1000", 1))
    result = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(bad), "--duration", "1"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 78
    assert result.stderr.strip() == (
        "hftpipe: config error: rings[0].capacity: must be a power of two <= 16777216, got 1000"
    )


def _refused_run(hftpipe_cmd: list[str], config: Path, code: int, **options: Any) -> str:
    """``hftpipe run`` of ``config`` that must exit ``code``; its one error line."""
    result = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(config), "--duration", "1", "--json"],
        capture_output=True,
        text=True,
        check=False,
        **options,
    )
    assert result.returncode == code, result.stderr
    return one_line_error(result.stderr)


def test_should_exit_78_for_a_ring_bigger_than_a_ring_may_be_and_create_nothing(
    hftpipe_cmd: list[str], tmp_path: Path, pipeline_name: str
) -> None:
    config = write_probe_config(tmp_path, pipeline_name)
    config.write_text(config.read_text().replace("slot_size = 64", "slot_size = 2147483648", 1))
    assert _refused_run(hftpipe_cmd, config, 78) == (
        "hftpipe: config error: rings[0].slot_size: ring slots may take at most 1073741824 bytes (1 GiB),"
        " got capacity 1024 x slot size 2147483648 = 2199023255552"
    )
    assert list_entries(pipeline_name) == []


def test_should_exit_78_naming_the_ring_that_does_not_fit_in_the_free_shared_memory(
    hftpipe_cmd: list[str], tmp_path: Path, pipeline_name: str
) -> None:
    fs = os.statvfs(SHM_DIR)
    rings = fs.f_bavail * fs.f_frsize // (1 << 30) + 2  # of 1 GiB each: more than /dev/shm has free
    lines = [
        f'[pipeline]\nname = "{pipeline_name}"',
        '[stages.source]\nclass = "stages.probe:ProbeSource"',
        '[stages.sink]\nclass = "stages.probe:ProbeSink"',
        *(
            f'[[rings]]\nname = "r{i}"\nfrom = "source"\nto = "sink"\ncapacity = 16777216\nslot_size = 64'
            for i in range(rings)
        ),
    ]
    config = tmp_path / "big.toml"
    config.write_text("\n\n".join(lines) + "\n")
    line = _refused_run(hftpipe_cmd, config, 78)
    assert re.fullmatch(
        r"hftpipe: config error: rings\[(\d+)\]: ring 'r\1' brings the pipeline's shared memory to \d+ bytes,"
        r" more than the \d+ bytes free in /dev/shm",
        line,
    ), line
    assert list_entries(pipeline_name) == []


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def test_should_exit_70_in_one_line_and_leave_nothing_when_shared_memory_cannot_be_created(
    hftpipe_cmd: list[str], tmp_path: Path, pipeline_name: str
) -> None:
    """Under a 1 MiB file size limit the control file fits and the first 4 MiB ring does not."""
    config = write_probe_config(tmp_path, pipeline_name)
    config.write_text(config.read_text().replace("capacity = 1024", "capacity = 65536", 1))
    assert _refused_run(hftpipe_cmd, config, 70, preexec_fn=_limit_file_size) == (
        f"hftpipe: startup failed: cannot create the shared memory of pipeline {pipeline_name!r}:"
        f" {SHM_DIR}/hftpipe.{pipeline_name}.ring.source-relay1: File too large"
    )
    assert list_entries(pipeline_name) == []


def test_should_fail_start_in_one_line_naming_a_ring_too_small_for_its_records(
    hftpipe_cmd: list[str], tmp_path: Path, pipeline_name: str
) -> None:
    config = write_probe_config(tmp_path, pipeline_name, relays=0)
    config.write_text(config.read_text().replace("slot_size = 64", "slot_size = 8"))
    result = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(config), "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 78  # the stage refused its config: the run exits as a config error
    assert "Traceback" not in result.stderr, result.stderr
    ring = f"/hftpipe.{pipeline_name}.ring.source-sink"
    last_line = re.escape(
        f"exited with status 78 during startup: cannot start: ring {ring} slots (8 B) are smaller than "
        "a 64-byte probe record"
    )
    assert re.fullmatch(rf"hftpipe: startup failed: stage '(source|sink)' {last_line}", result.stderr.splitlines()[-1])
    assert list_entries(pipeline_name) == []


def test_should_exit_78_for_a_replay_venue_port_out_of_range(hftpipe_cmd: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "default.toml"
    bad.write_text(MARKETDATA_CONFIG.read_text().replace("port = 19443", "port = 70000", 1))
    shutil.copytree(MARKETDATA_CONFIG.parent / "captures", tmp_path / "captures")
    result = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(bad), "--duration", "1"], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stderr.strip()) == (
        78,
        "hftpipe: config error: stages.venue.params.port: must be a TCP port 0..65535, got 70000",
    )
