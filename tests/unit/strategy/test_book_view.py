"""BookView: what it reads from DEPTH and BBO records, in place, in one unpack per record."""

from __future__ import annotations

import pytest

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BookState
from hftpipe.strategy import BookView
from tests.unit.trading.strategy import records as r

P = 1_000_000  # one tick (0.01 at price scale 8)
Q = 10_000_000  # one lot (0.1 at qty scale 8)
AAA = Instrument(id=1, venue="binance", symbol="AAAUSDT", price_scale=8, qty_scale=8, tick=P, lot=Q)


def _depth(update_id: int = 7, state: BookState = BookState.SYNCED, origin: int = 1_000) -> bytes:
    bids = [(10_000 * P, 30 * Q), (9_999 * P, 50 * Q), (9_998 * P, 70 * Q)]
    asks = [(10_002 * P, 20 * Q), (10_003 * P, 40 * Q)]
    return r.depth(AAA.id, bids, asks, origin=origin, update_id=update_id, state=state)


def test_should_read_the_top_and_the_levels_of_a_depth_record() -> None:
    view = BookView(AAA)
    record = _depth(origin=123_456)
    view.take_depth(record, 0, 99)
    assert (view.bid_price, view.bid_qty, view.ask_price, view.ask_qty) == (10_000 * P, 30 * Q, 10_002 * P, 20 * Q)
    assert (view.update_id, view.levels, view.state, view.has_depth) == (7, 3, BookState.SYNCED, True)
    assert (view.taken_ns, view.updates, view.ts_origin, view.ts_venue) == (99, 1, 123_456, 123_461)
    assert view.bid_prices.tolist() == [10_000 * P, 9_999 * P, 9_998 * P]
    assert view.ask_qtys.tolist() == [20 * Q, 40 * Q, 0]  # `levels` is the longer side; the rest are zero
    assert bytes(view.header) == record[:64]


def test_should_take_a_depth_record_at_an_offset_of_a_memoryview() -> None:
    view = BookView(AAA)
    slot = bytearray(128) + bytearray(_depth(update_id=42))
    view.take_depth(memoryview(slot), 128, 5)
    assert (view.update_id, view.bid_price, view.ask_qty, view.levels) == (42, 10_000 * P, 20 * Q, 3)


@pytest.mark.parametrize("state", list(BookState))
def test_should_give_the_book_state_member_itself(state: BookState) -> None:
    view = BookView(AAA)
    view.take_depth(_depth(state=state), 0, 0)
    assert view.state is state
    assert view.synced is (state is BookState.SYNCED)
    view.take_bbo(r.bbo(AAA.id, 1 * P, Q, 2 * P, Q, origin=1, state=state), 0, 0)
    assert view.state is state


def test_should_refuse_an_unknown_book_state() -> None:
    view = BookView(AAA)
    record = bytearray(_depth())
    record[74] = 9  # book_state
    with pytest.raises(ValueError, match="9 is not a valid BookState"):
        view.take_depth(record, 0, 0)


def test_should_keep_the_header_a_live_view_of_the_last_update() -> None:
    view = BookView(AAA)
    view.take_depth(_depth(origin=1_000), 0, 0)
    header = view.header
    view.take_depth(_depth(update_id=8, origin=2_000), 0, 0)
    assert bytes(header) == _depth(update_id=8, origin=2_000)[:64]
    assert view.ts_origin == 2_000 and view.updates == 2
