"""The cached Kraken checksum against the plain one, over every update of the v1 capture.

Run as a script to measure what checksum validation costs per update::

    .venv/bin/python -m tests.unit.marketdata.venues.test_kraken_checksum
"""

from __future__ import annotations

import sys
import timeit
from typing import Any

from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.l2book import L2Book
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import CaptureEvent
from stages.marketdata.capture.replay import replay
from stages.marketdata.venues.kraken.checksum import book_checksum
from stages.marketdata.venues.kraken.pair_book import PairBook
from stages.marketdata.venues.kraken.v1 import KrakenV1Adapter
from tests.captures import capture

Op = tuple[str, tuple[tuple[int, int, int], ...], int | None, bool]


def recorded_ops(events: list[CaptureEvent]) -> tuple[list[Op], dict[str, Any]]:
    """Every snapshot and update the adapter applied, in order, with the venue's checksum."""
    ops: list[Op] = []

    class Recorder(KrakenV1Adapter):
        def _apply_snapshot(self, book: PairBook, levels: list[Any], ts: int, recv: int, c: int | None) -> None:
            ops.append((book.instrument.symbol, tuple(levels), c, True))
            super()._apply_snapshot(book, levels, ts, recv, c)

        def _apply_update(self, book: PairBook, levels: list[Any], ts: int, recv: int, c: int | None) -> None:
            ops.append((book.instrument.symbol, tuple(levels), c, False))
            super()._apply_update(book, levels, ts, recv, c)

    registry = InstrumentRegistry()
    adapter = Recorder(BooksSink(), registry)
    replay(adapter, events)
    return ops, {i.symbol: i for i in registry}


def replay_ops(ops: list[Op], instruments: dict[str, Any], mode: str) -> int:
    """Apply the ops to fresh replicas; check each checksum by ``mode`` ("cached", "plain" or "none")."""
    state = {symbol: (PairBook(instrument, 1000), L2Book()) for symbol, instrument in instruments.items()}
    for book, _ in state.values():
        book.set_shifts(0, 0)
    matched = 0
    for symbol, levels, checksum, snapshot in ops:
        book, replica = state[symbol]
        if snapshot:
            replica.clear()
            book.invalidate()
        elif mode == "cached":
            book.touch(levels)
        set_level = replica.set_level
        for side, price, qty in levels:
            set_level(side, price, qty)
        if checksum is not None:
            if mode == "cached":
                matched += book.checksum(replica) == checksum
            elif mode == "plain":
                matched += book_checksum(replica) == checksum
    return matched


def test_should_agree_with_the_plain_checksum_on_every_update_of_the_capture() -> None:
    ops, instruments = recorded_ops(capture("KRAKEN.ws.50.0"))
    updates = sum(1 for op in ops if op[2] is not None)
    assert updates == 4269
    assert replay_ops(ops, instruments, "cached") == updates
    assert replay_ops(ops, instruments, "plain") == updates


def test_should_rebuild_a_side_only_when_its_top_10_changes() -> None:
    ops, instruments = recorded_ops(capture("KRAKEN.ws.50.0"))
    symbol, levels, _, _ = next(op for op in ops if op[3])
    book, replica = PairBook(instruments[symbol], 1000), L2Book()
    book.set_shifts(0, 0)
    for side, price, qty in levels:
        replica.set_level(side, price, qty)
    first = book.checksum(replica)
    worst_bid = replica.bids()[-1][0]
    book.touch([(0, worst_bid, 0)])  # deep in the book: the cached text stays valid
    replica.set_level(0, worst_bid, 0)
    assert book.checksum(replica) == first == book_checksum(replica)
    best_ask = replica.asks(1)[0][0]
    book.touch([(1, best_ask, 0)])
    replica.set_level(1, best_ask, 0)
    assert book.checksum(replica) == book_checksum(replica) != first


def main() -> None:
    ops, instruments = recorded_ops(capture("KRAKEN.ws.50.0"))
    updates = sum(1 for op in ops if op[2] is not None)
    best = dict.fromkeys(("none", "cached", "plain"), float("inf"))
    for _ in range(30):  # interleaved, best of 30: the least disturbed run of each
        for mode in best:
            elapsed = timeit.timeit(lambda m=mode: replay_ops(ops, instruments, m), number=1)  # type: ignore[misc]
            best[mode] = min(best[mode], elapsed)
    for mode in ("cached", "plain"):
        cost = (best[mode] - best["none"]) / updates * 1e6
        print(f"{mode:>6} checksum: {cost:.2f} us/update over {updates} updates of KRAKEN.ws.50.0")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
