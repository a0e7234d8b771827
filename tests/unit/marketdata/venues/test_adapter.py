"""The VenueAdapter base: the one resubscription mechanism, and depth-cut atomic updates."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.marketdata import BookSide
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.venues.adapter import ResubscribeRequest, VenueAdapter

BID, ASK = int(BookSide.BID), int(BookSide.ASK)


class LevelLog(BooksSink):
    """A books sink that also keeps every level it was sent, END and all."""

    def __init__(self) -> None:
        super().__init__()
        self.levels: list[tuple[int, int, int, bool]] = []

    def book_level(self, *args: Any) -> None:  # the adapter passes every field positionally
        super().book_level(*args)
        _, side, price, qty, _, _, _, end, _ = args
        self.levels.append((side, price, qty, end))


class Resubscribing(VenueAdapter):
    venue = "test-venue"

    def resubscribe_messages(self, symbols: Sequence[str]) -> list[str]:
        return [json.dumps({"op": "unsub", "args": list(symbols)}), json.dumps({"op": "sub", "args": list(symbols)})]


def texts(*symbols: str) -> tuple[str, ...]:
    return (json.dumps({"op": "unsub", "args": list(symbols)}), json.dumps({"op": "sub", "args": list(symbols)}))


# -- resubscription ------------------------------------------------------------------------
def test_should_build_one_request_for_the_symbols_asked_for_together() -> None:
    adapter = Resubscribing(BooksSink(), InstrumentRegistry())
    adapter.request_resubscribe(["A", "B", "A"])
    assert adapter.take_resubscribe_requests() == [ResubscribeRequest(("A", "B"), texts("A", "B"))]
    assert adapter.take_resubscribe_requests() == []


def test_should_skip_pending_symbols_until_their_snapshot_arrives() -> None:
    adapter = Resubscribing(BooksSink(), InstrumentRegistry())
    adapter.request_resubscribe(["A"])
    adapter.request_resubscribe(["A", "B"])  # A is pending: only B is asked for
    adapter.request_resubscribe(["B"])  # nothing left: no request
    assert adapter.take_resubscribe_requests() == [
        ResubscribeRequest(("A",), texts("A")),
        ResubscribeRequest(("B",), texts("B")),
    ]
    adapter.request_resubscribe(["A"])  # sent, but not answered yet: still pending
    assert adapter.take_resubscribe_requests() == []
    assert adapter.resubscribe_pending("A")
    adapter.snapshot_received("A")
    assert not adapter.resubscribe_pending("A")
    adapter.request_resubscribe(["A", "B"])
    assert adapter.take_resubscribe_requests() == [ResubscribeRequest(("A",), texts("A"))]


def test_should_ask_again_for_pending_symbols_when_forced() -> None:
    adapter = Resubscribing(BooksSink(), InstrumentRegistry())
    adapter.request_resubscribe(["A"])
    adapter.request_resubscribe(["A", "B"], force=True)
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [("A",), ("A", "B")]


def test_should_forget_pending_resubscriptions_on_disconnect() -> None:
    adapter = Resubscribing(BooksSink(), InstrumentRegistry())
    adapter.request_resubscribe(["A"])
    adapter.on_disconnect(1)
    assert adapter.take_resubscribe_requests() == []
    assert not adapter.resubscribe_pending("A")
    adapter.request_resubscribe(["A"])
    assert [r.symbols for r in adapter.take_resubscribe_requests()] == [("A",)]


def test_should_refuse_to_resubscribe_on_a_venue_that_does_not_resync_so() -> None:
    adapter = VenueAdapter(BooksSink(), InstrumentRegistry())
    adapter.venue = "rest-only"
    with pytest.raises(NotImplementedError, match="rest-only"):
        adapter.request_resubscribe(["A"])


# -- depth cut -------------------------------------------------------------------------------
def test_should_send_the_levels_pushed_past_the_depth_as_removals_in_the_same_update() -> None:
    sink = LevelLog()
    adapter = Resubscribing(sink, InstrumentRegistry())
    instrument = adapter.instrument("X")
    adapter.begin_snapshot(instrument, 1, 0, 0)
    adapter.emit_levels(instrument, [(BID, 100, 1), (BID, 98, 1), (ASK, 110, 1), (ASK, 112, 1)], 1, 0, 0, True, depth=2)
    assert sink.levels[-1] == (ASK, 112, 1, True)  # within the depth: nothing cut
    sink.levels.clear()
    # A better bid and a better ask push 98 and 112 out: the venue sends no removal for them.
    replica = adapter.emit_levels(instrument, [(BID, 99, 2), (ASK, 111, 3), (BID, 100, 5)], 2, 0, 0, depth=2)
    assert sink.levels == [
        (BID, 99, 2, False),
        (ASK, 111, 3, False),
        (BID, 100, 5, False),
        (BID, 98, 0, False),
        (ASK, 112, 0, True),
    ]
    assert replica is adapter.replicas[instrument.id]
    assert replica.bids() == sink.books[instrument.id].bids() == [(100, 5), (99, 2)]
    assert replica.asks() == sink.books[instrument.id].asks() == [(110, 1), (111, 3)]
    assert sink.updates[instrument.id] == 2  # the snapshot and the update: one END each
    assert adapter.update_ids["X"] == replica.update_id == 2


def test_should_cut_a_level_the_update_itself_set_beyond_the_depth() -> None:
    sink = LevelLog()
    adapter = Resubscribing(sink, InstrumentRegistry())
    instrument = adapter.instrument("X")
    adapter.emit_levels(instrument, [(BID, 100, 1), (BID, 99, 1)], 1, 0, 0, True, depth=2)
    sink.levels.clear()
    adapter.emit_levels(instrument, [(BID, 90, 4)], 2, 0, 0, depth=2)
    assert sink.levels == [(BID, 90, 4, False), (BID, 90, 0, True)]
    assert sink.books[instrument.id].bids() == [(100, 1), (99, 1)]


def test_should_send_nothing_for_an_empty_update_but_keep_its_id() -> None:
    sink = LevelLog()
    adapter = Resubscribing(sink, InstrumentRegistry())
    instrument = adapter.instrument("X")
    adapter.emit_levels(instrument, [], 5, 0, 0, depth=10)
    assert sink.levels == []
    assert adapter.update_ids["X"] == 5
