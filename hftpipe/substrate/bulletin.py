"""Short texts in shared memory that one writer replaces and anyone may read: a seqlock per slot.

Two uses in the control file: each stage's **status** (a small JSON object a
stage publishes about itself, e.g. the risk stage's trading state and who set
it) and the **operator requests** (what ``hftpipe trading halt`` asks of the
pipeline). A slot is::

     0 +--------------------------------------------+
       | sequence (u64): odd while being written     |
     8 | length (u64)                                |
    16 | text (UTF-8, up to size - 16 bytes)         |
       +--------------------------------------------+

The writer bumps the sequence to odd, writes length and text, then bumps it
to even; a reader copies length and text between two reads of the sequence
and retries when they differ or are odd. Plain aligned 8-byte stores keep
this order on x86-64 (see :mod:`hftpipe.substrate.ring`). Readers never
block the writer; a reader that keeps losing the race gives up after a few
tries and reports nothing rather than spin.
"""

from __future__ import annotations

from typing import Final

BULLETIN_HEADER: Final = 16
_READ_TRIES: Final = 64


class Bulletin:
    """One slot at ``offset`` (``size`` bytes, header included) of a mapping."""

    __slots__ = ("_buf", "_len_word", "_offset", "_seq_word", "_w", "capacity")

    def __init__(self, words: memoryview, buf: memoryview, offset: int, size: int) -> None:
        if offset % 8 or size <= BULLETIN_HEADER:
            raise ValueError(f"bulletin slot at {offset} of {size} bytes: misaligned or too small")
        self._w = words
        self._buf = buf
        self._offset = offset
        self._seq_word = offset // 8
        self._len_word = offset // 8 + 1
        self.capacity = size - BULLETIN_HEADER
        """The longest text, in bytes."""

    @property
    def sequence(self) -> int:
        """How many times it was written, × 2 (odd: a write is under way). One load: cheap to poll."""
        return int(self._w[self._seq_word])

    def write(self, text: str) -> int:
        """Replace the text (single writer); the new (even) sequence. Too long a text is refused."""
        encoded = text.encode()
        if len(encoded) > self.capacity:
            raise ValueError(f"bulletin text of {len(encoded)} bytes exceeds the slot's {self.capacity}")
        seq = int(self._w[self._seq_word])
        if seq & 1:  # a writer died mid-write: start from the next even number
            seq += 1
        self._w[self._seq_word] = seq + 1
        start = self._offset + BULLETIN_HEADER
        self._buf[start : start + len(encoded)] = encoded
        self._w[self._len_word] = len(encoded)
        self._w[self._seq_word] = seq + 2
        return seq + 2

    def read(self) -> tuple[int, str] | None:
        """``(sequence, text)`` as last written completely; None if never written or the writer kept it busy."""
        start = self._offset + BULLETIN_HEADER
        for _ in range(_READ_TRIES):
            before = int(self._w[self._seq_word])
            if before & 1:
                continue
            length = min(int(self._w[self._len_word]), self.capacity)
            data = bytes(self._buf[start : start + length])
            if int(self._w[self._seq_word]) == before:
                return (before, data.decode(errors="replace")) if before else None
        return None
