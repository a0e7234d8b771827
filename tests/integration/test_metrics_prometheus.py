"""``hftpipe metrics`` on a real running pipeline, scraped by a real Prometheus; the shipped alert rules."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from hftpipe.runtime.validation import EX_CONFIG
from tests.conftest import REPO
from tests.integration.exchange.harness import free_port
from tests.integration.metrics_run import Background, start_exporter, start_pipeline, write_marketdata_config
from tests.integration.probe_config import wait_for
from tests.integration.prometheus_server import PrometheusServer, http_get, require

RULES = REPO / "configs" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "configs" / "prometheus" / "alerts.test.yml"
SCRAPE_EXAMPLE = REPO / "configs" / "prometheus" / "prometheus.yml"
ONLY_WITH_TRADING = {"hftpipe_latency_seconds_bucket", "hftpipe_trading_state"}
"""Rule metrics the loopback market-data pipeline cannot have: named histograms and risk's trading state."""


def samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def declared_names(text: str) -> set[str]:
    """Every series name the exposition declares (``# TYPE``), with or without samples."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"} if kind == "histogram" else {name}
    return names


def rule_selectors(rules: str) -> list[tuple[str, dict[str, str]]]:
    """``(metric, {label: value})`` for every selector in the rules' expressions."""
    found = []
    for expr in re.findall(r"expr: >?\s*\n?((?:.|\n)*?)(?=\n\s+(?:for|labels):)", rules):
        for metric, matchers in re.findall(r"(hftpipe_\w+)(?:\{([^}]*)\})?", expr):
            found.append((metric, dict(re.findall(r'(\w+)="([^"]*)"', matchers))))
    return found


@pytest.fixture
def running(tmp_path: Path, pipeline_name: str, hftpipe_cmd: list[str]) -> Iterator[str]:
    """The default pipeline (venue -> feed -> book -> sink) and an exporter of it: the exporter's URL."""
    config = write_marketdata_config(tmp_path, pipeline_name)
    pipeline = start_pipeline(hftpipe_cmd, config, pipeline_name, tmp_path / "run.log")
    exporter: Background | None = None
    try:
        exporter, url = start_exporter(hftpipe_cmd, pipeline_name, tmp_path / "metrics.log")
        yield url
    finally:
        if exporter is not None:
            assert exporter.stop() == 0, exporter.output()
        assert pipeline.stop() == 0, pipeline.output()


def test_should_export_a_running_pipeline_to_a_real_prometheus(
    running: str, tmp_path: Path, pipeline_name: str
) -> None:
    url = running
    text = http_get(url)
    stages = {"venue", "feed", "book", "sink"}
    current = {(s.name, s.labels.get("stage"), s.labels.get("state")): s.value for s in samples(text)}
    assert current[("hftpipe_pipeline_up", None, None)] == 1
    assert current[("hftpipe_pipeline_state", None, "running")] == 1
    assert {stage for (name, stage, _) in current if name == "hftpipe_stage_state"} == stages

    # Every metric an alert rule names is one the exporter emits, with the label values the rule matches.
    declared = declared_names(text)
    selectors = rule_selectors(RULES.read_text())
    assert len({metric for metric, _ in selectors}) >= 10
    for metric, matchers in selectors:
        assert metric in declared, f"alerts.yml uses {metric}, which the exporter does not emit"
        if metric in ONLY_WITH_TRADING:
            continue
        wait_for(
            lambda m=metric, ls=matchers: any(  # type: ignore[misc]
                s.name == m and all(s.labels.get(k) == v for k, v in ls.items()) for s in samples(http_get(url))
            ),
            f"a sample of {metric}{matchers}",
        )

    prometheus = PrometheusServer(tmp_path, [url.removeprefix("http://").removesuffix("/metrics")], [RULES])
    prometheus.start()
    try:
        selector = f'{{pipeline="{pipeline_name}"}}'
        wait_for(
            lambda: bool(
                prometheus.query(f'hftpipe_stage_messages_in_total{{pipeline="{pipeline_name}",stage="book"}} > 0')
            ),
            "prometheus to store the book's messages_in",
            timeout_s=60,
        )
        rings = {r["metric"]["ring"] for r in prometheus.query(f"hftpipe_ring_produced_total{selector}")}
        assert rings == {"feed-book", "book-sink"}
        # The histograms are real ones: Prometheus computes a median from the exported buckets.
        wait_for(lambda: len(_medians(prometheus, selector)) == 2, "hop latency medians from two scrapes", timeout_s=60)
        assert all(0 < median < 1 for median in _medians(prometheus, selector).values())
        assert prometheus.query(f'hftpipe_stage_gauge{{pipeline="{pipeline_name}",name="books_unsynced"}}')
        ages = prometheus.query(f"hftpipe_stage_heartbeat_age_seconds{selector}")
        assert {a["metric"]["stage"] for a in ages} == {"feed", "book", "sink", "venue"}
        # Prometheus loaded and evaluated every shipped rule against our series without an error.
        wait_for(lambda: _rules_evaluated(prometheus), "every rule evaluated", timeout_s=60)
        rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
        assert len(rules) == 10
        assert {rule["health"] for rule in rules} == {"ok"}, [r.get("lastError") for r in rules]
        firing = [r["name"] for r in rules if r["state"] == "firing" and r["name"] != "HftpipeBookResyncingTooLong"]
        assert firing == [], firing
    finally:
        prometheus.stop()


def _medians(prometheus: PrometheusServer, selector: str) -> dict[str, float]:
    query = f"histogram_quantile(0.5, rate(hftpipe_hop_latency_seconds_bucket{selector}[5s]))"
    return {r["metric"]["ring"]: float(r["value"][1]) for r in prometheus.query(query) if r["value"][1] != "NaN"}


def _rules_evaluated(prometheus: PrometheusServer) -> bool:
    groups = prometheus.api("rules")["groups"]
    return all(not rule["lastEvaluation"].startswith("0001") for group in groups for rule in group["rules"])


def test_should_report_a_pipeline_that_is_not_running_as_down_and_nothing_else(
    hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path
) -> None:
    exporter, url = start_exporter(hftpipe_cmd, pipeline_name, tmp_path / "metrics.log")
    try:
        found = [s for s in samples(http_get(url)) if s.labels.get("pipeline") == pipeline_name]
    finally:
        assert exporter.stop() == 0, exporter.output()
    assert [(s.name, s.value) for s in found] == [("hftpipe_pipeline_up", 0)]


def test_should_refuse_a_taken_port_in_one_line_with_exit_78(hftpipe_cmd: list[str], pipeline_name: str) -> None:
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = subprocess.run(
            [*hftpipe_cmd, "metrics", "--name", pipeline_name, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == EX_CONFIG, result.stderr
    assert (
        result.stderr.strip().splitlines()[-1].startswith(f"hftpipe: config error: --port: 127.0.0.1:{port} is in use")
    )


def test_should_pass_promtool_check_and_unit_tests_on_the_shipped_rules_and_scrape_example() -> None:
    promtool = require("promtool")
    for command in (
        ["check", "rules", str(RULES)],
        ["test", "rules", str(RULE_TESTS)],
        ["check", "config", str(SCRAPE_EXAMPLE)],
    ):
        result = subprocess.run([promtool, *command], capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
