"""Market-data micro benchmarks (small sizes), each checking what it timed, and a small run of bench.marketdata.

The full figures come from ``python -m bench.marketdata``; see bench/README.md, "Market data".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from bench import marketdata as md
from bench.conftest import BENCH_TAG, MICRO_TAG
from hftpipe.runtime import AgentInvoker
from stages.marketdata.book.stage import BookStage
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import read_capture

PASSES = 4
"""Synced passes fed per benchmark round."""


@pytest.fixture(scope="module")
def data() -> md.BinanceData:
    return md.load_binance()


@pytest.fixture
def rings() -> Iterator[md.Rings]:
    with md.open_rings(MICRO_TAG) as r:
        yield r


def _passes(data: md.BinanceData, start: int) -> list[tuple[list[str], list[str]]]:
    return [(data.reset_messages(k), data.pass_messages(k)) for k in range(start, start + PASSES)]


def test_binance_on_message_into_the_ring(benchmark: Any, data: md.BinanceData, rings: md.Rings) -> None:
    adapter = md.synced_adapter(data, rings.sink)
    md.Rings.drain(rings.book_in)
    recv = [t for _, _, t in data.synced]
    next_pass = iter(range(1, 1_000_000, PASSES))
    applied_before = md._applied(adapter)
    rounds = [0]

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        batches = _passes(data, next(next_pass))
        rounds[0] += 1
        return (batches,), {}

    def feed(batches: list[tuple[list[str], list[str]]]) -> None:
        for resets, batch in batches:
            for raw in resets:
                adapter.on_message(raw, 0)
            for raw, ts in zip(batch, recv, strict=True):
                adapter.on_message(raw, ts)
            md.Rings.drain(rings.book_in)

    benchmark.pedantic(feed, setup=setup, rounds=20)
    per_pass = len(data.synced) + len(data.reset_levels)
    assert md._applied(adapter) - applied_before == rounds[0] * PASSES * per_pass
    md._check_clean(adapter)
    assert rings.published.value >= rounds[0] * PASSES * (data.levels + data.reset_level_count)


def test_binance_on_message_null_sink(benchmark: Any, data: md.BinanceData) -> None:
    adapter = md.synced_adapter(data, md.NullSink())
    recv = [t for _, _, t in data.synced]
    next_pass = iter(range(1, 1_000_000, PASSES))
    applied_before = md._applied(adapter)
    rounds = [0]

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        rounds[0] += 1
        return (_passes(data, next(next_pass)),), {}

    def feed(batches: list[tuple[list[str], list[str]]]) -> None:
        for resets, batch in batches:
            for raw in resets:
                adapter.on_message(raw, 0)
            for raw, ts in zip(batch, recv, strict=True):
                adapter.on_message(raw, ts)

    benchmark.pedantic(feed, setup=setup, rounds=20)
    assert md._applied(adapter) - applied_before == rounds[0] * PASSES * (len(data.synced) + len(data.reset_levels))
    md._check_clean(adapter)


def test_orjson_loads_floor(benchmark: Any, data: md.BinanceData) -> None:
    messages = data.pass_messages(1)

    def loads_all() -> list[Any]:
        return [orjson.loads(raw) for raw in messages]

    loaded = benchmark(loads_all)
    assert sum(len(m["data"]["b"]) + len(m["data"]["a"]) for m in loaded) == data.levels


def test_l2book_set_level(benchmark: Any, data: md.BinanceData) -> None:
    snapshots, ops = md.level_ops(data)
    reference = BooksSink()
    ref_adapter = md.synced_adapter(data, reference)
    books: dict[int, Any] = {}

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        books.clear()
        books.update(md._fresh_books(snapshots))
        return ([(books[i].set_level, side, price, qty) for i, side, price, qty in ops],), {}

    def apply(calls: list[tuple[Any, int, int, int]]) -> None:
        for set_level, side, price, qty in calls:
            set_level(side, price, qty)

    benchmark.pedantic(apply, setup=setup, rounds=50)
    assert ref_adapter.replicas
    for instrument, book in books.items():
        assert book.bids() == reference.books[instrument].bids()
        assert book.asks() == reference.books[instrument].asks()
    mix = md.level_mix(snapshots, ops)
    assert sum(mix.values()) == len(ops) == data.levels
    assert mix["update_existing"] > mix["insert"] > 0 and mix["delete"] > 0


def test_book_stage_do_work(benchmark: Any, data: md.BinanceData, rings: md.Rings) -> None:
    adapter = md.synced_adapter(data, rings.sink)
    stage = BookStage(rings.book_ctx)
    invoker = AgentInvoker(stage)
    invoker.start()
    try:
        while invoker.invoke():
            md.Rings.drain(rings.out_in)
        md.Rings.drain(rings.out_in)
        for raw in data.reset_messages(1):
            adapter.on_message(raw, 0)
        resets = md.Rings.take(rings.book_in)
        for (_, _, ts), raw in zip(data.synced, data.pass_messages(1), strict=True):
            adapter.on_message(raw, ts)
        records = md.Rings.take(rings.book_in)
        assert len(records) == data.levels
        ends = md._count_end(records)
        out: list[int] = []

        def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
            assert rings.feed_out.offer_batch(resets) == len(resets)
            while invoker.invoke():
                pass
            md.Rings.drain(rings.out_in)
            assert rings.feed_out.offer_batch(records) == len(records)
            return (), {}

        def consume() -> None:
            while invoker.invoke():
                pass

        def drained_consume() -> None:
            consume()
            out.append(md.Rings.drain(rings.out_in))

        levels_before = stage._levels_applied
        benchmark.pedantic(drained_consume, setup=setup, rounds=20)
        assert stage._levels_applied - levels_before == len(out) * (len(records) + len(resets))
        assert out and all(n == 2 * ends for n in out)  # BBO + DEPTH per update
        assert stage.ctx.counters.add("crossed_books").value == 0
        for symbol in data.spans:
            instrument = adapter.registry.by_symbol("binance", symbol).id
            assert stage.books[instrument].bids() == adapter.replicas[instrument].bids()
            assert stage.books[instrument].asks() == adapter.replicas[instrument].asks()
    finally:
        invoker.close()


def test_kraken_checksum(benchmark: Any) -> None:
    path = md.SHARED_CAPTURES / md.KRAKEN_CAPTURE
    if not path.is_file():
        pytest.skip(f"capture {path} is not here")
    from tests.unit.marketdata.venues.test_kraken_checksum import recorded_ops, replay_ops

    ops, instruments = recorded_ops(list(read_capture(path)))
    updates = sum(1 for op in ops if op[2] is not None)
    matched = benchmark.pedantic(replay_ops, args=(ops, instruments, "cached"), rounds=5)
    assert matched == updates == 4269


def test_script_functions_at_tiny_sizes(data: md.BinanceData) -> None:
    result = md.run_all(passes=2, repeats=2, pipeline_s=1.5, pipeline_warmup_s=1.0, kraken_repeats=2, name=BENCH_TAG)
    assert set(result) >= {
        "setup",
        "binance_adapter",
        "l2book_set_level",
        "book_stage",
        "book_stage_bbo_only",
        "kraken_checksum",
        "pipeline",
        "cryptofeed",
        "took_s",
    }
    assert result["setup"]["cores_available"] >= 1 and result["setup"]["python"]
    a = result["binance_adapter"]
    for key in ("ring_sink_msgs_per_s", "null_sink_msgs_per_s", "orjson_loads_msgs_per_s", "drain_ns_per_record"):
        assert a[key] > 0, key
    assert a["orjson_loads_msgs_per_s"] > a["null_sink_msgs_per_s"]
    assert result["l2book_set_level"]["level_updates_per_s"] > 0
    assert result["book_stage"]["updates_per_pass"] == len(data.synced)
    assert result["book_stage_bbo_only"]["records_out_per_pass"] == len(data.synced)
    k = result["kraken_checksum"]
    assert "skipped" in k or k["checksums_ok"] == {"cached": k["updates"], "plain": k["updates"]}
    p = result["pipeline"]
    for key in ("feed_msgs_per_s", "book_records_per_s", "hops", "end_to_end"):
        assert key in p, key
    assert p["book_records_per_s"] > 0 and set(p["hops"]) == {"feed-book", "book-sink"}
    for hop in [*p["hops"].values(), p["end_to_end"]]:
        assert hop["count"] > 0 and 0 < hop["p50_ns"] <= hop["p99_ns"]
    cf = result["cryptofeed"]
    if md.cryptofeed_version() is None:
        assert cf == {"skipped": md.CRYPTOFEED_SKIPPED}
    else:
        assert cf["msgs_per_s"] > 0 and cf["ours_over_theirs"] > 0
    text = md.format_report(result)
    assert "1. Binance" in text and "5. " in text
