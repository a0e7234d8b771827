"""The shared fixed-point L2 book: level updates, top of book, top-N, crossed check, depth cut."""

from __future__ import annotations

import random

import pytest

from hftpipe.schema.l2book import ASK, BID, L2Book


def book_of(bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> L2Book:
    book = L2Book(7)
    for price, qty in bids:
        book.set_level(BID, price, qty)
    for price, qty in asks:
        book.set_level(ASK, price, qty)
    return book


def test_should_start_empty() -> None:
    book = L2Book(3)
    assert (book.instrument, book.update_id) == (3, 0)
    assert (book.best_bid(), book.best_ask()) == (None, None)
    assert (book.bids(), book.asks(), book.depth()) == ([], [], (0, 0))
    assert not book.is_crossed()


def test_should_set_replace_and_remove_levels_with_absolute_sizes() -> None:
    book = book_of([(100, 5), (98, 1), (99, 2)], [(103, 4), (101, 3), (102, 6)])
    assert book.bids() == [(100, 5), (99, 2), (98, 1)]  # best first
    assert book.asks() == [(101, 3), (102, 6), (103, 4)]
    book.set_level(BID, 99, 7)  # replaces, does not add
    book.set_level(ASK, 101, 0)  # removes
    book.set_level(ASK, 555, 0)  # removing an absent level is a no-op
    assert book.bids() == [(100, 5), (99, 7), (98, 1)]
    assert book.asks() == [(102, 6), (103, 4)]
    assert (book.qty_at(BID, 99), book.qty_at(ASK, 101), book.qty_at(ASK, 102)) == (7, 0, 6)
    assert book.depth() == (3, 2)


def test_should_give_the_best_bid_and_ask_with_their_sizes() -> None:
    book = book_of([(100, 5), (99, 2)], [(101, 3), (102, 6)])
    assert (book.best_bid(), book.best_ask()) == ((100, 5), (101, 3))
    book.set_level(BID, 100, 0)
    assert book.best_bid() == (99, 2)


def test_should_list_the_top_n_of_each_side_best_first() -> None:
    book = book_of([(100, 1), (99, 2), (98, 3)], [(101, 4), (102, 5), (103, 6)])
    assert book.bids(2) == [(100, 1), (99, 2)]
    assert book.asks(2) == [(101, 4), (102, 5)]
    assert book.bids(10) == book.bids()
    assert (book.bids(0), book.asks(0)) == ([], [])


@pytest.mark.parametrize(
    ("bid", "ask", "crossed"),
    [(100, 101, False), (101, 101, True), (102, 101, True)],
    ids=["spread", "locked", "crossed"],
)
def test_should_call_a_book_crossed_when_the_best_bid_reaches_the_best_ask(bid: int, ask: int, crossed: bool) -> None:
    assert book_of([(bid, 1)], [(ask, 1)]).is_crossed() is crossed
    assert not book_of([(bid, 1)], []).is_crossed()


def test_should_clear_both_sides() -> None:
    book = book_of([(100, 1)], [(101, 1)])
    book.clear()
    assert (book.bids(), book.asks(), book.best_bid(), book.best_ask()) == ([], [], None, None)


def test_should_truncate_to_the_depth_and_name_what_it_removed_worst_first() -> None:
    book = book_of([(100, 1), (99, 1), (98, 1), (97, 1)], [(101, 1), (102, 1), (103, 1)])
    assert book.truncate(2) == [(BID, 97), (BID, 98), (ASK, 103)]
    assert book.bids() == [(100, 1), (99, 1)]
    assert book.asks() == [(101, 1), (102, 1)]
    assert (book.qty_at(BID, 98), book.qty_at(ASK, 103)) == (0, 0)
    assert book.truncate(2) == []  # already within the depth
    assert book.truncate(0) == [(BID, 99), (BID, 100), (ASK, 102), (ASK, 101)]
    assert book.depth() == (0, 0)
    with pytest.raises(ValueError, match="depth"):
        book.truncate(-1)


def test_should_stay_consistent_with_a_plain_dict_model_under_random_updates() -> None:
    rng = random.Random(5)
    book = L2Book()
    model: dict[int, dict[int, int]] = {BID: {}, ASK: {}}
    for _ in range(3000):
        side = rng.choice((BID, ASK))
        price = rng.randint(1, 60) if side == BID else rng.randint(50, 110)
        qty = rng.choice((0, 0, rng.randint(1, 9)))
        book.set_level(side, price, qty)
        if qty:
            model[side][price] = qty
        else:
            model[side].pop(price, None)
        if rng.random() < 0.02:
            depth = rng.randint(0, 20)
            worst_bids = sorted(model[BID])[: max(len(model[BID]) - depth, 0)]
            worst_asks = sorted(model[ASK], reverse=True)[: max(len(model[ASK]) - depth, 0)]
            assert book.truncate(depth) == [(BID, p) for p in worst_bids] + [(ASK, p) for p in worst_asks]
            for price in worst_bids:
                del model[BID][price]
            for price in worst_asks:
                del model[ASK][price]
        assert book.bids() == sorted(model[BID].items(), reverse=True)
        assert book.asks() == sorted(model[ASK].items())


def test_should_give_the_top_levels_as_columns_best_first() -> None:
    book = L2Book(1)
    for price, qty in ((100, 1), (99, 2), (98, 3)):
        book.set_level(BID, price, qty)
    for price, qty in ((101, 4), (102, 5)):
        book.set_level(ASK, price, qty)
    assert book.top(2) == ([100, 99], [1, 2], [101, 102], [4, 5])
    assert book.top(10) == ([100, 99, 98], [1, 2, 3], [101, 102], [4, 5])
    assert book.top(0) == ([], [], [], [])
    assert book.top(3)[:2] == ([p for p, _ in book.bids(3)], [q for _, q in book.bids(3)])
