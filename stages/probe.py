"""Latency-probe stages: a paced source, relays and a sink.

They carry nothing but the record header, so what they measure is the
substrate itself: ring transit per hop and source-to-sink end to end. They
are the benchmark topology (``configs/probe.toml``), and the sink ends the
default market-data pipeline. Their ports stamp and measure each hop; the
sink measures end to end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from hftpipe.runtime import Agent, StageContext
from hftpipe.runtime.validation import at_least, within
from hftpipe.schema import SPECS
from hftpipe.schema.records import I64, SEQ_OFFSET, TS_ORIGIN_OFFSET, U64, RecordType
from hftpipe.substrate.counters import CounterKind

_PROBE = SPECS[RecordType.PROBE]
_PROBE_TYPE: Final = int(RecordType.PROBE)
_MAX_INSTRUMENT: Final = 2**32 - 1
"""The header's instrument id is a u32."""


def _fits_probe_records(ring_name: str, slot_size: int) -> None:
    if slot_size < _PROBE.itemsize:
        raise ValueError(
            f"ring {ring_name} slots ({slot_size} B) are smaller than a {_PROBE.itemsize}-byte probe record"
        )


class ProbeSource(Agent):
    """Emits probe records at ``rate`` per second (0: as fast as the ring takes them)."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        rate: int = 10_000
        max_burst: int = 64
        """Records sent at once to catch up after a late wake-up; bounds the burst."""
        instrument: int = 1

        def __post_init__(self) -> None:
            if self.rate < 0:
                raise ValueError("rate must be >= 0 (0 = unpaced)")
            if self.max_burst < 1:
                raise ValueError("max_burst must be >= 1")
            within("instrument", self.instrument, 0, _MAX_INSTRUMENT)

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params = ctx.params or self.Params()
        out = ctx.output_port()
        _fits_probe_records(out.ring.name, out.ring.slot_size)
        self._claim = out.claim
        self._commit = out.commit
        self._buf = out.buffer
        self._pack = _PROBE.packer.pack_into
        self._interval_ns = 1_000_000_000 // params.rate if params.rate else 0
        self._max_burst = params.max_burst
        self._instrument = params.instrument
        self._seq = ctx.counter(CounterKind.MESSAGES_OUT).value  # a restarted source continues the sequence
        self._next_due = 0

    def on_start(self) -> None:
        self._next_due = time.monotonic_ns()

    def do_work(self) -> int:
        clock = time.monotonic_ns
        now = clock()
        if now < self._next_due:
            return 0
        claim, commit, pack, buf = self._claim, self._commit, self._pack, self._buf
        instrument, interval, max_burst = self._instrument, self._interval_ns, self._max_burst
        seq = self._seq
        next_due = self._next_due
        sent = 0
        while sent < max_burst and now >= next_due:
            offset = claim()
            if offset < 0:
                break
            pack(buf, offset, _PROBE_TYPE, 0, instrument, seq, 0, now, 0, 0, 0, 0)
            commit(offset, now)
            seq += 1
            sent += 1
            next_due += interval
            now = clock()
        if next_due < now - interval * max_burst:
            next_due = now  # too far behind: skip ahead rather than burst forever
        self._seq = seq
        self._next_due = next_due
        return sent


class ProbeRelay(Agent):
    """Forwards each record unchanged but for its own hop stamp (its ports measure and stamp)."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        batch: int = 64

        def __post_init__(self) -> None:
            at_least("batch", self.batch, 1)

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params = ctx.params or self.Params()
        port = ctx.input_port()
        out = ctx.output_port()
        _fits_probe_records(port.ring.name, port.ring.slot_size)
        if out.ring.slot_size < port.ring.slot_size:
            raise ValueError(
                f"ring {out.ring.name} slots ({out.ring.slot_size} B) are smaller than those it forwards "
                f"from ring {port.ring.name} ({port.ring.slot_size} B)"
            )
        self._poll = port.poll
        self._offer = out.offer
        self._room = out.room
        self._size = port.ring.slot_size
        self._batch = params.batch

    def _forward(self, buf: memoryview, offset: int, now: int) -> None:
        self._offer(buf[offset : offset + self._size], now)

    def do_work(self) -> int:
        free = self._room()
        if free <= 0:
            return 0
        return self._poll(self._forward, min(self._batch, free))


class ProbeSink(Agent):
    """Measures end to end (its port measures the hop); counts sequence gaps and repeats."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        batch: int = 256

        def __post_init__(self) -> None:
            at_least("batch", self.batch, 1)

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params = ctx.params or self.Params()
        port = ctx.input_port()
        _fits_probe_records(port.ring.name, port.ring.slot_size)
        self._poll = port.poll
        self._record_e2e = ctx.end_to_end.record
        self._batch = params.batch
        self._gaps = ctx.counters.add("sequence_gaps")
        self._repeats = ctx.counters.add("sequence_repeats")
        self._expected = -1

    def _consume(self, buf: memoryview, offset: int, now: int) -> None:
        self._record_e2e(now - I64.unpack_from(buf, offset + TS_ORIGIN_OFFSET)[0])
        seq = U64.unpack_from(buf, offset + SEQ_OFFSET)[0]
        expected = self._expected
        if expected >= 0 and seq != expected:
            if seq > expected:
                self._gaps.add(seq - expected)
                self.ctx.errors.record("probe sequence gap")
            else:
                self._repeats.add()
                self.ctx.errors.record("probe sequence repeated (upstream restart replays)")
        self._expected = seq + 1 if seq + 1 > expected else expected

    def do_work(self) -> int:
        return self._poll(self._consume, self._batch)
