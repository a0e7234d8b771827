"""What a new order locks at entry (Ledger rules), and the ``cap`` that bounds a MARKET order.

* LIMIT / LIMIT_MAKER BUY: ``price * qty`` of quote; SELL: ``qty`` of base.
* MARKET BUY by ``quote_qty``: ``quote_qty`` of quote (the engine cannot spend more).
* MARKET BUY by ``qty``: all free quote, which becomes ``cap`` (at ``price * qty``
  scale): the engine stops before a fill would spend more.
* MARKET SELL by ``qty``: ``qty`` of base.
* MARKET SELL by ``quote_qty``: all free base, which becomes ``cap`` (qty scale).

:func:`record_hold` derives the hold from a sequenced command alone (its
``cap`` included), so replaying the journal places exactly the holds the live
run placed; :func:`entry_hold` is the live decision that picks the cap.
Commands the engine will reject anyway (unsupported type or side) hold nothing.
"""

from __future__ import annotations

from typing import NamedTuple

from hftpipe.schema.exchange import ASSET_SCALE
from hftpipe.schema.trading import OrderSide, OrderType
from stages.exchange.protocol.settings import SymbolSettings

_BUY = int(OrderSide.BUY)
_SELL = int(OrderSide.SELL)
_MARKET = int(OrderType.MARKET)
_LIMITS = frozenset((int(OrderType.LIMIT), int(OrderType.LIMIT_MAKER)))


class Hold(NamedTuple):
    asset: int
    amount: int
    """At ASSET_SCALE."""
    cap: int
    """The command's ``cap`` (0: none)."""


def record_hold(
    symbol: SymbolSettings, side: int, order_type: int, price: int, qty: int, quote_qty: int, cap: int
) -> Hold:
    """The hold of an already sequenced NEW_ORDER (or the new half of a CANCEL_REPLACE)."""
    if side == _BUY:
        asset = symbol.quote_asset
        if order_type in _LIMITS:
            return Hold(asset, symbol.quote_to_asset(price * qty), 0)
        if order_type == _MARKET:
            return Hold(asset, symbol.quote_to_asset(quote_qty if quote_qty else cap), 0 if quote_qty else cap)
        return Hold(asset, 0, 0)
    asset = symbol.base_asset
    if side == _SELL:
        if order_type in _LIMITS:
            return Hold(asset, symbol.qty_to_asset(qty), 0)
        if order_type == _MARKET:
            return Hold(asset, symbol.qty_to_asset(cap if quote_qty else qty), cap if quote_qty else 0)
    return Hold(asset, 0, 0)


def entry_hold(
    symbol: SymbolSettings,
    side: int,
    order_type: int,
    price: int,
    qty: int,
    quote_qty: int,
    free_quote: int,
    free_base: int,
) -> Hold | None:
    """The hold a new order needs given what the account can spend, or ``None`` if it cannot pay.

    ``free_quote``/``free_base`` are what may be locked (free balance, plus a
    cancelReplace's old hold where that is certain to come back first).
    """
    cap = 0
    if order_type == _MARKET:
        if side == _BUY and not quote_qty:
            cap = free_quote // 10 ** (ASSET_SCALE - symbol.price_scale - symbol.qty_scale)
            if cap <= 0:
                return None
        elif side == _SELL and quote_qty:
            cap = free_base // 10 ** (ASSET_SCALE - symbol.qty_scale)
            if cap <= 0:
                return None
    hold = record_hold(symbol, side, order_type, price, qty, quote_qty, cap)
    available = free_quote if hold.asset == symbol.quote_asset else free_base
    return hold if hold.amount <= available else None
