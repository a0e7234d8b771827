"""Per book update with the built-in market maker: plain Python, through the API, through the strategy stage.

The variants and the data are those of ``bench/strategy_bench.py`` (which
prints interleaved medians, ratios and a breakdown from one run; the figures
are in bench/README.md, "Strategy stage"). Here each benchmark round is one
book update of the same random walk: pytest-benchmark's per-round ``setup``
does the untimed work of the update before (answering its intents as a venue
would) and, for the stage, offers the record to the md ring; the round
times ``step(record)`` (plain, api) or one ``invoker.invoke()`` (stage).

Nothing asserts on time. Each test checks what it timed: the intents it
decided, update for update, equal those of another variant run untimed on
the same records (plain against the API; the API and the stage against
plain). The stage's rings live under ``BENCH_TAG`` and are unlinked after
the test (``bench/conftest.py`` checks).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench import strategy_bench as sb
from bench.conftest import BENCH_TAG

UPDATES = 2_000
"""Book updates, one per round."""


@pytest.fixture(scope="module")
def records() -> list[bytes]:
    return sb.book_walk(UPDATES)


@pytest.fixture(scope="module")
def expected(records: list[bytes]) -> dict[str, list[sb.Decision]]:
    """Untimed decisions of plain and of the API over the records; they must agree with each other already."""
    plain, api = (sb.decisions_of(name, records, BENCH_TAG) for name in ("plain", "api"))
    assert plain == api, sb.first_difference(plain, api)
    assert sum(1 for d in plain if d[1] == sb.IntentAction.REPLACE) > UPDATES // 5  # it does requote
    return {"plain": plain, "api": api}


def run_rounds(benchmark: BenchmarkFixture, v: sb.Variant, records: list[bytes]) -> tuple[list[sb.Decision], int]:
    """One round per update; the decisions of the updates the benchmark ran, and how many it ran."""
    decisions: list[sb.Decision] = []
    done = [0]

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        i = done[0]
        if i:
            decisions.extend((i - 1, *intent) for intent in v.answer(i))
        record = records[i]
        v.prepare(record)
        done[0] = i + 1
        return ((record,) if v.takes_record else ()), {}

    benchmark.pedantic(v.step, setup=setup, rounds=len(records), iterations=1)
    ran = done[0]  # all of them, or 1 with --benchmark-disable
    decisions.extend((ran - 1, *intent) for intent in v.answer(ran))
    benchmark.extra_info["updates"] = ran
    benchmark.extra_info["intents"] = len(decisions)
    benchmark.extra_info["updates_with_intents"] = len({d[0] for d in decisions})
    return decisions, ran


def check(decided: list[sb.Decision], ran: int, reference: list[sb.Decision]) -> None:
    assert decided, "no intent at all"
    expected = [d for d in reference if d[0] < ran]
    assert decided == expected, sb.first_difference(decided, expected)


@pytest.mark.benchmark(group="strategy-book-update")
def test_strategy_book_update_plain(
    benchmark: BenchmarkFixture, records: list[bytes], expected: dict[str, list[sb.Decision]]
) -> None:
    with sb.variant("plain", BENCH_TAG) as v:
        decided, ran = run_rounds(benchmark, v, records)
    check(decided, ran, expected["api"])


@pytest.mark.benchmark(group="strategy-book-update")
def test_strategy_book_update_api(
    benchmark: BenchmarkFixture, records: list[bytes], expected: dict[str, list[sb.Decision]]
) -> None:
    with sb.variant("api", BENCH_TAG) as v:
        decided, ran = run_rounds(benchmark, v, records)
    check(decided, ran, expected["plain"])


@pytest.mark.benchmark(group="strategy-book-update")
def test_strategy_book_update_stage(
    benchmark: BenchmarkFixture, records: list[bytes], expected: dict[str, list[sb.Decision]]
) -> None:
    with sb.variant("stage", BENCH_TAG) as v:
        assert isinstance(v, sb.Stage)
        decided, ran = run_rounds(benchmark, v, records)
        counters = v.owned.control.read_counters(v.contexts[1].index)
    check(decided, ran, expected["plain"])
    assert counters["mm.books"] == ran
    assert counters["mm.intents.new"] + counters["mm.intents.replace"] == len(decided)
    assert counters["mm.reports"] == len(decided)  # every intent answered, through the reports ring


def test_strategy_bench_small_run() -> None:
    """The whole script at a small size: every key, the same decisions (it raises otherwise), sane figures."""
    report = sb.run(updates=300, repetitions=2, name=BENCH_TAG)
    assert set(report["variants"]) == {*sb.VARIANTS, *sb.NOP_VARIANTS}
    for row in report["variants"].values():
        assert 0 < row["median_us"] <= row["p99_us"]
        assert len(row["repetition_medians_us"]) == 2
    assert set(report["ratios"]) == {"quiet", "requote", "mean", "median"}
    assert all(set(by) == {"api/plain", "stage/plain", "stage/api"} for by in report["ratios"].values())
    assert 0 < report["requotes"]["fraction"] < 1
    assert report["requotes"]["by_action"]["new"] == 2
    assert "missed" in sb.format_report(report) or "met" in sb.format_report(report)


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "WARNING")]
    assert not errors, [r.getMessage() for r in errors]
