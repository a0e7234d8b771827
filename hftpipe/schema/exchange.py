"""What flows between the exchange stages: the meaning of EX_COMMAND and EX_EVENT records.

Topology (one process each; every arrow is an SPSC ring of 256-byte records)::

    gateway --EX_COMMAND--> accounting --EX_COMMAND--> engine_<SYMBOL> --BOOK_DELTA/TRADE--> publisher
       ^                      |    ^                        |
       +------EX_EVENT--------+    +--------EX_EVENT--------+

*Accounting* is the sequencer: it checks and places holds, gives every
state-changing command the next journal sequence (header ``seq``) and the
exchange clock (header ``ts_venue``, wall-clock ns, used as the transaction
time), appends it to the journal, and only then forwards it to the symbol's
engine. Engines are deterministic functions of the commands they receive, so
replaying the journal through them rebuilds every book exactly.

Header fields: ``instrument`` is the symbol id (index into the configured
symbols, from 1; 0 for commands with no symbol), ``seq`` the journal sequence
of the command (0 for queries, which are not journaled), ``ts_venue`` the
exchange time, ``ts_origin`` the gateway's monotonic receive time. ``flags``
may carry ``RecordFlag.REPLAY`` (journal replay: no client waits for it) and
``RecordFlag.END_OF_UPDATE``, which marks the last EX_EVENT caused by one
command (every command causes at least one event).

Fixed point: prices at the symbol's ``price_scale``, quantities at its
``qty_scale``, quote amounts (``quote_qty``, ``cum_quote``) at
``price_scale + qty_scale`` (the exact product ``price * qty``), balances,
amounts and commissions at :data:`ASSET_SCALE`. Client order ids are ASCII,
NUL-padded to :data:`EX_ID_BYTES`.

The records' codec is :mod:`hftpipe.schema.exchange_codec`; the error texts
``reject_reason`` indexes are in :mod:`hftpipe.schema.exchange_errors`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from hftpipe.schema.records import RecordType, check_layout, make_spec, record_dtype

EX_RECORD_SIZE: Final = 256
"""Exchange commands and events: 256 bytes, so rings that carry them need ``slot_size >= 256``."""
EX_ID_BYTES: Final = 40
"""Room for a Binance client order id (``^[.A-Z:/a-z0-9_-]{1,36}$``), NUL-padded ASCII."""

EX_COMMAND_DTYPE: Final = record_dtype(
    [
        ("request_id", "<u8", 64),
        ("account", "<u4", 72),
        ("command", "u1", 76),
        ("side", "u1", 77),
        ("order_type", "u1", 78),
        ("tif", "u1", 79),
        ("stp_mode", "u1", 80),
        ("resp_type", "u1", 81),
        ("replace_mode", "u1", 82),
        ("asset", "<u4", 84),
        ("price", "<i8", 88),
        ("qty", "<i8", 96),
        ("quote_qty", "<i8", 104),
        ("order_id", "<i8", 112),
        ("tag", "<i8", 120),
        ("client_order_id", f"S{EX_ID_BYTES}", 128),
        ("orig_client_order_id", f"S{EX_ID_BYTES}", 168),
        ("cancel_client_order_id", f"S{EX_ID_BYTES}", 208),
        ("cap", "<i8", 248),
    ],
    256,
)
"""One exchange request (field meanings: this module's docstring and enums)."""

EX_EVENT_DTYPE: Final = record_dtype(
    [
        ("request_id", "<u8", 64),
        ("account", "<u4", 72),
        ("event", "u1", 76),
        ("side", "u1", 77),
        ("order_type", "u1", 78),
        ("tif", "u1", 79),
        ("status", "u1", 80),
        ("stp_mode", "u1", 81),
        ("is_maker", "u1", 82),
        ("expire_reason", "u1", 83),
        ("reject_code", "<i4", 84),
        ("commission_asset", "<u4", 88),
        ("reject_reason", "<u2", 92),
        ("order_id", "<i8", 96),
        ("price", "<i8", 104),
        ("qty", "<i8", 112),
        ("quote_qty", "<i8", 120),
        ("last_price", "<i8", 128),
        ("last_qty", "<i8", 136),
        ("cum_qty", "<i8", 144),
        ("cum_quote", "<i8", 152),
        ("trade_id", "<i8", 160),
        ("commission", "<i8", 168),
        ("client_order_id", f"S{EX_ID_BYTES}", 176),
        ("orig_client_order_id", f"S{EX_ID_BYTES}", 216),
    ],
    256,
)
"""One thing a request caused (field meanings: this module's docstring and enums)."""

EX_COMMAND: Final = make_spec(RecordType.EX_COMMAND, EX_COMMAND_DTYPE)
EX_EVENT: Final = make_spec(RecordType.EX_EVENT, EX_EVENT_DTYPE)
SPECS: Final = (EX_COMMAND, EX_EVENT)

for _spec in SPECS:
    check_layout(_spec)

ASSET_SCALE: Final = 8
"""Every balance is an int64 count of 1e-8 units of its asset (Binance shows 8 decimals)."""

FEE_ACCOUNT: Final = 0
"""The exchange's own account: commissions are credited here."""


class Command(IntEnum):
    """``EX_COMMAND.command``."""

    NEW_ORDER = 1
    """``order.place``: side, order_type, tif, stp_mode, price, qty, quote_qty,
    client_order_id, resp_type. ``tag`` is the engine-side client id
    (accounting sets it to the command's ``seq``). ``cap`` bounds what a MARKET
    order may consume because accounting held exactly that much: for a BUY the
    quote spent (``price * qty`` scale), for a SELL the base quantity; 0: no cap."""
    CANCEL = 2
    """``order.cancel``: by ``order_id`` (> 0) or ``tag`` (accounting resolved
    ``orig_client_order_id``); ``client_order_id`` is the cancel's own
    ``newClientOrderId``."""
    CANCEL_REPLACE = 3
    """``order.cancelReplace``: cancel target as for CANCEL (``order_id``/``tag``,
    ``orig_client_order_id``), ``cancel_client_order_id`` the cancel's own id,
    ``replace_mode`` a :class:`ReplaceMode`; the new order as for NEW_ORDER."""
    CANCEL_ALL = 4
    """``openOrders.cancelAll`` for one account and symbol."""
    ORDER_STATUS = 5
    """``order.status`` (answered by accounting, not journaled)."""
    OPEN_ORDERS = 6
    """``openOrders.status``; ``instrument`` 0 means every symbol (answered by accounting)."""
    ACCOUNT_STATUS = 7
    """``account.status`` (answered by accounting)."""
    DEPTH = 8
    """``depth`` of the engine's book; ``qty`` is the level limit (answered by the engine)."""
    DEPOSIT = 9
    """Admin: credit ``qty`` (at ASSET_SCALE) of ``asset`` to ``account``."""
    WITHDRAW = 10
    """Admin: debit ``qty`` of ``asset`` from ``account``'s free balance."""
    BALANCES = 11
    """Admin: every balance of ``account`` (0xFFFFFFFF: every account), with the invariant state."""
    ALL_ORDERS = 12
    """``allOrders``: the account's orders in ``instrument``, open and remembered, by order id
    (answered by accounting): ``order_id`` > 0 the first id (else the latest), ``qty`` the limit,
    ``price`` / ``quote_qty`` the start / end time in ms (0: unbounded)."""
    MY_TRADES = 13
    """``myTrades``: the account's fills in ``instrument`` (TRADE records, answered by accounting):
    ``order_id`` > 0 one order's, ``tag`` > 0 the first trade id (else the latest), ``qty`` the
    limit, ``price`` / ``quote_qty`` the start / end time in ms (0: unbounded)."""


ALL_ACCOUNTS: Final = 0xFFFFFFFF


class Event(IntEnum):
    """``EX_EVENT.event``."""

    NEW = 1
    """An order was accepted (executionReport ``x = NEW``)."""
    TRADE = 2
    """One side of one match (``is_maker`` says which); an engine emits the
    maker's then the taker's record for every match, with ``trade_id``,
    ``last_price``, ``last_qty``, ``cum_qty``, ``cum_quote`` and ``status``.
    Accounting adds ``commission``/``commission_asset``."""
    CANCELED = 3
    EXPIRED = 4
    """``expire_reason`` (an :class:`ExpireReason`) says why; ``status`` is EXPIRED or EXPIRED_IN_MATCH."""
    REJECTED = 5
    """``reject_code`` (Binance code, negative) and ``reject_reason`` (index into
    :data:`hftpipe.schema.exchange_errors.REJECT_MESSAGES`)."""
    ORDER = 6
    """An order's current state (order.status, openOrders.status answers)."""
    BALANCE = 7
    """``asset``: ``commission_asset``; free: ``qty``; locked: ``quote_qty``
    (account.status answers, and after every change: outboundAccountPosition)."""
    BALANCE_UPDATE = 8
    """A deposit or withdrawal: ``commission_asset`` is the asset, ``qty`` the signed delta."""
    DEPTH_LEVEL = 9
    """One level of a depth answer: ``side``, ``price``, ``qty``; the closing
    record (END_OF_UPDATE) carries ``order_id`` = lastUpdateId."""
    DONE = 10
    """Closes an answer that has no other last record (e.g. an empty open-orders list)."""
    CANCEL_REPLACE = 11
    """Closes an ``order.cancelReplace`` answer: ``status`` is a
    :class:`ReplaceOutcome`; the CANCELED/NEW/REJECTED records before it say
    what happened to each half. A replacement that fails its filters is
    refused before anything is canceled: then the answer is one REJECTED
    record and no CANCEL_REPLACE record."""


class OrderStatus(IntEnum):
    """``EX_EVENT.status`` for order events (Binance's order status strings); the matching engine's too."""

    NEW = 0
    PARTIALLY_FILLED = 1
    FILLED = 2
    CANCELED = 3
    REJECTED = 4
    EXPIRED = 5
    EXPIRED_IN_MATCH = 6
    """Expired by self-trade prevention."""


class RespType(IntEnum):
    """``newOrderRespType``."""

    ACK = 0
    RESULT = 1
    FULL = 2


class ReplaceMode(IntEnum):
    """``cancelReplaceMode``."""

    STOP_ON_FAILURE = 0
    """If the cancel fails, the new order is not attempted."""
    ALLOW_FAILURE = 1
    """The new order is attempted even if the cancel fails."""


class STPMode(IntEnum):
    """``stp_mode``: Binance ``selfTradePreventionMode`` (the taker's decides)."""

    NONE = 0
    EXPIRE_TAKER = 1
    EXPIRE_MAKER = 2
    EXPIRE_BOTH = 3


class ExpireReason(IntEnum):
    """``EX_EVENT.expire_reason``: why an order expired."""

    IOC = 1
    """The unfilled remainder of an IOC limit."""
    FOK = 2
    """A FOK that could not fill entirely (no trade happened)."""
    STP = 3
    """Self-trade prevention (status ``EXPIRED_IN_MATCH``)."""
    MARKET = 4
    """A MARKET order ran out of liquidity (or its quote could not buy one lot)."""


class ReplaceOutcome(IntEnum):
    """How an ``order.cancelReplace`` ended (Binance codes -2021/-2022 on partial failure)."""

    SUCCESS = 0
    CANCEL_FAILED = 1
    """The cancel failed and the new order was not tried (-2022)."""
    NEW_FAILED = 2
    """The cancel succeeded, the new order failed (-2021)."""
    BOTH_FAILED = 3
    """ALLOW_FAILURE: both halves failed (-2022)."""
    CANCEL_FAILED_NEW_PLACED = 4
    """ALLOW_FAILURE: the cancel failed, the new order was placed (-2021)."""
