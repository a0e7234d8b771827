"""The ``hftpipe bench`` runs at small sizes: the results are well formed and nothing is lost.

They go through ``benchmark.pedantic`` (one round) so that ``--benchmark-only``
keeps them and the table shows how long each took.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench.pipeline_bench import format_pipeline_report, run_pipeline_benchmark
from bench.ring_bench import METRIC_KEYS, TRANSPORTS, format_ring_report, run_ring_benchmark
from hftpipe.runtime.validation import ConfigError

MESSAGES = 3_000
THROUGHPUT_MESSAGES = 30_000


def once(benchmark: BenchmarkFixture, func: Any, *args: Any, **kwargs: Any) -> Any:
    return benchmark.pedantic(func, args=args, kwargs=kwargs, rounds=1, iterations=1, warmup_rounds=0)


@pytest.mark.benchmark(group="bench-runs")
def test_ring_benchmark_small(benchmark: BenchmarkFixture) -> None:
    result = once(benchmark, run_ring_benchmark, MESSAGES, THROUGHPUT_MESSAGES, repetitions=2)
    json.dumps(result)  # JSON-ready

    assert set(result) == {*TRANSPORTS, "ratio_p50_vs_faster_fifo", "ratio_p50_vs_mp_queue", "setup"}
    for transport in TRANSPORTS:
        row = result[transport]
        assert set(row) == set(METRIC_KEYS), transport
        assert all(isinstance(v, int) and v > 0 for v in row.values()), (transport, row)
        assert row["p50_ns"] <= row["p99_ns"] <= row["p999_ns"]
    ring_p50 = result["ring"]["p50_ns"]
    assert result["ratio_p50_vs_faster_fifo"] == round(result["faster_fifo"]["p50_ns"] / ring_p50, 2)
    assert result["ratio_p50_vs_mp_queue"] == round(result["mp_queue"]["p50_ns"] / ring_p50, 2)

    setup = result["setup"]
    cores = sorted(os.sched_getaffinity(0))
    assert setup["cores_available"] == len(cores) and setup["cores"] == cores
    if len(cores) >= 2:
        assert setup["pinned"] and setup["producer_core"] != setup["consumer_core"]
        assert {setup["producer_core"], setup["consumer_core"]} <= set(cores)
    else:
        assert not setup["pinned"] and "unpinned" in setup["pinning"]
    assert setup["payload_bytes"] == 64
    assert set(setup["idle_strategy"]) == set(TRANSPORTS)

    latency = setup["latency"]
    assert latency["samples_per_run"] == MESSAGES and latency["runs"] == 2
    for transport in TRANSPORTS:
        runs = latency["runs_detail"][transport]
        assert len(runs) == 2
        for run in runs:
            # every record sent arrived (the run fails otherwise); the warm-up is not counted
            assert run["count"] == MESSAGES
            assert run["received"] == MESSAGES + latency["warmup_discarded_per_run"]
    throughput = setup["throughput"]
    assert throughput["single_counts"]["ring"] == THROUGHPUT_MESSAGES
    assert throughput["batch_size"] == 1024 and throughput["ring_capacity"] >= 16384

    text = format_ring_report(result)
    for label in ("shm ring", "faster-fifo", "mp.Queue", "p99.9", "targets"):
        assert label in text
    assert re.search(r"ring p50 is [\d.]+x lower than faster-fifo", text)


@pytest.mark.benchmark(group="bench-runs")
def test_pipeline_benchmark_default_config(benchmark: BenchmarkFixture) -> None:
    result = once(benchmark, run_pipeline_benchmark, None, 3.0, None)
    json.dumps(result)

    assert result["pipeline"] == f"bench{os.getpid()}"
    assert result["cores_available"] == len(os.sched_getaffinity(0))
    assert result["placement"].startswith("auto placement")
    assert [s["name"] for s in result["config"]["stages"]] == ["source", "relay1", "relay2", "relay3", "sink"]
    assert result["config"]["rate_override"] is None

    counters = result["counters"]
    sent = counters["source"]["messages_out"]
    received = counters["sink"]["messages_in"]
    end_to_end = result["latency"]["end_to_end"]
    # No loss: what the source sent went through every hop into the sink.
    assert sent > 0 and sent == received == end_to_end["count"]
    assert counters["sink"].get("sequence_gaps", 0) == 0
    hops = result["latency"]["hops"]
    assert [h["name"] for h in hops] == ["source-relay1", "relay1-relay2", "relay2-relay3", "relay3-sink"]
    for hop in hops:
        assert hop["count"] == sent
        assert 0 < hop["p50_ns"] <= hop["p99_ns"] <= hop["p999_ns"] <= hop["max_ns"]
    assert end_to_end["p50_ns"] >= max(h["p50_ns"] for h in hops)
    assert result["throughput_msgs_per_s"] == pytest.approx(sent / result["ran_s"], rel=0.01)
    for ring in result["rings"].values():
        assert ring["produced"] == ring["consumed"] == sent and ring["backlog"] == 0

    text = format_pipeline_report(result)
    assert "end-to-end" in text and "source-relay1" in text


@pytest.mark.benchmark(group="bench-runs")
def test_pipeline_benchmark_rate_override(benchmark: BenchmarkFixture) -> None:
    before = set(os.listdir(tempfile.gettempdir()))
    result = once(benchmark, run_pipeline_benchmark, None, 2.0, 5_000)
    after = set(os.listdir(tempfile.gettempdir()))
    assert not {f for f in after - before if f.startswith("hftpipe-bench-")}, "temporary config left behind"

    source = next(s for s in result["config"]["stages"] if s["name"] == "source")
    assert source["params"]["rate"] == 5_000 and result["config"]["rate_override"] == 5_000
    sent = result["counters"]["source"]["messages_out"]
    assert sent == result["counters"]["sink"]["messages_in"] == result["latency"]["end_to_end"]["count"]
    # Paced at 5,000/s (the source catches up after late wake-ups), so about 10,000 in 2 s.
    assert 0.5 * 5_000 <= result["throughput_msgs_per_s"] <= 1.5 * 5_000


def test_pipeline_benchmark_rejects_a_bad_rate() -> None:
    with pytest.raises(ConfigError, match=r"stages\.source\.params\.rate"):
        run_pipeline_benchmark(None, 1.0, -1)
