"""Writes small probe-pipeline configs for the integration tests."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from pathlib import Path


def write_probe_config(
    directory: Path,
    name: str,
    *,
    relays: int = 3,
    rate: int = 2_000,
    on_failure: str = "stop",
    max_restarts: int = 3,
    restart_window_s: float | None = None,
    heartbeat_timeout_ms: int = 3_000,
    sink_settings: tuple[str, ...] = (),
    stage_settings: Mapping[str, tuple[str, ...]] | None = None,
    relay_classes: Mapping[str, str] | None = None,
    pipeline_settings: tuple[str, ...] = (),
) -> Path:
    """source -> relay1..N -> sink, slow enough to share two cores with the test.

    ``stage_settings``: more lines for a stage's table (``process = "..."``); ``relay_classes``: a relay's
    class other than the probe relay; ``pipeline_settings``: more lines for ``[pipeline]``."""
    more = dict(stage_settings or {})
    classes = dict(relay_classes or {})
    stages = ["source", *[f"relay{i}" for i in range(1, relays + 1)], "sink"]
    lines = [
        "[pipeline]",
        f'name = "{name}"',
        f'on_failure = "{on_failure}"',
        f"max_restarts = {max_restarts}",
        *([f"restart_window_s = {restart_window_s}"] if restart_window_s is not None else []),
        f"heartbeat_timeout_ms = {heartbeat_timeout_ms}",
        "stop_timeout_ms = 5000",
        *pipeline_settings,
        "",
        "[stages.source]",
        'class = "stages.probe:ProbeSource"',
        f"params = {{ rate = {rate} }}",
        *more.get("source", ()),
    ]
    for relay in stages[1:-1]:
        relay_class = classes.get(relay, "stages.probe:ProbeRelay")
        lines += ["", f"[stages.{relay}]", f'class = "{relay_class}"', *more.get(relay, ())]
    lines += ["", "[stages.sink]", 'class = "stages.probe:ProbeSink"', *sink_settings, *more.get("sink", ())]
    for producer, consumer in itertools.pairwise(stages):
        lines += ["", "[[rings]]", f'from = "{producer}"', f'to = "{consumer}"', "capacity = 1024", "slot_size = 64"]
    path = directory / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Poll ``condition``; the timeout only bounds a hung test, correctness never depends on it."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
