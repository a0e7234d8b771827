"""Runs the shipped exchange config as ``hftpipe exchange run`` on free ports and a private state dir."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO

EXCHANGE_CONFIG = REPO / "configs" / "exchange.toml"
READY_PREFIX = "exchange ready:"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write_exchange_config(directory: Path, name: str, *, flow: bool, flow_rate: int = 50) -> Path:
    """The shipped config with this test's pipeline name, ports, state dir and flow setting."""
    text = EXCHANGE_CONFIG.read_text()
    market_port, api_port, rest_port = free_port(), free_port(), free_port()
    replacements = {
        'name = "exchange"': f'name = "{name}"',
        "market_port = 9443": f"market_port = {market_port}",
        "api_port = 9444": f"api_port = {api_port}",
        "rest_port = 9445": f"rest_port = {rest_port}",
        "[exchange]\n": f'[exchange]\nstate_dir = "{directory / "state"}"\n',
        "enabled = true": f"enabled = {'true' if flow else 'false'}",
        "orders_per_second = 50": f"orders_per_second = {flow_rate}",
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"configs/exchange.toml changed: {old!r} is not there exactly once"
        text = text.replace(old, new)
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


@dataclass
class RunningExchange:
    """``hftpipe exchange run`` in a subprocess; the ready line tells us it replayed its journal."""

    command: list[str]
    config: Path
    process: subprocess.Popen[str] | None = None
    ready_line: str = ""
    output: list[str] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)

    def start(self, timeout_s: float = 90.0) -> str:
        self._ready.clear()
        self.process = subprocess.Popen(
            [*self.command, "exchange", "run", "-c", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        if not self._ready.wait(timeout_s) or not self.ready_line:
            self.stop()
            raise AssertionError("the exchange never printed its ready line:\n" + "".join(self.output[-60:]))
        return self.ready_line

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)
            if line.startswith(READY_PREFIX) and not self.ready_line:
                self.ready_line = line.strip()
                self._ready.set()
        self._ready.set()

    def stop(self) -> int:
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None
        return process.returncode
