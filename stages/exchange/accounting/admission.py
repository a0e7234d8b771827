"""Which gateway commands accounting accepts, and how it completes them before they are sequenced.

Pure checks on an unpacked EX_COMMAND (a mutable item list): each returns the
Binance error that refuses the command, or ``None``; some also fill in what
the engine needs (a MARKET order's ``cap``, a cancel's target ``tag`` or
``order_id``).

Cancel targets: a CANCEL by ``orig_client_order_id`` gets ``tag`` = the
target's seq (its engine-side client id, known even before its NEW came
back). A CANCEL_REPLACE targets ``order_id`` (its ``tag`` is the new order's
seq), or, when the target is not acknowledged yet, ``order_id`` 0 and ``tag``
= the target's seq; a client id that names no live order becomes
``order_id`` = :data:`NO_ORDER`, so the engine answers the cancel half -2011.
"""

from __future__ import annotations

from typing import Any, Final

from hftpipe.schema.exchange import ALL_ACCOUNTS, Command, ReplaceMode
from hftpipe.schema.exchange_codec import (
    C_ACCOUNT,
    C_ASSET,
    C_CAP,
    C_CLIENT_ORDER_ID,
    C_COMMAND,
    C_ORDER_ID,
    C_ORDER_TYPE,
    C_ORIG_CLIENT_ORDER_ID,
    C_PRICE,
    C_QTY,
    C_QUOTE_QTY,
    C_REPLACE_MODE,
    C_SIDE,
    C_TAG,
    text_id,
)
from hftpipe.schema.exchange_errors import (
    BAD_QUANTITY,
    DUPLICATE_ORDER,
    INSUFFICIENT_BALANCE,
    INVALID_SYMBOL,
    TRADING_HALTED,
    UNKNOWN_ORDER,
    RejectReason,
)
from hftpipe.schema.fixedpoint import INT64_MAX
from stages.exchange.accounting.holds import entry_hold
from stages.exchange.accounting.ledger import Ledger
from stages.exchange.accounting.orders import Order, OrderTable
from stages.exchange.protocol.settings import SymbolSettings

NO_ORDER: Final = INT64_MAX
"""The cancel target of a cancelReplace whose origClientOrderId names no live order: no
engine order has this id, so the engine answers the cancel half with -2011."""

_STOP_ON_FAILURE: Final = int(ReplaceMode.STOP_ON_FAILURE)
_DEPOSIT: Final = int(Command.DEPOSIT)
_WITHDRAW: Final = int(Command.WITHDRAW)


def check_order(fields: list[Any], halted: bool) -> RejectReason | None:
    """What NEW_ORDER and CANCEL_REPLACE share: trading not halted, no negative numbers."""
    if halted:
        return TRADING_HALTED
    if fields[C_PRICE] < 0 or fields[C_QTY] < 0 or fields[C_QUOTE_QTY] < 0:
        return BAD_QUANTITY
    return None


def check_duplicate(
    fields: list[Any], symbol: SymbolSettings, orders: OrderTable, replacing: Order | None = None
) -> RejectReason | None:
    """The client order id must not name another live order of the account in the symbol."""
    client_id = text_id(fields[C_CLIENT_ORDER_ID])
    if client_id and orders.is_duplicate(fields[C_ACCOUNT], symbol.symbol_id, client_id, replacing=replacing):
        return DUPLICATE_ORDER
    return None


def check_funds(
    fields: list[Any], symbol: SymbolSettings, ledger: Ledger, extra_quote: int = 0, extra_base: int = 0
) -> RejectReason | None:
    """The account can pay the order's hold (see :mod:`.holds`); sets the command's ``cap``."""
    account = fields[C_ACCOUNT]
    hold = entry_hold(
        symbol,
        fields[C_SIDE],
        fields[C_ORDER_TYPE],
        fields[C_PRICE],
        fields[C_QTY],
        fields[C_QUOTE_QTY],
        ledger.free(account, symbol.quote_asset) + extra_quote,
        ledger.free(account, symbol.base_asset) + extra_base,
    )
    if hold is None:
        return INSUFFICIENT_BALANCE
    fields[C_CAP] = hold.cap
    return None


def resolve_cancel(fields: list[Any], symbol: SymbolSettings, orders: OrderTable) -> RejectReason | None:
    """A CANCEL by client id must name a live order (and the same one as its order id, if both)."""
    orig = text_id(fields[C_ORIG_CLIENT_ORDER_ID])
    if orig:
        target = orders.live_by_client(fields[C_ACCOUNT], symbol.symbol_id, orig)
        order_id = fields[C_ORDER_ID]
        if target is None or (order_id > 0 and target.order_id and target.order_id != order_id):
            return UNKNOWN_ORDER
        fields[C_TAG] = target.seq  # the engine knows it by this client id, acknowledged or not
    return None


def resolve_replace_target(fields: list[Any], symbol: SymbolSettings, orders: OrderTable) -> Order | None:
    """The order a CANCEL_REPLACE cancels, if accounting knows it; sets ``order_id``/``tag`` for the engine."""
    sid, account = symbol.symbol_id, fields[C_ACCOUNT]
    orig = text_id(fields[C_ORIG_CLIENT_ORDER_ID])
    order_id = fields[C_ORDER_ID]
    target: Order | None
    fields[C_TAG] = 0  # the new order's engine id unless set to a pending target's (see Accountant sequencing)
    if orig:
        target = orders.live_by_client(account, sid, orig)
        if target is not None and order_id > 0 and target.order_id and target.order_id != order_id:
            target = None
        if target is None:
            fields[C_ORDER_ID] = NO_ORDER
        elif target.order_id:
            fields[C_ORDER_ID] = target.order_id
        else:  # not acknowledged yet: the engine knows it by its seq
            fields[C_ORDER_ID] = 0
            fields[C_TAG] = target.seq
    else:
        target = orders.open.get((sid, order_id))
        if target is not None and target.account != account:
            target = None
    return target


def returned_hold(
    fields: list[Any], symbol: SymbolSettings, target: Order | None, engine_idle: bool
) -> tuple[int, int]:
    """(quote, base) a CANCEL_REPLACE may spend on top of the free balance: its target's hold.

    Only when nothing is in flight in the symbol (``engine_idle``), so the
    engine's book is what accounting sees: the cancel will succeed and return
    the hold before the new order can spend anything (STOP_ON_FAILURE).
    """
    if target is not None and target.order_id and fields[C_REPLACE_MODE] == _STOP_ON_FAILURE and engine_idle:
        if target.hold_asset == symbol.quote_asset:
            return target.hold, 0
        return 0, target.hold
    return 0, 0


def check_transfer(fields: list[Any], ledger: Ledger, assets: int) -> RejectReason | None:
    """A DEPOSIT or WITHDRAW: a known asset, a positive amount for one account, funds and room for it."""
    account, asset, amount = fields[C_ACCOUNT], fields[C_ASSET], fields[C_QTY]
    if not 1 <= asset <= assets:
        return INVALID_SYMBOL
    if amount <= 0 or account == ALL_ACCOUNTS:
        return BAD_QUANTITY
    free, locked = ledger.get(account, asset)
    if fields[C_COMMAND] == _WITHDRAW and free < amount:
        return INSUFFICIENT_BALANCE
    if fields[C_COMMAND] == _DEPOSIT and max(free + amount, locked) > INT64_MAX:
        return BAD_QUANTITY
    return None
