"""Sorted trigger levels of one direction: the next level to be reached at the end of a list.

The layout is the exchange core's :class:`~stages.exchange.core.order_book.PriceLadder`
idea: entries are ``(key, -seq, item)`` in ascending order, where the key is
the level for levels that fire **down** (at ``ref <= level``: the highest
goes first) and ``-level`` for levels that fire **up** (at ``ref >= level``:
the lowest goes first). Either way the next level to be reached is
``entries[-1]``, and taking a reached entry is ``list.pop()``. Adding and
removing are a ``bisect`` plus a memmove. The next level is also kept as a
plain int, :attr:`LevelQueue.next` (a level no price reaches when the queue
is empty), so the question every market update asks, "is anything
reached?", is one comparison of two ints: no call, no allocation.

``-seq`` breaks ties between equal levels in placement order (the earlier
order has the larger ``-seq``, so it sits nearer the end and fires first),
and makes ``(key, -seq)`` unique, so the items themselves are never compared.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Final, Generic, TypeVar

T = TypeVar("T")

NEVER: Final = 1 << 66
"""Past any int64 price (and any MID reference, twice a price): the next level of an empty up queue;
``-NEVER`` is a down queue's."""


class LevelQueue(Generic[T]):
    """Levels that fire up (``up=True``: at ``ref >= level``) or down (at ``ref <= level``); inclusive."""

    __slots__ = ("entries", "next", "sign", "up")

    def __init__(self, up: bool) -> None:
        self.up = up
        self.sign = -1 if up else 1
        self.entries: list[tuple[int, int, T]] = []
        self.next = NEVER if up else -NEVER
        """The next level to be reached; ``ref >= next`` (up) or ``ref <= next`` (down) means something is."""

    def _moved(self) -> None:
        entries = self.entries
        if entries:
            self.next = self.sign * entries[-1][0]
        else:
            self.next = NEVER if self.up else -NEVER

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, level: int, seq: int, item: T) -> None:
        insort(self.entries, (self.sign * level, -seq, item))
        self._moved()

    def remove(self, level: int, seq: int) -> None:
        """Remove the entry added with ``level`` and ``seq`` (it must be there)."""
        entries = self.entries
        index = bisect_left(entries, (self.sign * level, -seq))
        if index == len(entries) or entries[index][1] != -seq:
            raise KeyError(f"no level {level} of seq {seq}")
        del entries[index]
        self._moved()

    def reached(self, ref: int) -> bool:
        """Whether ``ref`` reaches the next level: O(1), allocates nothing (hot paths read :attr:`next` inline)."""
        return ref >= self.next if self.up else ref <= self.next

    def pop(self) -> T:
        """Take the next level's item (call only when :meth:`reached`)."""
        item = self.entries.pop()[2]
        self._moved()
        return item

    def levels(self) -> list[int]:
        """The levels, next to be reached first (for inspection and tests)."""
        return [self.sign * key for key, _, _ in reversed(self.entries)]
