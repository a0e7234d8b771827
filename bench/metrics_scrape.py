"""What a Prometheus scrape of ``hftpipe metrics`` costs the exporter (the stages do nothing for it).

``python -m bench.metrics_scrape [--config configs/probe.toml] [--scrapes 30]`` runs the
pipeline, then times, in this process, median and p90 of:

* ``report``: attach the control file, :func:`pipeline_report`, close: what ``hftpipe stat --json`` reads
  (the baseline);
* ``collect``: one :meth:`PipelineCollector.collect` (the same read, the histograms, the families);
* ``scrape``: ``generate_latest`` (collect plus the text exposition): what one scrape costs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from hftpipe.ops.metrics import PipelineCollector
from hftpipe.runtime.report import RingReader, pipeline_report
from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.control_layout import PipelineState

REPO = Path(__file__).resolve().parent.parent


def _timed(action: Callable[[], object], repetitions: int) -> dict[str, float]:
    samples = []
    for _ in range(repetitions):
        started = time.perf_counter_ns()
        action()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 3), "p90_ms": round(samples[int(0.9 * len(samples))], 3)}


def _report(name: str) -> None:
    control = ControlFile.attach(name, readonly=True)
    rings = RingReader(control)
    try:
        pipeline_report(control, rings.rings)
    finally:
        rings.close()
        control.close()


def _wait_running(name: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            control = ControlFile.attach(name, readonly=True)
        except (FileNotFoundError, RuntimeError):
            time.sleep(0.1)
            continue
        try:
            if control.state is PipelineState.RUNNING:
                return
        finally:
            control.close()
        time.sleep(0.1)
    raise RuntimeError(f"pipeline {name} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "probe.toml"))
    parser.add_argument("--scrapes", type=int, default=30)
    args = parser.parse_args()
    name = f"bench-metrics-{os.getpid()}"
    hftpipe = [sys.executable, "-m", "hftpipe"]
    command = [*hftpipe, "run", "-c", args.config, "--name", name, "--json"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        _wait_running(name, process)
        time.sleep(2)  # let the histograms fill
        registry = CollectorRegistry(auto_describe=False)
        collector = PipelineCollector(name)
        registry.register(collector)
        exposition = generate_latest(registry)
        report = _timed(lambda: _report(name), args.scrapes)
        collect = _timed(lambda: list(collector.collect()), args.scrapes)
        scrape = _timed(lambda: generate_latest(registry), args.scrapes)
        results = {
            "pipeline": Path(args.config).name,
            "series": sum(1 for line in exposition.splitlines() if line and not line.startswith(b"#")),
            "bytes": len(exposition),
            "report": report,
            "collect": collect,
            "scrape": scrape,
            "scrape_vs_report": round(scrape["median_ms"] / report["median_ms"], 2),
        }
        print(json.dumps(results))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


if __name__ == "__main__":
    main()
