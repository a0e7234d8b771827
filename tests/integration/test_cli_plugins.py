"""What applications plug into ``hftpipe``: their commands, and the new paths of moved stage classes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import MARKETDATA_CONFIG


def test_should_exit_78_naming_the_new_path_for_a_config_with_a_moved_stage_class(
    hftpipe_cmd: list[str], tmp_path: Path
) -> None:
    old = tmp_path / "old.toml"
    new_path = "stages.marketdata.book.stage:BookStage"
    old.write_text(MARKETDATA_CONFIG.read_text().replace(new_path, "stages.book.stage:BookStage"))
    shutil.copytree(MARKETDATA_CONFIG.parent / "captures", tmp_path / "captures")  # paths follow the config file
    result = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(old), "--duration", "1"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 78
    assert result.stderr.strip() == (
        f"hftpipe: config error: stages.book.class: stages.book.stage:BookStage has moved: name it {new_path!r}"
    )


def test_should_list_and_run_the_commands_the_applications_register(hftpipe_cmd: list[str]) -> None:
    help_text = subprocess.run([*hftpipe_cmd, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("bench", "book", "exchange", "record", "replay", "run", "stage", "stat", "latency", "shm"):
        assert f"\n  {command} " in help_text, help_text
    exchange_help = subprocess.run(
        [*hftpipe_cmd, "exchange", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "deposit" in exchange_help
