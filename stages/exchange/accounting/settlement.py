"""What the engines' events and the transfers do to balances and holds: exact integers, nothing lost.

A fill moves both sides' assets and the fee at once (``Ledger.settle_side``
per side, the taker's commission at the taker rate, the maker's at the maker
rate, each in the asset that side receives); a BUY limit filled below its
price gets the difference of its hold back at once (price improvement). An
order that ends returns what is left of its hold. Deposits and withdrawals
change free balances only.
"""

from __future__ import annotations

from typing import Any, Final

from hftpipe.schema.exchange import ASSET_SCALE, Command, OrderStatus
from hftpipe.schema.exchange_codec import (
    E_COMMISSION,
    E_COMMISSION_ASSET,
    E_CUM_QTY,
    E_CUM_QUOTE,
    E_IS_MAKER,
    E_LAST_PRICE,
    E_LAST_QTY,
    E_STATUS,
)
from hftpipe.schema.trading import OrderSide, OrderType
from stages.exchange.accounting.ledger import Ledger
from stages.exchange.accounting.orders import Order, OrderTable
from stages.exchange.protocol.settings import SymbolSettings

_BUY: Final = int(OrderSide.BUY)
_MARKET: Final = int(OrderType.MARKET)
_FILLED: Final = int(OrderStatus.FILLED)
_DEPOSIT: Final = int(Command.DEPOSIT)
_RATE_UNIT: Final = 10**ASSET_SCALE


class Settlement:
    """Moves balances and holds for fills, finished orders and transfers."""

    def __init__(self, ledger: Ledger, orders: OrderTable, maker_rate: int, taker_rate: int) -> None:
        self.ledger = ledger
        self.orders = orders
        self._maker_rate = maker_rate
        self._taker_rate = taker_rate
        self.trades = 0
        """Fills settled (one per side) since this stage started."""

    def trade(self, symbol: SymbolSettings, order: Order, fields: list[Any]) -> str | None:
        """Settle one side of a fill (a TRADE event about ``order``) and fill in its commission.

        Returns what went wrong when the engine let the order spend more than
        was held for it (a broken cap, or a scale mismatch): balances could go
        negative, so the caller halts trading as for a failed invariant.
        """
        qty = fields[E_LAST_QTY]
        base = symbol.qty_to_asset(qty)
        quote = symbol.quote_to_asset(fields[E_LAST_PRICE] * qty)
        rate = self._maker_rate if fields[E_IS_MAKER] else self._taker_rate
        if order.side == _BUY:
            commission = base * rate // _RATE_UNIT
            held = quote if order.order_type == _MARKET else symbol.quote_to_asset(order.price * qty)
            refund = held - quote if held > quote else 0  # price improvement: back to free at once
            self.orders.consume(order, quote + refund)
            self.ledger.settle_side(order.account, symbol.quote_asset, quote, symbol.base_asset, base, commission)
            if refund:
                self.ledger.unlock(order.account, symbol.quote_asset, refund)
            fields[E_COMMISSION_ASSET] = symbol.base_asset
        else:
            commission = quote * rate // _RATE_UNIT
            self.orders.consume(order, base)
            self.ledger.settle_side(order.account, symbol.base_asset, base, symbol.quote_asset, quote, commission)
            fields[E_COMMISSION_ASSET] = symbol.quote_asset
        fields[E_COMMISSION] = commission
        problem = None
        if order.hold < 0:
            problem = (
                f"symbol {symbol.symbol_id}: order {order.order_id} of account {order.account} spent {-order.hold} "
                f"more of asset {order.hold_asset} than was held for it"
            )
        self.trades += 1
        order.cum_qty = fields[E_CUM_QTY]
        order.cum_quote = fields[E_CUM_QUOTE]
        order.status = fields[E_STATUS]
        if order.status == _FILLED:
            self.release(order, _FILLED)
        return problem

    def release(self, order: Order, status: int) -> None:
        """The order ended: what is left of its hold goes back to free."""
        left = self.orders.finish(order, status)
        if left:
            self.ledger.unlock(order.account, order.hold_asset, left)

    def transfer(self, command: int, account: int, asset: int, amount: int) -> None:
        """A DEPOSIT or WITHDRAW (checked at entry, or journaled)."""
        if command == _DEPOSIT:
            self.ledger.deposit(account, asset, amount)
        else:
            self.ledger.withdraw(account, asset, amount)
