"""Shared memory of another user, through the CLI: never ours to run on, read, call stale or remove.

Real users (created per test), real processes, real segments: one user squats
a pipeline's name with a control file of its own; root runs a pipeline that
another user looks at.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from hftpipe.substrate.control import ControlFile, control_segment_name
from hftpipe.substrate.shm import SHM_DIR
from tests.conftest import PROBE_CONFIG, REPO
from tests.integration.cli_output import one_line_error
from tests.other_user import OtherUser, unprivileged_user

EX_UNAVAILABLE = 69
EX_NOPERM = 77

SQUAT = """
import sys
from hftpipe.substrate.control import control_segment_name
from hftpipe.substrate.shm import KIND_CONTROL, Segment
Segment.create(control_segment_name(sys.argv[1]), 4096, KIND_CONTROL)
print("squatting", flush=True)
sys.stdin.read()
"""
"""A control file with our magic and the pid of a live process of the squatter's own."""


def _path(name: str) -> str:
    return os.path.join(SHM_DIR, name.lstrip("/"))


@pytest.fixture
def other_user() -> Iterator[OtherUser]:
    with unprivileged_user(REPO) as user:
        yield user


@pytest.fixture
def squatted(other_user: OtherUser, pipeline_name: str) -> Iterator[str]:
    """``pipeline_name``'s control file, created by another user whose process stays alive."""
    squatter = other_user.python_code(SQUAT, pipeline_name, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    path = _path(control_segment_name(pipeline_name))
    try:
        assert squatter.stdout is not None and squatter.stdout.readline() == "squatting\n"
        assert os.stat(path).st_uid == other_user.uid
        yield path
    finally:
        squatter.communicate(input="", timeout=60)
        if os.path.exists(path):
            os.unlink(path)


def test_should_refuse_to_run_on_a_name_another_user_squats_and_leave_its_segment(
    squatted: str, other_user: OtherUser, hftpipe_cmd: list[str], pipeline_name: str
) -> None:
    run = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(PROBE_CONFIG), "--name", pipeline_name, "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == EX_NOPERM, run.stderr
    line = one_line_error(run.stderr)
    assert squatted in line and f"uid {other_user.uid}" in line and "already running" not in line

    stat = subprocess.run([*hftpipe_cmd, "stat", "--name", pipeline_name], capture_output=True, text=True, check=False)
    assert stat.returncode == EX_NOPERM
    assert squatted in one_line_error(stat.stderr)

    listing = subprocess.run([*hftpipe_cmd, "shm", "ls"], capture_output=True, text=True, check=True).stdout
    row = next(line for line in listing.splitlines() if line.startswith(f"/hftpipe.{pipeline_name}.control"))
    assert row.split()[-3:] == ["uid", str(other_user.uid), "foreign"]

    clean = subprocess.run([*hftpipe_cmd, "shm", "clean"], capture_output=True, text=True, check=True)
    assert os.path.exists(squatted), "shm clean removed another user's segment"
    assert f"/hftpipe.{pipeline_name}.control" not in "".join(
        line for line in clean.stdout.splitlines() if line.startswith("removed ")
    )


@pytest.fixture
def roots_pipeline(pipeline_name: str) -> Iterator[str]:
    """A live pipeline of root's: its control file, owned by this (live) test process."""
    control = ControlFile.create(pipeline_name, ["a"], [])
    try:
        yield _path(control.segment.name)
    finally:
        control.close()
        control.segment.unlink()


def test_should_show_a_non_root_user_roots_pipeline_as_foreign_and_refuse_without_a_traceback(
    roots_pipeline: str, other_user: OtherUser, pipeline_name: str
) -> None:
    listing = other_user.hftpipe("shm", "ls")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith(f"/hftpipe.{pipeline_name}.control"))
    assert row.split()[-3:] == ["uid", "0", "foreign"], row

    clean = other_user.hftpipe("shm", "clean")
    assert clean.returncode == 0, clean.stderr
    assert "Traceback" not in clean.stderr
    assert f"left /hftpipe.{pipeline_name}.control alone: owned by uid 0, not ours" in clean.stdout
    assert os.path.exists(roots_pipeline)

    stat = other_user.hftpipe("stat", "--name", pipeline_name)
    assert stat.returncode == EX_NOPERM
    line = one_line_error(stat.stderr)
    assert roots_pipeline in line and "uid 0" in line

    unnamed = other_user.hftpipe("stat")
    assert unnamed.returncode == EX_UNAVAILABLE
    assert f"{pipeline_name} (uid 0)" in one_line_error(unnamed.stderr)
