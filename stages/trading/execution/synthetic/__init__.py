"""Synthetic orders: stops, take-profits, trailing stops, pegs, OCO / OTO / brackets, released as real orders.

Pure and deterministic: :class:`~stages.trading.execution.synthetic.book.SyntheticBook`
is the entry point; one module per concept beside it.
The execution stage holds it through
:class:`~stages.trading.execution.synthetic_bridge.SyntheticBridge` (intents in,
released children back through risk, reports out).

Open points
-----------
* A refused re-size (a ``Replace`` that shrinks an OCO leg or grows an OTO
  child at the venue) is not undone: the book assumes the new size. A
  refused re-price puts a peg back at its previous price.
* Pegs re-price on book changes only: a move the replace rate refused waits
  for the next book change, even on a quiet book (no timer).
* A trailing stop releases a MARKET order (no trailing stop-limit) and arms
  at once (no activation price).
* The trigger price of a ``"mid"`` trigger is the mid rounded down to the
  price scale; its level (``trigger_level``) is in half-price units.
* OCO legs that can both fill at the venue may both fill before a cancel
  lands; every fill is booked, the overfill is not prevented.
"""
