"""Helpers for describing shared-memory layouts as cumulative offsets.

Every segment in hftpipe is described by named byte offsets built one field
after another, so a layout is read top to bottom like the drawing in its
docstring, and a field can never silently overlap its neighbour.
"""

from __future__ import annotations

CACHE_LINE = 64
"""x86-64 cache line. Hot fields written by different processes sit on
separate *pairs* of lines (:data:`FALSE_SHARING_PAD`) because the adjacent-line
prefetcher pulls lines in 128-byte pairs."""

FALSE_SHARING_PAD = 2 * CACHE_LINE


def align_up(value: int, alignment: int) -> int:
    """Round ``value`` up to a multiple of ``alignment`` (a power of two)."""
    if alignment <= 0 or alignment & (alignment - 1):
        raise ValueError(f"alignment must be a power of two, got {alignment}")
    return (value + alignment - 1) & ~(alignment - 1)


def is_power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


class LayoutBuilder:
    """Hands out offsets in order: ``field(size, align)`` returns where it goes."""

    def __init__(self, start: int = 0) -> None:
        self._offset = start

    def field(self, size: int, align: int = 8) -> int:
        offset = align_up(self._offset, align)
        self._offset = offset + size
        return offset

    def pad_to(self, align: int) -> int:
        self._offset = align_up(self._offset, align)
        return self._offset

    @property
    def size(self) -> int:
        return self._offset
