"""``hftpipe units`` on the shipped configs, checked by systemd itself: ``systemd-analyze verify``
accepts every unit with nothing on stderr, and ``systemd-analyze security`` rates the owner unit
OK or better. CI installs systemd where it is missing (.ci/run)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
pytestmark = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (CI installs it: apt-get install systemd)"
)
CONFIGS = ["default.toml", "marketdata-replay.toml"]
GOOD_LEVELS = {"PERFECT", "SAFE", "OK"}


def _generate(hftpipe_cmd: list[str], config: str, out: Path, *extra: str) -> list[Path]:
    result = subprocess.run(
        [*hftpipe_cmd, "units", "-c", str(REPO / "configs" / config), "--out", str(out), *extra],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    files = sorted(out.iterdir())
    assert sorted(result.stdout.split()) == [str(f) for f in files]
    return files


def _analyze(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args], check=False, capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


@pytest.mark.parametrize("user_mode", [False, True], ids=["system", "user"])
@pytest.mark.parametrize("config", CONFIGS)
def test_should_generate_units_systemd_verifies_and_rates_ok(
    tmp_path: Path, hftpipe_cmd: list[str], config: str, user_mode: bool
) -> None:
    out = tmp_path / "units"
    files = _generate(hftpipe_cmd, config, out, *(["--user"] if user_mode else []))
    assert {f.suffix for f in files} == {".service", ".target"}
    env = dict(os.environ)
    manager: list[str] = []
    if user_mode:  # a user manager's paths need a runtime directory, even offline
        runtime = tmp_path / "xdg"
        runtime.mkdir(mode=0o700)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        manager = ["--user"]
    verify = _analyze([*manager, "verify", *[f.name for f in files]], env, out)
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    service = next(f for f in files if f.suffix == ".service")
    security = _analyze([*manager, "security", "--offline=true", service.name], env, out)
    level = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", security.stdout)
    assert level is not None, security.stdout + security.stderr
    assert level.group(2) in GOOD_LEVELS, security.stdout
