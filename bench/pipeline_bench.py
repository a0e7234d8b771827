"""``hftpipe bench pipeline``: the 5-stage probe pipeline under its supervisor.

The pipeline (the embedded default config, or the one given) runs under a
:class:`~hftpipe.runtime.supervisor.Supervisor` with a name of its own,
``bench<pid>``, so it cannot collide with a pipeline already running, for
``duration`` seconds. The report is built from the control file just before
its shared memory is unlinked: per-hop and end-to-end latency (recorded by
the stages themselves in their shared-memory histograms), throughput
(end-to-end records / seconds running), every counter, the placement the
supervisor chose and why, and the config used.

``rate`` overrides the ``rate`` param of the source stage (the stage without
inputs whose params have a ``rate``). Stage processes read their config from
``config.source``, so the override is written to a temporary TOML file (the
source file, parsed and written back with that one value changed) that is
removed afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import toml_edit as _toml
from bench.procs import BenchmarkError
from hftpipe.runtime.config import PipelineConfig, StageConfig, load_config, probe_config_path
from hftpipe.runtime.report import format_ns, pipeline_report
from hftpipe.runtime.supervisor import Supervisor
from hftpipe.runtime.validation import ConfigError


def _source_stage(config: PipelineConfig) -> StageConfig:
    """The stage whose ``rate`` we override: no input rings, a ``rate`` param."""
    candidates = [
        s
        for s in config.stages
        if not config.inputs_of(s.name)
        and dataclasses.is_dataclass(s.params)
        and "rate" in {f.name for f in dataclasses.fields(s.params)}
    ]
    if len(candidates) != 1:
        found = ", ".join(s.name for s in candidates) or "none"
        raise ConfigError("stages", f"--rate needs exactly one source stage with a rate param (found: {found})")
    return candidates[0]


def with_rate(config: PipelineConfig, rate: int) -> PipelineConfig:
    """``config`` with its source stage's ``rate`` param replaced (validated by the Params class)."""
    source = _source_stage(config)
    key = f"stages.{source.name}.params.rate"
    if isinstance(rate, bool) or not isinstance(rate, int):
        raise ConfigError(key, f"must be an integer, got {rate!r}")
    try:
        params = dataclasses.replace(source.params, rate=rate)
    except (TypeError, ValueError) as exc:
        raise ConfigError(key, str(exc)) from exc
    stages = tuple(dataclasses.replace(s, params=params) if s is source else s for s in config.stages)
    return dataclasses.replace(config, stages=stages)


@contextlib.contextmanager
def _rate_override(path: Path, config: PipelineConfig, rate: int) -> Iterator[PipelineConfig]:
    """Write the config with the new rate to a temporary TOML; yield it loaded from there."""
    expected = with_rate(config, rate)
    source = _source_stage(config)
    raw = tomllib.loads(path.read_text())
    raw["stages"][source.name].setdefault("params", {})["rate"] = rate
    fd, temp = tempfile.mkstemp(prefix="hftpipe-bench-", suffix=".toml")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(f"# {path} with stages.{source.name}.params.rate = {rate} (hftpipe bench pipeline)\n")
            fh.write(_toml.dumps(raw))
        loaded = load_config(temp)
        if dataclasses.replace(loaded, source="") != dataclasses.replace(expected, source=""):
            raise BenchmarkError(f"the rewritten config {temp} does not match the override")
        yield loaded
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def _config_summary(config: PipelineConfig, path: Path, rate: int | None) -> dict[str, Any]:
    summary = dataclasses.asdict(config)
    summary["file"] = str(path.resolve())
    summary["rate_override"] = rate
    return summary


def run_pipeline_benchmark(config_path: str | None, duration: float, rate: int | None) -> dict[str, Any]:
    """Run the pipeline for ``duration`` seconds and report what it measured (JSON-ready).

    Raises :class:`ConfigError` for a bad config or ``rate`` and
    :class:`BenchmarkError` when the pipeline fails or the sink saw a sequence gap.
    Everything the supervisor created is destroyed whatever happens.
    """
    if duration <= 0:
        raise ValueError(f"duration must be > 0, got {duration}")
    path = Path(config_path) if config_path else probe_config_path()
    base = load_config(path)
    with contextlib.ExitStack() as stack:
        config = stack.enter_context(_rate_override(path, base, rate)) if rate is not None else base
        config = config.with_name(f"bench{os.getpid()}")
        supervisor = Supervisor(config)
        try:
            supervisor.start()
            started = time.monotonic()
            supervisor.run(duration)
            ran_s = time.monotonic() - started
            supervisor.stop()
            assert supervisor.objects is not None
            report = pipeline_report(supervisor.control, supervisor.objects.rings)
        finally:
            supervisor.destroy()
    if supervisor.failure:
        raise BenchmarkError(f"pipeline {config.name} failed: {supervisor.failure}; errors: {report['errors']}")
    gaps = sum(c.get("sequence_gaps", 0) for c in report["counters"].values())
    if gaps:
        raise BenchmarkError(f"pipeline {config.name}: the sink saw {gaps} missing sequence numbers (records lost)")
    end_to_end = report["latency"]["end_to_end"]
    cores = sorted(os.sched_getaffinity(0))
    return {
        "pipeline": config.name,
        "duration_s": duration,
        "ran_s": round(ran_s, 3),
        "cores_available": len(cores),
        "cores": cores,
        "placement": supervisor.plan.explanation if supervisor.plan else None,
        "throughput_msgs_per_s": round(end_to_end["count"] / ran_s, 1),
        "throughput": "end-to-end records counted by the sink / seconds the pipeline ran",
        "latency": report["latency"],
        "counters": report["counters"],
        "rings": report["rings"],
        "stages": report["stages"],
        "errors": report["errors"],
        "config": _config_summary(config, path, rate),
    }


def format_pipeline_report(result: dict[str, Any]) -> str:
    config = result["config"]
    source_rates = [
        f"{s['name']} rate={s['params']['rate']}"
        for s in config["stages"]
        if isinstance(s.get("params"), dict) and "rate" in s["params"]
    ]
    lines = [
        f"hftpipe bench pipeline {result['pipeline']}: {len(config['stages'])} stages from {config['file']}"
        + (f" ({', '.join(source_rates)}/s)" if source_rates else ""),
        f"ran {result['ran_s']} s on {result['cores_available']} cores {result['cores']}; "
        f"end-to-end throughput {result['throughput_msgs_per_s']:,.0f} records/s",
        result["placement"] or "placement: -",
        "",
        f"{'hop':<24}{'count':>10}{'p50':>10}{'p99':>10}{'p99.9':>10}{'max':>10}",
    ]
    latency = result["latency"]
    for row in [*latency["hops"], {"name": "end-to-end", **latency["end_to_end"]}]:
        lines.append(
            f"{row['name']:<24}{row['count']:>10}{format_ns(row['p50_ns']):>10}{format_ns(row['p99_ns']):>10}"
            f"{format_ns(row['p999_ns']):>10}{format_ns(row['max_ns']):>10}"
        )
    lines.append("")
    for stage, counters in result["counters"].items():
        shown = {k: v for k, v in counters.items() if v and k != "heartbeat_ns"}
        info = result["stages"][stage]
        cpu = "-" if info["cpu"] is None else info["cpu"]
        lines.append(f"{stage:<10} cpu {cpu} {info['idle']:<9} " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    for error in result["errors"]:
        lines.append(f"error [{error['stage']}] x{error['count']}: {error['message']}")
    return "\n".join(lines)
