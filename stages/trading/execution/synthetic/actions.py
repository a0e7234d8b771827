"""What the synthetic book answers: real orders to send, replace or cancel, and the states to show.

Every call of :class:`~stages.trading.execution.synthetic.book.SyntheticBook`
returns its actions in the order they happened. The stage sends
:class:`Release`, :class:`Replace` and :class:`Cancel` on (a release goes
through risk again, as any new order does) and shows :class:`StateChange` to
the strategy that owns the synthetic order: a synthetic order is an order of
its own to the strategy, with the states of :class:`SynthState`, next to the
real orders it causes.

Units: prices fixed point at the instrument's price scale, quantities at its
qty scale, times in nanoseconds of the clock the stage passes as ``now``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple, TypeAlias

from hftpipe.schema.trading import IntentFlag, OrderSide, OrderType, RejectReason, TimeInForce


class SynthState(IntEnum):
    """A synthetic order's state; from FILLED on (``>= FILLED``) it is final."""

    PENDING_PARENT = 0
    """An OTO or bracket child: nothing is watched until the parent's first fill sizes it."""
    PENDING_TRIGGER = 1
    """Held here, watching the market; the venue knows nothing of it."""
    TRIGGERED = 2
    """Released: its real order went to the stage (a direct order and a peg are released at once,
    a trigger order when its level is reached); no fill yet."""
    PARTIALLY_FILLED = 3
    FILLED = 4
    CANCELED = 5
    """Canceled by its owner, by its OCO sibling, or because its parent ended unfilled."""
    REJECTED = 6
    """Its released order was refused (by risk or the venue): :attr:`StateChange.reason` says why."""
    EXPIRED = 7
    """The venue ended its released order (an IOC or FOK remainder)."""


FINAL = SynthState.FILLED
"""States ``>= FINAL`` are final (though a cancel that raced a fill still books that fill)."""


class Release(NamedTuple):
    """A real order to send: what a trigger, a peg's first price or a direct order becomes.

    ``trigger_ns`` is the ``now`` of the call that released it, so the stage can
    measure trigger-to-send latency; ``trigger_price`` is the reference price that
    reached the level (last trade, best bid or ask, or the mid rounded down to
    the price scale), 0 for an order released without a trigger (a direct
    order, an OCO or bracket's resting leg).

    The same ``synthetic_id`` can release more than once: a top-up of an exit
    whose parent filled further after the exit's real order went out carries
    only the increment (see :mod:`~stages.trading.execution.synthetic.contingent`).
    """

    synthetic_id: int
    strategy_id: int
    instrument_id: int
    side: OrderSide
    order_type: OrderType
    """MARKET, LIMIT or LIMIT_MAKER: never a stop type, the venue never sees those from here."""
    tif: TimeInForce
    price: int
    """The limit price; 0 for MARKET."""
    qty: int
    flags: IntentFlag
    trigger_ns: int
    trigger_price: int


class Replace(NamedTuple):
    """Replace the working real order of ``synthetic_id`` (cancel-replace): a peg's new price or a leg's new size.

    ``qty`` is the quantity the replacing order carries: the synthetic order's
    open quantity (what has not filled yet), not its original size.
    """

    synthetic_id: int
    strategy_id: int
    instrument_id: int
    side: OrderSide
    order_type: OrderType
    tif: TimeInForce
    price: int
    qty: int
    flags: IntentFlag
    now: int


class Cancel(NamedTuple):
    """Cancel the working real order of ``synthetic_id``: an OCO sibling, an exit's parent remainder, an owner's cancel.

    The synthetic order is CANCELED at once; a fill that raced the cancel is
    still booked when the stage reports it (``on_fill``), and the stage reports
    the venue's confirmation with ``on_venue_closed``.
    """

    synthetic_id: int
    strategy_id: int
    instrument_id: int


class StateChange(NamedTuple):
    """A synthetic order as its strategy sees it, after a change of state or size."""

    synthetic_id: int
    strategy_id: int
    instrument_id: int
    state: SynthState
    qty: int
    """Its current size: an OCO leg shrinks as its sibling fills, a bracket exit grows with its parent's fills."""
    cum_qty: int
    reason: RejectReason
    """Why it was REJECTED; NONE otherwise."""


Action: TypeAlias = Release | Replace | Cancel | StateChange
