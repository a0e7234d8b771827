"""A real Prometheus for the tests: its own config, storage and free port on loopback.

Debian's ``prometheus`` package provides ``prometheus`` and ``promtool`` (``.ci/run``
installs it); without them the tests that need them skip, saying so.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.exchange.harness import free_port
from tests.integration.probe_config import wait_for


def require(tool: str) -> str:
    """The path of ``tool``, or skip the test naming what is missing and how CI installs it."""
    path = shutil.which(tool) or (f"/usr/bin/{tool}" if Path(f"/usr/bin/{tool}").exists() else None)
    if path is None:
        pytest.skip(f"{tool} is not installed (Debian package 'prometheus'; .ci/run installs it with apt-get)")
    return path


def http_get(url: str, timeout_s: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        body: bytes = response.read()
        return body.decode()


class PrometheusServer:
    """``prometheus`` scraping ``targets`` every second, evaluating ``rule_files``, until :meth:`stop`."""

    def __init__(self, directory: Path, targets: list[str], rule_files: list[Path]) -> None:
        self.binary = require("prometheus")
        self.port = free_port()
        self.directory = directory
        config = directory / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            + "rule_files:\n"
            + "".join(f"  - {json.dumps(str(path))}\n" for path in rule_files)
            + "scrape_configs:\n  - job_name: hftpipe\n    static_configs:\n"
            + f"      - targets: {json.dumps(targets)}\n"
        )
        self.log = directory / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.config = config

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._ready, "prometheus to be ready", timeout_s=60)

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited {self.process.returncode}: {self.log.read_text()[-2000:]}")
        try:
            return "Ready" in http_get(f"{self.url}/-/ready", timeout_s=1)
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        """``/api/v1/<path>``'s ``data`` (the test fails on an API error)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        answer = json.loads(http_get(f"{self.url}/api/v1/{path}{query}"))
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        data = self.api("query", query=promql)
        result: list[dict[str, Any]] = data["result"]
        return result

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
