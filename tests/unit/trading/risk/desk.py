"""A trading desk for the pre-trade check tests: the checks, dict positions, a clock and intents by name.

Instruments (numbers chosen so the boundaries are plain arithmetic):

* XYZ (id 1): prices at 2 decimals, tick 0.05; whole-unit quantities, lot 10.
  ``price 10000`` is 100.00; ``price * qty`` is at scale 2 (100.00 x 10 = 100000).
* ABC (id 2): prices at 2 decimals, tick 0.01; quantities at 3 decimals, lot 0.001.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import count
from typing import Any, Final

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BookState
from hftpipe.schema.trading import ExecType, IntentAction, OrderSide, OrderType, RejectReason
from stages.trading.risk.checks import PreTradeChecks
from stages.trading.risk.limits import RiskSettings

KEY: Final = "stages.risk.params"
EPOCH: Final = 1_765_000_000_000
XYZ: Final = Instrument(id=1, venue="binance", symbol="XYZUSDT", price_scale=2, qty_scale=0, tick=5, lot=10)
ABC: Final = Instrument(id=2, venue="binance", symbol="ABCUSDT", price_scale=2, qty_scale=3, tick=1, lot=1)
INSTRUMENTS: Final = (XYZ, ABC)
MS: Final = 1_000_000
SECOND: Final = 1_000_000_000

BUY, SELL = int(OrderSide.BUY), int(OrderSide.SELL)
LIMIT, MARKET, LIMIT_MAKER = int(OrderType.LIMIT), int(OrderType.MARKET), int(OrderType.LIMIT_MAKER)
STOP_MARKET, STOP_LIMIT = int(OrderType.STOP_MARKET), int(OrderType.STOP_LIMIT)
NONE: Final = RejectReason.NONE


class DictPositions:
    """The :class:`~stages.trading.risk.positions.Positions` protocol on two dicts."""

    def __init__(self) -> None:
        self.own: dict[tuple[int, int], int] = {}
        self.account: dict[int, int] = {}

    def strategy_qty(self, strategy_id: int, instrument_id: int) -> int:
        return self.own.get((strategy_id, instrument_id), 0)

    def account_qty(self, instrument_id: int) -> int:
        return self.account.get(instrument_id, 0)

    def trade(self, strategy_id: int, instrument_id: int, signed_qty: int) -> None:
        """A fill of ``signed_qty`` (buy > 0) for the strategy, and so for the account."""
        self.own[(strategy_id, instrument_id)] = self.strategy_qty(strategy_id, instrument_id) + signed_qty
        self.account[instrument_id] = self.account_qty(instrument_id) + signed_qty


def settings(params: Mapping[str, Any]) -> RiskSettings:
    return RiskSettings.from_config(params, KEY)


class Desk:
    """The checks over :data:`INSTRUMENTS`, a clock (``now``, ns) and intents numbered as a strategy numbers them."""

    def __init__(self, params: Mapping[str, Any] | None = None, *, book: bool = True) -> None:
        self.positions = DictPositions()
        self.checks = PreTradeChecks(settings(params or {}), INSTRUMENTS, self.positions)
        self.now = 0
        self._seq = count(1)
        self.seq = 0
        """The order_seq of the last intent sent."""
        self.sides: dict[tuple[int, int], int] = {}
        if book:
            self.book()

    def book(
        self,
        bid: int = 9995,
        ask: int = 10005,
        *,
        bid_qty: int = 1000,
        ask_qty: int = 1000,
        state: int = BookState.SYNCED,
        instrument: int = XYZ.id,
    ) -> None:
        """A BBO now (default: XYZ 99.95 / 100.05, 1000 each)."""
        self.checks.on_book(instrument, bid, bid_qty, ask, ask_qty, int(state), self.now)

    def send(
        self,
        side: int,
        price: int,
        qty: int,
        *,
        strategy: int = 1,
        instrument: int = XYZ.id,
        order_type: int = LIMIT,
        flags: int = 0,
        action: int = IntentAction.NEW,
        orig: int = 0,
        stop: int = 0,
        seq: int | None = None,
        epoch: int = EPOCH,
    ) -> RejectReason:
        self.seq = next(self._seq) if seq is None else seq
        self.sides[(strategy, self.seq)] = side
        return self.checks.check(
            instrument,
            strategy,
            epoch,
            self.seq,
            orig,
            int(action),
            side,
            order_type,
            price,
            qty,
            stop,
            flags,
            self.now,
        )

    def buy(self, price: int, qty: int, **kw: Any) -> RejectReason:
        return self.send(BUY, price, qty, **kw)

    def sell(self, price: int, qty: int, **kw: Any) -> RejectReason:
        return self.send(SELL, price, qty, **kw)

    def cancel(self, orig: int, *, strategy: int = 1, instrument: int = XYZ.id, epoch: int = EPOCH) -> RejectReason:
        return self.send(
            BUY, 0, 0, strategy=strategy, instrument=instrument, action=IntentAction.CANCEL, orig=orig, epoch=epoch
        )

    def cancel_all(self, *, strategy: int = 1, instrument: int = XYZ.id) -> RejectReason:
        return self.send(BUY, 0, 0, strategy=strategy, instrument=instrument, action=IntentAction.CANCEL_ALL)

    def replace(self, orig: int, side: int, price: int, qty: int, **kw: Any) -> RejectReason:
        return self.send(side, price, qty, action=IntentAction.REPLACE, orig=orig, **kw)

    def report(self, seq: int, exec_type: ExecType, leaves: int = 0, *, strategy: int = 1) -> None:
        self.checks.on_report(strategy, EPOCH, seq, int(exec_type), leaves)

    def fill(self, seq: int, qty: int, leaves: int, *, strategy: int = 1, instrument: int = XYZ.id) -> None:
        """A fill of ``qty`` of the order ``seq``: the ledger first, then the report (the stage's order)."""
        side = self.sides[(strategy, seq)]
        self.positions.trade(strategy, instrument, qty if side == BUY else -qty)
        self.report(seq, ExecType.FILL if leaves == 0 else ExecType.PARTIAL_FILL, leaves, strategy=strategy)

    def hold(self, qty: int, *, strategy: int = 1, instrument: int = XYZ.id) -> None:
        """A position the strategy holds already (signed)."""
        self.positions.trade(strategy, instrument, qty)
        self.checks.refresh_exposure()
