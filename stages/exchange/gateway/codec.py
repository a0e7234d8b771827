"""EX_COMMAND / EX_EVENT records <-> named tuples, through the records' own ``struct``.

The gateway writes a few hundred commands a second and reads their events: a
``struct`` pack/unpack per record is cheap and keeps every field named. The
tuples list the fields in offset order (``ts_hop`` as four values); an import
time check compares them with the dtypes, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from hftpipe.schema import SPECS
from hftpipe.schema.records import HOP_SLOTS, RecordFlag, RecordType, struct_indexes

_COMMAND = SPECS[RecordType.EX_COMMAND]
_EVENT = SPECS[RecordType.EX_EVENT]
END: Final = int(RecordFlag.END_OF_UPDATE)
REPLAY: Final = int(RecordFlag.REPLAY)


class CommandRecord(NamedTuple):
    """One EX_COMMAND (see :mod:`hftpipe.schema.exchange` for the meanings)."""

    rtype: int = int(RecordType.EX_COMMAND)
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

    def pack(self) -> bytes:
        return _COMMAND.packer.pack(*self)

    def stamped(self, hop: int, now_ns: int) -> CommandRecord:
        """This record with ``ts_hop[hop]`` set (the publishing stage's stamp)."""
        slot = min(max(hop, 0), HOP_SLOTS - 1)
        hops = [self.ts_hop0, self.ts_hop1, self.ts_hop2, self.ts_hop3]
        hops[slot] = now_ns
        return self._replace(ts_hop0=hops[0], ts_hop1=hops[1], ts_hop2=hops[2], ts_hop3=hops[3])


class EventRecord(NamedTuple):
    """One EX_EVENT (see :mod:`hftpipe.schema.exchange` for the meanings)."""

    rtype: int = int(RecordType.EX_EVENT)
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

    def pack(self) -> bytes:
        return _EVENT.packer.pack(*self)

    @property
    def is_end(self) -> bool:
        return bool(self.flags & END)


def unpack_event(buffer: memoryview | bytes, offset: int = 0) -> EventRecord:
    return EventRecord._make(_EVENT.packer.unpack_from(buffer, offset))


def unpack_command(buffer: memoryview | bytes, offset: int = 0) -> CommandRecord:
    return CommandRecord._make(_COMMAND.packer.unpack_from(buffer, offset))


def _check_layouts() -> None:
    """Each tuple field must sit where the record's struct puts it (``ts_hop`` spans four)."""
    for tuple_cls, spec in ((CommandRecord, _COMMAND), (EventRecord, _EVENT)):
        items = len(spec.packer.unpack(bytes(spec.itemsize)))
        for name, index in struct_indexes(spec.dtype).items():
            expected = "ts_hop0" if name == "ts_hop" else name
            if len(tuple_cls._fields) != items or tuple_cls._fields[index] != expected:
                raise AssertionError(f"{tuple_cls.__name__} does not follow the {spec.rtype.name} layout at {name}")


_check_layouts()
