"""MarketMaker on the shipped Binance capture (books from the real adapter and book stage) and on hand-made books."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from hftpipe.runtime.config import build_params
from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.marketdata import BookState
from hftpipe.schema.records import RecordType
from hftpipe.schema.trading import IntentAction, OrderSide, OrderType, TimeInForce
from hftpipe.strategy import OrderState
from stages.trading.strategy.builtin.market_maker import MarketMaker
from tests.unit.trading.strategy.builtin_harness import (
    Harness,
    Intent,
    capture_records,
    depth_record,
    rtype_of,
    state_record,
)

NKN = 1  # NKNUSDT in configs/strategy-dryrun.toml: tick 0.00001, lot 1
QUOTING = (IntentAction.NEW, IntentAction.REPLACE)


def _replay(h: Harness, records: tuple[bytes, ...] | None = None) -> Iterator[bytes]:
    """Each capture record in, every intent answered as an idle venue would; yields after each record."""
    for record in capture_records() if records is None else records:
        h.feed(record)
        h.answer_all()
        yield record


def _quotes(h: Harness) -> list[Intent]:
    return [i for i in h.intents if i.action in QUOTING]


def test_should_quote_both_sides_post_only_never_crossing_or_inside_the_spread_on_the_capture() -> None:
    h = Harness(MarketMaker, {"qty": "10", "spread_ticks": 2, "max_inventory": "100"})
    for record in _replay(h):
        if rtype_of(record) != RecordType.DEPTH:
            continue
        for key, book in h.books.items():
            if book.synced and book.two_sided:
                sides = sorted(o.side for o in h.runner.open_orders(key))
                assert sides == [OrderSide.BUY, OrderSide.SELL], f"{book}: {sides}"
    quotes = _quotes(h)
    assert {q.instrument for q in quotes} == set(h.books)  # every instrument of the capture was quoted
    for q in quotes:
        tick = h.instruments[q.instrument].tick
        assert (q.order_type, q.tif) == (OrderType.LIMIT_MAKER, TimeInForce.GTC)
        assert q.price % tick == 0
        mid2 = q.best_bid + q.best_ask  # twice the mid, so it stays an int
        if q.side is OrderSide.BUY:
            assert q.price < q.best_ask
            assert 2 * q.price <= mid2 - 2 * 2 * tick  # at least spread_ticks below the mid
        else:
            assert q.price > q.best_bid
            assert 2 * q.price >= mid2 + 2 * 2 * tick
    assert h.count("refused") == 0


def test_should_requote_only_when_the_target_moved_at_least_requote_ticks() -> None:
    requote = 5
    h = Harness(MarketMaker, {"qty": "10", "spread_ticks": 1, "requote_ticks": requote})
    price_of: dict[int, int] = {}
    skipped = 0
    for _ in _replay(h):
        for key, book in h.books.items():
            if not (book.synced and book.two_sided):
                continue
            tick = h.instruments[key].tick
            targets = dict(zip((OrderSide.BUY, OrderSide.SELL), h.strategy.targets(book), strict=True))
            for order in h.runner.open_orders(key):
                moved = abs(targets[order.side] - order.price)
                assert moved < requote * tick, f"{order} should have been replaced ({moved // tick} ticks off)"
                skipped += moved > 0
    replaces = [i for i in h.intents if i.action is IntentAction.REPLACE]
    for intent in h.intents:
        price_of[intent.seq] = intent.price
    for r in replaces:
        assert abs(r.price - price_of[r.orig]) >= requote * h.instruments[r.instrument].tick
    assert replaces and skipped  # both happened: moves at and under the threshold


def test_should_keep_the_worst_case_inventory_within_max_inventory_under_fills() -> None:
    rng = random.Random(7)
    h = Harness(MarketMaker, {"qty": "10", "max_inventory": "30", "skew_ticks_per_unit": 0.05})
    limit = {k: 30 * 10**inst.qty_scale for k, inst in h.instruments.items()}
    reached = withheld = 0
    for _ in _replay(h):
        for order in sorted(h.runner.open_orders(), key=lambda o: o.seq):
            if order.state is OrderState.OPEN and rng.random() < 0.15:
                h.fill(order, order.qty // 2 if rng.random() < 0.3 else None)
                h.answer_all()
        for key, book in h.books.items():
            position = h.runner.position(key).qty
            orders = list(h.runner.open_orders(key))
            longest = position + sum(o.leaves_qty for o in orders if o.side is OrderSide.BUY)
            shortest = position - sum(o.leaves_qty for o in orders if o.side is OrderSide.SELL)
            assert -limit[key] <= shortest <= position <= longest <= limit[key]
            reached += abs(position) == limit[key]
            withheld += book.synced and len({o.side for o in orders}) == 1
    assert reached and withheld  # the limit was hit and a side was left unquoted because of it


def test_should_cancel_everything_when_the_book_goes_resyncing_and_quote_again_once_synced() -> None:
    records = capture_records()
    depths = [i for i, r in enumerate(records) if rtype_of(r) == RecordType.DEPTH and r[4] == NKN]
    cut = depths[len(depths) // 2]
    h = Harness(MarketMaker, {"qty": "10"})
    for _ in _replay(h, records[:cut]):
        pass
    assert len(h.runner.open_orders(NKN)) == 2
    before = len(h.intents)
    h.feed(state_record(NKN, BookState.RESYNCING))
    pulled = h.intents[before:]
    assert [(i.action, i.instrument) for i in pulled] == [(IntentAction.CANCEL_ALL, NKN)]
    h.answer_all()
    assert not h.runner.open_orders(NKN)
    # the book stage keeps publishing the instrument as RESYNCING until it is synced again
    resyncing = [r[:74] + bytes([BookState.RESYNCING]) + r[75:] if r[4] == NKN else r for r in records[cut:]]
    before = len(h.intents)
    for _ in _replay(h, tuple(resyncing[:40])):
        pass
    assert not [i for i in h.intents[before:] if i.instrument == NKN]
    for _ in _replay(h, records[cut + 40 :]):
        pass
    assert sorted(o.side for o in h.runner.open_orders(NKN)) == [OrderSide.BUY, OrderSide.SELL]


def _book(h: Harness, bid: int, bid_qty: int, ask: int, ask_qty: int, ts: int = 1) -> None:
    h.feed(depth_record(NKN, [(bid, bid_qty)], [(ask, ask_qty)], ts=ts))
    h.answer_all()


def _quoted(h: Harness) -> dict[OrderSide, int]:
    return {o.side: o.price for o in h.runner.open_orders(NKN)}


def test_should_center_on_the_microprice_and_skew_both_quotes_against_the_position() -> None:
    tick = 1000
    mid = Harness(MarketMaker, {"qty": "10", "fair": "mid", "spread_ticks": 1})
    micro = Harness(MarketMaker, {"qty": "10", "fair": "microprice", "spread_ticks": 1})
    for h in (mid, micro):
        _book(h, 35_000_000, 900, 35_100_000, 100)  # 100 ticks wide, bids 9x the asks
    assert _quoted(mid) == {OrderSide.BUY: 35_049_000, OrderSide.SELL: 35_051_000}
    # microprice = 35_000_000 + 100 ticks * 0.9: the quotes lean toward the ask
    assert _quoted(micro) == {OrderSide.BUY: 35_089_000, OrderSide.SELL: 35_091_000}

    skewed = Harness(MarketMaker, {"qty": "10", "spread_ticks": 1, "skew_ticks_per_unit": 2.0, "max_inventory": "20"})
    _book(skewed, 35_000_000, 900, 35_100_000, 100)
    bid = next(o for o in skewed.runner.open_orders(NKN) if o.side is OrderSide.BUY)
    skewed.fill(bid)  # long 10 units: both quotes move 20 ticks down, at once
    skewed.answer_all()
    assert _quoted(skewed) == {OrderSide.BUY: 35_049_000 - 20 * tick, OrderSide.SELL: 35_051_000 - 20 * tick}


def test_should_clamp_a_skewed_quote_to_stay_off_the_other_side_of_the_book() -> None:
    h = Harness(MarketMaker, {"qty": "10", "spread_ticks": 1, "skew_ticks_per_unit": 10.0, "max_inventory": "20"})
    _book(h, 35_000_000, 500, 35_004_000, 500)  # 4 ticks wide
    ask = next(o for o in h.runner.open_orders(NKN) if o.side is OrderSide.SELL)
    h.fill(ask)  # short 10: 100 ticks of skew up would put the bid far above the best ask
    h.answer_all()
    quoted = _quoted(h)
    assert quoted[OrderSide.BUY] == 35_003_000  # best ask - 1 tick
    assert quoted[OrderSide.SELL] == 35_103_000  # center + 1 tick
    assert h.count("refused") == 0


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"qty": "0"}, "qty"),
        ({"qty": "ten"}, "qty"),
        ({"fair": "last"}, "fair"),
        ({"spread_ticks": 0}, "spread_ticks"),
        ({"skew_ticks_per_unit": -1.0}, "skew_ticks_per_unit"),
        ({"max_inventory": "5", "qty": "10"}, "qty"),
        ({"requote_ticks": 0}, "requote_ticks"),
        ({"spread_ticks": "2"}, "spread_ticks"),
    ],
)
def test_should_refuse_a_bad_param_naming_its_key(raw: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_params(MarketMaker, raw, "stages.strategy.params.params")
    assert caught.value.key == f"stages.strategy.params.params.{field}"
