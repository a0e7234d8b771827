"""Each pre-trade check timed alone, on one intent: what a benchmark reports per check.

:func:`check_calls` hands out each check of an order's path as a
zero-argument call, with the arguments :meth:`PreTradeChecks.check` would pass
it for ``intent`` now; :func:`time_checks` times each. The checks are pure
(a check spends no token and opens no order: committing is :meth:`check`'s),
so a call can be repeated; the exposure check refreshes its cache, which is
the cost it has on the hot path too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hftpipe.schema.trading import RejectReason
from stages.trading.risk.checks import Intent, PreTradeChecks, order_value


def check_calls(checks: PreTradeChecks, intent: Intent, now: int) -> list[tuple[str, Callable[[], RejectReason]]]:
    """``(check name, call)`` of every check, in check order (``known`` is a REPLACE's or a CANCEL's, of
    ``orig_order_seq``; ``cancel_rate`` a cancel's; the rest a NEW's)."""
    instrument_id, strategy_id, epoch, order_seq, _, _, side, order_type, price, qty, stop_price, _ = intent
    touch = checks.touch(instrument_id)
    if touch is None:
        raise ValueError(f"instrument {instrument_id} is not one of the checks' instruments")
    limits = checks.limits(strategy_id, instrument_id)
    notional = order_value(touch, side, order_type, price, stop_price) * qty
    key = (strategy_id, epoch, order_seq)
    cross = checks.cross_price(touch, side, order_type, price, qty)
    instrument = checks.instrument(instrument_id)
    own = checks.orders.strategy(strategy_id, instrument_id)
    account = checks.orders.instrument(instrument_id)
    orig_key = (strategy_id, epoch, intent.orig_order_seq)
    return [
        ("state", lambda: checks.check_state(strategy_id, instrument_id, side, qty)),
        ("duplicate", lambda: checks.check_duplicate(key)),
        ("known", lambda: checks.check_known(orig_key, instrument_id)),
        ("book", lambda: checks.check_book(touch, limits, now)),
        ("steps", lambda: checks.check_steps(instrument, order_type, price, qty, stop_price)),
        ("size", lambda: checks.check_size(limits, qty, notional)),
        ("min_notional", lambda: checks.check_min_notional(limits, notional)),
        ("band", lambda: checks.check_band(limits, touch, side, order_type, price, stop_price)),
        ("slippage", lambda: checks.check_slippage(limits, instrument_id, touch, side, order_type, price, qty)),
        ("reduce_only", lambda: checks.check_reduce_only(own, strategy_id, instrument_id, side, qty)),
        ("position", lambda: checks.check_position(limits, own, account, strategy_id, instrument_id, side, qty)),
        ("exposure", lambda: checks.check_exposure(account, instrument_id, side, notional)),
        ("open_orders", lambda: checks.check_open_orders(limits, own, account, False)),
        ("order_rate", lambda: checks.check_order_rate(strategy_id, now)),
        ("self_cross", lambda: checks.check_self_cross(account, side, cross, None)),
        ("cancel_rate", lambda: checks.check_cancel_rate(strategy_id, now)),
    ]


def time_checks(checks: PreTradeChecks, intent: Intent, now: int, repeat: int = 10_000) -> dict[str, float]:
    """Nanoseconds per call of each check (the lambda's own call included), in check order."""
    timings: dict[str, float] = {}
    for name, call in check_calls(checks, intent, now):
        start = time.perf_counter_ns()
        for _ in range(repeat):
            call()
        timings[name] = (time.perf_counter_ns() - start) / repeat
    return timings
