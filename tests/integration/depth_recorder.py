"""A test-only terminal stage: writes every DEPTH record it receives to a JSON-lines file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from hftpipe.runtime import Agent, StageContext
from hftpipe.schema.marketdata import DEPTH_DTYPE
from hftpipe.schema.records import RecordType
from hftpipe.substrate.counters import CounterKind


class DepthRecorder(Agent):
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        path: str

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        self._in = ctx.the_input().ring
        self._received = ctx.counter(CounterKind.MESSAGES_IN)
        self._file: IO[str] = open(ctx.params.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in on_close

    def _on_record(self, buf: memoryview, offset: int) -> None:
        if buf[offset] | (buf[offset + 1] << 8) != RecordType.DEPTH:
            return
        record: Any = np.frombuffer(buf, dtype=DEPTH_DTYPE, count=1, offset=offset)[0]
        n = int(record["levels"])
        line = {
            "instrument": int(record["instrument"]),
            "update_id": int(record["update_id"]),
            "state": int(record["book_state"]),
            "bids": [
                [int(p), int(q)] for p, q in zip(record["bid_price"][:n], record["bid_qty"][:n], strict=True) if q
            ],
            "asks": [
                [int(p), int(q)] for p, q in zip(record["ask_price"][:n], record["ask_qty"][:n], strict=True) if q
            ],
        }
        self._file.write(json.dumps(line) + "\n")

    def do_work(self) -> int:
        count = self._in.poll(self._on_record, 256)
        if count:
            self._received.add(count)
        return count

    def on_close(self) -> None:
        self._file.close()
