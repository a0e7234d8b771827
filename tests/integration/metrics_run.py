"""A running pipeline and ``hftpipe metrics`` beside it, for the exporter's tests."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.control_layout import PipelineState
from tests.conftest import MARKETDATA_CONFIG
from tests.integration.exchange.harness import free_port
from tests.integration.probe_config import wait_for
from tests.integration.prometheus_server import http_get

DEFAULT_VENUE_PORT = "19443"


def write_marketdata_config(directory: Path, name: str) -> Path:
    """The market-data replay (loopback venue -> feed -> book -> sink) under ``name`` on a free port."""
    text = MARKETDATA_CONFIG.read_text().replace(DEFAULT_VENUE_PORT, str(free_port()))
    config = directory / "marketdata-replay.toml"
    config.write_text(text.replace('name = "marketdata-replay"', f'name = "{name}"', 1))
    shutil.copytree(MARKETDATA_CONFIG.parent / "captures", directory / "captures")
    return config


def is_running(name: str) -> bool:
    try:
        control = ControlFile.attach(name, readonly=True)
    except (FileNotFoundError, RuntimeError):
        return False
    try:
        return control.state is PipelineState.RUNNING
    finally:
        control.close()


class Background:
    """A command in the background, stopped with SIGTERM; its output kept in a file."""

    def __init__(self, command: list[str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_pipeline(hftpipe_cmd: list[str], config: Path, name: str, log: Path) -> Background:
    run = Background([*hftpipe_cmd, "run", "-c", str(config), "--json"], log)
    wait_for(lambda: is_running(name) or run.process.poll() is not None, "the pipeline to run", timeout_s=60)
    assert run.process.poll() is None, run.output()
    return run


def start_exporter(hftpipe_cmd: list[str], name: str, log: Path) -> tuple[Background, str]:
    """``hftpipe metrics --name NAME`` on a free port, once it answers; and its URL."""
    port = free_port()
    exporter = Background([*hftpipe_cmd, "metrics", "--name", name, "--port", str(port)], log)
    url = f"http://127.0.0.1:{port}/metrics"

    def answers() -> bool:
        assert exporter.process.poll() is None, exporter.output()
        try:
            http_get(url, timeout_s=2)
        except OSError:
            return False
        return True

    wait_for(answers, "the exporter to answer", timeout_s=60)
    return exporter, url
