"""``hftpipe bench tick-to-order``: the whole system on loopback, one process per stage vs composites.

Each *layout* is ``configs/default.toml`` (or the config given) with
only its stages' ``process`` and ``cpu`` rewritten:

* ``per-stage``: every stage in its own process, unpinned (the baseline);
* ``trading``: feed, book, strategy, risk and execution in one composite
  process, the exchange's stages one per process;
* ``trading+exchange``: the trading path in one composite and the exchange's
  stages (gateway, accounting, engines, publisher, flow) in another;
* ``pinned``: as ``trading+exchange``, the trading composite pinned to the
  last core and the exchange to the first (cores 1 and 0 on two cores).

Layouts run in turn (``per-stage, trading, ..., per-stage, trading, ...``) so
that a busy phase of the host falls on all of them alike, each run under its
own pipeline name, ports and fresh exchange state directory, for ``duration``
seconds. Tick-to-order is the execution stage's end-to-end histogram (feed
receive → request bytes on the socket, orders caused by a tick only).
Reported per layout: the median over runs of p50/p99/p99.9 and of the counts
(tick-to-order samples, orders sent, fills), and each median's ratio to
``per-stage``'s. The variant configs are written beside the source config
(its relative paths, the trader's key among them, must still resolve) and
removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from bench import toml_edit as _toml
from bench.procs import BenchmarkError
from hftpipe.runtime.config import default_config_path, load_config
from hftpipe.runtime.report import format_ns, pipeline_report
from hftpipe.runtime.supervisor import StartupFailedError, Supervisor

TRADING_PATH: Final = ("feed", "book", "strategy", "risk", "execution")
LAYOUTS: Final = ("per-stage", "trading", "trading+exchange", "pinned")
PERCENTILES: Final = ("p50_ns", "p99_ns", "p999_ns")
COUNTS: Final = ("samples", "orders_sent", "fills")


def default_config() -> Path:
    """The embedded default (``configs/default.toml``): the loopback exchange and the whole trading pipeline."""
    return default_config_path()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def layout_raw(
    raw: dict[str, Any], layout: str, cores: list[int], state_dir: str, exchange_stages: list[str]
) -> dict[str, Any]:
    """``raw`` (the default config) with ``layout``'s processes and cores, its own ports and state."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r} (layouts: {', '.join(LAYOUTS)})")
    raw = tomllib.loads(_toml.dumps(raw))  # a deep copy
    exchange = raw["exchange"]
    old_market, old_api = exchange["market_port"], exchange["api_port"]
    market, api = _free_port(), _free_port()
    exchange.update(market_port=market, api_port=api, state_dir=state_dir)
    stages: dict[str, Any] = raw.setdefault("stages", {})
    generated = exchange_stages
    for name in [*TRADING_PATH, *generated]:
        stage = stages.setdefault(name, {})
        stage.pop("process", None)
        stage["cpu"] = "none"
    for name in TRADING_PATH:
        params = stages[name].get("params", {})
        for key, value in list(params.items()):
            if isinstance(value, str):
                params[key] = value.replace(f":{old_market}", f":{market}").replace(f":{old_api}", f":{api}")
    if layout == "per-stage":
        return raw
    trading_cpu: int | str = cores[-1] if layout == "pinned" else "none"
    exchange_cpu: int | str = cores[0] if layout == "pinned" else "none"
    for name in TRADING_PATH:
        stages[name].update(process="trading", cpu=trading_cpu)
    if layout != "trading":
        for name in generated:
            stages[name].update(process="exchange", cpu=exchange_cpu)
    return raw


def exchange_stage_names(source: Path, raw: dict[str, Any]) -> list[str]:
    """The stages ``[exchange]`` expands into: every stage of the config but those declared with a class."""
    own = {name for name, stage in raw.get("stages", {}).items() if "class" in stage}
    return [s.name for s in load_config(source).stages if s.name not in own]


@contextlib.contextmanager
def _variant(source: Path, raw: dict[str, Any], layout: str) -> Iterator[Path]:
    fd, temp = tempfile.mkstemp(prefix=".bench-tick-to-order-", suffix=".toml", dir=source.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(f"# {source.name}, layout {layout} (hftpipe bench tick-to-order)\n")
            fh.write(_toml.dumps(raw))
        yield Path(temp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def run_layout(source: Path, raw: dict[str, Any], layout: str, duration: float, run: int) -> dict[str, Any]:
    """One run of one layout: tick-to-order percentiles, orders and fills, placement."""
    cores = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="hftpipe-bench-state-") as state_dir:
        variant = layout_raw(raw, layout, cores, state_dir, exchange_stage_names(source, raw))
        with _variant(source, variant, layout) as path:
            config = load_config(path).with_name(f"t2o{os.getpid()}r{run}")
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
        raise BenchmarkError(f"layout {layout}: {supervisor.failure}; errors: {report['errors']}")
    tick_to_order = report["latency"]["end_to_end_by_stage"].get("execution")
    if not tick_to_order or not tick_to_order["count"]:
        raise BenchmarkError(f"layout {layout}: no tick-to-order sample in {ran_s:.1f} s")
    execution = report["counters"]["execution"]
    return {
        "layout": layout,
        "ran_s": round(ran_s, 3),
        "samples": tick_to_order["count"],
        **{p: tick_to_order[p] for p in PERCENTILES},
        "orders_sent": execution.get("orders_sent", 0),
        "fills": execution.get("fills", 0),
        "processes": len(config.processes()),
        "placement": supervisor.plan.explanation if supervisor.plan else None,
    }


def run_tick_to_order_benchmark(
    config_path: str | None, duration: float, runs: int, layouts: tuple[str, ...] = LAYOUTS
) -> dict[str, Any]:
    if duration <= 0 or runs < 1:
        raise ValueError("duration must be > 0 and runs >= 1")
    source = Path(config_path) if config_path else default_config()
    raw = tomllib.loads(source.read_text())
    results: dict[str, list[dict[str, Any]]] = {layout: [] for layout in layouts}
    failed: dict[str, list[str]] = {layout: [] for layout in layouts}
    for run in range(runs):
        for layout in layouts:
            try:
                results[layout].append(run_layout(source, raw, layout, duration, run))
            except (BenchmarkError, StartupFailedError) as exc:  # a host too busy to start it in time: say so
                failed[layout].append(str(exc))
    empty = [layout for layout, rows in results.items() if not rows]
    if empty:
        raise BenchmarkError(f"no run of layout {empty[0]} succeeded: {failed[empty[0]]}")
    medians = {
        layout: {key: statistics.median(r[key] for r in rows) for key in (*PERCENTILES, *COUNTS)}
        for layout, rows in results.items()
    }
    base = medians[layouts[0]]
    ratios = {
        layout: {key: round(m[key] / base[key], 2) if base[key] else None for key in (*PERCENTILES, *COUNTS)}
        for layout, m in medians.items()
    }
    cores = sorted(os.sched_getaffinity(0))
    return {
        "config": str(source.resolve()),
        "duration_s": duration,
        "runs": runs,
        "cores": cores,
        "baseline": layouts[0],
        "medians": medians,
        "ratios": ratios,
        "runs_by_layout": results,
        "failed_runs": failed,
    }


def format_tick_to_order_report(result: dict[str, Any]) -> str:
    lines = [
        f"hftpipe bench tick-to-order: {result['config']}, {result['runs']} runs x {result['duration_s']} s per layout"
        f" on {len(result['cores'])} cores {result['cores']}; medians over runs, ratio to {result['baseline']}",
        "",
        f"{'layout':<18}{'procs':>6}{'p50':>10}{'p99':>10}{'p99.9':>10}{'samples':>9}{'orders':>8}{'fills':>7}"
        f"{'p50 x':>8}{'p99 x':>8}{'p99.9 x':>9}",
    ]
    for layout, m in result["medians"].items():
        r = result["ratios"][layout]
        procs = result["runs_by_layout"][layout][0]["processes"]
        lines.append(
            f"{layout:<18}{procs:>6}{format_ns(int(m['p50_ns'])):>10}{format_ns(int(m['p99_ns'])):>10}"
            f"{format_ns(int(m['p999_ns'])):>10}{m['samples']:>9g}{m['orders_sent']:>8g}{m['fills']:>7g}"
            f"{r['p50_ns']:>8}{r['p99_ns']:>8}{r['p999_ns']:>9}"
        )
    lines.append("")
    lines.append("each run (p50 / p99 / p99.9, samples, orders, fills):")
    for layout, rows in result["runs_by_layout"].items():
        cells = [
            f"{format_ns(r['p50_ns'])}/{format_ns(r['p99_ns'])}/{format_ns(r['p999_ns'])} n={r['samples']}"
            f" o={r['orders_sent']} f={r['fills']}"
            for r in rows
        ]
        lines.append(f"  {layout:<18}" + "; ".join(cells))
    for layout, messages in result["failed_runs"].items():
        for message in messages:
            lines.append(f"  {layout:<18}failed run (not in the medians): {message}")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse
    import json
    import logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-c", "--config", default=None)
    parser.add_argument("--duration", type=float, default=25.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = run_tick_to_order_benchmark(args.config, args.duration, args.runs, tuple(args.layouts.split(",")))
    print(json.dumps(out) if args.json else format_tick_to_order_report(out))
