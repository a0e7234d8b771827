"""Trading records: order intents from strategies, execution reports back to them.

An intent names its order by ``(strategy_id, epoch, order_seq)``: the
strategy's id, the run epoch its stage started with (milliseconds since the
Unix epoch) and a sequence the strategy counts up. Together they are unique
across restarts and render as the venue's client order id
(:func:`client_order_id`, at most 36 characters of ``[A-Za-z0-9-]`` as
Binance's ``newClientOrderId`` allows), so no stage needs a string on the
hot path.

ORDER_INTENT body (offsets from the record start; the header is
:mod:`hftpipe.schema.records`')::

     64 order_seq       u8   this order (NEW, REPLACE's new order) or this request (CANCEL)
     72 orig_order_seq  u8   the order a CANCEL / REPLACE acts on (0: none)
     80 price           i8   fixed point at the instrument's price scale (0: market)
     88 qty             i8   fixed point at the instrument's qty scale
     96 stop_price      i8   trigger price of stop orders (0: none)
    104 epoch           u8   run epoch of the strategy's stage, ms
    112 strategy_id     u2
    114 action          u1   IntentAction
    115 side            u1   OrderSide
    116 order_type      u1   OrderType
    117 tif             u1   TimeInForce
    118 intent_flags    u1   IntentFlag
    120 book_update_id  u8   update id of the book the decision was taken on
    128 trail           i8   trailing stop: its distance from the best price, price scale (0: ``trail_bps``)
    136 link_seq        u8   a contingent leg: ``order_seq`` of its group's leg 0 (an OTO's or bracket's parent)
    144 synthetic_seq   u8   a released child (``RELEASED``): the synthetic order it was released for
    152 peg_offset      i4   peg: ticks from the mid, away from the other side (negative: leans in)
    156 trail_bps       u4   trailing stop: its distance in basis points of the best price (0: ``trail``)
    160 max_replaces    u2   peg: replaces per second at most
    162 min_move        u2   peg: ticks the target must move before a replace
    164 trigger         u1   Trigger: the price a synthetic order watches
    165 contingency     u1   Contingency of the group this leg belongs to
    166 leg             u1   this leg's index in its group (0: the parent, or an OCO's first leg)
    167 legs            u1   legs in the group (0 for an order in no group)
    168 (reserved, zero, to 192)

Offsets 64..127 are the record's first, 128-byte layout, unchanged; the
synthetic-order terms (128..167) grew it to 192 bytes. Rings that carry
intents (strategy → risk, risk → execution, and execution → risk, which
carries released children beside the reports) need ``slot_size >= 192``.

A **synthetic** order (``IntentFlag.SYNTHETIC``) is held by the execution
stage and released as a real order when the market triggers it (stop,
take-profit, trailing stop, mid peg; or a leg of an OCO / OTO / bracket,
whose direct legs are synthetic too: the stage holds the group). Legs of one
group are consecutive intents sharing ``link_seq``, ``contingency`` and
``legs``; the stage places the group when its last leg arrives. A released
child goes from execution back to risk as a NEW (or a peg's REPLACE) flagged
``RELEASED``, ``order_seq`` from :data:`RELEASE_SEQ_BASE` on, and on to
execution like any approved intent.

EXEC_REPORT body::

     64 order_seq       u8   the order this report is about
     72 venue_order_id  u8
     80 last_price      i8   price of this fill (0: no fill)
     88 last_qty        i8   quantity of this fill (0: no fill)
     96 cum_qty         i8
    104 leaves_qty      i8
    112 fee             i8   fee of this fill, fixed point at the instrument's price scale
    120 exec_type       u1   ExecType
    121 side            u1   OrderSide
    122 reason          u2   RejectReason (REJECTED, CANCEL_REJECTED)
    124 venue_code      i2   the venue's error code when reason is VENUE (e.g. -2010)
    126 strategy_id     u2
    128 est_avg_price   i8   the order's average price estimated at send, the visible depth walked (0: none)
    136 est_qty         i8   the part of the order the visible depth (within its limit) priced (0: none)
    144 ref_bid         i8   best bid of execution's book when it sent the order (0: none)
    152 ref_ask         i8   best ask then (0: none)
    160 est_touch_bps   f8   the estimate's cost against the touch (ref_ask for a buy), bps (NaN: none)
    168 est_mid_bps     f8   ... against the mid ``(ref_bid + ref_ask) / 2``, bps (NaN: none)
    176 fill_touch_bps  f8   this fill's realized cost against the same touch, bps (NaN: no fill or no touch)
    184 fill_mid_bps    f8   ... against the same mid (NaN: no fill or no mid)

An EXEC_REPORT is 192 bytes: rings that carry it need ``slot_size >= 192``.
Offsets 128.. are the slippage estimate execution made when it sent the
order (:mod:`hftpipe.strategy.slippage`) and, on a fill, what the fill
realized against the same book: positive costs, as the estimator counts
them. The ints are exact (fixed point); the bps are derived from them for
readers that want one number. A report nobody estimated (a risk rejection)
carries :data:`NO_SLIPPAGE`.

The header's ``ts_origin`` of an intent is the ``ts_origin`` of the market-data
record that caused it, so tick-to-intent is measured hop by hop; its
``ts_venue`` is the strategy's clock when it decided.
"""

from __future__ import annotations

import math
import re
from enum import IntEnum, IntFlag
from typing import Final, NamedTuple

from hftpipe.schema.records import RecordType, check_layout, make_spec, record_dtype


class OrderSide(IntEnum):
    """An order's side; the numbers match :class:`hftpipe.schema.marketdata.BookSide` (a buy rests on the bids)."""

    BUY = 0
    SELL = 1


class IntentAction(IntEnum):
    NEW = 0
    CANCEL = 1
    REPLACE = 2
    """Cancel ``orig_order_seq`` and place ``order_seq`` in its stead (Binance ``cancelReplace``)."""
    CANCEL_ALL = 3
    """Cancel every open order of the strategy on the record's instrument."""


class OrderType(IntEnum):
    LIMIT = 0
    MARKET = 1
    LIMIT_MAKER = 2
    """Post-only: a limit order the venue rejects rather than lets take liquidity."""
    STOP_MARKET = 3
    STOP_LIMIT = 4
    TAKE_PROFIT = 5
    """Synthetic only: a MARKET order released when the price reaches ``stop_price`` moving in the order's favour."""
    TAKE_PROFIT_LIMIT = 6
    """Synthetic only: a LIMIT order at ``price`` released as a take-profit."""
    TRAILING_STOP = 7
    """Synthetic only: a stop ``trail`` (or ``trail_bps``) behind the best price since placement; releases MARKET."""
    PEG_MID = 8
    """Synthetic only: a limit order kept at mid ± ``peg_offset`` ticks, re-priced at most ``max_replaces`` / s."""


class TimeInForce(IntEnum):
    GTC = 0
    IOC = 1
    FOK = 2


class IntentFlag(IntFlag):
    NONE = 0
    REDUCE_ONLY = 0x1
    """May only reduce the strategy's position (risk refuses it otherwise)."""
    FLATTEN = 0x2
    """Sent by a strategy being disabled, or by risk, to get out of the market."""
    SYNTHETIC = 0x4
    """Held by the execution stage until the market triggers it (a CANCEL of one carries it too)."""
    RELEASED = 0x8
    """A real order the execution stage released for a synthetic one (``synthetic_seq``), re-checked by risk."""
    POST_ONLY = 0x10
    """A peg whose orders go as LIMIT_MAKER, held off the other side of the book."""


class Trigger(IntEnum):
    """The price a synthetic trigger order watches."""

    LAST = 0
    """The last trade price."""
    BID_ASK = 1
    """The touch the released order would deal with: the ask for a buy, the bid for a sell."""
    MID = 2
    """``(bid + ask) / 2``, unrounded."""


class Contingency(IntEnum):
    """What group a synthetic leg belongs to (``leg`` / ``legs`` place it in the group)."""

    NONE = 0
    OCO = 1
    """Two legs: one triggering or filling cancels the other."""
    OTO = 2
    """Leg 0 the parent; legs 1.. its children, armed by its first fill and sized by its fills."""
    BRACKET = 3
    """Leg 0 the entry, leg 1 the stop-loss, leg 2 the take-profit: an OTO whose two children are an OCO."""


class ExecType(IntEnum):
    ACK = 0
    """The venue accepted the order (Binance ``NEW``)."""
    PARTIAL_FILL = 1
    FILL = 2
    CANCELED = 3
    REPLACED = 4
    """``order_seq`` (the new order) replaced the order its REPLACE intent named."""
    REJECTED = 5
    """A new order (or a replace's new order) was refused, by risk or by the venue: see ``reason``."""
    EXPIRED = 6
    """IOC / FOK remainder, or the venue's self-trade prevention."""
    CANCEL_REJECTED = 7
    """A cancel of ``order_seq`` was refused (e.g. the order was already filled): the order is unchanged."""
    HELD = 8
    """A synthetic order the execution stage holds: watching the market, or waiting for its OTO parent's fill."""
    TRIGGERED = 9
    """A synthetic order's real order was released (through risk again); its fills follow as this order's."""


class RejectReason(IntEnum):
    """Why an order was refused: the one catalogue for the strategy API, risk and execution.

    Append only: reports in files and journals keep their numbers.
    """

    NONE = 0
    BOOK_NOT_SYNCED = 1
    """The instrument's book is not SYNCED: no order leaves from a book that may be wrong."""
    UNKNOWN_INSTRUMENT = 2
    PRICE_NOT_ON_TICK = 3
    """``rounding = "refuse"`` and the price is not a multiple of the tick."""
    QTY_NOT_ON_LOT = 4
    """``rounding = "refuse"`` and the quantity is not a multiple of the lot."""
    QTY_BELOW_LOT = 5
    """The quantity rounds to zero lots."""
    PRICE_NOT_POSITIVE = 6
    NOT_FINITE = 7
    """A NaN or infinite price or quantity."""
    WOULD_CROSS = 8
    """A post-only order priced through the opposite side of the book."""
    UNKNOWN_ORDER = 9
    """A cancel or replace of an order that is not open."""
    STRATEGY_DISABLED = 10
    """The strategy exceeded ``max_errors`` and sends nothing but cancels."""
    HALTED = 11
    """The pipeline or the trading state is halted."""
    VENUE = 12
    """The venue refused it: ``venue_code`` holds its error code."""
    RISK_LIMIT = 13
    """A pre-trade risk limit not named below."""
    REDUCE_ONLY = 14
    """The trading state is REDUCING (or the order is reduce-only) and the order would not reduce the position."""
    DATA_STALE = 15
    """The instrument's last book update is older than ``max_data_age_ms``."""
    MAX_ORDER_QTY = 16
    MAX_ORDER_NOTIONAL = 17
    MIN_NOTIONAL = 18
    PRICE_BAND = 19
    """The price is further from the book than the fat-finger band allows."""
    MAX_POSITION = 20
    """Position + every open order on that side + this order would exceed the limit."""
    MAX_GROSS_EXPOSURE = 21
    MAX_NET_EXPOSURE = 22
    MAX_OPEN_ORDERS = 23
    ORDER_RATE = 24
    """The strategy's or the account's order token bucket is empty."""
    CANCEL_RATE = 25
    SELF_CROSS = 26
    """It would trade against a resting order of the same account."""
    DUPLICATE_ORDER = 27
    """A client order id already seen."""
    MAX_LOSS = 28
    """A loss or drawdown breaker tripped: only cancels and reducing orders pass, or none."""
    MAX_SLIPPAGE = 29
    """A marketable order's estimated cost against the touch, walking the visible depth, is above
    ``max_slippage_bps`` (or the visible depth cannot price a market order at all)."""
    BAD_SYNTHETIC = 30
    """A synthetic order or group the execution stage cannot hold (inconsistent terms or legs)."""
    GROUP_REFUSED = 31
    """Another leg of the same contingent group was refused: the group goes whole or not at all."""


class TradingState(IntEnum):
    """What risk lets through, for the account or one strategy; the more severe of the two applies."""

    ACTIVE = 0
    """Every order that passes the limits."""
    REDUCING = 1
    """Cancels, and orders that cannot grow the strategy's position even if every open order fills."""
    HALTED = 2
    """Cancels only."""


ORDER_INTENT_SIZE: Final = 192
"""The 128-byte record plus the synthetic-order terms; a ring carrying intents needs slots this big."""

ORDER_INTENT_DTYPE: Final = record_dtype(
    [
        ("order_seq", "<u8", 64),
        ("orig_order_seq", "<u8", 72),
        ("price", "<i8", 80),
        ("qty", "<i8", 88),
        ("stop_price", "<i8", 96),
        ("epoch", "<u8", 104),
        ("strategy_id", "<u2", 112),
        ("action", "u1", 114),
        ("side", "u1", 115),
        ("order_type", "u1", 116),
        ("tif", "u1", 117),
        ("intent_flags", "u1", 118),
        ("book_update_id", "<u8", 120),
        ("trail", "<i8", 128),
        ("link_seq", "<u8", 136),
        ("synthetic_seq", "<u8", 144),
        ("peg_offset", "<i4", 152),
        ("trail_bps", "<u4", 156),
        ("max_replaces", "<u2", 160),
        ("min_move", "<u2", 162),
        ("trigger", "u1", 164),
        ("contingency", "u1", 165),
        ("leg", "u1", 166),
        ("legs", "u1", 167),
    ],
    ORDER_INTENT_SIZE,
)

EXEC_REPORT_SIZE: Final = 192
NO_SLIPPAGE: Final = (0, 0, 0, 0, math.nan, math.nan, math.nan, math.nan)
"""EXEC_REPORT's slippage fields (offsets 128..191, in order) when nothing was estimated: append to a pack."""

EXEC_REPORT_DTYPE: Final = record_dtype(
    [
        ("order_seq", "<u8", 64),
        ("venue_order_id", "<u8", 72),
        ("last_price", "<i8", 80),
        ("last_qty", "<i8", 88),
        ("cum_qty", "<i8", 96),
        ("leaves_qty", "<i8", 104),
        ("fee", "<i8", 112),
        ("exec_type", "u1", 120),
        ("side", "u1", 121),
        ("reason", "<u2", 122),
        ("venue_code", "<i2", 124),
        ("strategy_id", "<u2", 126),
        ("est_avg_price", "<i8", 128),
        ("est_qty", "<i8", 136),
        ("ref_bid", "<i8", 144),
        ("ref_ask", "<i8", 152),
        ("est_touch_bps", "<f8", 160),
        ("est_mid_bps", "<f8", 168),
        ("fill_touch_bps", "<f8", 176),
        ("fill_mid_bps", "<f8", 184),
    ],
    EXEC_REPORT_SIZE,
)

ORDER_INTENT: Final = make_spec(RecordType.ORDER_INTENT, ORDER_INTENT_DTYPE)
EXEC_REPORT: Final = make_spec(RecordType.EXEC_REPORT, EXEC_REPORT_DTYPE)
SPECS: Final = (ORDER_INTENT, EXEC_REPORT)

for _spec in SPECS:
    check_layout(_spec)

SYNTHETIC_TYPES: Final = frozenset(
    {OrderType.STOP_MARKET, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT,
     OrderType.TRAILING_STOP, OrderType.PEG_MID}
)  # fmt: skip
"""Order types a synthetic order may have besides the direct ones (LIMIT, LIMIT_MAKER, MARKET: a group's legs)."""

RELEASE_SEQ_BASE: Final = 2 * 10**12
"""Sequences of released children (the execution stage's): above risk's own (10**12), never a strategy's."""


class SynthTerms(NamedTuple):
    """The synthetic-order fields of an ORDER_INTENT (offsets 128..167), in record order; all zero: none."""

    trail: int = 0
    link_seq: int = 0
    synthetic_seq: int = 0
    peg_offset: int = 0
    trail_bps: int = 0
    max_replaces: int = 0
    min_move: int = 0
    trigger: int = 0
    contingency: int = 0
    leg: int = 0
    legs: int = 0


NO_TERMS: Final = SynthTerms()

CLIENT_ID_PREFIX: Final = "hp"
CLIENT_ID_MAX: Final = 36
"""Binance's ``newClientOrderId`` limit."""
_CLIENT_ID: Final = re.compile(r"hp(\d{1,5})-(\d{1,13})-(\d{1,14})")


def client_order_id(strategy_id: int, epoch: int, order_seq: int) -> str:
    """The venue's client order id of an order: ``hp<strategy>-<epoch ms>-<seq>``, ≤ 36 characters.

    >>> client_order_id(3, 1765000000123, 42)
    'hp3-1765000000123-42'
    """
    if not 0 <= strategy_id < 1 << 16 or not 0 <= epoch < 10**13 or not 0 <= order_seq < 10**14:
        raise ValueError(f"client order id out of range: strategy {strategy_id}, epoch {epoch}, seq {order_seq}")
    return f"{CLIENT_ID_PREFIX}{strategy_id}-{epoch}-{order_seq}"


def parse_client_order_id(text: str) -> tuple[int, int, int] | None:
    """``(strategy_id, epoch, order_seq)`` of one of our client order ids; None for anyone else's."""
    match = _CLIENT_ID.fullmatch(text)
    if match is None:
        return None
    strategy, epoch, seq = (int(g) for g in match.groups())
    return (strategy, epoch, seq) if strategy < 1 << 16 else None
