"""A small log of *distinct* errors per writer: a repeat bumps a count, never a new line.

A stage that hits the same malformed message a million times must not flood
anything: the first occurrence is kept with its time, later ones only count.
When all entries are taken, further distinct errors are counted in the last
entry, relabelled so that nothing is lost silently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hftpipe.substrate.control_layout import (
    ERROR_COUNT,
    ERROR_ENTRY_SIZE,
    ERROR_FIRST_NS,
    ERROR_LAST_NS,
    ERROR_LENGTH,
    ERROR_MESSAGE,
    ERROR_MESSAGE_BYTES,
    ERRORS_PER_BLOCK,
)

OVERFLOW_MESSAGE = "(further distinct errors)"


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    message: str
    count: int
    first_wall_ns: int
    last_wall_ns: int


class ErrorLog:
    """The single writer's handle on one block of entries."""

    def __init__(self, words: memoryview, buf: memoryview, block_offset: int) -> None:
        self._w = words
        self._buf = buf
        self._offset = block_offset
        self._slots: dict[str, int] = {}
        for index, entry in enumerate(read_error_block(buf, block_offset)):
            self._slots[entry.message] = index  # continue counting after a restart

    def record(self, message: str) -> None:
        encoded = message.encode(errors="replace")[:ERROR_MESSAGE_BYTES]
        key = encoded.decode(errors="ignore")
        encoded = key.encode()  # never store half a character: a restart must find the same key
        now = time.time_ns()
        index = self._slots.get(key)
        if index is None:
            index = len(self._slots)
            if index >= ERRORS_PER_BLOCK - 1:
                index = ERRORS_PER_BLOCK - 1
                key, encoded = OVERFLOW_MESSAGE, OVERFLOW_MESSAGE.encode()
            if key not in self._slots:
                self._write_new(index, encoded, now)
                self._slots[key] = index
        base = (self._offset + index * ERROR_ENTRY_SIZE) // 8
        self._w[base + ERROR_LAST_NS // 8] = now
        self._w[base + ERROR_COUNT // 8] += 1

    def _write_new(self, index: int, encoded: bytes, now: int) -> None:
        entry = self._offset + index * ERROR_ENTRY_SIZE
        self._buf[entry + ERROR_MESSAGE : entry + ERROR_ENTRY_SIZE] = encoded.ljust(ERROR_MESSAGE_BYTES, b"\0")
        self._w[(entry + ERROR_LENGTH) // 8] = len(encoded)
        self._w[(entry + ERROR_FIRST_NS) // 8] = now
        self._w[(entry + ERROR_COUNT) // 8] = 0


def read_error_block(buf: memoryview, block_offset: int) -> list[ErrorEntry]:
    entries = []
    for index in range(ERRORS_PER_BLOCK):
        entry = block_offset + index * ERROR_ENTRY_SIZE
        words = buf[entry : entry + ERROR_MESSAGE].cast("q")
        length = int(words[ERROR_LENGTH // 8])
        if length <= 0:
            break
        message = bytes(buf[entry + ERROR_MESSAGE : entry + ERROR_MESSAGE + length]).decode(errors="replace")
        entries.append(
            ErrorEntry(
                message, int(words[ERROR_COUNT // 8]), int(words[ERROR_FIRST_NS // 8]), int(words[ERROR_LAST_NS // 8])
            )
        )
        words.release()
    return entries
