"""Checks the venue adapter tests share: how bad input is counted, and that it costs a resync, not a book."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Final

from hftpipe.schema.marketdata import BookState
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.venues.adapter import VenueAdapter

ONE_PROBLEM: Final = {"malformed": (1, 0, 0), "unknown": (0, 1, 0), "rejected": (0, 0, 1)}
"""(malformed, unknown, rejected_values) after one bad message of each kind."""
PROBLEM_KINDS: Final = ("malformed", "unknown", "rejected_values")


def assert_one_problem(adapter: VenueAdapter, payload: str | bytes, counter: str, recv_ns: int) -> dict[str, Any]:
    """``payload`` handed over without raising, counted as one ``counter`` and nothing else; the counts after it."""
    before = dataclasses.asdict(adapter.problems)
    adapter.on_message(payload, recv_ns)
    after = dataclasses.asdict(adapter.problems)
    assert after[counter] == before[counter] + 1
    assert sum(after[k] for k in PROBLEM_KINDS) == sum(before[k] for k in PROBLEM_KINDS) + 1
    return after


def assert_counted_without_a_book(adapter: VenueAdapter, sink: BooksSink, kind: str) -> None:
    """One bad message, counted as ``kind``; nothing synced, no level reached the sink."""
    counts = adapter.problems
    assert (counts.malformed, counts.unknown, counts.rejected_values) == ONE_PROBLEM[kind]
    assert not any(adapter.synced.values())
    assert all(book.depth() == (0, 0) for book in sink.books.values())


def assert_bad_trade_skipped(adapter: VenueAdapter, kind: str) -> None:
    counts = adapter.problems
    assert (counts.malformed, counts.rejected_values) == ((1, 0) if kind == "malformed" else (0, 1))


def assert_unusable_delta_resyncs(
    adapter: VenueAdapter, bad: str, book: Callable[[], Any], state: Callable[[], BookState]
) -> None:
    """A synced book hit by ``bad``: one problem, RESYNCING, levels untouched, one resubscription asked for."""
    before = book()
    adapter.on_message(bad, 2)
    assert adapter.problems.malformed + adapter.problems.rejected_values == 1
    assert state() is BookState.RESYNCING
    assert book() == before
    assert len(adapter.take_resubscribe_requests()) == 1
