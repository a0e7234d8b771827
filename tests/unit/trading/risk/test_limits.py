"""limits.py: the risk tables parse once into exact values, merge by precedence, and every mistake names its key."""

from __future__ import annotations

import tomllib
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from hftpipe.runtime.config import build_params
from hftpipe.runtime.validation import ConfigError
from stages.trading.risk.limits import Limits, RiskSettings

KEY = "stages.risk.params"

EXAMPLE = """
[stages.risk.params.account]
max_order_notional = "5000"
min_notional = "5"
price_band_bps = 50
max_data_age_ms = 2000
max_open_orders = 200
orders_per_second = 10
orders_per_10s = 50
cancels_per_second = 50
max_gross_exposure = "20000"
max_net_exposure = "10000"

[stages.risk.params.instruments.XYZUSDT]
max_order_qty = "50000"
max_position = "200000"

[stages.risk.params.strategies.1]
max_position = "100000"
orders_per_second = 5

[stages.risk.params.strategies.1.instruments.XYZUSDT]
max_position = "60000"
"""


def settings(params: dict[str, Any]) -> RiskSettings:
    return RiskSettings.from_config(params, KEY)


def _example() -> dict[str, Any]:
    params: dict[str, Any] = tomllib.loads(EXAMPLE)["stages"]["risk"]["params"]
    return params


def test_should_parse_the_documented_example_into_exact_fractions() -> None:
    parsed = settings(_example())
    assert parsed.account.max_order_notional == Fraction(5000)
    assert parsed.account.min_notional == Fraction(5)
    assert (parsed.account.price_band_bps, parsed.account.orders_per_10s) == (50, 50)
    assert parsed.instruments["XYZUSDT"].max_order_qty == Fraction(50000)
    assert parsed.strategies[1].orders_per_second == 5
    assert parsed.strategy_instruments[(1, "XYZUSDT")].max_position == Fraction(60000)
    assert parsed.key == KEY


def test_should_read_decimal_strings_exactly_and_accept_integers() -> None:
    parsed = settings({"account": {"max_order_notional": "0.1", "min_notional": "0.05", "max_position": 7}})
    assert parsed.account.max_order_notional == Fraction(1, 10)  # not the float 0.1
    assert parsed.account.min_notional == Fraction(1, 20)
    assert parsed.account.max_position == Fraction(7)


def test_should_take_every_key_from_the_most_specific_table_for_per_order_limits() -> None:
    parsed = settings(
        {
            "account": {"max_order_qty": "1", "max_order_notional": "10", "price_band_bps": 1, "max_data_age_ms": 1},
            "instruments": {"XYZUSDT": {"max_order_qty": "2", "max_order_notional": "20", "price_band_bps": 2}},
            "strategies": {
                "1": {
                    "max_order_qty": "3",
                    "max_order_notional": "30",
                    "instruments": {"XYZUSDT": {"max_order_qty": "4"}},
                }
            },
        }
    )
    pair = parsed.effective(1, "XYZUSDT")
    assert (pair.max_order_qty, pair.max_order_notional, pair.price_band_bps, pair.max_data_age_ms) == (4, 30, 2, 1)
    strategy_elsewhere = parsed.effective(1, "ABCUSDT")
    assert (strategy_elsewhere.max_order_qty, strategy_elsewhere.price_band_bps) == (3, 1)
    other_strategy = parsed.effective(2, "XYZUSDT")
    assert (other_strategy.max_order_qty, other_strategy.max_order_notional) == (2, 20)
    nothing_specific = parsed.effective(2, "ABCUSDT")
    assert (nothing_specific.max_order_qty, nothing_specific.max_order_notional) == (1, 10)


def test_should_let_each_table_bound_its_own_scope_for_totals() -> None:
    parsed = settings(
        {
            "account": {"max_position": "1000", "max_open_orders": 100},
            "instruments": {"XYZUSDT": {"max_position": "500"}},
            "strategies": {
                "1": {"max_position": "300", "max_open_orders": 10, "instruments": {"XYZUSDT": {"max_position": "50"}}}
            },
        }
    )
    pair = parsed.effective(1, "XYZUSDT")
    assert (pair.max_position, pair.max_open_orders) == (50, 10)
    assert (pair.account_max_position, pair.account_max_open_orders) == (500, 100)
    elsewhere = parsed.effective(1, "ABCUSDT")
    assert (elsewhere.max_position, elsewhere.account_max_position) == (300, 1000)
    no_table = parsed.effective(2, "XYZUSDT")
    assert (no_table.max_position, no_table.max_open_orders) == (0, 0)  # the strategy's own: none
    assert (no_table.account_max_position, no_table.account_max_open_orders) == (500, 100)


def test_should_keep_account_and_strategy_rates_apart() -> None:
    parsed = settings(
        {
            "account": {"orders_per_second": 10, "orders_per_10s": 50, "cancels_per_second": 20},
            "strategies": {"1": {"orders_per_second": 2}},
        }
    )
    assert parsed.account_rates() == (10, 50, 20)
    assert parsed.strategy_rates(1) == (2, 0, 0)
    assert parsed.strategy_rates(2) == (0, 0, 0)


def test_should_not_hold_a_strategy_rate_against_the_account_rate() -> None:
    # Each bounds its own flow: the strategy's per second above the account's per 10 s is not a contradiction.
    parsed = settings({"account": {"orders_per_10s": 5}, "strategies": {"2": {"orders_per_second": 6}}})
    assert (parsed.account_rates(), parsed.strategy_rates(2)) == ((0, 5, 0), (6, 0, 0))


def test_should_let_an_explicit_zero_lift_a_less_specific_limit() -> None:
    parsed = settings({"account": {"max_order_qty": "10"}, "strategies": {"1": {"max_order_qty": "0"}}})
    assert parsed.effective(1, "XYZUSDT").max_order_qty == 0
    assert parsed.effective(2, "XYZUSDT").max_order_qty == 10


def test_should_default_to_no_limits() -> None:
    empty = settings({})
    assert empty == RiskSettings()
    pair = empty.effective(1, "XYZUSDT")
    assert (pair.max_order_qty, pair.max_position, pair.account_max_open_orders, pair.price_band_bps) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("params", "key", "reason"),
    [
        ({"account": {"max_order_qty": "-1"}}, "account.max_order_qty", "must be >= 0"),
        ({"account": {"max_order_qty": 0.5}}, "account.max_order_qty", "decimal string"),
        ({"account": {"max_order_qty": "1e5"}}, "account.max_order_qty", "decimal string"),
        ({"account": {"max_order_qty": "1,000"}}, "account.max_order_qty", "decimal string"),
        ({"account": {"max_order_qty": True}}, "account.max_order_qty", "decimal string"),
        ({"account": {"price_band_bps": -1}}, "account.price_band_bps", "must be >= 0"),
        ({"account": {"price_band_bps": "50"}}, "account.price_band_bps", "must be an integer"),
        ({"account": {"max_open_orders": 2.0}}, "account.max_open_orders", "must be an integer"),
        ({"account": {"orders_per_second": 100_001}}, "account.orders_per_second", "<= 100000"),
        ({"account": {"max_ordr_qty": "1"}}, "account.max_ordr_qty", "unknown key"),
        ({"account": {"min_notional": "10", "max_order_notional": "5"}}, "account.min_notional", "max_order_notional"),
        ({"account": {"orders_per_second": 10, "orders_per_10s": 5}}, "account.orders_per_10s", "orders_per_second"),
        ({"instruments": {"XYZUSDT": {"orders_per_second": 1}}}, "instruments.XYZUSDT.orders_per_second", "a rate"),
        ({"instruments": {"XYZUSDT": {"max_net_exposure": "1"}}}, "instruments.XYZUSDT.max_net_exposure", "account"),
        ({"strategies": {"1": {"max_gross_exposure": "1"}}}, "strategies.1.max_gross_exposure", "account"),
        (
            {"strategies": {"1": {"instruments": {"XYZUSDT": {"cancels_per_second": 1}}}}},
            "strategies.1.instruments.XYZUSDT.cancels_per_second",
            "a rate",
        ),
        ({"strategies": {"abc": {}}}, "strategies.abc", "strategy's id"),
        ({"strategies": {"0": {}}}, "strategies.0", "1..65535"),
        ({"strategies": {"65536": {}}}, "strategies.65536", "1..65535"),
        ({"strategies": {"1": {}, "01": {}}}, "strategies.01", "configured twice"),
        ({"strategies": {"1": 5}}, "strategies.1", "must be a table"),
        ({"strategies": {"1": {"max_position": "x"}}}, "strategies.1.max_position", "decimal string"),
        ({"instruments": {"": {}}}, "instruments", "symbol may not be empty"),
        ({"limits": {}}, "limits", "unknown key"),
        ({"account": []}, "account", "must be a table"),
        # The tables merge: a clash between two of them names the more specific one.
        (
            {"account": {"min_notional": "10"}, "instruments": {"XYZUSDT": {"max_order_notional": "5"}}},
            "instruments.XYZUSDT.min_notional",
            "every table merged",
        ),
        (
            {"instruments": {"XYZUSDT": {"max_order_notional": "5"}}, "strategies": {"3": {"min_notional": "6"}}},
            "strategies.3.min_notional",
            "every table merged",
        ),
    ],
)
def test_should_refuse_a_bad_table_naming_its_key(params: dict[str, Any], key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(params)
    assert caught.value.key == f"{KEY}.{key}"
    assert reason in caught.value.reason


def test_should_name_the_key_when_a_limits_table_is_built_directly() -> None:
    with pytest.raises(ConfigError) as caught:
        Limits(max_position=Fraction(-1))
    assert caught.value.key == "max_position"


class _RiskStage:
    """A stand-in stage class: its Params parse themselves, as the risk stage's will."""

    Params = RiskSettings


def test_should_parse_through_the_pipeline_config_params_hook() -> None:
    parsed = build_params(_RiskStage, _example(), KEY, Path("."))
    assert isinstance(parsed, RiskSettings)
    assert parsed.account.max_gross_exposure == Fraction(20000)
