"""``hftpipe bench execution`` at a small size: every figure there, every order sent once and answered."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bench import execution_bench as eb
from bench.cli import bench


def test_execution_bench_small_run() -> None:
    report = eb.run(intents=200, repetitions=2)["intent_to_socket"]
    assert report["refused_by_sink"] == eb.WARMUP + 2 * 200  # each intent's order went out once, none held back
    assert len(report["stage_medians_us"]) == 2
    assert 0 < report["stage_median_us"] <= report["stage_p99_us"]
    assert report["baseline_median_us"] > 0 and report["ratio"] > 0
    assert "ratio" in eb.format_report({"intent_to_socket": report})


def test_hftpipe_bench_execution_json() -> None:
    result = CliRunner().invoke(bench, ["execution", "--json", "--intents", "100", "--repetitions", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["intent_to_socket"]["intents"] == 100 and "round_trip" not in report
