"""Per intent, every check on: the pre-trade checks alone, the risk stage from ring to ring, a reject through it.

The stream, the limits and the variants are those of ``bench/risk_bench.py``
(which prints interleaved medians, the per-check breakdown and ratios from
one run; the figures are in bench/README.md, "Risk stage"). Here each
benchmark round is one intent of the same seeded stream: pytest-benchmark's
per-round ``setup`` does, untimed, everything of the stream up to that intent
(the intents before it, their book updates, the venue's answers) and offers
the intent (to the ``intents`` ring for the stage); the round times
``check(*args)`` or one ``invoker.invoke()``.

Nothing asserts on time. Each test checks what it timed: the checks and the
stage give every intent of the stream, timed or not, the verdict the
reference run gave it; each timed NEW is approved (for the stage: it reached
the ``approved`` ring byte-identical but for the hop stamps); each timed fat
finger comes back to its strategy refused at the band; the stage's own
counters agree. The stage's rings live under ``BENCH_TAG`` and are unlinked
after the test (``bench/conftest.py`` checks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench import risk_bench as rb
from bench.conftest import BENCH_TAG

INTENTS = 4_000
"""The stream; the checks and stage tests time its approved unflagged NEWs (about 900), reject its first 2,000."""
REJECTS = 2_000


@pytest.fixture(scope="module")
def stream() -> rb.Stream:
    return rb.make_stream(INTENTS)


def approved_news(stream: rb.Stream) -> list[int]:
    """The intents the timed rounds are: NEWs, no flag, approved in the reference run (every check runs)."""
    expected = stream.expected["limits"]
    return [k for k, p in enumerate(stream.intents)
            if p.fields.action == rb.IntentAction.NEW and not p.fields.flags and expected[k] == 0]  # fmt: skip


class Rounds:
    """Walks the stream for pytest-benchmark: the untimed rest in ``setup``, one timed step per round.

    Round ``r`` is about intent ``timed[r]``: ``setup`` takes every intent before it untimed (``upto``
    0) or up to it included (``upto`` 1: the round times something after the intent), then returns
    ``prepare(intent)`` as the round's arguments; the next ``setup`` (or :meth:`finish`) first calls
    ``settle(intent)``, which checks what the round did and answers it.
    """

    def __init__(
        self,
        v: rb.Variant,
        stream: rb.Stream,
        timed: list[int],
        prepare: Callable[[rb.Planned], tuple[Any, ...]],
        settle: Callable[[rb.Planned], None],
        upto: int = 0,
        run: Callable[[rb.Stream, None, int, int], list[int]] | None = None,
    ) -> None:
        self.v, self.stream, self.timed = v, stream, timed
        self.prepare, self.settle, self.upto = prepare, settle, upto
        self.run = v.run if run is None else run
        self.expected = rb.expected_of(v.name, stream)
        self.done = 0
        """Rounds run."""
        self.position = 0
        """The next intent of the stream not yet taken."""

    def _untimed(self, stop: int) -> None:
        got = self.run(self.stream, None, self.position, stop)
        rb.check_verdicts(self.v.name, got, self.expected, self.position)
        self.position = stop

    def _settle_last(self) -> None:
        if self.done:
            k = self.timed[self.done - 1]
            self.settle(self.stream.intents[k])
            self.position = k + 1

    def setup(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        self._settle_last()
        k = self.timed[self.done]
        self._untimed(k + self.upto)
        self.done += 1
        return self.prepare(self.stream.intents[k]), {}

    def finish(self) -> int:
        """After the benchmark: settle its last round, take the rest of the stream untimed; how many rounds ran."""
        self._settle_last()
        self._untimed(len(self.stream.intents))
        return self.done


@pytest.mark.benchmark(group="risk-intent")
def test_risk_check_all_checks(benchmark: BenchmarkFixture, stream: rb.Stream) -> None:
    """``PreTradeChecks.check`` of one approved NEW: every check of the table, and the commit."""
    with rb.variant("checks", BENCH_TAG, stream) as v:
        assert isinstance(v, rb.Checks)
        checks = v.checks

        def prepare(p: rb.Planned) -> tuple[Any, ...]:
            v.book(p.books)
            return (*p.fields, time.monotonic_ns())

        def settle(p: rb.Planned) -> None:
            i = p.fields
            assert (i.strategy_id, i.epoch, i.order_seq) in checks.orders, f"timed NEW {i} was not approved"
            v.answer(p)

        rounds = Rounds(v, stream, approved_news(stream), prepare, settle)
        benchmark.pedantic(checks.check, setup=rounds.setup, rounds=len(rounds.timed), iterations=1)
        ran = rounds.finish()
        held = {key: checks.exposure.part(key[1]) for key in rb.HELD}
    assert ran >= 1
    assert all(part != (0, 0) for part in held.values())  # positions and marks were in the exposure
    benchmark.extra_info.update(intents=INTENTS, timed_news=ran)


@pytest.mark.benchmark(group="risk-intent")
def test_risk_stage_ring_to_ring(benchmark: BenchmarkFixture, stream: rb.Stream) -> None:
    """One approved NEW through the risk stage: intents ring in, checks, approved ring out (one duty cycle)."""
    with rb.variant("stage", BENCH_TAG, stream) as v:
        assert isinstance(v, rb.Stage)

        def prepare(p: rb.Planned) -> tuple[Any, ...]:
            if p.book_records:
                v.book(p.book_records)
            v.offer(p.record)
            return ()

        def settle(p: rb.Planned) -> None:
            assert v.verdict(p.fields, p.record) == 0, f"timed NEW {p.fields} was not approved"
            v.answer(p)

        rounds = Rounds(v, stream, approved_news(stream), prepare, settle)
        benchmark.pedantic(v.invoke, setup=rounds.setup, rounds=len(rounds.timed), iterations=1)
        ran = rounds.finish()
        rb.check_counters(v, stream)  # every intent of the stream: its approval or its refusal, counted once
        counters = v.counters()
    assert counters["messages_out"] >= counters["approved"]
    benchmark.extra_info.update(intents=INTENTS, timed_news=ran, approved=counters["approved"])


@pytest.mark.benchmark(group="risk-intent")
def test_risk_stage_reject(benchmark: BenchmarkFixture, stream: rb.Stream) -> None:
    """One fat finger through the risk stage: intents ring in, refused at the band, REJECTED report out."""
    with rb.variant("reject", BENCH_TAG, stream) as v:
        assert isinstance(v, rb.Reject)

        def prepare(p: rb.Planned) -> tuple[Any, ...]:
            v.fat(p)
            return ()

        def settle(p: rb.Planned) -> None:
            v.refused_at_band(p)

        # a round after each of the first REJECTS intents: the intent (and what came before) untimed, then
        # its fat finger; the stream is taken as the stage variant takes it (no other fat finger)
        rounds = Rounds(v, stream, list(range(REJECTS)), prepare, settle, upto=1,
                        run=lambda s, t, a, b: rb.Stage.run(v, s, t, a, b))  # fmt: skip
        benchmark.pedantic(v.invoke, setup=rounds.setup, rounds=REJECTS, iterations=1)
        ran = rounds.finish()
        counters = v.counters()
    in_stream = stream.expected["limits"].count(rb.RejectReason.PRICE_BAND)
    assert counters["rejects.price_band"] == ran + in_stream
    assert counters["rejected"] == ran + len(stream.intents) - stream.expected["limits"].count(0)
    benchmark.extra_info.update(intents=INTENTS, fat_fingers=ran)


def test_risk_bench_small_run() -> None:
    """The whole script at a small size: every key, the same verdicts (it raises otherwise), sane figures."""
    report = rb.run(intents=800, repetitions=2, name=BENCH_TAG)
    assert set(report["variants"]) == set(rb.VARIANTS)
    for name, row in report["variants"].items():
        assert 0 < row["median_us"] <= row["p99_us"]
        assert len(row["repetition_medians_us"]) == 2
        if name != "reject":
            assert row["new_approved"]["median_us"] > 0
    assert list(report["per_check"]["checks_ns"]) == list(rb.CHECK_NAMES)
    assert all(ns > 0 for ns in report["per_check"]["checks_ns"].values())
    assert report["stream"]["approved"] > 0.9 * 800
    assert report["stage_counters"]["approved"] == report["stream"]["approved"] + len(rb.HELD)
    text = rb.format_report(report)
    assert "met" in text or "missed" in text


def test_hftpipe_bench_risk_json() -> None:
    """``hftpipe bench risk --json`` at a small size: one JSON object with the figures."""
    import json

    from click.testing import CliRunner

    from bench.cli import bench

    result = CliRunner().invoke(bench, ["risk", "--json", "--intents", "300", "--repetitions", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["setup"]["intents"] == 300 and report["equivalent"] is True
    assert report["target"]["stage_median_us_at_most"] == 5.0


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "WARNING")]
    assert not errors, [r.getMessage() for r in errors]
