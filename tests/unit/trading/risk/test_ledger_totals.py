"""The ledger across strategies and instruments: account vs strategies, drawdown, exposure, totals at 8 decimals.

TSTUSDT (id 1): price scale 2, qty scale 3; ALTUSDT (id 2): price scale 4,
qty scale 1. Totals are quote units at 8 decimals (``quote("...")``).
"""

from __future__ import annotations

import pytest

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import OrderSide
from stages.trading.risk.ledger import QUOTE_SCALE, Ledger
from stages.trading.risk.lots import CostMethod
from tests.unit.trading.risk.worked import ALT, TST, money, price, qty, quote

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def _ledger(method: CostMethod = CostMethod.FIFO) -> Ledger:
    return Ledger([TST, ALT], method)


def test_the_account_books_every_strategys_fills_and_its_realized_pnl_is_its_own() -> None:
    ledger = _ledger()
    assert ledger.apply_fill(1, TST.id, BUY, price("100.00"), qty("1.000")) == 0
    assert ledger.apply_fill(2, TST.id, SELL, price("103.00"), qty("0.400")) == 0  # opens strategy 2's short
    assert ledger.apply_fill(1, TST.id, SELL, price("104.00"), qty("0.200")) == money("0.8")
    assert (ledger.strategy_qty(1, TST.id), ledger.strategy_qty(2, TST.id)) == (qty("0.800"), qty("-0.400"))
    assert ledger.account_qty(TST.id) == qty("0.400")
    # the account matched strategy 2's sell with strategy 1's buy: 3 × 0.4 + 4 × 0.2
    assert ledger.account(TST.id).realized == money("2.0")
    assert (ledger.realized(), ledger.realized(1), ledger.realized(2)) == (quote("2.0"), quote("0.8"), 0)
    # ...while the net PnL at any mark is the sum: 2.0 + 0.4 × 1 = (0.8 + 0.8 × 1) + 0.4 × 2
    marks = {TST.id: price("101.00")}
    assert (ledger.pnl(marks), ledger.pnl(marks, 1), ledger.pnl(marks, 2)) == (quote("2.4"), quote("1.6"), quote("0.8"))
    assert (ledger.unrealized(marks), ledger.unrealized(marks, 1), ledger.unrealized(marks, 2)) == (
        quote("0.4"),
        quote("0.8"),
        quote("0.8"),
    )


def test_fees_volume_and_fills_of_the_account_are_the_strategies_sums() -> None:
    ledger = _ledger(CostMethod.AVERAGE)
    ledger.apply_fill(1, TST.id, BUY, price("100.00"), qty("1.000"), fee=price("0.10"))
    ledger.apply_fill(2, ALT.id, SELL, price("2.5000", ALT), qty("4.0", ALT), fee=price("0.0100", ALT))
    ledger.apply_fill(2, TST.id, BUY, price("100.00"), qty("0.500"), fee=qty("0.001"), fee_in_base=True)
    assert (ledger.fees(1), ledger.fees(2), ledger.fees()) == (quote("0.1"), quote("0.11"), quote("0.21"))
    account = ledger.account(TST.id)
    assert (account.qty, account.volume, account.fills) == (qty("1.499"), qty("1.500"), 2)
    assert ledger.strategies() == (1, 2)
    assert [p.instrument.symbol for p in ledger.positions(2)] == ["ALTUSDT", "TSTUSDT"]
    assert [p.instrument.symbol for p in ledger.positions()] == ["TSTUSDT", "ALTUSDT"]


def test_the_pre_trade_position_lookups_read_zero_for_what_never_traded_and_create_nothing() -> None:
    ledger = _ledger()
    assert (ledger.strategy_qty(7, TST.id), ledger.account_qty(TST.id), ledger.account_qty(99)) == (0, 0, 0)
    assert ledger.strategies() == ()


def test_a_fill_in_an_instrument_the_ledger_does_not_know_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        _ledger().apply_fill(1, 99, BUY, 1, 1)


def test_an_open_position_without_a_mark_is_a_key_error_and_a_flat_one_needs_none() -> None:
    ledger = _ledger()
    ledger.apply_fill(1, TST.id, BUY, price("100.00"), qty("1.000"))
    ledger.apply_fill(1, ALT.id, BUY, price("1.0000", ALT), qty("1.0", ALT))
    ledger.apply_fill(1, ALT.id, SELL, price("1.5000", ALT), qty("1.0", ALT))
    assert ledger.pnl({TST.id: price("99.00")}) == quote("-0.5")
    with pytest.raises(KeyError):
        ledger.unrealized({ALT.id: price("1.0000", ALT)})


def test_gross_and_net_exposure_across_two_instruments_in_one_quote_currency() -> None:
    ledger = _ledger()
    ledger.apply_fill(1, TST.id, BUY, price("100.00"), qty("2.000"))
    ledger.apply_fill(2, ALT.id, SELL, price("1.5000", ALT), qty("30.0", ALT))
    marks = {TST.id: price("101.00"), ALT.id: price("1.2345", ALT)}
    # |2 × 101| + |−30 × 1.2345| and 2 × 101 − 30 × 1.2345
    assert ledger.gross_exposure(marks) == quote("239.035")
    assert ledger.net_exposure(marks) == quote("164.965")
    assert (ledger.gross_exposure(marks, 2), ledger.net_exposure(marks, 2)) == (quote("37.035"), quote("-37.035"))
    assert (ledger.gross_exposure(marks, 3), ledger.net_exposure(marks, 3)) == (0, 0)


def test_a_total_over_an_instrument_finer_than_8_decimals_truncates_once_toward_zero() -> None:
    pepe = Instrument(id=3, venue="test", symbol="PEPEUSDT", price_scale=8, qty_scale=2)  # money at 10 decimals
    ledger = Ledger([TST, pepe])
    ledger.apply_fill(1, TST.id, BUY, price("100.00"), qty("0.001"))
    ledger.apply_fill(1, pepe.id, SELL, pepe.price("0.00001234"), qty("1.23", pepe))
    marks = {TST.id: price("100.00"), pepe.id: pepe.price("0.00001234")}
    # 0.1 + 0.0000151782 and 0.1 − 0.0000151782, each cut once at the 8th decimal
    assert ledger.gross_exposure(marks) == quote("0.10001517")
    assert ledger.net_exposure(marks) == quote("0.09998482")
    assert ledger.net_exposure(marks, 1) == quote("0.09998482")
    ledger.apply_fill(2, pepe.id, SELL, pepe.price("0.00001234"), qty("1.23", pepe))
    assert ledger.net_exposure(marks, 2) == quote("-0.00001517")  # toward zero, not floor
    assert QUOTE_SCALE == 8


def test_drawdown_runs_from_the_highest_net_pnl_observed_and_keeps_the_worst() -> None:
    ledger = _ledger()
    ledger.apply_fill(1, TST.id, BUY, price("100.00"), qty("1.000"), fee=price("0.10"))
    path = [
        # mark     net PnL   peak    drawdown  worst
        ("100.00", "-0.1",  "0",    "0.1",    "0.1"),  # the peak starts at 0: a loss from the start counts
        ("105.00", "4.9",   "4.9",  "0",      "0.1"),
        ("102.00", "1.9",   "4.9",  "3",      "3"),
        ("107.00", "6.9",   "6.9",  "0",      "3"),
        ("105.00", "4.9",   "6.9",  "2",      "3"),
    ]  # fmt: skip
    for n, (mark, pnl, peak, drawdown, worst) in enumerate(path, 1):
        marks = {TST.id: price(mark)}
        ledger.observe(marks)
        assert (ledger.pnl(marks, 1), ledger.peak(1), ledger.drawdown(1), ledger.max_drawdown(1)) == (
            quote(pnl),
            quote(peak),
            quote(drawdown),
            quote(worst),
        ), f"step {n}"
        assert (ledger.peak(), ledger.drawdown(), ledger.max_drawdown()) == (quote(peak), quote(drawdown), quote(worst))
    ledger.apply_fill(1, TST.id, SELL, price("103.00"), qty("1.000"), fee=price("0.10"))
    ledger.observe({})  # flat: no mark needed; net PnL 3 − 0.2
    assert (ledger.drawdown(1), ledger.max_drawdown(1)) == (quote("4.1"), quote("4.1"))


def test_the_accounts_drawdown_is_of_its_own_pnl_not_the_sum_of_the_strategies() -> None:
    ledger = _ledger()
    ledger.apply_fill(1, TST.id, BUY, price("100.00"), qty("1.000"))
    ledger.apply_fill(2, TST.id, SELL, price("100.00"), qty("1.000"))  # the account is flat
    for mark in ("95.00", "105.00", "100.00"):
        ledger.observe({TST.id: price(mark)})
    assert (ledger.max_drawdown(1), ledger.max_drawdown(2), ledger.max_drawdown()) == (quote("5"), quote("10"), 0)
    assert (ledger.drawdown(1), ledger.drawdown(2)) == (quote("5"), quote("5"))
    assert (ledger.drawdown(9), ledger.max_drawdown(9), ledger.peak(9)) == (0, 0, 0)
