"""Record layouts the engine stage reads and writes: struct packers and tuple indexes, named once.

The engine unpacks each EX_COMMAND once into a tuple (``CMD_*`` are indexes into
it) and writes records with ``pack_into`` straight into claimed ring slots. An
EX_EVENT is packed as ``(rtype, flags, *header, *body)``: ``header`` is the
command's ``instrument, seq, ts_venue, ts_origin, ts_hop[0..3]`` (copied
unchanged, so the same commands give byte-identical events), ``body`` the 25
fields from ``request_id`` to ``orig_client_order_id`` in layout order; see
:func:`event_body` for their order.
"""

from __future__ import annotations

from typing import Any, Final

from hftpipe.schema import SPECS
from hftpipe.schema.exchange import Event, OrderStatus
from hftpipe.schema.marketdata import BookAction, BookSide
from hftpipe.schema.records import RecordFlag, RecordType, struct_indexes

Body = tuple[Any, ...]
"""The 25 body fields of one EX_EVENT, in layout order (see :func:`event_body`)."""
Header = tuple[Any, ...]
"""``instrument, seq, ts_venue, ts_origin, ts_hop[0], ts_hop[1], ts_hop[2], ts_hop[3]``."""

unpack_command: Final = SPECS[RecordType.EX_COMMAND].packer.unpack_from
pack_event: Final = SPECS[RecordType.EX_EVENT].packer.pack_into
event_bytes: Final = SPECS[RecordType.EX_EVENT].packer.pack
pack_delta: Final = SPECS[RecordType.BOOK_DELTA].packer.pack_into
pack_trade: Final = SPECS[RecordType.TRADE].packer.pack_into
EX_RECORD: Final = SPECS[RecordType.EX_COMMAND].itemsize
MD_RECORD: Final = SPECS[RecordType.BOOK_DELTA].itemsize

# Indexes into an unpacked EX_COMMAND tuple, derived from the dtype (header first: rtype, flags, ...).
_CMD: Final = struct_indexes(SPECS[RecordType.EX_COMMAND].dtype)
CMD_RTYPE: Final = _CMD["rtype"]
CMD_FLAGS: Final = _CMD["flags"]
CMD_HEADER: Final = slice(_CMD["instrument"], _CMD["request_id"])
CMD_TS_VENUE: Final = _CMD["ts_venue"]
CMD_SEQ: Final = _CMD["seq"]
CMD_REQUEST_ID: Final = _CMD["request_id"]
CMD_ACCOUNT: Final = _CMD["account"]
CMD_COMMAND: Final = _CMD["command"]
CMD_SIDE: Final = _CMD["side"]
CMD_ORDER_TYPE: Final = _CMD["order_type"]
CMD_TIF: Final = _CMD["tif"]
CMD_STP: Final = _CMD["stp_mode"]
CMD_REPLACE_MODE: Final = _CMD["replace_mode"]
CMD_PRICE: Final = _CMD["price"]
CMD_QTY: Final = _CMD["qty"]
CMD_QUOTE_QTY: Final = _CMD["quote_qty"]
CMD_ORDER_ID: Final = _CMD["order_id"]
CMD_TAG: Final = _CMD["tag"]
CMD_CLIENT_ORDER_ID: Final = _CMD["client_order_id"]
CMD_ORIG_CLIENT_ORDER_ID: Final = _CMD["orig_client_order_id"]
CMD_CANCEL_CLIENT_ORDER_ID: Final = _CMD["cancel_client_order_id"]
CMD_CAP: Final = _CMD["cap"]

EX_COMMAND: Final = int(RecordType.EX_COMMAND)
EX_EVENT: Final = int(RecordType.EX_EVENT)
BOOK_DELTA: Final = int(RecordType.BOOK_DELTA)
TRADE_RECORD: Final = int(RecordType.TRADE)
END: Final = int(RecordFlag.END_OF_UPDATE)
SNAPSHOT: Final = int(RecordFlag.SNAPSHOT)
REPLAY: Final = int(RecordFlag.REPLAY)
SET: Final = int(BookAction.SET)
CLEAR: Final = int(BookAction.CLEAR)
BID: Final = int(BookSide.BID)
ASK: Final = int(BookSide.ASK)

EV_NEW: Final = int(Event.NEW)
EV_TRADE: Final = int(Event.TRADE)
EV_CANCELED: Final = int(Event.CANCELED)
EV_EXPIRED: Final = int(Event.EXPIRED)
EV_REJECTED: Final = int(Event.REJECTED)
EV_DEPTH_LEVEL: Final = int(Event.DEPTH_LEVEL)
EV_DONE: Final = int(Event.DONE)
EV_CANCEL_REPLACE: Final = int(Event.CANCEL_REPLACE)

ST_NEW: Final = int(OrderStatus.NEW)
ST_PARTIALLY_FILLED: Final = int(OrderStatus.PARTIALLY_FILLED)
ST_FILLED: Final = int(OrderStatus.FILLED)
ST_CANCELED: Final = int(OrderStatus.CANCELED)
ST_REJECTED: Final = int(OrderStatus.REJECTED)
ST_EXPIRED: Final = int(OrderStatus.EXPIRED)
ST_EXPIRED_IN_MATCH: Final = int(OrderStatus.EXPIRED_IN_MATCH)


def event_body(
    *,
    request_id: int = 0,
    account: int = 0,
    event: int = 0,
    side: int = 0,
    order_type: int = 0,
    tif: int = 0,
    status: int = 0,
    stp_mode: int = 0,
    is_maker: int = 0,
    expire_reason: int = 0,
    reject_code: int = 0,
    reject_reason: int = 0,
    order_id: int = 0,
    price: int = 0,
    qty: int = 0,
    quote_qty: int = 0,
    last_price: int = 0,
    last_qty: int = 0,
    cum_qty: int = 0,
    cum_quote: int = 0,
    trade_id: int = 0,
    client_order_id: bytes = b"",
    orig_client_order_id: bytes = b"",
) -> Body:
    """An EX_EVENT body by field name: the layout, spelled out once (the hot path writes tuples
    in this order directly; ``commission`` and ``commission_asset`` are accounting's, 0 here)."""
    return (
        request_id, account, event, side, order_type, tif, status, stp_mode, is_maker, expire_reason,
        reject_code, 0, reject_reason, order_id, price, qty, quote_qty, last_price, last_qty, cum_qty,
        cum_quote, trade_id, 0, client_order_id, orig_client_order_id,
    )  # fmt: skip
