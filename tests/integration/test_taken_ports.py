"""A port that belongs to another process fails the start, in one line naming the key and the holder.

It used to be found only after READY: the exchange announced itself ready, the
publisher then died on EADDRINUSE, and ``restart-pipeline`` replayed the
journal five times before exiting 70.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from hftpipe.runtime.validation import EX_CONFIG
from hftpipe.substrate.shm import list_entries
from tests.conftest import DEFAULT_CONFIG
from tests.integration.exchange.harness import write_exchange_config


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port this test process listens on for the whole test."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


def _last_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    return stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("key", ["market_port", "api_port", "rest_port"])
def test_should_refuse_to_start_the_exchange_on_a_port_another_process_holds(
    hftpipe_cmd: list[str], tmp_path: Path, pipeline_name: str, held_port: int, key: str
) -> None:
    config = write_exchange_config(tmp_path, pipeline_name, flow=False)
    text = config.read_text()
    configured = tomllib.loads(text)["exchange"][key]
    config.write_text(text.replace(f"{key} = {configured}", f"{key} = {held_port}", 1))
    result = subprocess.run(
        [*hftpipe_cmd, "exchange", "run", "-c", str(config), "--duration", "5"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == EX_CONFIG, result.stderr
    assert "ready" not in result.stdout
    pattern = (
        rf"hftpipe: startup failed: stage '\w+' exited with status 78 during startup: cannot start: "
        rf"exchange\.{key}: 127\.0\.0\.1:{held_port} is in use by pid {os.getpid()} \(.+\)"
    )
    assert re.fullmatch(pattern, _last_line(result.stderr)), result.stderr
    assert list_entries(pipeline_name) == []


def test_should_refuse_to_start_the_replay_venue_on_a_port_another_process_holds(
    hftpipe_cmd: list[str], tmp_path: Path, pipeline_name: str, held_port: int
) -> None:
    config = tmp_path / "default.toml"
    text = DEFAULT_CONFIG.read_text().replace("port = 19443", f"port = {held_port}", 1)
    config.write_text(text.replace('name = "default"', f'name = "{pipeline_name}"', 1))
    shutil.copytree(DEFAULT_CONFIG.parent / "captures", tmp_path / "captures")
    result = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(config), "--duration", "5"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == EX_CONFIG, result.stderr
    pattern = (
        r"hftpipe: startup failed: stage 'venue' exited with status 78 during startup: cannot start: "
        rf"stages\.venue\.params\.port: 127\.0\.0\.1:{held_port} is in use by pid {os.getpid()} \(.+\)"
    )
    assert re.fullmatch(pattern, _last_line(result.stderr)), result.stderr
    assert list_entries(pipeline_name) == []
