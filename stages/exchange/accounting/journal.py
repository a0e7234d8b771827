"""The journal: an append-only file of every sequenced command, the exchange's only durable state.

Layout: a 64-byte header, then raw 256-byte EX_COMMAND records, record ``i``
(from 0) carrying header ``seq = i + 1``::

      0                8        12       16                              64
      +----------------+--------+--------+-------------------------------+
      | magic          | version| rec.sz | zero                          |
      +----------------+--------+--------+-------------------------------+
   64 | record seq 1 (256 bytes) | record seq 2 | ...

Accounting appends each batch with one ``write(2)`` before it forwards any
command of the batch, so a command an engine (or a client) has seen is in the
kernel's page cache and survives ``kill -9`` of any process;
``journal_fsync = "always"`` adds ``fdatasync`` for power loss.

Opening checks the header, truncates a torn trailing partial record (a crash
in the middle of a write; that command was never forwarded) with a warning,
and refuses a journal whose sequence numbers are not 1, 2, 3, ... The file
is created 0600 in a 0700 state directory, and locked (``flock``) so a second
accounting cannot append to it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Final

import numpy as np

from hftpipe.schema.exchange import EX_COMMAND_DTYPE, EX_RECORD_SIZE
from hftpipe.schema.records import RecordType

MAGIC: Final = b"HFTPJRNL"
VERSION: Final = 1
HEADER: Final = struct.Struct("<8sII48x")
HEADER_SIZE: Final = HEADER.size
RECORD_SIZE: Final = EX_RECORD_SIZE
_CHECK_CHUNK: Final = 65536
"""Records read at once while checking sequence continuity (16 MiB)."""

logger = logging.getLogger("hftpipe.accounting.journal")


class JournalError(RuntimeError):
    """The journal cannot be used as it is; the message says why and what to do."""


class Journal:
    """One open journal file. ``count`` records are in it; the next seq is ``count + 1``."""

    def __init__(self, path: Path, *, fsync: bool, warn: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.fsync = fsync
        self.count = 0
        self.bytes_written = 0
        self._warn = warn
        self._fd = -1

    # ------------------------------------------------------------------- opening
    def open(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise JournalError(
                    f"journal {self.path} is locked by another process (is another exchange running?)"
                ) from None
            size = os.fstat(fd).st_size
            if size < HEADER_SIZE:
                self._start(fd, size)
            else:
                self._check_header(fd)
                self.count = self._trim(fd, size)
                self._check_sequence(fd)
            os.lseek(fd, 0, os.SEEK_END)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _start(self, fd: int, size: int) -> None:
        """A new journal (or one whose header write was torn: nothing was ever journaled in it)."""
        header = HEADER.pack(MAGIC, VERSION, RECORD_SIZE)
        if size and os.pread(fd, size, 0) != header[:size]:
            raise JournalError(
                f"journal {self.path} is {size} bytes, shorter than a header, and not a journal's start; "
                "move it away if it is not needed"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, header, 0)
        os.fchmod(fd, 0o600)
        if self.fsync:
            os.fdatasync(fd)

    def _check_header(self, fd: int) -> None:
        magic, version, record_size = HEADER.unpack(os.pread(fd, HEADER_SIZE, 0))
        if magic != MAGIC:
            raise JournalError(f"journal {self.path} does not start with {MAGIC!r} (found {magic!r}): not a journal")
        if version != VERSION:
            raise JournalError(f"journal {self.path} has format version {version}; this build reads version {VERSION}")
        if record_size != RECORD_SIZE:
            raise JournalError(f"journal {self.path} has {record_size}-byte records; this build writes {RECORD_SIZE}")

    def _trim(self, fd: int, size: int) -> int:
        count, torn = divmod(size - HEADER_SIZE, RECORD_SIZE)
        if torn:
            message = (
                f"journal {self.path}: dropped a torn trailing record ({torn} of {RECORD_SIZE} bytes) "
                f"after record {count}; it was never forwarded"
            )
            logger.warning("%s", message)
            if self._warn is not None:
                self._warn(message)
            os.ftruncate(fd, HEADER_SIZE + count * RECORD_SIZE)
        return count

    def _check_sequence(self, fd: int) -> None:
        for start in range(0, self.count, _CHECK_CHUNK):
            n = min(_CHECK_CHUNK, self.count - start)
            records = np.frombuffer(self._pread_records(fd, start, n), dtype=EX_COMMAND_DTYPE)
            bad_type = np.flatnonzero(records["rtype"] != int(RecordType.EX_COMMAND))
            if len(bad_type):
                index = start + int(bad_type[0])
                rtype = int(records["rtype"][bad_type[0]])
                raise JournalError(
                    f"journal {self.path}: record {index + 1} is not a command (rtype {rtype}); the file is damaged"
                )
            expected = np.arange(start + 1, start + n + 1, dtype=np.uint64)
            gaps = np.flatnonzero(records["seq"] != expected)
            if len(gaps):
                index = start + int(gaps[0])
                raise JournalError(
                    f"journal {self.path}: record {index + 1} has seq {int(records['seq'][gaps[0]])}, expected "
                    f"{index + 1}; the journal is not continuous and replaying it would give a different exchange. "
                    "Refusing to start: restore the journal or move it away to start empty"
                )

    def _pread_records(self, fd: int, start: int, n: int) -> bytes:
        want = n * RECORD_SIZE
        data = os.pread(fd, want, HEADER_SIZE + start * RECORD_SIZE)
        if len(data) != want:
            raise JournalError(f"journal {self.path}: short read at record {start + 1}")
        return data

    # ---------------------------------------------------------------- using it
    @property
    def is_open(self) -> bool:
        return self._fd >= 0

    def read(self, start: int, n: int) -> bytes:
        """Records ``start .. start + n - 1`` (0-based; record ``i`` has seq ``i + 1``), raw."""
        n = min(n, self.count - start)
        return self._pread_records(self._fd, start, n) if n > 0 else b""

    def append(self, data: bytes | bytearray) -> None:
        """Append whole records with write(2) (looping on a short write), then fdatasync if asked."""
        if len(data) % RECORD_SIZE:
            raise ValueError(f"journal append of {len(data)} bytes is not whole {RECORD_SIZE}-byte records")
        view = memoryview(data)
        offset = HEADER_SIZE + self.count * RECORD_SIZE
        while view:
            written = os.pwrite(self._fd, view, offset)
            view = view[written:]
            offset += written
        if self.fsync:
            os.fdatasync(self._fd)
        self.count += len(data) // RECORD_SIZE
        self.bytes_written += len(data)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
