"""checks.py: an id is used once per run (in bounded memory), and a cancel or replace names an open order."""

from __future__ import annotations

from hftpipe.schema.trading import ExecType
from hftpipe.schema.trading import RejectReason as R
from stages.trading.risk.seen_ids import SeenIds
from tests.unit.trading.risk.desk import ABC, BUY, EPOCH, NONE, Desk


def test_duplicate_id_is_refused_open_or_not() -> None:
    desk = Desk()
    assert desk.buy(9000, 10, seq=7) == NONE
    assert desk.buy(9000, 10, seq=7) == R.DUPLICATE_ORDER
    desk.report(7, ExecType.CANCELED)
    assert desk.buy(9000, 10, seq=7) == R.DUPLICATE_ORDER  # closed, still seen


def test_duplicate_id_of_a_refused_intent_is_refused() -> None:
    desk = Desk()
    assert desk.buy(9001, 10, seq=7) == R.PRICE_NOT_ON_TICK
    assert desk.buy(9000, 10, seq=7) == R.DUPLICATE_ORDER


def test_duplicate_id_covers_cancel_requests_and_replace_orders() -> None:
    desk = Desk()
    assert desk.buy(9000, 10, seq=1) == NONE
    assert desk.buy(9000, 10, seq=2) == NONE
    assert desk.replace(1, BUY, 9005, 10, seq=3) == NONE
    assert desk.send(BUY, 0, 0, action=1, orig=2, seq=4) == NONE  # a CANCEL request's own id
    assert desk.buy(9000, 10, seq=3) == R.DUPLICATE_ORDER
    assert desk.buy(9000, 10, seq=4) == R.DUPLICATE_ORDER
    assert desk.send(BUY, 0, 0, action=1, orig=1, seq=2) == R.DUPLICATE_ORDER


def test_the_same_sequence_is_another_id_in_another_strategy_or_epoch() -> None:
    desk = Desk()
    assert desk.buy(9000, 10, seq=7) == NONE
    assert desk.buy(9000, 10, seq=7, strategy=2) == NONE
    assert desk.buy(9000, 10, seq=7, epoch=EPOCH + 1) == NONE


def test_seen_ids_keep_bounded_memory_and_refuse_what_they_forgot() -> None:
    seen = SeenIds(capacity=4)
    for seq in range(1, 11):
        assert not seen.seen((1, EPOCH, seq))
        seen.add((1, EPOCH, seq))
    assert len(seen) == 4 and seen.forgotten == 6
    assert all(seen.seen((1, EPOCH, seq)) for seq in range(1, 11))  # 7..10 kept, 1..6 under the floor
    assert not seen.seen((1, EPOCH, 11))
    assert not seen.seen((1, EPOCH + 1, 1))  # another epoch has its own floor
    assert not seen.seen((2, EPOCH, 1))  # another strategy too


def test_unknown_order_cancel_is_refused() -> None:
    desk = Desk()
    assert desk.cancel(99) == R.UNKNOWN_ORDER  # never sent
    assert desk.buy(9000, 10) == NONE
    order = desk.seq
    assert desk.cancel(order, strategy=2) == R.UNKNOWN_ORDER  # another strategy's
    assert desk.cancel(order, instrument=ABC.id) == R.UNKNOWN_ORDER  # named in another instrument
    assert desk.cancel(order, epoch=EPOCH + 1) == R.UNKNOWN_ORDER  # another run's id
    assert desk.cancel(order) == NONE  # pending: known as soon as approved
    desk.report(order, ExecType.CANCELED)
    assert desk.cancel(order) == R.UNKNOWN_ORDER  # no longer open


def test_unknown_order_replace_is_refused() -> None:
    desk = Desk()
    assert desk.replace(99, BUY, 9000, 10) == R.UNKNOWN_ORDER
    assert desk.buy(9001, 10) == R.PRICE_NOT_ON_TICK
    assert desk.replace(desk.seq, BUY, 9000, 10) == R.UNKNOWN_ORDER  # refused orders never open


def test_cancel_all_needs_no_open_order() -> None:
    assert Desk().cancel_all() == NONE


def test_malformed_intents_are_refused_as_risk_limit() -> None:
    desk = Desk()
    assert desk.send(BUY, 9000, 10, action=9) == R.RISK_LIMIT
    assert desk.send(2, 9000, 10) == R.RISK_LIMIT
    assert desk.send(BUY, 9000, 10, order_type=9) == R.RISK_LIMIT
