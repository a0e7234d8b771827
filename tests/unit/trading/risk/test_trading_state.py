"""The trading state and the breakers: who holds trading back, and what releases it."""

from __future__ import annotations

from hftpipe.schema.trading import TradingState
from stages.trading.risk.breakers import WINDOW_NS, BreakerLimits, Breakers
from stages.trading.risk.state import ACCOUNT, OPERATOR, Hold, TradingStates

Q = 10**8  # one quote unit at the ledger's 8 decimals


def test_should_apply_the_more_severe_of_the_account_and_the_strategy_state() -> None:
    states = TradingStates()
    assert states.hold(7, Hold("max_loss", TradingState.REDUCING, "loss", 1, True))
    assert (states.state(7), states.state(8)) == (TradingState.REDUCING, TradingState.ACTIVE)
    assert states.hold(ACCOUNT, Hold(OPERATOR, TradingState.HALTED, "desk", 2, True))
    assert (states.state(7), states.state(8)) == (TradingState.HALTED, TradingState.HALTED)


def test_should_keep_the_first_reason_of_a_hold_repeated() -> None:
    states = TradingStates()
    states.hold(ACCOUNT, Hold("stale_data", TradingState.HALTED, "first", 1, False))
    assert not states.hold(ACCOUNT, Hold("stale_data", TradingState.HALTED, "second", 2, False))
    described = states.describe()
    assert (described["state"], described["set_by"], described["reason"], described["since_wall_ns"]) == (
        "HALTED", "stale_data", "first", 1)  # fmt: skip


def test_should_release_automatic_holds_on_their_own_and_manual_ones_only_on_resume() -> None:
    states = TradingStates()
    states.hold(ACCOUNT, Hold("stale_data", TradingState.HALTED, "stale", 1, False))
    states.hold(3, Hold("max_loss", TradingState.HALTED, "loss", 1, True))
    assert states.release(ACCOUNT, "stale_data")
    assert (states.account_state, states.state(3)) == (TradingState.ACTIVE, TradingState.HALTED)
    assert not states.release(3, "nothing")
    assert states.resume(5) == [3]
    assert states.state(3) is TradingState.ACTIVE and states.resumed_wall_ns == 5


def test_should_trip_max_loss_once_and_count_again_from_the_pnl_at_resume() -> None:
    states = TradingStates()
    breakers = Breakers(states, BreakerLimits(max_loss=100 * Q))
    assert not breakers.on_pnl(ACCOUNT, -100 * Q, 0, 1)  # at the limit: still trading
    assert breakers.on_pnl(ACCOUNT, -100 * Q - 1, 0, 2)  # one unit past it
    assert states.account_state is TradingState.HALTED
    assert states.describe()["reason"] == "loss 100.00000001 > max_loss 100"
    assert not breakers.on_pnl(ACCOUNT, -150 * Q, 0, 3)  # held already
    states.resume(4)
    breakers.on_resume({ACCOUNT: (-150 * Q, 0)})
    assert not breakers.on_pnl(ACCOUNT, -250 * Q, 0, 5)  # 100 more since the resume: at the limit again
    assert breakers.on_pnl(ACCOUNT, -250 * Q - 1, 0, 6)


def test_should_hold_at_reducing_when_configured_so() -> None:
    states = TradingStates()
    breakers = Breakers(
        states, BreakerLimits(), {4: BreakerLimits(max_drawdown=10 * Q, on_breach=TradingState.REDUCING)}
    )
    assert breakers.on_pnl(4, 0, 10 * Q + 1, 1)
    assert (states.state(4), states.state(5), states.account_state) == (
        TradingState.REDUCING, TradingState.ACTIVE, TradingState.ACTIVE)  # fmt: skip


def test_should_trip_on_a_reject_rate_spike_within_ten_seconds_only() -> None:
    states = TradingStates()
    breakers = Breakers(states, BreakerLimits(max_rejects_per_10s=3))
    assert not any(breakers.on_reject(False, t, t) for t in (0, 1, 2))
    assert not breakers.on_reject(False, WINDOW_NS, 3)  # the first has left the window: 3 in it
    assert not breakers.on_reject(False, WINDOW_NS + 1, 4)  # and the second: 3 again
    assert breakers.on_reject(False, WINDOW_NS + 1, 5)  # 4 within 10 s
    assert states.describe()["set_by"] == "reject_rate"


def test_should_trip_on_venue_errors_apart_from_risks_own_rejections() -> None:
    states = TradingStates()
    breakers = Breakers(states, BreakerLimits(max_venue_errors_per_10s=1))
    assert not breakers.on_reject(False, 1, 1) and not breakers.on_reject(False, 2, 2)
    assert not breakers.on_reject(True, 3, 3)
    assert breakers.on_reject(True, 4, 4)


def test_should_trip_on_the_median_round_trip_not_on_one_slow_answer() -> None:
    states = TradingStates()
    breakers = Breakers(states, BreakerLimits(max_report_latency_ns=5_000_000))
    assert not any(breakers.on_round_trip(1_000_000, i) for i in range(15))
    assert not breakers.on_round_trip(900_000_000, 15)  # one spike: the median is still 1 ms
    assert not any(breakers.on_round_trip(6_000_000, 16 + i) for i in range(7))
    assert breakers.on_round_trip(6_000_000, 30)  # now most of the last 16 are slow


def test_should_hold_while_data_is_stale_or_a_stage_is_down_and_release_after() -> None:
    states = TradingStates()
    breakers = Breakers(states, BreakerLimits(on_breach=TradingState.REDUCING))
    assert breakers.on_stale(["NKNUSDT"], 1)
    assert states.account_state is TradingState.REDUCING
    assert breakers.on_stages(["execution"], 2)
    assert states.account_state is TradingState.HALTED  # a dead stage always halts
    assert not breakers.on_stale([], 3)  # still halted by the dead stage
    assert breakers.on_stages([], 4)
    assert states.account_state is TradingState.ACTIVE
