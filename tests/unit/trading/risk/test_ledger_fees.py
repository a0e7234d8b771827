"""Fees in the quote asset and in the base asset, worked by hand; the net PnL is what the balances say.

TSTUSDT: price scale 2, qty scale 3, money at 5 decimals. A quote fee is at
the price scale (as ``EXEC_REPORT.fee``); a base fee at the qty scale. A
base fee is base the venue keeps: a buy books ``qty − fee``, a sell ``qty +
fee``, and ``fee × price`` is added to the fees.
"""

from __future__ import annotations

from typing import Final

import pytest

from hftpipe.schema.trading import OrderSide
from stages.trading.risk.ledger import PositionLedger
from stages.trading.risk.lots import CostMethod
from tests.unit.trading.risk.worked import SIDES, TST, lots, money, price, qty

# fmt: off
FEES: Final[list[tuple[str, str, str, str, str, str, str, list[tuple[str, str]], str]]] = [
    # side    price     qty      fee      in     realized  position  open lots (FIFO)        fees so far
    # bought 1.000, received 0.999; the kept 0.001 is worth 0.1
    ("BUY",  "100.00", "1.000", "0.001", "base",  "0",     "0.999",  [("100.00", "0.999")], "0.1"),
    # sold 0.500 and paid 0.001 on top: 0.501 leaves at 110.00, (110 − 100) × 0.501
    ("SELL", "110.00", "0.500", "0.001", "base",  "5.01",  "0.498",  [("100.00", "0.498")], "0.21"),
    ("SELL", "110.00", "0.498", "0.05",  "quote", "4.98",  "0",      [],                    "0.26"),
    ("SELL", "120.00", "1.000", "0.12",  "quote", "0",     "-1.000", [("120.00", "1.000")], "0.38"),
    # bought 1.000 to cover, received 0.998: 0.002 stays short; (120 − 110) × 0.998
    ("BUY",  "110.00", "1.000", "0.002", "base",  "9.98",  "-0.002", [("120.00", "0.002")], "0.6"),
    # short → long with a base fee: 0.499 received, 0.002 covers (+0.04), 0.497 opens long
    ("BUY",  "100.00", "0.500", "0.001", "base",  "0.04",  "0.497",  [("100.00", "0.497")], "0.7"),
    # long → short with a base fee: 1.001 leaves, 0.497 closes (−4.97), 0.504 opens short
    ("SELL", "90.00",  "1.000", "0.001", "base",  "-4.97", "-0.504", [("90.00", "0.504")],  "0.79"),
    ("BUY",  "80.00",  "0.504", "0.04",  "quote", "5.04",  "0",      [],                    "0.83"),
]
# fmt: on


def _fee(text: str, asset: str) -> int:
    return price(text) if asset == "quote" else qty(text)


def test_fees_in_the_quote_and_the_base_asset_row_by_row() -> None:
    position = PositionLedger(TST, CostMethod.FIFO)
    for n, (side, px, size, fee, asset, realized, after, open_lots, fees) in enumerate(FEES, 1):
        got = position.apply_fill(SIDES[side], price(px), qty(size), _fee(fee, asset), asset == "base")
        assert (got, position.qty, position.lots, position.fees) == (
            money(realized),
            qty(after),
            lots(open_lots),
            money(fees),
        ), f"row {n}"
    assert (position.realized, position.fees, position.pnl(price("1.00"))) == (
        money("20.08"),
        money("0.83"),
        money("19.25"),
    )
    assert (position.volume, position.fills) == (qty("6.002"), 8)


@pytest.mark.parametrize("method", list(CostMethod))
def test_the_net_pnl_is_the_change_in_the_accounts_quote_and_base_balances(method: CostMethod) -> None:
    """Whatever the method, realized + unrealized − fees = Δquote + Δbase × mark, exactly."""
    position = PositionLedger(TST, method)
    quote_balance = 0  # notional scale
    base_balance = 0  # qty scale
    for side, px, size, fee, asset, *_ in FEES[:5]:  # ends short 0.002
        p, q, f = price(px), qty(size), _fee(fee, asset)
        position.apply_fill(SIDES[side], p, q, f, asset == "base")
        sign = 1 if side == "BUY" else -1
        quote_balance -= sign * p * q
        base_balance += sign * q
        if asset == "base":
            base_balance -= f
        else:
            quote_balance -= f * 10**TST.qty_scale
    mark = price("111.11")
    assert position.qty == base_balance == qty("-0.002")
    assert position.pnl(mark) == quote_balance + base_balance * mark
    # −100 + 55 + 54.78 − 0.05 + 120 − 0.12 − 110 − 0.002 × 111.11
    assert position.pnl(mark) == money("19.38778")


def test_a_quote_fee_leaves_the_position_alone_and_a_negative_one_is_a_rebate() -> None:
    position = PositionLedger(TST)
    assert position.apply_fill(OrderSide.BUY, price("100.00"), qty("1.000"), fee=price("0.10")) == 0
    position.apply_fill(OrderSide.SELL, price("100.00"), qty("0.400"), fee=price("-0.02"))
    assert (position.qty, position.lots, position.fees) == (qty("0.600"), lots([("100.00", "0.600")]), money("0.08"))


def test_a_buy_whose_whole_quantity_is_kept_as_fee_leaves_the_position_unchanged() -> None:
    position = PositionLedger(TST)
    assert position.apply_fill(OrderSide.BUY, price("100.00"), qty("0.001"), qty("0.001"), fee_in_base=True) == 0
    assert (position.qty, position.lots, position.fees, position.volume) == (0, (), money("0.1"), qty("0.001"))


@pytest.mark.parametrize("fee", ["-0.001", "0.002"])
def test_a_base_fee_outside_zero_to_the_fills_quantity_is_refused(fee: str) -> None:
    position = PositionLedger(TST)
    with pytest.raises(ValueError, match=r"base-asset fee must be 0\.\.1 "):
        position.apply_fill(OrderSide.SELL, price("100.00"), qty("0.001"), qty(fee), fee_in_base=True)
    assert (position.qty, position.fees, position.fills) == (0, 0, 0)
