"""Shared fixtures: unique shared-memory names per test, and proof nothing is left behind.

Every test that touches /dev/shm takes ``pipeline_name`` (a fresh pipeline
name) or ``ring_name`` (a fresh ring segment name). After each test, anything
left under that pipeline's prefix fails the test; after the session, anything
left under the suite's prefix does too.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hftpipe.substrate.shm import PREFIX, SHM_DIR, remove_pipeline

SUITE_TAG = f"t{os.getpid()}"
"""Every pipeline name of this test session starts with this tag."""


def leftovers(pipeline_prefix: str) -> list[str]:
    stem = f"{PREFIX}.{pipeline_prefix}"
    return sorted(f for f in os.listdir(SHM_DIR) if f.startswith(stem) or f.startswith(f"sem.{stem}"))


@pytest.fixture
def pipeline_name() -> Iterator[str]:
    name = f"{SUITE_TAG}-{secrets.token_hex(4)}"
    yield name
    left = leftovers(name)
    remove_pipeline(name)
    assert not left, f"test left shared memory behind: {left}"


@pytest.fixture
def ring_name(pipeline_name: str) -> Callable[[str], str]:
    """``ring_name("x")`` -> a segment name under this test's unique pipeline."""
    from hftpipe.runtime.wiring import ring_segment_name

    return lambda name="r": ring_segment_name(pipeline_name, name)


@pytest.fixture(scope="session", autouse=True)
def _no_shared_memory_left_after_suite() -> Iterator[None]:
    yield
    left = leftovers(SUITE_TAG)
    for name in {f.removeprefix("sem.").split(".")[1] for f in left}:
        remove_pipeline(name)
    assert not left, f"the suite left shared memory behind: {left}"


def hftpipe_command() -> list[str]:
    """The CLI as a subprocess command, from this interpreter's environment."""
    exe = shutil.which("hftpipe", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "hftpipe"]


@pytest.fixture
def hftpipe_cmd() -> list[str]:
    """The CLI as a subprocess command, from this interpreter's environment."""
    return hftpipe_command()


REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "configs" / "default.toml"
"""The embedded default: the whole trading system on the loopback exchange (fixed ports 19543/19544)."""
MARKETDATA_CONFIG = REPO / "configs" / "marketdata-replay.toml"
"""The market-data demo: the capture replay venue (port 19443) -> feed -> book -> sink."""
PROBE_CONFIG = REPO / "configs" / "probe.toml"
