"""Start-up: the journal is replayed through the engines before any gateway command is taken.

:class:`Phase` is where the accounting stage is in that; :class:`JournalCursor`
reads the journal a chunk at a time, one command after the other.
"""

from __future__ import annotations

from enum import Enum, auto
from typing import Any, Final

from hftpipe.schema.exchange import EX_RECORD_SIZE
from hftpipe.schema.exchange_codec import unpack_command
from stages.exchange.accounting.journal import Journal

REPLAY_CHUNK: Final = 1024
"""Journal records read at once during replay."""


class Phase(Enum):
    """START -> REPLAY (the first duty cycle) -> LIVE (every replayed command's events are back)."""

    START = auto()
    """The journal is open; nothing was replayed yet."""
    REPLAY = auto()
    """Journaled commands go to the engines, flagged REPLAY; the gateway ring is not read."""
    LIVE = auto()
    """Gateway commands are accepted."""


class JournalCursor:
    """The journaled commands in order, read ``chunk`` records at a time."""

    def __init__(self, journal: Journal, chunk: int = REPLAY_CHUNK) -> None:
        self._journal = journal
        self._chunk_records = chunk
        self.total = 0
        """Records to replay (the journal's count when it was opened)."""
        self.position = 0
        """Records replayed so far."""
        self._chunk = b""
        self._chunk_start = 0

    @property
    def done(self) -> bool:
        return self.position >= self.total

    def peek(self) -> list[Any]:
        """The next command (call only while not :attr:`done`), as a mutable item list."""
        index = self.position - self._chunk_start
        if index * EX_RECORD_SIZE >= len(self._chunk):
            self._chunk = self._journal.read(self.position, self._chunk_records)
            self._chunk_start = self.position
            index = 0
        return list(unpack_command(self._chunk, index * EX_RECORD_SIZE))

    def advance(self) -> None:
        """The command :meth:`peek` returned was replayed."""
        self.position += 1

    def release(self) -> None:
        """Replay is over: drop the last chunk read."""
        self._chunk = b""
