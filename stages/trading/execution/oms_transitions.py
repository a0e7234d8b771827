"""The OMS's order states, the events that move them, and the table of every legal move.

The table is data so that the whole life of an order can be read (and tested)
in one place: ``TRANSITIONS[(state, event)]`` is the :class:`Edge` to take, and
a pair that is not in it is illegal (the OMS counts it, logs it and changes
nothing). An edge also names the execution report the move publishes, so
which moves are visible downstream is data too.

Events come from three places:

* our own actions: a cancel or replace request, and a request whose answer
  did not come (a timeout, a disconnect): the order is then UNKNOWN, and only
  the venue (a report, or a query's answer) may move it again, so nothing is
  resent on a guess;
* the venue's reports: ack, trade, canceled, expired (self-trade prevention
  included), rejected, cancel rejected;
* the venue's answers to queries (``order.status``, ``openOrders.status``):
  the order rests (STATUS_OPEN) or does not exist (NOT_FOUND). A query that
  says the order is canceled, expired or filled arrives as those reports.

A replace is two orders: the old one goes PENDING_REPLACE and a new one is
sent. What happens to the new one decides the old one's fate, as the
REPLACEMENT_ACCEPTED / REPLACEMENT_REJECTED events on the old order.

A trade is TRADE_FULL when its cumulative quantity reaches the order's, else
TRADE_PARTIAL: the venue's cumulative quantity, not the trade's own, decides
(see :mod:`stages.trading.execution.oms`).

Real-world edges, as nautilus_trader also accepts them: a fill reported after
the cancel (CANCELED → FILLED; a partial one is published and the order stays
canceled), a fill before the ack (PENDING_NEW → PARTIALLY_FILLED / FILLED), an
IOC canceled or expired before its ack (PENDING_NEW → CANCELED / EXPIRED), a
refused cancel (PENDING_CANCEL → the state it rests in), a late ack (applied
to whatever state the order reached, published only while it is open).
"""

from __future__ import annotations

from enum import IntEnum
from types import MappingProxyType
from typing import Final, NamedTuple

from hftpipe.schema.trading import ExecType


class OmsState(IntEnum):
    """Where an order is in its life, as the OMS knows it. The open states come first."""

    PENDING_NEW = 0
    """Sent; no answer yet."""
    NEW = 1
    """Acknowledged by the venue, nothing filled."""
    PARTIALLY_FILLED = 2
    PENDING_CANCEL = 3
    """A cancel was sent; no answer yet."""
    PENDING_REPLACE = 4
    """A cancel-replace was sent for this (old) order; no answer yet."""
    UNKNOWN = 5
    """A request's answer did not come (timeout, disconnect): query the venue before anything else."""
    FILLED = 6
    CANCELED = 7
    REPLACED = 8
    """Canceled by a replace whose new order the venue took (or, until its answer comes, the cancel half only)."""
    REJECTED = 9
    """Refused by the venue, or not found by a query after an UNKNOWN: never placed."""
    EXPIRED = 10
    """IOC / FOK remainder, a market order out of liquidity, or self-trade prevention (EXPIRED_IN_MATCH)."""

    @property
    def is_open(self) -> bool:
        """May still trade (UNKNOWN included: the venue may hold it)."""
        return self < OmsState.FILLED


class OmsEvent(IntEnum):
    """What may move an order (module docstring). Submitting creates an order in PENDING_NEW."""

    CANCEL_REQUEST = 0
    REPLACE_REQUEST = 1
    """This order is to be canceled and a new one placed in its stead."""
    TIMEOUT = 2
    """The answer to a request on this order did not come in time, or the connection dropped."""
    ACK = 3
    """The venue accepted the order (its first ack: a repeated one changes nothing)."""
    TRADE_PARTIAL = 4
    TRADE_FULL = 5
    CANCELED = 6
    EXPIRED = 7
    REJECTED = 8
    CANCEL_REJECTED = 9
    REPLACEMENT_ACCEPTED = 10
    """The new order of this order's replace exists on the venue (acked, traded, or ended there)."""
    REPLACEMENT_REJECTED = 11
    """The new order of this order's replace was refused (or never placed)."""
    STATUS_OPEN = 12
    """A query says the order rests on the book (NEW or PARTIALLY_FILLED; cumulative quantity applied first)."""
    NOT_FOUND = 13
    """A query says the venue has no such order."""


class Edge(NamedTuple):
    """One legal move: the state it leads to and the report it publishes."""

    state: OmsState | None
    """None: back to where the order rests (:func:`resting_state`)."""
    report: ExecType | None
    """The execution report the move publishes; None: nothing (nothing changed downstream)."""


def resting_state(acked: bool, cum_qty: int) -> OmsState:
    """Where an order is when no request of ours is in flight: partially filled, acknowledged, or still pending."""
    if cum_qty:
        return OmsState.PARTIALLY_FILLED
    return OmsState.NEW if acked else OmsState.PENDING_NEW


RESTING: Final = None
"""An :attr:`Edge.state` that means "back to :func:`resting_state`"."""

_S = OmsState
_E = OmsEvent
_X = ExecType

_TABLE: dict[tuple[OmsState, OmsEvent], Edge] = {
    # -- PENDING_NEW: sent, no answer yet -----------------------------------------------
    (_S.PENDING_NEW, _E.CANCEL_REQUEST): Edge(_S.PENDING_CANCEL, None),
    (_S.PENDING_NEW, _E.TIMEOUT): Edge(_S.UNKNOWN, None),
    (_S.PENDING_NEW, _E.ACK): Edge(_S.NEW, _X.ACK),
    (_S.PENDING_NEW, _E.TRADE_PARTIAL): Edge(_S.PARTIALLY_FILLED, _X.PARTIAL_FILL),  # fill before ack
    (_S.PENDING_NEW, _E.TRADE_FULL): Edge(_S.FILLED, _X.FILL),
    (_S.PENDING_NEW, _E.CANCELED): Edge(_S.CANCELED, _X.CANCELED),  # IOC with nothing to fill
    (_S.PENDING_NEW, _E.EXPIRED): Edge(_S.EXPIRED, _X.EXPIRED),
    (_S.PENDING_NEW, _E.REJECTED): Edge(_S.REJECTED, _X.REJECTED),
    (_S.PENDING_NEW, _E.NOT_FOUND): Edge(_S.PENDING_NEW, None),  # may still be on its way: proves nothing
    # -- NEW -------------------------------------------------------------------------------
    (_S.NEW, _E.CANCEL_REQUEST): Edge(_S.PENDING_CANCEL, None),
    (_S.NEW, _E.REPLACE_REQUEST): Edge(_S.PENDING_REPLACE, None),
    (_S.NEW, _E.TRADE_PARTIAL): Edge(_S.PARTIALLY_FILLED, _X.PARTIAL_FILL),
    (_S.NEW, _E.TRADE_FULL): Edge(_S.FILLED, _X.FILL),
    (_S.NEW, _E.CANCELED): Edge(_S.CANCELED, _X.CANCELED),  # unsolicited: the venue, or a cancel-all
    (_S.NEW, _E.EXPIRED): Edge(_S.EXPIRED, _X.EXPIRED),  # a resting maker expired by self-trade prevention
    (_S.NEW, _E.CANCEL_REJECTED): Edge(_S.NEW, None),  # an earlier cancel's late refusal
    (_S.NEW, _E.REPLACEMENT_REJECTED): Edge(_S.NEW, None),  # the replace's cancel half was refused first
    (_S.NEW, _E.STATUS_OPEN): Edge(_S.NEW, None),
    # -- PARTIALLY_FILLED ------------------------------------------------------------------
    (_S.PARTIALLY_FILLED, _E.CANCEL_REQUEST): Edge(_S.PENDING_CANCEL, None),
    (_S.PARTIALLY_FILLED, _E.REPLACE_REQUEST): Edge(_S.PENDING_REPLACE, None),
    (_S.PARTIALLY_FILLED, _E.ACK): Edge(_S.PARTIALLY_FILLED, _X.ACK),  # the ack after a fill before it
    (_S.PARTIALLY_FILLED, _E.TRADE_PARTIAL): Edge(_S.PARTIALLY_FILLED, _X.PARTIAL_FILL),
    (_S.PARTIALLY_FILLED, _E.TRADE_FULL): Edge(_S.FILLED, _X.FILL),
    (_S.PARTIALLY_FILLED, _E.CANCELED): Edge(_S.CANCELED, _X.CANCELED),
    (_S.PARTIALLY_FILLED, _E.EXPIRED): Edge(_S.EXPIRED, _X.EXPIRED),
    (_S.PARTIALLY_FILLED, _E.CANCEL_REJECTED): Edge(_S.PARTIALLY_FILLED, None),
    (_S.PARTIALLY_FILLED, _E.REPLACEMENT_REJECTED): Edge(_S.PARTIALLY_FILLED, None),
    (_S.PARTIALLY_FILLED, _E.STATUS_OPEN): Edge(_S.PARTIALLY_FILLED, None),
    # -- PENDING_CANCEL: a cancel is in flight; fills may still come ------------------------
    (_S.PENDING_CANCEL, _E.CANCEL_REQUEST): Edge(_S.PENDING_CANCEL, None),  # a second request
    (_S.PENDING_CANCEL, _E.TIMEOUT): Edge(_S.UNKNOWN, None),
    (_S.PENDING_CANCEL, _E.ACK): Edge(_S.PENDING_CANCEL, _X.ACK),  # canceled before its ack came
    (_S.PENDING_CANCEL, _E.TRADE_PARTIAL): Edge(_S.PENDING_CANCEL, _X.PARTIAL_FILL),
    (_S.PENDING_CANCEL, _E.TRADE_FULL): Edge(_S.FILLED, _X.FILL),
    (_S.PENDING_CANCEL, _E.CANCELED): Edge(_S.CANCELED, _X.CANCELED),
    (_S.PENDING_CANCEL, _E.EXPIRED): Edge(_S.EXPIRED, _X.EXPIRED),
    (_S.PENDING_CANCEL, _E.REJECTED): Edge(_S.REJECTED, _X.REJECTED),  # canceled before its ack, then refused
    (_S.PENDING_CANCEL, _E.CANCEL_REJECTED): Edge(RESTING, _X.CANCEL_REJECTED),
    (_S.PENDING_CANCEL, _E.STATUS_OPEN): Edge(_S.PENDING_CANCEL, None),  # the cancel has not landed yet
    # -- PENDING_REPLACE (the old order of a replace) ----------------------------------------
    # Its replace's answer is published as reports about the new order (REPLACED or
    # REJECTED); the old order's own moves here publish nothing but its fills.
    (_S.PENDING_REPLACE, _E.TIMEOUT): Edge(_S.UNKNOWN, None),
    (_S.PENDING_REPLACE, _E.ACK): Edge(_S.PENDING_REPLACE, _X.ACK),
    (_S.PENDING_REPLACE, _E.TRADE_PARTIAL): Edge(_S.PENDING_REPLACE, _X.PARTIAL_FILL),
    (_S.PENDING_REPLACE, _E.TRADE_FULL): Edge(_S.FILLED, _X.FILL),  # the replace's cancel half will fail
    (_S.PENDING_REPLACE, _E.CANCELED): Edge(_S.REPLACED, None),  # the cancel half; the new order's answer tells
    (_S.PENDING_REPLACE, _E.EXPIRED): Edge(_S.EXPIRED, _X.EXPIRED),
    (_S.PENDING_REPLACE, _E.CANCEL_REJECTED): Edge(RESTING, None),  # the new order's REJECTED tells
    (_S.PENDING_REPLACE, _E.REPLACEMENT_ACCEPTED): Edge(_S.REPLACED, None),
    (_S.PENDING_REPLACE, _E.REPLACEMENT_REJECTED): Edge(RESTING, None),  # the old order stands
    (_S.PENDING_REPLACE, _E.STATUS_OPEN): Edge(_S.PENDING_REPLACE, None),
    # -- UNKNOWN: only the venue moves it --------------------------------------------------
    (_S.UNKNOWN, _E.TIMEOUT): Edge(_S.UNKNOWN, None),
    (_S.UNKNOWN, _E.ACK): Edge(RESTING, _X.ACK),
    (_S.UNKNOWN, _E.TRADE_PARTIAL): Edge(_S.PARTIALLY_FILLED, _X.PARTIAL_FILL),
    (_S.UNKNOWN, _E.TRADE_FULL): Edge(_S.FILLED, _X.FILL),
    (_S.UNKNOWN, _E.CANCELED): Edge(_S.CANCELED, _X.CANCELED),
    (_S.UNKNOWN, _E.EXPIRED): Edge(_S.EXPIRED, _X.EXPIRED),
    (_S.UNKNOWN, _E.REJECTED): Edge(_S.REJECTED, _X.REJECTED),
    (_S.UNKNOWN, _E.CANCEL_REJECTED): Edge(_S.UNKNOWN, None),  # "unknown order": filled, or never placed
    (_S.UNKNOWN, _E.REPLACEMENT_ACCEPTED): Edge(_S.REPLACED, None),
    (_S.UNKNOWN, _E.REPLACEMENT_REJECTED): Edge(_S.UNKNOWN, None),  # its own query still decides
    (_S.UNKNOWN, _E.STATUS_OPEN): Edge(RESTING, None),
    (_S.UNKNOWN, _E.NOT_FOUND): Edge(_S.REJECTED, _X.REJECTED),  # never placed (only if never acked or filled)
    # -- FILLED ------------------------------------------------------------------------------
    (_S.FILLED, _E.ACK): Edge(_S.FILLED, None),  # the ack after the fills: recorded, not published
    (_S.FILLED, _E.CANCEL_REJECTED): Edge(_S.FILLED, None),  # the cancel lost the race
    (_S.FILLED, _E.REPLACEMENT_REJECTED): Edge(_S.FILLED, None),
    # -- CANCELED ------------------------------------------------------------------------------
    (_S.CANCELED, _E.ACK): Edge(_S.CANCELED, None),
    (_S.CANCELED, _E.TRADE_PARTIAL): Edge(_S.CANCELED, _X.PARTIAL_FILL),  # a fill reported after the cancel
    (_S.CANCELED, _E.TRADE_FULL): Edge(_S.FILLED, _X.FILL),
    (_S.CANCELED, _E.CANCELED): Edge(_S.CANCELED, None),
    (_S.CANCELED, _E.CANCEL_REJECTED): Edge(_S.CANCELED, None),
    (_S.CANCELED, _E.REPLACEMENT_REJECTED): Edge(_S.CANCELED, None),
    # -- REPLACED (the old order: canceled by its replace) -----------------------------------
    (_S.REPLACED, _E.ACK): Edge(_S.REPLACED, None),
    (_S.REPLACED, _E.TRADE_PARTIAL): Edge(_S.REPLACED, _X.PARTIAL_FILL),  # it traded before the cancel half
    (_S.REPLACED, _E.TRADE_FULL): Edge(_S.FILLED, _X.FILL),
    (_S.REPLACED, _E.CANCELED): Edge(_S.REPLACED, None),  # the cancel half's report, after the new order's
    (_S.REPLACED, _E.CANCEL_REJECTED): Edge(_S.REPLACED, None),
    (_S.REPLACED, _E.REPLACEMENT_ACCEPTED): Edge(_S.REPLACED, None),
    (_S.REPLACED, _E.REPLACEMENT_REJECTED): Edge(_S.CANCELED, _X.CANCELED),  # canceled, new order refused
    # -- REJECTED ------------------------------------------------------------------------------
    (_S.REJECTED, _E.REJECTED): Edge(_S.REJECTED, None),
    (_S.REJECTED, _E.CANCEL_REJECTED): Edge(_S.REJECTED, None),  # a cancel sent before the reject landed
    # -- EXPIRED -------------------------------------------------------------------------------
    (_S.EXPIRED, _E.ACK): Edge(_S.EXPIRED, None),
    (_S.EXPIRED, _E.TRADE_PARTIAL): Edge(_S.EXPIRED, _X.PARTIAL_FILL),  # an IOC's trades after its expiry
    (_S.EXPIRED, _E.TRADE_FULL): Edge(_S.FILLED, _X.FILL),
    (_S.EXPIRED, _E.EXPIRED): Edge(_S.EXPIRED, None),
    (_S.EXPIRED, _E.CANCEL_REJECTED): Edge(_S.EXPIRED, None),
    (_S.EXPIRED, _E.REPLACEMENT_REJECTED): Edge(_S.EXPIRED, None),  # expired while its replace was in flight
}
for _state in (_S.NEW, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REPLACED, _S.REJECTED, _S.EXPIRED):
    # A timer that fires after the answer came: nothing is unknown.
    _TABLE[(_state, _E.TIMEOUT)] = Edge(_state, None)

TRANSITIONS: Final = MappingProxyType(_TABLE)
"""``(state, event)`` → :class:`Edge`; every pair not here is illegal."""

PENDING_STATES: Final = frozenset({OmsState.PENDING_NEW, OmsState.PENDING_CANCEL, OmsState.PENDING_REPLACE})
"""A request of ours is in flight: a disconnect makes these UNKNOWN."""
