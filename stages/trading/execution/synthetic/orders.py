"""A synthetic order inside the book: one mutable node per order, whatever its kind.

The specs (:class:`~stages.trading.execution.synthetic.stop.Stop`,
:class:`~stages.trading.execution.synthetic.trailing.TrailingStop`, ...) are
frozen values a caller builds; the book turns each into a
:class:`SynthOrder` it owns and mutates, and callers see it only as
:class:`~stages.trading.execution.synthetic.actions.StateChange` snapshots.
One node class for every kind keeps the book's hot loops free of dispatch
on types: the kind-specific slots are simply unused by the other kinds.

Quantities: ``qty`` is the order's current size (it changes for OCO legs and
OTO children, see :mod:`~stages.trading.execution.synthetic.contingent`),
``released`` how much of it has gone to the venue as real orders, ``cum``
how much has filled. A node is *working* at the venue while it is released
and ``cum < released``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Final

from hftpipe.schema.trading import IntentFlag, OrderSide, OrderType, RejectReason, TimeInForce
from stages.trading.execution.synthetic.actions import FINAL, StateChange, SynthState
from stages.trading.execution.synthetic.trigger import Source

if TYPE_CHECKING:
    from stages.trading.execution.synthetic.contingent import Group
    from stages.trading.execution.synthetic.peg import ReplaceBudget


def check_common(kind: str, qty: int, side: OrderSide) -> None:
    """The checks every spec shares (ValueError naming ``kind``)."""
    if qty <= 0:
        raise ValueError(f"{kind}: qty must be > 0, got {qty}")
    if not isinstance(side, OrderSide):
        raise ValueError(f"{kind}: side must be an OrderSide, got {side!r}")


_TRIGGERED: Final = SynthState.TRIGGERED


class Kind(IntEnum):
    DIRECT = 0
    STOP = 1
    TAKE_PROFIT = 2
    TRAILING = 3
    PEG = 4


class SynthOrder:
    """The book's node of one synthetic order (see the module docstring)."""

    __slots__ = (
        "best",
        "budget",
        "cancel_pending",
        "children",
        "cum",
        "den",
        "flags",
        "group",
        "id",
        "instrument_id",
        "kind",
        "level",
        "min_move",
        "num",
        "offset",
        "order_type",
        "post_only",
        "prev_price",
        "price",
        "qty",
        "reason",
        "released",
        "seq",
        "side",
        "source",
        "state",
        "strategy_id",
        "tif",
        "track",
        "trigger_price",
        "up",
    )  # fmt: skip

    def __init__(
        self,
        kind: Kind,
        order_id: int,
        strategy_id: int,
        instrument_id: int,
        side: OrderSide,
        qty: int,
        order_type: OrderType,
        price: int,
        tif: TimeInForce,
        flags: IntentFlag,
        seq: int,
    ) -> None:
        self.kind = kind
        self.id = order_id
        self.strategy_id = strategy_id
        self.instrument_id = instrument_id
        self.side = side
        self.qty = qty
        self.order_type = order_type
        """The real order it releases: MARKET, LIMIT or LIMIT_MAKER."""
        self.price = price
        """The real order's limit price (0: MARKET); a peg's working price once released."""
        self.prev_price = price
        """A peg's price before its last replace: what it goes back to when the replace is refused."""
        self.tif = tif
        self.flags = flags
        self.seq = seq
        """Placement order in the book: ties between equal levels fire in it."""
        self.state = SynthState.PENDING_PARENT
        """Not armed yet: a child waits so for its parent's first fill; any other order is armed as it is placed."""
        self.reason = RejectReason.NONE
        self.cum = 0
        self.released = 0
        self.cancel_pending = False
        """A Cancel of its working real order went out and the venue has not confirmed it."""
        self.trigger_price = 0
        # trigger orders: the source, direction and level (in the source's units) of the trigger
        self.source = Source.LAST
        self.up = False
        self.level = 0
        # trailing stops: best reference price (None: none seen yet), the tracker's level, offset or ratio
        self.best: int | None = None
        self.track = 0
        self.offset = 0
        """A trailing stop's offset in the source's units; a peg's offset in ticks."""
        self.num = 0
        self.den = 1
        # pegs
        self.min_move = 0
        """Price units (``min_move_ticks × tick``)."""
        self.post_only = False
        self.budget: ReplaceBudget | None = None
        # contingent orders
        self.group: Group | None = None
        """The OCO pair, or the OTO child group, this order is a leg of."""
        self.children: list[Group] = []
        """The child groups this order is the parent of."""

    @property
    def final(self) -> bool:
        return self.state >= FINAL

    @property
    def working(self) -> bool:
        """A real order of it is (as far as the book knows) open at the venue."""
        return _TRIGGERED <= self.state < FINAL and self.cum < self.released

    @property
    def live(self) -> bool:
        """It may still change: not final, or final with a cancel the venue has not confirmed (a fill may race it)."""
        return self.state < FINAL or self.cancel_pending

    def view(self) -> StateChange:
        return StateChange(self.id, self.strategy_id, self.instrument_id, self.state, self.qty, self.cum, self.reason)

    def __repr__(self) -> str:
        return (
            f"SynthOrder(id={self.id}, {self.kind.name}, {self.side.name}, qty={self.qty}, cum={self.cum}, "
            f"released={self.released}, {self.state.name})"
        )
