"""The benchmarks' own helpers: the TOML writer behind ``--rate`` and the ring run's plan."""

from __future__ import annotations

import multiprocessing
import os
import tomllib

import numpy as np
import pytest

from bench import toml_edit as _toml
from bench.pipeline_bench import with_rate
from bench.procs import BenchmarkError, choose_pinning, run_pair
from bench.ring_bench import (
    RingBenchPlan,
    _BatchChecker,
    _ring_channel,
    _ring_single_consumer,
    _ring_single_producer,
)
from hftpipe.runtime.config import load_config, probe_config_path
from hftpipe.runtime.validation import ConfigError


def test_toml_writer_round_trips_the_default_config() -> None:
    raw = tomllib.loads(probe_config_path().read_text())
    assert tomllib.loads(_toml.dumps(raw)) == raw


def test_toml_writer_round_trips_awkward_values() -> None:
    data = {
        "a": {"quoted key": 'tab\there "quotes" and ünïcode', "f": 1.5, "neg": -3, "flag": False},
        "list": [1, 2, 3],
        "inline": [{"x": 1}, 2],
        "tables": [{"name": "one", "sub": {"deep": True}}, {"name": "two"}],
        "empty": {},
    }
    assert tomllib.loads(_toml.dumps(data)) == data


def test_toml_writer_refuses_what_it_cannot_write() -> None:
    with pytest.raises(TypeError):
        _toml.dumps({"x": object()})


def test_with_rate_replaces_only_the_source_rate() -> None:
    config = load_config(probe_config_path())
    changed = with_rate(config, 1234)
    assert changed.stage("source").params.rate == 1234
    assert changed.stage("source").params.max_burst == config.stage("source").params.max_burst
    assert [s for s in changed.stages if s.name != "source"] == [s for s in config.stages if s.name != "source"]
    with pytest.raises(ConfigError, match="rate"):
        with_rate(config, -1)


def test_ring_plan_sizes() -> None:
    plan = RingBenchPlan.from_sizes(200_000, 2_000_000)
    assert plan.latency_samples == 200_000 and plan.warmup == 20_000 and plan.repetitions == 3
    assert plan.single_counts["ring"] == 2_000_000 and plan.batch >= 1024
    assert plan.batch_ring_capacity >= 16384
    assert plan.pacing_ns["ring"] == plan.pacing_ns["faster_fifo"] == 10_000
    assert plan.pacing_ns["mp_queue"] >= 10_000
    with pytest.raises(ValueError):
        RingBenchPlan.from_sizes(0, 10)


def test_batch_checker_fails_loudly_on_a_gap() -> None:
    checker = _BatchChecker("ring", 8)
    checker.check(np.arange(4, dtype=np.uint64), 4)
    with pytest.raises(BenchmarkError, match=r"record 5 carried sequence 6"):
        checker.check(np.array([4, 6, 7], dtype=np.uint64), 3)


def test_a_lost_record_fails_the_run_and_cleans_up() -> None:
    """The consumer waits for 20 records, the producer sends 10: timeout, children stopped, ring unlinked."""
    pinning = choose_pinning()
    with pytest.raises(BenchmarkError, match="timed out"), _ring_channel("loss", 1024) as name:
        run_pair(
            "loss",
            (_ring_single_producer, (name, 10)),
            (_ring_single_consumer, (name, 20)),
            pinning,
            timeout_s=2.0,
        )
    assert not [f for f in os.listdir("/dev/shm") if f.startswith(f"hftpipe.bench{os.getpid()}.")]
    assert not multiprocessing.active_children()


def test_a_crashing_child_is_reported() -> None:
    with pytest.raises(BenchmarkError, match="FileNotFoundError"):
        run_pair(
            "crash",
            (_ring_single_producer, ("/hftpipe.nosuchpipeline.ring.x", 10)),
            (_ring_single_consumer, ("/hftpipe.nosuchpipeline.ring.x", 10)),
            choose_pinning(),
            timeout_s=10.0,
        )
    assert not multiprocessing.active_children()
