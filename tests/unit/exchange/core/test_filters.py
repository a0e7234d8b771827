"""filters.py: Binance PRICE_FILTER / LOT_SIZE / NOTIONAL / MIN_NOTIONAL in fixed point, exact reasons."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from hftpipe.schema.exchange_errors import LOT_SIZE, MIN_NOTIONAL, NOTIONAL, PRICE_FILTER, RejectReason
from hftpipe.schema.trading import OrderType
from stages.exchange.core.filters import SymbolFilters

LIMIT, MARKET, LIMIT_MAKER = OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER

# price_scale 2, qty_scale 3: tick 0.05, prices 1.00 .. 1000.00; step 0.010, qty 0.010 .. 5.000;
# notional 10.00 .. 1000.00 (quote amounts at the price scale).
FILTERS = SymbolFilters(
    qty_scale=3,
    tick_size=5,
    min_price=100,
    max_price=100_000,
    step_size=10,
    min_qty=10,
    max_qty=5_000,
    min_notional=1_000,
    max_notional=100_000,
)


class Req(NamedTuple):
    order_type: int
    price: int
    qty: int
    quote_qty: int = 0


@pytest.mark.parametrize(
    ("order", "reference_price", "expected"),
    [
        (Req(LIMIT, 10_000, 1_000), 0, None),  # 100.00 x 1.000 = 100.00
        (Req(LIMIT_MAKER, 10_000, 1_000), 0, None),
        (Req(LIMIT, 10_001, 1_000), 0, PRICE_FILTER),  # off tick
        (Req(LIMIT, 95, 1_000), 0, PRICE_FILTER),  # below minPrice
        (Req(LIMIT, 100_005, 10), 0, PRICE_FILTER),  # above maxPrice
        (Req(LIMIT, 0, 1_000), 0, PRICE_FILTER),
        (Req(LIMIT, -100, 1_000), 0, PRICE_FILTER),
        (Req(LIMIT, 10_001, 1_001), 0, PRICE_FILTER),  # price is checked before quantity
        (Req(LIMIT, 10_000, 1_005), 0, LOT_SIZE),  # off step
        (Req(LIMIT, 100_000, 0), 0, LOT_SIZE),
        (Req(LIMIT, 100_000, 5), 0, LOT_SIZE),  # below minQty
        (Req(LIMIT, 100, 5_010), 0, LOT_SIZE),  # above maxQty
        (Req(LIMIT, 100, 5_000), 0, NOTIONAL),  # 1.00 x 5.000 = 5.00 < 10.00
        (Req(LIMIT, 1_000, 1_000), 0, None),  # 10.00 x 1.000 = 10.00: the bound itself passes
        (Req(LIMIT, 995, 1_000), 0, NOTIONAL),  # 9.95
        (Req(LIMIT, 100_000, 1_000), 0, None),  # 1000.00: the maximum itself passes
        (Req(LIMIT, 100_000, 1_010), 0, NOTIONAL),  # 1010.00 > 1000.00
        (Req(MARKET, 0, 1_000), 0, None),  # no reference price yet: notional not checked
        (Req(MARKET, 123, 1_000), 0, None),  # a MARKET order's price is ignored
        (Req(MARKET, 0, 1_005), 0, LOT_SIZE),
        (Req(MARKET, 0, 10), 10_000, NOTIONAL),  # 100.00 x 0.010 = 1.00 < 10.00 (applyMinToMarket)
        (Req(MARKET, 0, 5_000), 100_000, None),  # 5000.00 > max, but applyMaxToMarket is false
        (Req(MARKET, 0, 0, 1_000), 0, None),  # quoteOrderQty 10.00
        (Req(MARKET, 0, 0, 999), 0, NOTIONAL),
    ],
)
def test_should_return_binances_exact_filter_failure(
    order: Req, reference_price: int, expected: RejectReason | None
) -> None:
    assert FILTERS.check(order, reference_price) == expected
    if expected is not None:
        assert expected.code == -1013
        assert expected.message.startswith("Filter failure: ")


def test_should_use_the_reason_text_of_the_configured_notional_filter() -> None:
    legacy = SymbolFilters(qty_scale=3, min_notional=1_000, notional_filter="MIN_NOTIONAL")
    assert legacy.check(Req(LIMIT, 100, 1_000)) == RejectReason(-1013, "Filter failure: MIN_NOTIONAL")
    assert legacy.check(Req(LIMIT, 100, 1_000)) == MIN_NOTIONAL
    current = SymbolFilters(qty_scale=3, min_notional=1_000)
    assert current.check(Req(LIMIT, 100, 1_000)) == RejectReason(-1013, "Filter failure: NOTIONAL")


@pytest.mark.parametrize(
    ("flags", "order", "reference_price", "expected"),
    [
        ({"apply_min_to_market": False}, Req(MARKET, 0, 10), 10_000, None),
        ({"apply_max_to_market": True}, Req(MARKET, 0, 5_000), 100_000, NOTIONAL),
        ({"apply_max_to_market": True}, Req(MARKET, 0, 0, 100_001), 0, NOTIONAL),
    ],
)
def test_should_apply_notional_bounds_to_market_orders_only_when_configured(
    flags: dict[str, Any], order: Req, reference_price: int, expected: RejectReason | None
) -> None:
    filters = SymbolFilters(qty_scale=3, min_notional=1_000, max_notional=100_000, **flags)
    assert filters.check(order, reference_price) == expected


def test_should_disable_each_rule_that_is_zero() -> None:
    anything = SymbolFilters(qty_scale=3)
    assert anything.check(Req(LIMIT, 7, 3)) is None
    assert anything.check(Req(LIMIT, 0, 3)) == PRICE_FILTER
    assert anything.check(Req(LIMIT, 7, 0)) == LOT_SIZE
    assert anything.lot == 1
    assert FILTERS.lot == 10


def test_should_read_binance_exchange_info_with_the_current_notional_filter() -> None:
    info = [
        {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01"},
        {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
        {"filterType": "ICEBERG_PARTS", "limit": 10},
        {
            "filterType": "NOTIONAL",
            "minNotional": "5.00000000",
            "applyMinToMarket": True,
            "maxNotional": "9000000.00000000",
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
    ]
    filters = SymbolFilters.from_exchange_info(info, price_scale=2, qty_scale=5)
    assert filters == SymbolFilters(
        qty_scale=5,
        tick_size=1,
        min_price=1,
        max_price=100_000_000,
        step_size=1,
        min_qty=1,
        max_qty=900_000_000,
        min_notional=500,
        max_notional=900_000_000,
        apply_min_to_market=True,
        apply_max_to_market=False,
        notional_filter="NOTIONAL",
    )


def test_should_read_binance_exchange_info_with_the_legacy_min_notional_filter() -> None:
    info = [{"filterType": "MIN_NOTIONAL", "minNotional": "10.00000000", "applyToMarket": False, "avgPriceMins": 5}]
    filters = SymbolFilters.from_exchange_info(info, price_scale=2, qty_scale=3)
    assert (filters.min_notional, filters.max_notional, filters.notional_filter) == (1_000, 0, "MIN_NOTIONAL")
    assert filters.apply_min_to_market is False
    assert filters.check(Req(LIMIT, 999, 1_000)) == MIN_NOTIONAL


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tick_size": -1},
        {"min_notional": -5},
        {"notional_filter": "PERCENT_PRICE"},
        {"notional_filter": "MIN_NOTIONAL", "max_notional": 10},
    ],
)
def test_should_refuse_an_invalid_configuration(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SymbolFilters(qty_scale=3, **kwargs)
