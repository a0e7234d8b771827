"""Timers on the stage clock: a heap of due times, fired in order as the clock passes them.

The clock is the records' time, so a replay fires the same timers at the
same points of the record stream, every run.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass(order=True, slots=True)
class _Due:
    at: int
    order: int
    name: str = field(compare=False)
    interval: int = field(compare=False)
    token: int = field(compare=False)


class Timers:
    __slots__ = ("_count", "_heap", "_live")

    def __init__(self) -> None:
        self._heap: list[_Due] = []
        self._live: dict[str, int] = {}
        """Each timer's current token: a re-set or canceled timer's old entries are skipped."""
        self._count = 0

    def set(self, name: str, at: int, interval: int = 0) -> None:
        """Fire ``name`` at ``at`` (then every ``interval`` ns when > 0); replaces a timer of that name."""
        if interval < 0:
            raise ValueError(f"timer {name!r}: interval must be >= 0, got {interval}")
        self._count += 1
        self._live[name] = self._count
        heapq.heappush(self._heap, _Due(at, self._count, name, interval, self._count))

    def cancel(self, name: str) -> bool:
        return self._live.pop(name, None) is not None

    @property
    def next_due(self) -> int | None:
        heap = self._heap
        while heap and self._live.get(heap[0].name) != heap[0].token:
            heapq.heappop(heap)
        return heap[0].at if heap else None

    def pop_due(self, now: int) -> tuple[str, int] | None:
        """The next timer due at or before ``now`` as ``(name, due)``, re-armed if it repeats; None if none."""
        due = self.next_due
        if due is None or due > now:
            return None
        entry = heapq.heappop(self._heap)
        if entry.interval:
            self._count += 1
            heapq.heappush(
                self._heap, _Due(entry.at + entry.interval, self._count, entry.name, entry.interval, entry.token)
            )
        else:
            del self._live[entry.name]
        return entry.name, entry.at

    def __len__(self) -> int:
        return len(self._live)
