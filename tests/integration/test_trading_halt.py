"""``hftpipe trading halt | resume`` on a running pipeline: strategy → risk → dry-run venue, real processes.

After a halt no approved intent leaves risk (the strategy keeps trying and is
refused HALTED), every open order gets a cancel-all, and ``hftpipe stat`` shows
who halted it, when and why; after ``resume`` orders flow again.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.integration.exchange.harness import free_port
from tests.integration.test_strategy_dryrun import DRYRUN


def _stat(cmd: list[str], name: str) -> dict[str, Any] | None:
    result = subprocess.run([*cmd, "stat", "--name", name, "--json"], capture_output=True, text=True, check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def _wait_for(cmd: list[str], name: str, ready: Any, timeout: float = 40.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = _stat(cmd, name)
        if report is not None and ready(report):
            return report
        time.sleep(0.2)
    raise AssertionError(f"pipeline {name} never got there: {report}")


def test_should_halt_cancel_and_refuse_then_resume(hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path) -> None:
    import shutil

    text = (
        DRYRUN.read_text().replace("19453", str(free_port())).replace('name = "dryrun"', f'name = "{pipeline_name}"', 1)
    )
    shutil.copytree(DRYRUN.parent / "captures", tmp_path / "captures")
    config = tmp_path / "dryrun.toml"
    config.write_text(text)
    run = subprocess.Popen([*hftpipe_cmd, "run", "-c", str(config), "--duration", "120"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        before = _wait_for(
            hftpipe_cmd, pipeline_name,
            lambda r: r["counters"]["risk"].get("approved", 0) > 0
            and r["stages"]["risk"].get("status", {}).get("trading", {}).get("state") == "ACTIVE",
        )  # fmt: skip
        halted = subprocess.run([*hftpipe_cmd, "trading", "halt", "--name", pipeline_name, "--reason", "test halt"],
                                capture_output=True, text=True, check=False)  # fmt: skip
        assert halted.returncode == 0, halted.stderr
        answer = json.loads(halted.stdout)
        assert (answer["state"], answer["set_by"]) == ("HALTED", "operator")
        assert answer["reason"].startswith("test halt (")
        report = _wait_for(
            hftpipe_cmd, pipeline_name, lambda r: r["counters"]["dryrun"].get("intents.cancel_all", 0) > 0
        )
        risk = report["counters"]["risk"]
        assert risk["kill_switch_cancels"] >= 1 or before["counters"]["dryrun"]["intents.cancel_all"] == 0
        time.sleep(3.0)  # the market keeps moving; the strategy keeps asking
        later = _stat(hftpipe_cmd, pipeline_name)
        assert later is not None
        # only cancels pass while halted: every approval since the halt was a cancel
        new_since = later["counters"]["dryrun"]["intents.new"] - report["counters"]["dryrun"]["intents.new"]
        replaced = later["counters"]["dryrun"]["intents.replace"] - report["counters"]["dryrun"]["intents.replace"]
        assert (new_since, replaced) == (0, 0)
        trading = later["stages"]["risk"]["status"]["trading"]
        assert (trading["state"], trading["set_by"], trading["since_wall_ns"] > 0) == ("HALTED", "operator", True)

        resumed = subprocess.run([*hftpipe_cmd, "trading", "resume", "--name", pipeline_name],
                                 capture_output=True, text=True, check=False)  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["state"] == "ACTIVE"
    finally:
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr


def test_should_exit_69_when_no_pipeline_runs(hftpipe_cmd: list[str], pipeline_name: str) -> None:
    result = subprocess.run([*hftpipe_cmd, "trading", "halt", "--name", pipeline_name], capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert result.returncode == 69
    assert "is not running" in result.stderr


def test_should_halt_on_the_loss_breaker_and_trade_again_only_after_resume(
    hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path
) -> None:
    import os
    import shutil

    from tests.conftest import REPO

    text = (
        DRYRUN.read_text().replace("19453", str(free_port())).replace('name = "dryrun"', f'name = "{pipeline_name}"', 1)
    )
    text = text.replace(
        'class = "stages.trading.strategy.dry_run:DryRunVenue"\nparams = { path = "out/intents.jsonl" }',
        'class = "tests.integration.losing_venue:LosingVenue"\nparams = { slippage = 0.5 }',
    )
    text = text.replace('max_loss = "50"', 'max_loss = "1"').replace('max_position = "2000"', 'max_position = "100000"')
    assert "LosingVenue" in text and 'max_loss = "1"' in text
    shutil.copytree(DRYRUN.parent / "captures", tmp_path / "captures")
    config = tmp_path / "losing.toml"
    config.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.Popen([*hftpipe_cmd, "run", "-c", str(config), "--duration", "120"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        tripped = _wait_for(
            hftpipe_cmd, pipeline_name,
            lambda r: r["stages"]["risk"].get("status", {}).get("trading", {}).get("set_by") == "max_loss",
        )  # fmt: skip
        trading = tripped["stages"]["risk"]["status"]["trading"]
        assert trading["state"] == "HALTED" and trading["reason"].startswith("loss ")
        assert float(tripped["stages"]["risk"]["status"]["account"]["realized"]) <= 0
        time.sleep(3.0)  # the loss does not go away by itself, and nothing resumes on its own
        later = _stat(hftpipe_cmd, pipeline_name)
        assert later is not None
        assert later["stages"]["risk"]["status"]["trading"]["set_by"] == "max_loss"
        fills = later["counters"]["risk"]["fills"]
        assert fills == tripped["counters"]["risk"]["fills"]  # halted: no order reached the venue, nothing filled
        resumed = subprocess.run([*hftpipe_cmd, "trading", "resume", "--name", pipeline_name],
                                 capture_output=True, text=True, check=False)  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["request"] >= 1
        _wait_for(hftpipe_cmd, pipeline_name, lambda r: r["counters"]["risk"]["fills"] > fills)  # trading again
    finally:
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
