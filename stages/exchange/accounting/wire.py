"""EX_COMMAND / EX_EVENT records as ``struct`` tuples: field positions, packing, small builders.

Accounting reads and writes whole 256-byte records with one ``unpack_from`` /
``pack`` each (cheaper than numpy field access per record). The positions
below are derived from the dtypes, never typed by hand, so they cannot drift
from :mod:`hftpipe.schema.records`.
"""

from __future__ import annotations

from typing import Any, Final

from hftpipe.schema import SPECS
from hftpipe.schema.exchange import EX_RECORD_SIZE, Event
from hftpipe.schema.records import RecordFlag, RecordType, struct_indexes

COMMAND_SPEC: Final = SPECS[RecordType.EX_COMMAND]
EVENT_SPEC: Final = SPECS[RecordType.EX_EVENT]
RECORD_BYTES: Final = EX_RECORD_SIZE


_C: Final = struct_indexes(COMMAND_SPEC.dtype)
_E: Final = struct_indexes(EVENT_SPEC.dtype)

# Header (same positions in both).
RTYPE: Final = _C["rtype"]
FLAGS: Final = _C["flags"]
INSTRUMENT: Final = _C["instrument"]
SEQ: Final = _C["seq"]
TS_VENUE: Final = _C["ts_venue"]
TS_ORIGIN: Final = _C["ts_origin"]
TS_HOP: Final = _C["ts_hop"]

# EX_COMMAND body.
C_REQUEST_ID: Final = _C["request_id"]
C_ACCOUNT: Final = _C["account"]
C_COMMAND: Final = _C["command"]
C_SIDE: Final = _C["side"]
C_ORDER_TYPE: Final = _C["order_type"]
C_TIF: Final = _C["tif"]
C_STP_MODE: Final = _C["stp_mode"]
C_RESP_TYPE: Final = _C["resp_type"]
C_REPLACE_MODE: Final = _C["replace_mode"]
C_ASSET: Final = _C["asset"]
C_PRICE: Final = _C["price"]
C_QTY: Final = _C["qty"]
C_QUOTE_QTY: Final = _C["quote_qty"]
C_ORDER_ID: Final = _C["order_id"]
C_TAG: Final = _C["tag"]
C_CLIENT_ORDER_ID: Final = _C["client_order_id"]
C_ORIG_CLIENT_ORDER_ID: Final = _C["orig_client_order_id"]
C_CANCEL_CLIENT_ORDER_ID: Final = _C["cancel_client_order_id"]
C_CAP: Final = _C["cap"]

# EX_EVENT body.
E_REQUEST_ID: Final = _E["request_id"]
E_ACCOUNT: Final = _E["account"]
E_EVENT: Final = _E["event"]
E_SIDE: Final = _E["side"]
E_ORDER_TYPE: Final = _E["order_type"]
E_TIF: Final = _E["tif"]
E_STATUS: Final = _E["status"]
E_STP_MODE: Final = _E["stp_mode"]
E_IS_MAKER: Final = _E["is_maker"]
E_EXPIRE_REASON: Final = _E["expire_reason"]
E_REJECT_CODE: Final = _E["reject_code"]
E_COMMISSION_ASSET: Final = _E["commission_asset"]
E_REJECT_REASON: Final = _E["reject_reason"]
E_ORDER_ID: Final = _E["order_id"]
E_PRICE: Final = _E["price"]
E_QTY: Final = _E["qty"]
E_QUOTE_QTY: Final = _E["quote_qty"]
E_LAST_PRICE: Final = _E["last_price"]
E_LAST_QTY: Final = _E["last_qty"]
E_CUM_QTY: Final = _E["cum_qty"]
E_CUM_QUOTE: Final = _E["cum_quote"]
E_TRADE_ID: Final = _E["trade_id"]
E_COMMISSION: Final = _E["commission"]
E_CLIENT_ORDER_ID: Final = _E["client_order_id"]
E_ORIG_CLIENT_ORDER_ID: Final = _E["orig_client_order_id"]
EVENT_FIELDS: Final = E_ORIG_CLIENT_ORDER_ID + 1
COMMAND_FIELDS: Final = C_CAP + 1

END: Final = int(RecordFlag.END_OF_UPDATE)
REPLAY: Final = int(RecordFlag.REPLAY)

unpack_command = COMMAND_SPEC.packer.unpack_from
pack_command = COMMAND_SPEC.packer.pack
unpack_event = EVENT_SPEC.packer.unpack_from
pack_event = EVENT_SPEC.packer.pack

_EMPTY_EVENT: Final = EVENT_SPEC.packer.unpack(bytes(RECORD_BYTES))
_EMPTY_COMMAND: Final = COMMAND_SPEC.packer.unpack(bytes(RECORD_BYTES))


def blank_event(event: Event, instrument: int, seq: int, request_id: int, account: int) -> list[Any]:
    """A zeroed EX_EVENT as a mutable field list, header and correlation filled in."""
    fields = list(_EMPTY_EVENT)
    fields[RTYPE] = int(RecordType.EX_EVENT)
    fields[INSTRUMENT] = instrument
    fields[SEQ] = seq
    fields[E_REQUEST_ID] = request_id
    fields[E_ACCOUNT] = account
    fields[E_EVENT] = int(event)
    return fields


def blank_command() -> list[Any]:
    """A zeroed EX_COMMAND field list (rtype set): for internal commands and tests."""
    fields = list(_EMPTY_COMMAND)
    fields[RTYPE] = int(RecordType.EX_COMMAND)
    return fields


def text_id(raw: bytes) -> bytes:
    """A client order id field as its significant bytes (NUL padding stripped)."""
    return raw.rstrip(b"\0")
