"""Paper trading end to end (configs/paper-capture.toml): the market maker's orders reach the paper venue.

feed → book ═md═► strategy, risk and the execution stage in paper mode; risk's
approved intents go to execution, whose reports (through the OMS) come back to
risk and on to the strategy. Real processes through the real CLI. Fills are
rare on the small capture (the queue model is pessimistic; its invariants are
unit-tested), so what is asserted is what is certain: every order sent is
acknowledged, risk and the strategy count the same fills, nothing failed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO
from tests.integration.exchange.harness import free_port

PAPER = REPO / "configs" / "paper-capture.toml"


def _config(tmp_path: Path, name: str) -> Path:
    text = PAPER.read_text().replace("19453", str(free_port()))
    text = text.replace('name = "paper"', f'name = "{name}"', 1)
    assert f'name = "{name}"' in text
    shutil.copytree(PAPER.parent / "captures", tmp_path / "captures")
    config = tmp_path / "paper.toml"
    config.write_text(text)
    return config


def test_should_paper_trade_the_market_makers_orders_on_the_capture(
    hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path
) -> None:
    config = _config(tmp_path, pipeline_name)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(config), "--duration", "15", "--json"],
        capture_output=True, text=True, check=False, env=env, cwd=tmp_path, timeout=150,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    counters = summary["counters"]
    execution, risk, strategy = counters["execution"], counters["risk"], counters["strategy"]
    print(f"paper fills: {execution['fills']}")  # rare on the capture: reported, not asserted

    assert strategy["mm.intents.new"] > 0
    assert execution["orders_sent"] > 0
    assert 0 < execution["acks"] <= execution["orders_sent"]  # post-only outside the touch: they rest
    assert execution["rejects"] <= execution["fills"]  # only a replace of an order that just filled is refused
    assert risk["fills"] == strategy["mm.fills"] == execution["fills"]  # the ledger and the positions agree
    assert strategy["mm.errors"] == 0 and risk["unrouted_reports"] == 0
    for name in ("execution", "risk", "strategy"):
        assert counters[name]["errors"] == 0, name
    assert summary["errors"] == []
    hops = {hop["name"]: hop for hop in summary["latency"]["hops"]}
    assert hops["reports"]["count"] >= execution["acks"]  # execution -> risk: every report arrived
