"""The one codec of the exchange records (EX_COMMAND, EX_EVENT): whole records <-> ``struct`` tuples.

Every exchange stage reads and writes a 256-byte record with one
``unpack_from`` / ``pack`` / ``pack_into`` of the record's own struct (far
cheaper than numpy field access per record). A record unpacks to a flat tuple
in layout order, ``ts_hop`` as four items; the positions below are derived from
the dtypes in :mod:`hftpipe.schema.exchange`, never typed by hand, so they
cannot drift from the layout.

Two views of the same tuples:

* the hot paths (engine, accounting) index plain tuples and lists with the
  positions: the header's (``RTYPE`` .. ``TS_HOP``, the same in both records),
  ``C_*`` for an EX_COMMAND body, ``E_*`` for an EX_EVENT body;
* the gateway and the tests use :class:`CommandRecord` / :class:`EventRecord`,
  named tuples of the same items in the same order (an import-time check
  compares them with the dtypes).

Client order ids are ASCII, NUL-padded to ``EX_ID_BYTES``: :func:`encode_id`,
:func:`decode_id`, :func:`text_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from hftpipe.schema.exchange import EX_COMMAND, EX_EVENT, EX_ID_BYTES, Event
from hftpipe.schema.records import RecordFlag, RecordSpec, RecordType, struct_indexes

_C: Final = struct_indexes(EX_COMMAND.dtype)
_E: Final = struct_indexes(EX_EVENT.dtype)

# Header (same positions in both records).
RTYPE: Final = _C["rtype"]
FLAGS: Final = _C["flags"]
INSTRUMENT: Final = _C["instrument"]
SEQ: Final = _C["seq"]
TS_VENUE: Final = _C["ts_venue"]
TS_ORIGIN: Final = _C["ts_origin"]
TS_HOP: Final = _C["ts_hop"]
HEADER: Final = slice(INSTRUMENT, _C["request_id"])
"""``instrument, seq, ts_venue, ts_origin, ts_hop[0..3]``: what an event copies from its command."""

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

COMMAND_RTYPE: Final = int(RecordType.EX_COMMAND)
EVENT_RTYPE: Final = int(RecordType.EX_EVENT)
END: Final = int(RecordFlag.END_OF_UPDATE)
REPLAY: Final = int(RecordFlag.REPLAY)

unpack_command: Final = EX_COMMAND.packer.unpack_from
pack_command: Final = EX_COMMAND.packer.pack
pack_command_into: Final = EX_COMMAND.packer.pack_into
unpack_event: Final = EX_EVENT.packer.unpack_from
pack_event: Final = EX_EVENT.packer.pack
pack_event_into: Final = EX_EVENT.packer.pack_into

Header = Sequence[Any]
"""``record[HEADER]``: ``instrument, seq, ts_venue, ts_origin, ts_hop[0], ts_hop[1], ts_hop[2], ts_hop[3]``
(a list where a stage writes its own hop stamp into it before packing)."""
EventBody = tuple[Any, ...]
"""The 25 EX_EVENT body items, ``request_id`` to ``orig_client_order_id`` (see :func:`event_body`)."""

_EMPTY_COMMAND: Final = EX_COMMAND.packer.unpack(bytes(EX_COMMAND.itemsize))
_EMPTY_EVENT: Final = EX_EVENT.packer.unpack(bytes(EX_EVENT.itemsize))


def blank_command() -> list[Any]:
    """A zeroed EX_COMMAND as a mutable item list (rtype set): internal commands and tests."""
    fields = list(_EMPTY_COMMAND)
    fields[RTYPE] = COMMAND_RTYPE
    return fields


def blank_event(event: Event, instrument: int, seq: int, request_id: int, account: int) -> list[Any]:
    """A zeroed EX_EVENT as a mutable item list, header and correlation filled in."""
    fields = list(_EMPTY_EVENT)
    fields[RTYPE] = EVENT_RTYPE
    fields[INSTRUMENT] = instrument
    fields[SEQ] = seq
    fields[E_REQUEST_ID] = request_id
    fields[E_ACCOUNT] = account
    fields[E_EVENT] = int(event)
    return fields


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
    commission_asset: int = 0,
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
    commission: int = 0,
    client_order_id: bytes = b"",
    orig_client_order_id: bytes = b"",
) -> EventBody:
    """An EX_EVENT body by item name: the layout spelled out once (the engine's hot path writes
    tuples in this order directly)."""
    return (
        request_id, account, event, side, order_type, tif, status, stp_mode, is_maker, expire_reason,
        reject_code, commission_asset, reject_reason, order_id, price, qty, quote_qty, last_price, last_qty,
        cum_qty, cum_quote, trade_id, commission, client_order_id, orig_client_order_id,
    )  # fmt: skip


# ------------------------------------------------------------------------------ named views


class CommandRecord(NamedTuple):
    """One EX_COMMAND by name (meanings: :mod:`hftpipe.schema.exchange`)."""

    rtype: int = COMMAND_RTYPE
    flags: int = 0
    instrument: int = 0
    seq: int = 0
    ts_venue: int = 0
    ts_origin: int = 0
    ts_hop0: int = 0
    ts_hop1: int = 0
    ts_hop2: int = 0
    ts_hop3: int = 0
    request_id: int = 0
    account: int = 0
    command: int = 0
    side: int = 0
    order_type: int = 0
    tif: int = 0
    stp_mode: int = 0
    resp_type: int = 0
    replace_mode: int = 0
    asset: int = 0
    price: int = 0
    qty: int = 0
    quote_qty: int = 0
    order_id: int = 0
    tag: int = 0
    client_order_id: bytes = b""
    orig_client_order_id: bytes = b""
    cancel_client_order_id: bytes = b""
    cap: int = 0

    @classmethod
    def unpack_from(cls, buffer: memoryview | bytes, offset: int = 0) -> CommandRecord:
        return cls._make(unpack_command(buffer, offset))

    def pack(self) -> bytes:
        return pack_command(*self)


class EventRecord(NamedTuple):
    """One EX_EVENT by name (meanings: :mod:`hftpipe.schema.exchange`)."""

    rtype: int = EVENT_RTYPE
    flags: int = 0
    instrument: int = 0
    seq: int = 0
    ts_venue: int = 0
    ts_origin: int = 0
    ts_hop0: int = 0
    ts_hop1: int = 0
    ts_hop2: int = 0
    ts_hop3: int = 0
    request_id: int = 0
    account: int = 0
    event: int = 0
    side: int = 0
    order_type: int = 0
    tif: int = 0
    status: int = 0
    stp_mode: int = 0
    is_maker: int = 0
    expire_reason: int = 0
    reject_code: int = 0
    commission_asset: int = 0
    reject_reason: int = 0
    order_id: int = 0
    price: int = 0
    qty: int = 0
    quote_qty: int = 0
    last_price: int = 0
    last_qty: int = 0
    cum_qty: int = 0
    cum_quote: int = 0
    trade_id: int = 0
    commission: int = 0
    client_order_id: bytes = b""
    orig_client_order_id: bytes = b""

    @classmethod
    def unpack_from(cls, buffer: memoryview | bytes, offset: int = 0) -> EventRecord:
        return cls._make(unpack_event(buffer, offset))

    def pack(self) -> bytes:
        return pack_event(*self)

    @property
    def is_end(self) -> bool:
        return bool(self.flags & END)


def _check_layout(fields: tuple[str, ...], spec: RecordSpec) -> None:
    """Each named item must sit where the record's struct puts it (``ts_hop`` spans four)."""
    items = len(spec.packer.unpack(bytes(spec.itemsize)))
    for name, index in struct_indexes(spec.dtype).items():
        expected = "ts_hop0" if name == "ts_hop" else name
        if len(fields) != items or fields[index] != expected:
            raise AssertionError(f"the named view does not follow the {spec.rtype.name} layout at {name}")


_check_layout(CommandRecord._fields, EX_COMMAND)
_check_layout(EventRecord._fields, EX_EVENT)
assert len(event_body()) == len(EventRecord._fields) - E_REQUEST_ID

# ------------------------------------------------------------------------------ client order ids


def encode_id(text: str) -> bytes:
    """A client order id as the record stores it (ASCII, at most EX_ID_BYTES)."""
    raw = text.encode("ascii")
    if len(raw) > EX_ID_BYTES:
        raise ValueError(f"client order id longer than {EX_ID_BYTES} bytes: {text!r}")
    return raw


def decode_id(raw: bytes) -> str:
    """The inverse of :func:`encode_id` for an item read back from a record (NULs stripped)."""
    return raw.rstrip(b"\0").decode("ascii")


def text_id(raw: bytes) -> bytes:
    """A client order id item as its significant bytes (NUL padding stripped)."""
    return raw.rstrip(b"\0")
