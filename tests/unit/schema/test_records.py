"""records.py: documented byte layouts, and struct fast paths that agree with the numpy dtypes."""

from __future__ import annotations

import math
import re
import struct
from typing import Any

import numpy as np
import pytest

from hftpipe.schema import SPECS, records
from hftpipe.schema.records import (
    HEADER_SIZE,
    HEADER_STRUCT,
    HOP_SLOTS,
    RECORD_SIZE,
    SEQ_OFFSET,
    TS_HOP_OFFSET,
    TS_ORIGIN_OFFSET,
    RecordSpec,
    RecordType,
    one_hop_format,
    struct_format,
)

HEADER_LAYOUT: dict[str, tuple[int, str]] = {
    "rtype": (0, "<u2"),
    "flags": (2, "<u2"),
    "instrument": (4, "<u4"),
    "seq": (8, "<u8"),
    "ts_venue": (16, "<i8"),
    "ts_origin": (24, "<i8"),
    "ts_hop": (32, "<i8"),  # (4,) subarray
}

BODY_LAYOUTS: dict[RecordType, dict[str, tuple[int, str]]] = {
    RecordType.PROBE: {},
    RecordType.BOOK_DELTA: {
        "price": (64, "<i8"),
        "qty": (72, "<i8"),
        "update_id": (80, "<u8"),
        "first_update_id": (88, "<u8"),
        "side": (96, "|u1"),
        "action": (97, "|u1"),
    },
    RecordType.TRADE: {
        "price": (64, "<i8"),
        "qty": (72, "<i8"),
        "trade_id": (80, "<u8"),
        "aggressor": (88, "|u1"),
    },
    RecordType.BBO: {
        "bid_price": (64, "<i8"),
        "bid_qty": (72, "<i8"),
        "ask_price": (80, "<i8"),
        "ask_qty": (88, "<i8"),
        "update_id": (96, "<u8"),
        "book_state": (104, "|u1"),
    },
    RecordType.ORDER_INTENT: {
        "order_seq": (64, "<u8"),
        "orig_order_seq": (72, "<u8"),
        "price": (80, "<i8"),
        "qty": (88, "<i8"),
        "stop_price": (96, "<i8"),
        "epoch": (104, "<u8"),
        "strategy_id": (112, "<u2"),
        "action": (114, "|u1"),
        "side": (115, "|u1"),
        "order_type": (116, "|u1"),
        "tif": (117, "|u1"),
        "intent_flags": (118, "|u1"),
        "book_update_id": (120, "<u8"),
        "trail": (128, "<i8"),
        "link_seq": (136, "<u8"),
        "synthetic_seq": (144, "<u8"),
        "peg_offset": (152, "<i4"),
        "trail_bps": (156, "<u4"),
        "max_replaces": (160, "<u2"),
        "min_move": (162, "<u2"),
        "trigger": (164, "|u1"),
        "contingency": (165, "|u1"),
        "leg": (166, "|u1"),
        "legs": (167, "|u1"),
    },
    RecordType.EXEC_REPORT: {
        "order_seq": (64, "<u8"),
        "venue_order_id": (72, "<u8"),
        "last_price": (80, "<i8"),
        "last_qty": (88, "<i8"),
        "cum_qty": (96, "<i8"),
        "leaves_qty": (104, "<i8"),
        "fee": (112, "<i8"),
        "exec_type": (120, "|u1"),
        "side": (121, "|u1"),
        "reason": (122, "<u2"),
        "venue_code": (124, "<i2"),
        "strategy_id": (126, "<u2"),
        "est_avg_price": (128, "<i8"),
        "est_qty": (136, "<i8"),
        "ref_bid": (144, "<i8"),
        "ref_ask": (152, "<i8"),
        "est_touch_bps": (160, "<f8"),
        "est_mid_bps": (168, "<f8"),
        "fill_touch_bps": (176, "<f8"),
        "fill_mid_bps": (184, "<f8"),
    },
    RecordType.CONTROL: {
        "kind": (64, "<u2"),
        "state": (66, "<u2"),
        "stage": (68, "<u2"),
        "value": (72, "<i8"),
        "arg": (80, "<i8"),
    },
    RecordType.DEPTH: {
        "update_id": (64, "<u8"),
        "levels": (72, "<u2"),
        "book_state": (74, "|u1"),
        "bid_price": (80, "<i8"),  # (20,) subarrays from here on
        "bid_qty": (240, "<i8"),
        "ask_price": (400, "<i8"),
        "ask_qty": (560, "<i8"),
    },
    RecordType.BAR: {
        "open": (64, "<i8"),
        "high": (72, "<i8"),
        "low": (80, "<i8"),
        "close": (88, "<i8"),
        "volume": (96, "<i8"),
        "vwap": (104, "<i8"),
        "trades": (112, "<u4"),
        "kind": (116, "|u1"),
        "interval": (120, "<i8"),
    },
}
_ID = "|S40"
BODY_LAYOUTS[RecordType.EX_COMMAND] = {
    "request_id": (64, "<u8"),
    "account": (72, "<u4"),
    "command": (76, "|u1"),
    "side": (77, "|u1"),
    "order_type": (78, "|u1"),
    "tif": (79, "|u1"),
    "stp_mode": (80, "|u1"),
    "resp_type": (81, "|u1"),
    "replace_mode": (82, "|u1"),
    "asset": (84, "<u4"),
    "price": (88, "<i8"),
    "qty": (96, "<i8"),
    "quote_qty": (104, "<i8"),
    "order_id": (112, "<i8"),
    "tag": (120, "<i8"),
    "client_order_id": (128, _ID),
    "orig_client_order_id": (168, _ID),
    "cancel_client_order_id": (208, _ID),
    "cap": (248, "<i8"),
}
BODY_LAYOUTS[RecordType.EX_EVENT] = {
    "request_id": (64, "<u8"),
    "account": (72, "<u4"),
    "event": (76, "|u1"),
    "side": (77, "|u1"),
    "order_type": (78, "|u1"),
    "tif": (79, "|u1"),
    "status": (80, "|u1"),
    "stp_mode": (81, "|u1"),
    "is_maker": (82, "|u1"),
    "expire_reason": (83, "|u1"),
    "reject_code": (84, "<i4"),
    "commission_asset": (88, "<u4"),
    "reject_reason": (92, "<u2"),
    **{
        name: (96 + 8 * i, "<i8")
        for i, name in enumerate(
            [
                "order_id",
                "price",
                "qty",
                "quote_qty",
                "last_price",
                "last_qty",
                "cum_qty",
                "cum_quote",
                "trade_id",
                "commission",
            ]
        )
    },
    "client_order_id": (176, _ID),
    "orig_client_order_id": (216, _ID),
}
SIZES = {
    RecordType.PROBE: HEADER_SIZE, RecordType.DEPTH: 768, RecordType.EXEC_REPORT: 192, RecordType.ORDER_INTENT: 192,
    RecordType.EX_COMMAND: 256, RecordType.EX_EVENT: 256,
}  # fmt: skip

ALL_TYPES = list(RecordType)


def _field_layout(spec: RecordSpec) -> dict[str, tuple[int, str]]:
    assert spec.dtype.fields is not None
    layout = {}
    for name, (field_dtype, offset, *_) in spec.dtype.fields.items():
        base = field_dtype.subdtype[0] if field_dtype.subdtype else field_dtype
        layout[name] = (int(offset), base.str)
    return layout


def _sample_values(spec: RecordSpec) -> dict[str, Any]:
    """Distinct, non-trivial values per field: high bits set, negatives, extremes."""
    assert spec.dtype.fields is not None
    values: dict[str, Any] = {}
    fields = sorted(spec.dtype.fields.items(), key=lambda kv: kv[1][1])
    for i, (name, (field_dtype, _offset, *_)) in enumerate(fields):
        if name == "rtype":
            values[name] = int(spec.rtype)
        elif name == "ts_hop":
            values[name] = [-(1 << 63), (1 << 63) - 1, -1, 1_700_000_000_123_456_789 + i]
        elif field_dtype.subdtype is not None:
            count = field_dtype.subdtype[1][0]
            values[name] = [(-1) ** k * (7_000_000_000_000 + 1_000 * i + k) for k in range(count)]
        elif field_dtype.kind == "S":
            values[name] = f"id-{i}.x:/_".encode().ljust(field_dtype.itemsize, b"z")
        elif field_dtype.kind == "u":
            bits = 8 * field_dtype.itemsize
            values[name] = ((1 << bits) - 1) - i * 3 if bits > 8 else 0x80 + i
        elif field_dtype.kind == "f":
            values[name] = (-1) ** i * (1.5e-300 + i) if i % 3 else math.inf
        else:
            assert field_dtype.kind == "i"
            big = -1_234_567_890_123 * (i + 1) if i % 2 else 9_876_543_210_987 + i
            values[name] = big if field_dtype.itemsize == 8 else -(1 << (8 * field_dtype.itemsize - 1)) + i
    return values


def _struct_args(spec: RecordSpec, values: dict[str, Any]) -> list[Any]:
    assert spec.dtype.fields is not None
    args: list[Any] = []
    for name, _ in sorted(spec.dtype.fields.items(), key=lambda kv: kv[1][1]):
        value = values[name]
        args.extend(value if isinstance(value, list) else [value])
    return args


def _numpy_record(spec: RecordSpec, values: dict[str, Any]) -> np.ndarray[Any, np.dtype[np.void]]:
    rec = np.zeros(1, dtype=spec.dtype)
    for name, value in values.items():
        rec[0][name] = value
    return rec


@pytest.mark.parametrize("rtype", ALL_TYPES, ids=lambda t: t.name)
def test_should_lay_out_every_record_type_at_the_documented_offsets(rtype: RecordType) -> None:
    spec = SPECS[rtype]
    assert _field_layout(spec) == {**HEADER_LAYOUT, **BODY_LAYOUTS[rtype]}


@pytest.mark.parametrize("rtype", ALL_TYPES, ids=lambda t: t.name)
def test_should_size_probe_64_depth_768_trading_192_exchange_256_and_all_others_128_bytes(rtype: RecordType) -> None:
    expected = SIZES.get(rtype, RECORD_SIZE)
    assert SPECS[rtype].itemsize == expected
    assert SPECS[rtype].packer.size == expected


def test_should_define_a_spec_for_every_record_type() -> None:
    assert set(SPECS) == set(RecordType)
    assert all(SPECS[t].rtype is t for t in RecordType)


def test_should_place_the_header_identically_in_every_record_type() -> None:
    headers = {t: {n: v for n, v in _field_layout(SPECS[t]).items() if n in HEADER_LAYOUT} for t in RecordType}
    assert all(header == HEADER_LAYOUT for header in headers.values())
    for spec in SPECS.values():
        assert spec.dtype.fields is not None
        assert spec.dtype.fields["ts_hop"][0].shape == (HOP_SLOTS,)
        assert spec.offset_of("seq") == SEQ_OFFSET
        assert spec.offset_of("ts_origin") == TS_ORIGIN_OFFSET
        assert spec.offset_of("ts_hop") == TS_HOP_OFFSET


def test_should_derive_the_probe_struct_format_from_its_dtype() -> None:
    assert struct_format(SPECS[RecordType.PROBE].dtype) == "<HHIQqq4q"


@pytest.mark.parametrize("hop", range(HOP_SLOTS))
def test_should_pack_one_hop_slot_and_zero_the_others_with_the_one_hop_format(hop: int) -> None:
    spec = SPECS[RecordType.PROBE]
    record = bytearray(b"\xff" * spec.itemsize)
    struct.Struct(one_hop_format(spec.dtype, hop)).pack_into(record, 0, RecordType.PROBE, 3, 9, 41, 5, 6, 777)
    hops = [777 if slot == hop else 0 for slot in range(HOP_SLOTS)]
    assert record == spec.packer.pack(RecordType.PROBE, 3, 9, 41, 5, 6, *hops)


def test_should_reject_a_hop_without_a_slot_in_the_one_hop_format() -> None:
    with pytest.raises(ValueError, match=re.escape(f"hop must be 0..{HOP_SLOTS - 1}, got {HOP_SLOTS}")):
        one_hop_format(SPECS[RecordType.PROBE].dtype, HOP_SLOTS)


def test_should_pad_gaps_and_the_tail_with_pad_bytes_in_the_struct_format() -> None:
    dtype = np.dtype({"names": ["a", "b"], "formats": ["u1", "<i8"], "offsets": [0, 8], "itemsize": 24})
    assert struct_format(dtype) == "<B7xq8x"


def test_should_reject_overlapping_fields_in_struct_format() -> None:
    dtype = np.dtype({"names": ["a", "b"], "formats": ["<i8", "<i4"], "offsets": [0, 4], "itemsize": 16})
    with pytest.raises(ValueError, match=re.escape("overlapping field at offset 4")):
        struct_format(dtype)


@pytest.mark.parametrize("rtype", ALL_TYPES, ids=lambda t: t.name)
def test_should_pack_the_same_bytes_with_struct_as_numpy_writes(rtype: RecordType) -> None:
    spec = SPECS[rtype]
    values = _sample_values(spec)
    packed = spec.packer.pack(*_struct_args(spec, values))
    assert packed == _numpy_record(spec, values).tobytes()


@pytest.mark.parametrize("rtype", ALL_TYPES, ids=lambda t: t.name)
def test_should_read_struct_packed_bytes_back_through_the_numpy_dtype(rtype: RecordType) -> None:
    spec = SPECS[rtype]
    values = _sample_values(spec)
    buf = bytearray(spec.itemsize + 64)
    spec.packer.pack_into(buf, 64, *_struct_args(spec, values))  # at a slot offset, as rings do
    rec = np.frombuffer(buf, dtype=spec.dtype, count=1, offset=64)[0]
    for name, value in values.items():
        got = (
            rec[name].tolist()
            if isinstance(value, list | float)
            else rec[name]
            if isinstance(value, bytes)
            else int(rec[name])
        )
        assert got == value, name


@pytest.mark.parametrize("rtype", ALL_TYPES, ids=lambda t: t.name)
def test_should_unpack_numpy_written_records_with_struct(rtype: RecordType) -> None:
    spec = SPECS[rtype]
    values = _sample_values(spec)
    raw = _numpy_record(spec, values).tobytes()
    assert list(spec.packer.unpack(raw)) == _struct_args(spec, values)


@pytest.mark.parametrize("rtype", ALL_TYPES, ids=lambda t: t.name)
def test_should_read_the_header_of_any_record_with_the_header_struct(rtype: RecordType) -> None:
    spec = SPECS[rtype]
    values = _sample_values(spec)
    raw = _numpy_record(spec, values).tobytes()
    header = HEADER_STRUCT.unpack_from(raw, 0)
    expected = [values[n] for n in ("rtype", "flags", "instrument", "seq", "ts_venue", "ts_origin")]
    assert list(header) == [*expected, *values["ts_hop"]]


def test_should_stamp_hop_and_sequence_at_the_exported_offsets() -> None:
    spec = SPECS[RecordType.TRADE]
    rec = spec.zeros(1)
    buf = bytearray(rec.tobytes())
    records.U64.pack_into(buf, SEQ_OFFSET, 2**64 - 2)
    records.I64.pack_into(buf, TS_ORIGIN_OFFSET, -42)
    records.I64.pack_into(buf, TS_HOP_OFFSET + 8 * 2, 777)
    back = np.frombuffer(buf, dtype=spec.dtype)[0]
    assert int(back["seq"]) == 2**64 - 2
    assert int(back["ts_origin"]) == -42
    assert back["ts_hop"].tolist() == [0, 0, 777, 0]


@pytest.mark.parametrize("rtype", ALL_TYPES, ids=lambda t: t.name)
def test_should_set_rtype_and_zero_everything_else_in_spec_zeros(rtype: RecordType) -> None:
    spec = SPECS[rtype]
    recs = spec.zeros(3)
    assert recs.dtype == spec.dtype
    assert recs.shape == (3,)
    assert recs["rtype"].tolist() == [int(rtype)] * 3
    raw = recs.tobytes()
    for i in range(3):
        row = raw[i * spec.itemsize : (i + 1) * spec.itemsize]
        assert row[:2] == int(rtype).to_bytes(2, "little")
        assert row[2:] == bytes(spec.itemsize - 2)


@pytest.mark.parametrize("rtype", ALL_TYPES, ids=lambda t: t.name)
def test_should_index_every_field_of_an_unpacked_record_by_name(rtype: RecordType) -> None:
    spec = SPECS[rtype]
    values = _sample_values(spec)
    unpacked = spec.packer.unpack(_numpy_record(spec, values).tobytes())
    for name, value in values.items():
        first = value[0] if isinstance(value, list) else value
        assert unpacked[spec.index_of(name)] == first, name
