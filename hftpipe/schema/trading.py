"""Trading records: order intents from strategies and execution reports back to them."""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from hftpipe.schema.records import RECORD_SIZE, RecordType, check_layout, make_spec, record_dtype


class OrderSide(IntEnum):
    """An order's side; the numbers match :class:`hftpipe.schema.marketdata.BookSide` (a buy rests on the bids)."""

    BUY = 0
    SELL = 1


class IntentAction(IntEnum):
    NEW = 0
    CANCEL = 1
    REPLACE = 2


class OrderType(IntEnum):
    LIMIT = 0
    MARKET = 1
    LIMIT_MAKER = 2
    STOP_MARKET = 3
    STOP_LIMIT = 4


class TimeInForce(IntEnum):
    GTC = 0
    IOC = 1
    FOK = 2


class ExecType(IntEnum):
    ACK = 0
    PARTIAL_FILL = 1
    FILL = 2
    CANCELED = 3
    REPLACED = 4
    REJECTED = 5
    EXPIRED = 6


ORDER_INTENT_DTYPE: Final = record_dtype(
    [
        ("client_order_id", "<u8", 64),
        ("orig_client_order_id", "<u8", 72),
        ("price", "<i8", 80),
        ("qty", "<i8", 88),
        ("stop_price", "<i8", 96),
        ("strategy_id", "<u2", 104),
        ("action", "u1", 106),
        ("side", "u1", 107),
        ("order_type", "u1", 108),
        ("tif", "u1", 109),
    ],
    RECORD_SIZE,
)

EXEC_REPORT_DTYPE: Final = record_dtype(
    [
        ("client_order_id", "<u8", 64),
        ("venue_order_id", "<u8", 72),
        ("last_price", "<i8", 80),
        ("last_qty", "<i8", 88),
        ("cum_qty", "<i8", 96),
        ("leaves_qty", "<i8", 104),
        ("fee", "<i8", 112),
        ("exec_type", "u1", 120),
        ("side", "u1", 121),
        ("reject_code", "<u2", 122),
        ("strategy_id", "<u2", 124),
    ],
    RECORD_SIZE,
)

ORDER_INTENT: Final = make_spec(RecordType.ORDER_INTENT, ORDER_INTENT_DTYPE)
EXEC_REPORT: Final = make_spec(RecordType.EXEC_REPORT, EXEC_REPORT_DTYPE)
SPECS: Final = (ORDER_INTENT, EXEC_REPORT)

for _spec in SPECS:
    check_layout(_spec)
