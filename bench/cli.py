"""``hftpipe bench``: a thin command over the benchmarks in this folder.

Registered as an ``hftpipe.commands`` entry point (``pyproject.toml``).
"""

from __future__ import annotations

import json
import logging

import click

from hftpipe.cli.common import config_error, config_option, fail
from hftpipe.runtime.runner import EX_SOFTWARE, EX_UNAVAILABLE
from hftpipe.runtime.stage_process import configure_logging
from hftpipe.runtime.supervisor import PipelineAlreadyRunningError, StartupFailedError
from hftpipe.runtime.validation import ConfigError

_config_option = config_option("Pipeline TOML (default: the embedded configs/probe.toml).")


@click.group()
def bench() -> None:
    """Measure the ring, the pipeline, the fan-out, the strategy, risk and execution stages against baselines."""


@bench.command("ring")
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--messages", type=click.IntRange(min=1), default=200_000, show_default=True, help="Latency samples per transport."
)
@click.option("--throughput-messages", type=click.IntRange(min=1), default=2_000_000, show_default=True)
def bench_ring(as_json: bool, messages: int, throughput_messages: int) -> None:
    """One-way latency and throughput: shm ring vs faster-fifo vs multiprocessing.Queue."""
    from bench.procs import BenchmarkError
    from bench.ring_bench import format_ring_report, run_ring_benchmark

    try:
        result = run_ring_benchmark(messages=messages, throughput_messages=throughput_messages)
    except BenchmarkError as exc:
        fail(f"benchmark failed: {exc}", EX_SOFTWARE)
    click.echo(json.dumps(result) if as_json else format_ring_report(result))


@bench.command("pipeline")
@_config_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True)
@click.option("--rate", type=click.IntRange(min=0), default=None, help="Override the probe source's rate (records/s).")
def bench_pipeline(config_path: str | None, as_json: bool, duration: float, rate: int | None) -> None:
    """Run the 5-stage probe pipeline (configs/probe.toml) and report per-hop and end-to-end percentiles."""
    from bench.pipeline_bench import (
        format_pipeline_report,
        run_pipeline_benchmark,
    )
    from bench.procs import BenchmarkError

    configure_logging(logging.WARNING)
    try:
        result = run_pipeline_benchmark(config_path, duration, rate)
    except ConfigError as exc:
        config_error(exc)
    except (BenchmarkError, StartupFailedError) as exc:
        fail(f"benchmark failed: {exc}", EX_SOFTWARE)
    except PipelineAlreadyRunningError as exc:
        fail(str(exc), EX_UNAVAILABLE)
    click.echo(json.dumps(result) if as_json else format_pipeline_report(result))


@bench.command("tick-to-order")
@config_option("The whole-system TOML (default: the embedded configs/default.toml).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=25.0, show_default=True)
@click.option("--runs", type=click.IntRange(min=1), default=3, show_default=True, help="Runs per layout.")
@click.option(
    "--layouts",
    default="per-stage,trading,trading+exchange,pinned",
    show_default=True,
    help="Comma-separated; the first is the baseline of the ratios.",
)
def bench_tick_to_order(config_path: str | None, as_json: bool, duration: float, runs: int, layouts: str) -> None:
    """Tick-to-order of the whole system on loopback: one process per stage vs composite processes."""
    from bench.colocation_bench import LAYOUTS, format_tick_to_order_report, run_tick_to_order_benchmark
    from bench.procs import BenchmarkError

    chosen = tuple(layouts.split(","))
    unknown = [layout for layout in chosen if layout not in LAYOUTS]
    if unknown:
        fail(f"unknown layout {unknown[0]!r} (layouts: {', '.join(LAYOUTS)})", 64)
    configure_logging(logging.WARNING)
    try:
        result = run_tick_to_order_benchmark(config_path, duration, runs, chosen)
    except ConfigError as exc:
        config_error(exc)
    except (BenchmarkError, StartupFailedError) as exc:
        fail(f"benchmark failed: {exc}", EX_SOFTWARE)
    click.echo(json.dumps(result) if as_json else format_tick_to_order_report(result))


@bench.command("fanout")
@click.option("--json", "as_json", is_flag=True)
@click.option("--count", type=click.IntRange(min=4097), default=100_000, show_default=True, help="Records per run.")
@click.option("--repetitions", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--live", is_flag=True, help="Also a producer and a busy-spinning consumer in two pinned processes.")
def bench_fanout(as_json: bool, count: int, repetitions: int, live: bool) -> None:
    """Producer cost per record: one broadcast ring vs one SPSC ring per consumer, and with a stalled consumer."""
    from bench.fanout_bench import format_fanout_report, run_fanout_benchmark
    from bench.procs import BenchmarkError

    try:
        result = run_fanout_benchmark(count, repetitions, live)
    except BenchmarkError as exc:
        fail(f"benchmark failed: {exc}", EX_SOFTWARE)
    click.echo(json.dumps(result) if as_json else format_fanout_report(result))


@bench.command("strategy")
@click.option("--json", "as_json", is_flag=True)
@click.option("--updates", type=click.IntRange(min=10), default=5_000, show_default=True, help="Book updates per pass.")
@click.option("--repetitions", type=click.IntRange(min=1), default=5, show_default=True)
def bench_strategy(as_json: bool, updates: int, repetitions: int) -> None:
    """Strategy stage overhead per book update, market maker: plain Python vs the API vs the stage over rings."""
    from bench.strategy_bench import format_report, run

    try:
        result = run(updates, repetitions)
    except (AssertionError, RuntimeError) as exc:
        fail(f"benchmark failed: {exc}", EX_SOFTWARE)
    click.echo(json.dumps(result) if as_json else format_report(result))


@bench.command("risk")
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--intents", type=click.IntRange(min=10, max=100_000), default=20_000, show_default=True, help="Intents per pass."
)
@click.option("--repetitions", type=click.IntRange(min=1), default=5, show_default=True)
def bench_risk(as_json: bool, intents: int, repetitions: int) -> None:
    """Risk stage per intent, every check on: check() alone, each check alone, the stage ring to ring."""
    from bench.risk_bench import format_report, run

    try:
        result = run(intents, repetitions)
    except (AssertionError, RuntimeError) as exc:
        fail(f"benchmark failed: {exc}", EX_SOFTWARE)
    click.echo(json.dumps(result) if as_json else format_report(result))


@bench.command("slippage")
@click.option("--json", "as_json", is_flag=True)
@click.option("--repetitions", type=click.IntRange(min=1), default=7, show_default=True)
@click.option("--calls", type=click.IntRange(min=1), default=5_000, show_default=True, help="Calls per timed loop.")
def bench_slippage(as_json: bool, repetitions: int, calls: int) -> None:
    """The slippage walk per call (strategy's book view, a DEPTH record, risk's check) against risk's band check."""
    from bench.slippage_bench import format_slippage_report, run_slippage_benchmark

    result = run_slippage_benchmark(repetitions, calls)
    click.echo(json.dumps(result) if as_json else format_slippage_report(result))


@bench.command("execution")
@click.option("--json", "as_json", is_flag=True)
@click.option("--intents", type=click.IntRange(min=10), default=5_000, show_default=True, help="Intents per pass.")
@click.option("--repetitions", type=click.IntRange(min=1), default=5, show_default=True)
@click.option(
    "--roundtrip", type=click.IntRange(min=0), default=0, show_default=True,
    help="Orders for the round trip against the loopback exchange (0: skip it).",
)  # fmt: skip
def bench_execution(as_json: bool, intents: int, repetitions: int, roundtrip: int) -> None:
    """Execution stage, live: intent record in -> request bytes on the socket, against orjson.dumps of the request."""
    from bench.execution_bench import format_report, run

    try:
        result = run(intents, repetitions, roundtrip)
    except (AssertionError, RuntimeError, OSError) as exc:
        fail(f"benchmark failed: {exc}", EX_SOFTWARE)
    click.echo(json.dumps(result) if as_json else format_report(result))
