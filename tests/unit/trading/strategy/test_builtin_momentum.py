"""Momentum's orders on bars equal the rules applied to TA-Lib's RSI and Bollinger bands of the same closes."""

from __future__ import annotations

import math

import pytest

from hftpipe.runtime.config import build_params
from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from stages.trading.strategy.builtin.momentum import Momentum
from tests.unit.trading.strategy.bars import Series, capture_series, random_walk, run, talib_bands
from tests.unit.trading.strategy.builtin_harness import Harness

QTY = 10 * 10**8
BUY, SELL = int(OrderSide.BUY), int(OrderSide.SELL)


def _reference(series: Series, fill: bool, max_units: int, high: float = 70.0, low: float = 30.0) -> list[list]:
    """The documented rules on TA-Lib's values: entries beyond the bands with RSI confirming, exits at the middle."""
    rsi, upper, middle, lower = talib_bands(series.closes_f)
    limit, position, out = max_units * 10**8, 0, []
    for i, close in enumerate(series.closes_f):
        orders: list[tuple[int, int, bool]] = []
        out.append(orders)
        if math.isnan(rsi[i]) or math.isnan(upper[i]):
            continue
        if position > 0 and close < middle[i]:
            orders.append((SELL, position, True))
        elif position < 0 and close > middle[i]:
            orders.append((BUY, -position, True))
        elif close > upper[i] and rsi[i] > high:
            if position < 0 or position + QTY <= limit:
                orders.append((BUY, QTY, position < 0 and -position >= QTY))
        elif close < lower[i] and rsi[i] < low and (position > 0 or position - QTY >= -limit):
            orders.append((SELL, QTY, position > 0 and position >= QTY))
        if fill:
            for side, qty, _ in orders:
                position += qty if side == BUY else -qty
    return out


@pytest.mark.parametrize("seed", [2, 3, 7])
def test_should_enter_exactly_where_talib_puts_close_beyond_the_band_with_rsi_confirming(seed: int) -> None:
    series = random_walk(seed)
    h = Harness(Momentum, {"qty": "10", "max_position": "10"})
    sent = run(h, series, fill=False)
    assert sent == _reference(series, fill=False, max_units=10)
    sides = {o[0] for bar in sent for o in bar}
    assert sides == {BUY, SELL}
    assert all((i.order_type, i.tif) == (OrderType.LIMIT, TimeInForce.IOC) for i in h.intents)
    assert all(i.price == (i.best_ask if i.side is OrderSide.BUY else i.best_bid) for i in h.intents)


@pytest.mark.parametrize("seed", [4, 5])
def test_should_add_up_to_max_position_and_exit_at_the_middle_band_when_filled(seed: int) -> None:
    series = random_walk(seed)
    h = Harness(Momentum, {"qty": "10", "max_position": "30"})
    sent = run(h, series, fill=True)
    assert sent == _reference(series, fill=True, max_units=30)
    assert any(reduce for bar in sent for (_, _, reduce) in bar)  # exits happened
    assert max(abs(p) for p in _positions(sent)) == 30 * 10**8  # the limit was reached, never passed


def test_should_agree_with_talib_on_the_capture_mids() -> None:
    series = capture_series()
    h = Harness(Momentum, {"qty": "10", "max_position": "10", "rsi_high": 60.0, "rsi_low": 40.0})
    sent = run(h, series, fill=True)
    assert sent == _reference(series, fill=True, max_units=10, high=60.0, low=40.0)
    assert len(series.closes) > 100 and any(sent)


def _positions(sent: list[list[tuple[int, int, bool]]]) -> list[int]:
    position, out = 0, []
    for bar in sent:
        for side, qty, _ in bar:
            position += qty if side == BUY else -qty
        out.append(position)
    return out


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"qty": "x"}, "qty"),
        ({"max_position": "1", "qty": "2"}, "qty"),
        ({"rsi_period": 0}, "rsi_period"),
        ({"bb_period": 1}, "bb_period"),
        ({"bb_k": 0.0}, "bb_k"),
        ({"rsi_high": 100.0}, "rsi_high"),
        ({"rsi_low": 80.0}, "rsi_low"),
    ],
)
def test_should_refuse_a_bad_param_naming_its_key(raw: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_params(Momentum, raw, "stages.strategy.params.params")
    assert caught.value.key == f"stages.strategy.params.params.{field}"
    built = build_params(Momentum, {}, "k")
    assert isinstance(built, Momentum.Params)
