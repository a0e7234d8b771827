"""orders.py through checks.py: what an execution report does to what risk counts as open."""

from __future__ import annotations

from hftpipe.schema.trading import ExecType
from hftpipe.schema.trading import RejectReason as R
from tests.unit.trading.risk.desk import BUY, EPOCH, NONE, XYZ, Desk


def _desk() -> tuple[Desk, int]:
    desk = Desk({"strategies": {"1": {"max_position": "100"}}})
    assert desk.buy(9000, 100) == NONE
    return desk, desk.seq


def _open(desk: Desk) -> tuple[int, int, int]:
    """Strategy 1's open buy leaves, the account's, and its open order count, in XYZ."""
    own, account = desk.checks.orders.strategy(1, XYZ.id), desk.checks.orders.instrument(XYZ.id)
    return own.qty[BUY], account.qty[BUY], own.count


def test_an_approved_order_is_open_with_its_whole_quantity() -> None:
    desk, seq = _desk()
    assert _open(desk) == (100, 100, 1)
    assert desk.checks.orders.get((1, EPOCH, seq)) is not None
    assert desk.checks.orders.epoch_of(1) == EPOCH


def test_ack_keeps_the_order_and_trusts_no_zero_leaves() -> None:
    desk, seq = _desk()
    desk.report(seq, ExecType.ACK, 100)
    assert _open(desk) == (100, 100, 1)
    desk.report(seq, ExecType.ACK, 0)
    assert _open(desk) == (100, 100, 1)


def test_partial_fill_sets_leaves_and_fill_ends_the_order() -> None:
    desk, seq = _desk()
    desk.fill(seq, 30, leaves=70)
    assert _open(desk) == (70, 70, 1)
    desk.fill(seq, 30, leaves=70)  # a repeated report changes nothing: leaves are set, not subtracted
    assert _open(desk) == (70, 70, 1)
    desk.fill(seq, 70, leaves=0)
    assert _open(desk) == (0, 0, 0)
    assert desk.buy(9000, 10) == R.MAX_POSITION  # the position now holds what the order did


def test_cancel_expire_and_reject_end_the_order() -> None:
    for end in (ExecType.CANCELED, ExecType.EXPIRED, ExecType.REJECTED):
        desk, seq = _desk()
        desk.report(seq, end)
        assert _open(desk) == (0, 0, 0)
        assert desk.buy(9000, 100) == NONE


def test_cancel_rejected_leaves_the_order_open() -> None:
    desk, seq = _desk()
    desk.report(seq, ExecType.CANCEL_REJECTED, 100)
    assert _open(desk) == (100, 100, 1)


def test_replace_counts_both_orders_until_the_replaced_report() -> None:
    desk = Desk({"strategies": {"1": {"max_position": "100"}}})
    assert desk.buy(9000, 40) == NONE
    old = desk.seq
    assert desk.replace(old, BUY, 9005, 70) == R.MAX_POSITION  # 40 may fill before the cancel lands
    assert desk.replace(old, BUY, 9005, 60) == NONE
    new = desk.seq
    assert _open(desk) == (100, 100, 2)
    desk.report(new, ExecType.REPLACED, 60)
    assert _open(desk) == (60, 60, 1)
    assert desk.checks.orders.get((1, EPOCH, old)) is None


def test_a_replaces_order_rejected_leaves_the_original_open() -> None:
    desk = Desk({"strategies": {"1": {"max_position": "100"}}})
    assert desk.buy(9000, 40) == NONE
    old = desk.seq
    assert desk.replace(old, BUY, 9005, 50) == NONE
    desk.report(desk.seq, ExecType.REJECTED)  # e.g. the cancel failed: the venue places nothing new
    assert _open(desk) == (40, 40, 1)
    assert desk.checks.orders.get((1, EPOCH, old)) is not None


def test_reports_about_unknown_orders_are_counted_and_ignored() -> None:
    desk, seq = _desk()
    desk.report(seq + 100, ExecType.FILL, 0)
    desk.checks.on_report(1, EPOCH + 1, seq, int(ExecType.CANCELED), 0)  # another run's order
    assert desk.checks.orders.unknown_reports == 2
    assert _open(desk) == (100, 100, 1)
    desk.report(seq, ExecType.CANCELED)
    desk.report(seq, ExecType.CANCELED)  # a second end
    assert desk.checks.orders.unknown_reports == 3
