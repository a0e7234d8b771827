"""Latency-probe stages: a paced source, relays and a sink.

They carry nothing but the record header, so what they measure is the
substrate itself: ring transit per hop and source-to-sink end to end. They
are the default pipeline until the market-data stages run it, and stay as the
benchmark topology afterwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hftpipe.runtime import Agent, StageContext
from hftpipe.schema import SPECS
from hftpipe.schema.records import I64, SEQ_OFFSET, TS_HOP_OFFSET, TS_ORIGIN_OFFSET, U64, RecordType
from hftpipe.substrate.counters import CounterKind

_PROBE = SPECS[RecordType.PROBE]


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

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params = ctx.params or self.Params()
        self._out = ctx.the_output()
        if self._out.slot_size < _PROBE.itemsize:
            raise ValueError(f"ring {self._out.name} slots are smaller than a probe record")
        self._interval_ns = 1_000_000_000 // params.rate if params.rate else 0
        self._max_burst = params.max_burst
        self._instrument = params.instrument
        self._pack = _PROBE.packer.pack_into
        self._buf = self._out.buffer
        self._sent = ctx.counter(CounterKind.MESSAGES_OUT)
        self._backpressure = ctx.counter(CounterKind.BACKPRESSURE)
        self._seq = self._sent.value  # a restarted source continues the sequence
        self._hop = ctx.hop
        self._next_due = 0

    def on_start(self) -> None:
        self._next_due = time.monotonic_ns()

    def do_work(self) -> int:
        now = time.monotonic_ns()
        if now < self._next_due:
            return 0
        sent = 0
        while sent < self._max_burst and now >= self._next_due:
            offset = self._out.try_claim()
            if offset < 0:
                self._backpressure.add()
                break
            hops = [0, 0, 0, 0]
            hops[self._hop] = now
            self._pack(self._buf, offset, RecordType.PROBE, 0, self._instrument, self._seq, 0, now, *hops)
            self._out.commit()
            self._seq += 1
            sent += 1
            self._next_due += self._interval_ns
            now = time.monotonic_ns()
        if self._next_due < now - self._interval_ns * self._max_burst:
            self._next_due = now  # too far behind: skip ahead rather than burst forever
        if sent:
            self._sent.add(sent)
        return sent


class ProbeRelay(Agent):
    """Measures its input hop, stamps its own hop, forwards the record unchanged."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        batch: int = 64

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params = ctx.params or self.Params()
        port = ctx.the_input()
        self._in = port.ring
        self._out = ctx.the_output()
        self._record_hop = port.hop_histogram.record
        self._in_stamp = TS_HOP_OFFSET + 8 * port.producer_hop
        self._out_stamp = TS_HOP_OFFSET + 8 * ctx.hop
        self._size = self._in.slot_size
        self._batch = params.batch
        self._received = ctx.counter(CounterKind.MESSAGES_IN)
        self._forwarded = ctx.counter(CounterKind.MESSAGES_OUT)
        self._backpressure = ctx.counter(CounterKind.BACKPRESSURE)

    def _forward(self, buf: memoryview, offset: int) -> None:
        now = time.monotonic_ns()
        self._record_hop(now - I64.unpack_from(buf, offset + self._in_stamp)[0])
        I64.pack_into(buf, offset + self._out_stamp, now)
        self._out.offer(buf[offset : offset + self._size])

    def do_work(self) -> int:
        free = self._out.remaining_capacity()
        if free <= 0:
            self._backpressure.add()
            return 0
        count = self._in.poll(self._forward, min(self._batch, free))
        if count:
            self._received.add(count)
            self._forwarded.add(count)
        return count


class ProbeSink(Agent):
    """Measures its input hop and end to end; counts sequence gaps and repeats."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        batch: int = 256

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params = ctx.params or self.Params()
        port = ctx.the_input()
        self._in = port.ring
        self._record_hop = port.hop_histogram.record
        self._record_e2e = ctx.end_to_end.record
        self._in_stamp = TS_HOP_OFFSET + 8 * port.producer_hop
        self._batch = params.batch
        self._received = ctx.counter(CounterKind.MESSAGES_IN)
        self._gaps = ctx.counters.add("sequence_gaps")
        self._repeats = ctx.counters.add("sequence_repeats")
        self._expected = -1

    def _consume(self, buf: memoryview, offset: int) -> None:
        now = time.monotonic_ns()
        self._record_hop(now - I64.unpack_from(buf, offset + self._in_stamp)[0])
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
        count = self._in.poll(self._consume, self._batch)
        if count:
            self._received.add(count)
        return count
