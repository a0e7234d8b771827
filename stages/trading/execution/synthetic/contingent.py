"""Contingent orders: OCO pairs, OTO children and brackets, as groups of legs sharing one quantity.

A :class:`Group` is one or two legs (any synthetic or direct orders) that
share a **target** quantity: a fixed one for an OCO, the parent's filled
quantity for the children of an OTO. With ``filled`` the legs' fills added
up, every leg still open is sized to ``cum + (target − filled)``: together
the legs never stand for more than the target.

OCO (one-cancels-other), two legs of the same quantity, both armed at once:

* a leg that **triggers** (is released) closes the group: the other leg is
  canceled (a :class:`~stages.trading.execution.synthetic.actions.Cancel` when
  it has a working real order, e.g. a resting take-profit limit; just CANCELED
  when it is still held here);
* a leg that **fills completely** closes it the same way;
* a **partial fill** of a leg (one working at the venue without having
  triggered, e.g. the resting limit) shrinks the other by the same amount:
  held here, its size changes; working at the venue, it is replaced with
  the smaller open quantity.

OTO (one-triggers-other): the children wait (PENDING_PARENT) until the
parent's first fill; then each is armed, sized to the parent's filled
quantity, and grows with every further fill of the parent (a held child just
changes size; a working one is replaced at the bigger size). Each child is a
group of its own, so a child that triggers or fills completely closes its
group. A **bracket** is an OTO whose children are one OCO pair: a stop-loss
(or trailing stop) and a take-profit (a trigger order or a resting limit).

Exits end the entry: when a child of an OTO or bracket closes its group
while the parent still has an unfilled remainder, that remainder is
canceled, so the position cannot grow behind an exit that already fired.
Should a parent fill arrive after that (it raced the cancel), the closing
leg grows by it; when that leg's real order is no longer working (a market
order, or a limit that filled), the increment is released as a new real
order under the same synthetic id: the exit condition already held.

A parent that ends without any fill (rejected, or canceled) cancels its
children; when the parent was working at the venue, only once the venue
confirms its cancel (``on_venue_closed``), as a fill may still race it. One
that ends partly filled leaves them working, sized to what filled. Canceling
a leg (the owner's ``cancel``) cancels its whole group, not the parent.

The race no synthetic OCO escapes: when both legs can fill at the venue at
once (two resting limits, or a trigger released while the sibling's cancel
is on its way), both may fill before the cancel lands. The book books every
fill the stage reports (``on_fill`` of a CANCELED leg still counts), so
positions stay right; it cannot make the overfill not happen.
"""

from __future__ import annotations

from stages.trading.execution.synthetic.orders import SynthOrder


class Group:
    """Legs sharing one target quantity: an OCO pair (``parent`` None, ``fixed`` target) or an OTO child group."""

    __slots__ = ("closer", "fixed", "legs", "parent")

    def __init__(self, legs: tuple[SynthOrder, ...], parent: SynthOrder | None, fixed: int = 0) -> None:
        self.legs = legs
        self.parent = parent
        self.fixed = fixed
        self.closer: SynthOrder | None = None
        """The leg that triggered or filled completely; the others are canceled."""
        for leg in legs:
            leg.group = self
        if parent is not None:
            parent.children.append(self)

    def target(self) -> int:
        """What the legs stand for together: the OCO's quantity, or the parent's filled quantity."""
        return self.parent.cum if self.parent is not None else self.fixed

    def filled(self) -> int:
        return sum(leg.cum for leg in self.legs)

    def open_qty(self) -> int:
        """What every open leg may still fill: ``target − filled``, not below 0."""
        return max(self.target() - self.filled(), 0)
