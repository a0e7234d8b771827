"""An approved NEW intent into the OMS, from its record's integer fields.

One path for both venues (:mod:`.paper_bridge`, :mod:`.live`): the record's
side, type and time in force become the schema's enums by a table look-up
(an Enum call costs ~25× more on the send path), an unknown value still
raises the Enum's own error, and the causing tick's ``ts_origin`` is read
from the intent's header cause.
"""

from __future__ import annotations

from typing import Final

from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from stages.trading.execution.oms import Oms
from stages.trading.execution.oms_order import OrderKey
from stages.trading.execution.oms_reports import Result

_SIDE: Final = {int(v): v for v in OrderSide}
_TYPE: Final = {int(v): v for v in OrderType}
_TIF: Final = {int(v): v for v in TimeInForce}


def order_enums(side: int, order_type: int, tif: int) -> tuple[OrderSide, OrderType, TimeInForce]:
    """The record's integers as the schema's enums (ValueError, the Enum's own, for a value it lacks)."""
    try:
        return _SIDE[side], _TYPE[order_type], _TIF[tif]
    except KeyError:
        return OrderSide(side), OrderType(order_type), TimeInForce(tif)


def submit_new(
    oms: Oms,
    key: OrderKey,
    instrument: int,
    side: int,
    order_type: int,
    tif: int,
    price: int,
    qty: int,
    cause: bytes,
    now: int,
) -> Result:
    """:meth:`Oms.submit` of one approved NEW: PENDING_NEW, or refused when the key is already known."""
    side_e, type_e, tif_e = order_enums(side, order_type, tif)
    ts_origin = int.from_bytes(cause[:8], "little", signed=True)
    return oms.submit(key, instrument, side_e, type_e, tif_e, price, qty, ts_origin=ts_origin, now=now)
