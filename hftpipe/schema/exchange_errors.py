"""The exchange's error catalogue: every Binance error it answers with, code and exact text, in one place.

Clients match on Binance's codes *and* texts (``errors.md``), so each text is
written here once and every part of the exchange (the matching engine, the
accounting stage, the gateway, the publisher's REST API, the flow clients)
refers to these entries instead of retyping them.

Rejects travel between stages inside EX_EVENT records: ``reject_code`` is the
entry's code and ``reject_reason`` the index of its text in
:data:`REJECT_MESSAGES`. Journals and rings hold those indexes, so that table is
**append only**. It lives in the schema, next to the records that carry its
indexes, because both the exchange's pure core (which decides most rejects)
and its stages (which send and read them) depend on the schema and on nothing
of each other.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final, NamedTuple


class ErrorCode(IntEnum):
    """Binance error codes (``errors.md``), by Binance's own names where it has them."""

    UNKNOWN = -1000
    TOO_MANY_REQUESTS = -1003
    TIMEOUT = -1007
    SERVER_BUSY = -1008
    INVALID_MESSAGE = -1013
    UNKNOWN_ORDER_COMPOSITION = -1014
    TOO_MANY_ORDERS = -1015
    UNSUPPORTED_OPERATION = -1020
    INVALID_TIMESTAMP = -1021
    INVALID_SIGNATURE = -1022
    ILLEGAL_CHARS = -1100
    TOO_MANY_PARAMETERS = -1101
    MANDATORY_PARAM_EMPTY_OR_MALFORMED = -1102
    UNREAD_PARAMETERS = -1104
    PARAM_EMPTY = -1105
    PARAM_NOT_REQUIRED = -1106
    PARAM_OVERFLOW = -1108
    BAD_PRECISION = -1111
    INVALID_TIF = -1115
    INVALID_ORDER_TYPE = -1116
    INVALID_SIDE = -1117
    BAD_INTERVAL = -1120
    BAD_SYMBOL = -1121
    INVALID_SYMBOL_STATUS = -1122
    INVALID_LISTEN_KEY = -1125
    INVALID_PARAMETER_COMBINATION = -1128
    INVALID_TICKER_TYPE = -1139
    INVALID_CANCEL_RESTRICTIONS = -1145
    DUPLICATE_SYMBOLS = -1151
    NEW_ORDER_REJECTED = -2010
    CANCEL_REJECTED = -2011
    NO_SUCH_ORDER = -2013
    BAD_API_KEY_FMT = -2014
    REJECTED_MBX_KEY = -2015
    CANCEL_REPLACE_PARTIALLY_FAILED = -2021
    CANCEL_REPLACE_FAILED = -2022


class RejectReason(NamedTuple):
    """A Binance error: ``code`` and the exact ``msg`` text."""

    code: int
    message: str


DECIMAL_RANGE: Final = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
"""The legal range of a DECIMAL parameter, as Binance's -1100 text quotes it."""

# ------------------------------------------------------------------------------ texts with a parameter


def mandatory(name: str) -> RejectReason:
    return RejectReason(
        ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
        f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
    )


def one_of(first: str, second: str) -> RejectReason:
    return RejectReason(
        ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
        f"Param '{first}' or '{second}' must be sent, but both were empty/null!",
    )


def not_required(name: str) -> RejectReason:
    return RejectReason(ErrorCode.PARAM_NOT_REQUIRED, f"Parameter '{name}' sent when not required.")


def illegal(name: str, legal: str) -> RejectReason:
    return RejectReason(
        ErrorCode.ILLEGAL_CHARS, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def illegal_characters(name: str) -> RejectReason:
    """-1100 without a legal range (list-valued parameters)."""
    return RejectReason(ErrorCode.ILLEGAL_CHARS, f"Illegal characters found in parameter '{name}'.")


def too_precise(name: str) -> RejectReason:
    return RejectReason(ErrorCode.BAD_PRECISION, f"Parameter '{name}' has too much precision.")


def overflowed(name: str) -> RejectReason:
    return RejectReason(ErrorCode.PARAM_OVERFLOW, f"Parameter '{name}' overflowed.")


def empty(name: str) -> RejectReason:
    return RejectReason(ErrorCode.PARAM_EMPTY, f"Parameter '{name}' was empty.")


def unread_parameters(read: int, sent: int) -> RejectReason:
    return RejectReason(
        ErrorCode.UNREAD_PARAMETERS,
        f"Not all sent parameters were read; read '{read}' parameter(s) but was sent '{sent}'.",
    )


def recv_window_too_large(maximum_ms: int) -> RejectReason:
    return RejectReason(
        ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
        f"'recvWindow' contains unexpected value. Cannot be greater than '{maximum_ms}'.",
    )


def filter_failure(filter_name: str) -> RejectReason:
    return RejectReason(ErrorCode.INVALID_MESSAGE, f"Filter failure: {filter_name}")


def malformed(detail: str) -> RejectReason:
    """A frame that is not a request the WebSocket API can read (the connection stays open)."""
    return RejectReason(ErrorCode.UNKNOWN, f"Malformed request: {detail}")


def unknown_method(method: str) -> RejectReason:
    return RejectReason(ErrorCode.UNSUPPORTED_OPERATION, f"Unknown method '{method}'.")


def too_much_weight(limit: int) -> RejectReason:
    return RejectReason(
        ErrorCode.TOO_MANY_REQUESTS,
        f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API.",
    )


def too_many_orders(limit: int, interval: str) -> RejectReason:
    return RejectReason(
        ErrorCode.TOO_MANY_ORDERS, f"Too many new orders; current limit is {limit} orders per {interval}."
    )


# ------------------------------------------------------------------------------ fixed texts

UNKNOWN_ERROR: Final = RejectReason(ErrorCode.UNKNOWN, "An unknown error occurred while processing the request.")
REQUEST_TIMEOUT: Final = RejectReason(
    ErrorCode.TIMEOUT,
    "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
)
SERVER_BUSY: Final = RejectReason(
    ErrorCode.SERVER_BUSY, "Server is currently overloaded with other requests. Please try again in a few minutes."
)
REQUEST_REJECTED: Final = RejectReason(ErrorCode.INVALID_MESSAGE, "The request is rejected by the API.")
OPERATION_NOT_SUPPORTED: Final = RejectReason(ErrorCode.UNSUPPORTED_OPERATION, "This operation is not supported.")
TIMESTAMP_OUTSIDE_WINDOW: Final = RejectReason(
    ErrorCode.INVALID_TIMESTAMP, "Timestamp for this request is outside of the recvWindow."
)
TIMESTAMP_AHEAD: Final = RejectReason(
    ErrorCode.INVALID_TIMESTAMP, "Timestamp for this request was 1000ms ahead of the server's time."
)
BAD_SIGNATURE: Final = RejectReason(ErrorCode.INVALID_SIGNATURE, "Signature for this request is not valid.")
DUPLICATE_PARAMETER: Final = RejectReason(ErrorCode.TOO_MANY_PARAMETERS, "Duplicate values for a parameter detected.")
INVALID_SIDE: Final = RejectReason(ErrorCode.INVALID_SIDE, "Invalid side.")
INVALID_TIF: Final = RejectReason(ErrorCode.INVALID_TIF, "Invalid timeInForce.")
INVALID_ORDER_TYPE: Final = RejectReason(ErrorCode.INVALID_ORDER_TYPE, "Invalid orderType.")
INVALID_SYMBOL: Final = RejectReason(ErrorCode.BAD_SYMBOL, "Invalid symbol.")
INVALID_INTERVAL: Final = RejectReason(ErrorCode.BAD_INTERVAL, "Invalid interval.")
INVALID_SYMBOL_STATUS: Final = RejectReason(ErrorCode.INVALID_SYMBOL_STATUS, "Invalid symbolStatus.")
INVALID_LISTEN_KEY: Final = RejectReason(ErrorCode.INVALID_LISTEN_KEY, "This listenKey does not exist.")
INVALID_PARAMETER_COMBINATION: Final = RejectReason(
    ErrorCode.INVALID_PARAMETER_COMBINATION, "Combination of optional parameters invalid."
)
INVALID_TICKER_TYPE: Final = RejectReason(ErrorCode.INVALID_TICKER_TYPE, "Invalid ticker type.")
INVALID_CANCEL_RESTRICTIONS: Final = RejectReason(ErrorCode.INVALID_CANCEL_RESTRICTIONS, "Invalid cancelRestrictions")
INVALID_CANCEL_REPLACE_MODE: Final = RejectReason(ErrorCode.ILLEGAL_CHARS, "Invalid cancelReplaceMode.")
DUPLICATE_SYMBOL: Final = RejectReason(ErrorCode.DUPLICATE_SYMBOLS, "Symbol is present multiple times in the list.")
NEW_ORDER_REJECTED: Final = RejectReason(ErrorCode.NEW_ORDER_REJECTED, "NEW_ORDER_REJECTED")
CANCEL_REJECTED: Final = RejectReason(ErrorCode.CANCEL_REJECTED, "CANCEL_REJECTED")
BAD_API_KEY_FORMAT: Final = RejectReason(ErrorCode.BAD_API_KEY_FMT, "API-key format invalid.")
INVALID_API_KEY: Final = RejectReason(ErrorCode.REJECTED_MBX_KEY, "Invalid API-key, IP, or permissions for action.")
CANCEL_REPLACE_PARTIALLY_FAILED: Final = RejectReason(
    ErrorCode.CANCEL_REPLACE_PARTIALLY_FAILED, "Order cancel-replace partially failed."
)
CANCEL_REPLACE_FAILED: Final = RejectReason(ErrorCode.CANCEL_REPLACE_FAILED, "Order cancel-replace failed.")

# Order rejects: what the engine and accounting put on the wire (see REJECT_MESSAGES).
UNKNOWN_ORDER: Final = RejectReason(ErrorCode.CANCEL_REJECTED, "Unknown order sent.")
DUPLICATE_ORDER: Final = RejectReason(ErrorCode.NEW_ORDER_REJECTED, "Duplicate order sent.")
INSUFFICIENT_BALANCE: Final = RejectReason(
    ErrorCode.NEW_ORDER_REJECTED, "Account has insufficient balance for requested action."
)
WOULD_TAKE: Final = RejectReason(ErrorCode.NEW_ORDER_REJECTED, "Order would immediately match and take.")
NO_LIQUIDITY: Final = RejectReason(
    ErrorCode.NEW_ORDER_REJECTED, "Order book liquidity is less than symbol minimum quantity."
)
LIQUIDITY_BELOW_LOT_SIZE: Final = RejectReason(
    ErrorCode.NEW_ORDER_REJECTED, "Order book liquidity is less than LOT_SIZE filter minimum quantity."
)
PRICE_FILTER: Final = filter_failure("PRICE_FILTER")
LOT_SIZE: Final = filter_failure("LOT_SIZE")
MIN_NOTIONAL: Final = filter_failure("MIN_NOTIONAL")
NOTIONAL: Final = filter_failure("NOTIONAL")
MARKET_LOT_SIZE: Final = filter_failure("MARKET_LOT_SIZE")
STOP_LOSS_UNSUPPORTED: Final = RejectReason(
    ErrorCode.NEW_ORDER_REJECTED, "Stop loss orders are not supported for this symbol."
)
STOP_LOSS_LIMIT_UNSUPPORTED: Final = RejectReason(
    ErrorCode.NEW_ORDER_REJECTED, "Stop loss limit orders are not supported for this symbol."
)
TAKE_PROFIT_UNSUPPORTED: Final = RejectReason(
    ErrorCode.NEW_ORDER_REJECTED, "Take profit orders are not supported for this symbol."
)
TAKE_PROFIT_LIMIT_UNSUPPORTED: Final = RejectReason(
    ErrorCode.NEW_ORDER_REJECTED, "Take profit limit orders are not supported for this symbol."
)
TRAILING_STOP_UNSUPPORTED: Final = RejectReason(
    ErrorCode.NEW_ORDER_REJECTED, "Trailing stop orders are not supported for this symbol."
)
ICEBERG_UNSUPPORTED: Final = RejectReason(
    ErrorCode.NEW_ORDER_REJECTED, "Iceberg orders are not supported for this symbol."
)
TRADING_HALTED: Final = RejectReason(ErrorCode.NEW_ORDER_REJECTED, "Trading is halted: the ledger invariant failed.")
ORDER_CANCELED_OR_EXPIRED: Final = RejectReason(ErrorCode.NEW_ORDER_REJECTED, "Order was canceled or expired.")
BAD_QUANTITY: Final = illegal("quantity", DECIMAL_RANGE)
UNSUPPORTED_ORDER_COMBINATION: Final = RejectReason(
    ErrorCode.UNKNOWN_ORDER_COMPOSITION, "Unsupported order combination."
)
ORDER_DOES_NOT_EXIST: Final = RejectReason(ErrorCode.NO_SUCH_ORDER, "Order does not exist.")
QUOTE_NOT_REQUIRED: Final = not_required("quoteOrderQty")
QTY_OR_QUOTE_MISSING: Final = one_of("quantity", "quoteOrderQty")
CANCEL_ID_MISSING: Final = one_of("origClientOrderId", "orderId")
INVALID_STP_MODE: Final = RejectReason(
    ErrorCode.INVALID_MESSAGE, "This symbol does not allow the specified self-trade prevention mode."
)

# ------------------------------------------------------------------------------ on the wire

REJECT_MESSAGES: Final[tuple[str, ...]] = (
    "",
    UNKNOWN_ORDER.message,
    DUPLICATE_ORDER.message,
    INSUFFICIENT_BALANCE.message,
    WOULD_TAKE.message,
    NO_LIQUIDITY.message,
    LIQUIDITY_BELOW_LOT_SIZE.message,
    PRICE_FILTER.message,
    LOT_SIZE.message,
    MIN_NOTIONAL.message,
    NOTIONAL.message,
    MARKET_LOT_SIZE.message,
    STOP_LOSS_UNSUPPORTED.message,
    STOP_LOSS_LIMIT_UNSUPPORTED.message,
    INVALID_SYMBOL.message,
    TRADING_HALTED.message,
    ORDER_CANCELED_OR_EXPIRED.message,
    BAD_QUANTITY.message,
    UNSUPPORTED_ORDER_COMBINATION.message,
    ORDER_DOES_NOT_EXIST.message,
    INVALID_SIDE.message,
    INVALID_TIF.message,
    INVALID_ORDER_TYPE.message,
    QUOTE_NOT_REQUIRED.message,
    QTY_OR_QUOTE_MISSING.message,
    CANCEL_ID_MISSING.message,
    INVALID_STP_MODE.message,
)
"""``EX_EVENT.reject_reason`` indexes this table (0: no text); append only (journals and rings hold indexes)."""

_REASON_INDEX: Final = {message: index for index, message in enumerate(REJECT_MESSAGES)}
assert len(_REASON_INDEX) == len(REJECT_MESSAGES), "a reject text is listed twice"

_GENERIC: Final = {
    reason.code: reason
    for reason in (
        UNKNOWN_ERROR,
        REQUEST_TIMEOUT,
        SERVER_BUSY,
        REQUEST_REJECTED,
        OPERATION_NOT_SUPPORTED,
        BAD_SIGNATURE,
        INVALID_SYMBOL,
        NEW_ORDER_REJECTED,
        CANCEL_REJECTED,
        ORDER_DOES_NOT_EXIST,
        BAD_API_KEY_FORMAT,
        INVALID_API_KEY,
        INVALID_LISTEN_KEY,
    )
}
"""The text a code gets when nothing more specific is known."""


def reject_reason(message: str) -> int:
    """The wire index of a reject text (``EX_EVENT.reject_reason``); an unknown text is a programming error."""
    try:
        return _REASON_INDEX[message]
    except KeyError:
        raise ValueError(f"reject message {message!r} is not in REJECT_MESSAGES; add it there") from None


def generic(code: int) -> RejectReason:
    """``code`` with its generic text (Binance's, or "Request rejected." for a code without one)."""
    return _GENERIC.get(code) or RejectReason(code, "Request rejected.")


def from_wire(code: int, reason: int) -> RejectReason:
    """What an EX_EVENT REJECTED carries (``reject_code``, ``reject_reason``) as the error it stands for."""
    message = REJECT_MESSAGES[reason] if 0 < reason < len(REJECT_MESSAGES) else ""
    return RejectReason(code, message) if message else generic(code)
