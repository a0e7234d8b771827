"""The trading summary and named histograms of a real pipeline, through ``hftpipe metrics`` and ``stat``.

They come from the shared contract (``trading`` in the run report, ``ctx.histogram``);
where this tree's report has not got them yet, the test says so and skips.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.metrics_run import start_exporter, start_pipeline
from tests.integration.probe_config import wait_for, write_probe_config
from tests.integration.prometheus_server import http_get
from tests.integration.test_metrics_prometheus import samples
from tests.integration.trading_status_stage import TICK_TO_ORDER_NS

SINK = "tests.integration.trading_status_stage:TradingStatusSink"


@pytest.fixture
def trading_probe(tmp_path: Path, pipeline_name: str, hftpipe_cmd: list[str]) -> Iterator[dict[str, object]]:
    """A probe pipeline whose sink publishes a trading status; yields ``stat --json`` once it has."""
    config = write_probe_config(tmp_path, pipeline_name, relays=1)
    config.write_text(config.read_text().replace('"stages.probe:ProbeSink"', f'"{SINK}"'))
    pipeline = start_pipeline(hftpipe_cmd, config, pipeline_name, tmp_path / "run.log")
    try:

        def stat() -> dict[str, object]:
            out = subprocess.run(
                [*hftpipe_cmd, "stat", "--name", pipeline_name, "--json"], capture_output=True, text=True, check=True
            )
            report: dict[str, object] = json.loads(out.stdout)
            return report

        wait_for(lambda: "status" in stat()["stages"]["sink"], "the sink's status")  # type: ignore[index]
        yield stat()
    finally:
        assert pipeline.stop() == 0, pipeline.output()


def test_should_export_the_trading_summary_and_named_histograms(
    trading_probe: dict[str, object], tmp_path: Path, pipeline_name: str, hftpipe_cmd: list[str]
) -> None:
    if "trading" not in trading_probe:
        pytest.skip("this tree's run report has no 'trading' summary yet (shared contract: merged by the integrator)")
    exporter, url = start_exporter(hftpipe_cmd, pipeline_name, tmp_path / "metrics.log")
    try:
        found = {(s.name, s.labels.get("state") or s.labels.get("symbol")): s.value for s in samples(http_get(url))}
    finally:
        assert exporter.stop() == 0, exporter.output()
    assert found[("hftpipe_trading_state", "halted")] == 1
    assert found[("hftpipe_trading_state", "active")] == 0
    assert found[("hftpipe_trading_position", "BTCUSDT")] == 0.015
    assert found[("hftpipe_trading_realized_pnl", None)] == 12.5
    assert found[("hftpipe_trading_fills_total", None)] == 7
    latency = trading_probe["latency"]
    assert isinstance(latency, dict)
    if "tick_to_order" in latency:
        assert found[("hftpipe_latency_seconds_count", None)] == len(TICK_TO_ORDER_NS)
