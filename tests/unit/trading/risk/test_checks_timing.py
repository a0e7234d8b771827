"""timing.py: every check of the path can be called alone, with what check() would pass it, and timed."""

from __future__ import annotations

from hftpipe.schema.trading import RejectReason as R
from stages.trading.risk.checks import Intent
from stages.trading.risk.timing import check_calls, time_checks
from tests.unit.trading.risk.desk import EPOCH, NONE, XYZ, Desk

ALL_LIMITS = {
    "account": {
        "max_order_qty": "1000",
        "max_order_notional": "100000",
        "min_notional": "5",
        "price_band_bps": 50,
        "max_slippage_bps": 100,
        "max_data_age_ms": 2000,
        "max_position": "10000",
        "max_open_orders": 100,
        "orders_per_second": 10,
        "orders_per_10s": 50,
        "cancels_per_second": 50,
        "max_gross_exposure": "1000000",
        "max_net_exposure": "1000000",
    },
    "strategies": {"1": {"max_position": "5000", "max_open_orders": 50, "orders_per_second": 5}},
}
CHECKS = [
    "state",
    "duplicate",
    "known",
    "book",
    "steps",
    "size",
    "min_notional",
    "band",
    "slippage",
    "reduce_only",
    "position",
    "exposure",
    "open_orders",
    "order_rate",
    "self_cross",
    "cancel_rate",
]


def test_every_check_is_a_call_of_its_own_in_check_order() -> None:
    desk = Desk(ALL_LIMITS)
    desk.hold(20)
    assert desk.buy(9000, 10) == NONE
    intent = Intent(XYZ.id, 1, EPOCH, 99, orig_order_seq=desk.seq, price=10000, qty=10, flags=0)
    calls = check_calls(desk.checks, intent, desk.now)
    assert [name for name, _ in calls] == CHECKS
    verdicts = {name: call() for name, call in calls}
    assert verdicts == {**dict.fromkeys(CHECKS, NONE), "reduce_only": R.REDUCE_ONLY}  # a buy while long
    assert desk.checks.check_intent(intent, desk.now) == NONE  # and the whole path agrees


def test_the_checks_are_pure_so_timing_them_changes_nothing() -> None:
    desk = Desk(ALL_LIMITS)
    intent = Intent(XYZ.id, 1, EPOCH, 1, price=10000, qty=10)
    timings = time_checks(desk.checks, intent, desk.now, repeat=50)
    assert list(timings) == CHECKS and all(ns > 0 for ns in timings.values())
    assert len(desk.checks.orders) == 0
    for _ in range(5):  # no token was spent: the strategy's 5 per second are all there
        assert desk.buy(9000, 10) == NONE
    assert desk.buy(9000, 10) == R.ORDER_RATE
