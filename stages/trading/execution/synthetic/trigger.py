"""Which price a synthetic order watches, and which way it must move to reach the level.

``trigger`` (per order, :class:`~hftpipe.schema.trading.Trigger`, the schema's: intents carry it):

* ``"last"``: the last trade price (``on_trade``);
* ``"bid_ask"``: the touch the released order would trade against, so the
  trigger means "I could now deal at the level": a buy watches the best ask,
  a sell the best bid (``on_book``);
* ``"mid"``: ``(bid + ask) / 2`` (``on_book``, two-sided books only). A mid
  can fall between ticks; it is not rounded: the book compares ``bid + ask``
  with twice the level, so reference prices of a MID watch are in
  **half-price units** (twice the price). Nothing else sees that scale.

Levels are inclusive, as risk's stops are: a reference price that reaches
the level fires, one tick short of it does not. A level fires **up** (at
``ref >= level``: a buy stop, a sell take-profit, a buy trailing stop) or
**down** (at ``ref <= level``: a sell stop, a buy take-profit, a sell
trailing stop).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from hftpipe.schema.trading import OrderSide, Trigger

__all__ = ["SOURCES", "UNITS", "Source", "Trigger", "reached", "source_of"]

class Source(IntEnum):
    """One reference price of an instrument; each has its own sorted levels."""

    LAST = 0
    BID = 1
    ASK = 2
    MID = 3
    """In half-price units: ``bid + ask``."""


SOURCES: Final = tuple(Source)

UNITS: Final = (1, 1, 1, 2)
"""By :class:`Source`: reference units per price unit (a MID level is compared as twice the price)."""


def source_of(trigger: Trigger, side: OrderSide) -> Source:
    """The reference an order on ``side`` watches under ``trigger``."""
    if trigger is Trigger.LAST:
        return Source.LAST
    if trigger is Trigger.MID:
        return Source.MID
    return Source.ASK if side is OrderSide.BUY else Source.BID


def reached(up: bool, level: int, ref: int) -> bool:
    """Whether ``ref`` reached ``level`` (both in the source's units); inclusive."""
    return ref >= level if up else ref <= level
