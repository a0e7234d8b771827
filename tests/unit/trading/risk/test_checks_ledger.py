"""checks.py over the real ledger: the Ledger is a Positions, and fills booked there bound the next orders."""

from __future__ import annotations

from hftpipe.schema.trading import ExecType, OrderSide
from hftpipe.schema.trading import RejectReason as R
from stages.trading.risk.checks import PreTradeChecks
from stages.trading.risk.ledger import Ledger
from stages.trading.risk.positions import Positions
from tests.unit.trading.risk.desk import BUY, EPOCH, INSTRUMENTS, LIMIT, NONE, XYZ, settings


def test_fills_booked_in_the_ledger_bound_position_and_exposure() -> None:
    ledger = Ledger(INSTRUMENTS)
    positions: Positions = ledger
    checks = PreTradeChecks(
        settings({"strategies": {"1": {"max_position": "100"}}, "account": {"max_gross_exposure": "15000"}}),
        INSTRUMENTS,
        positions,
    )
    checks.on_book(XYZ.id, 9995, 1000, 10005, 1000, 0, 0)

    def buy(seq: int, qty: int, price: int = 10000, strategy: int = 1) -> R:
        return checks.check(XYZ.id, strategy, EPOCH, seq, 0, 0, BUY, LIMIT, price, qty, 0, 0, 0)

    assert buy(1, 100) == NONE
    ledger.apply_fill(1, XYZ.id, OrderSide.BUY, 10000, 60)  # the ledger first, then the report
    checks.on_report(1, EPOCH, 1, int(ExecType.PARTIAL_FILL), 40)
    assert buy(2, 10) == R.MAX_POSITION  # 60 held + 40 open
    checks.on_report(1, EPOCH, 1, int(ExecType.CANCELED), 0)
    assert buy(3, 40) == NONE  # 60 + 40
    assert checks.exposure.gross == 10000_00 * 10**3  # 60 held and 40 open at 100.00: 10000.00, at scale 5
    assert buy(4, 10, price=50000, strategy=2) == NONE  # + 5000.00: the limit itself
    assert buy(5, 10, price=5, strategy=2) == R.MAX_GROSS_EXPOSURE
