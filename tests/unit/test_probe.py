"""stages/probe.py: the latency-probe source, relay and sink, stepped one duty cycle at a time."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from hftpipe.runtime import AgentInvoker, InputPort, StageContext
from hftpipe.runtime.wiring import ring_segment_name
from hftpipe.schema import SPECS
from hftpipe.schema.records import RecordType
from hftpipe.substrate.control import ControlFile, RingEntry
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.ring import Ring
from stages.probe import ProbeRelay, ProbeSink, ProbeSource

PROBE = SPECS[RecordType.PROBE]
STAGES = ["source", "relay", "sink"]


@dataclass
class Probes:
    control: ControlFile
    source: StageContext
    relay: StageContext
    sink: StageContext


@pytest.fixture
def probes(pipeline_name: str) -> Iterator[Probes]:
    """source -(a)-> relay -(b)-> sink, rings of 8 probe slots, each end its own attached handle."""
    entries = [RingEntry("a", 8, PROBE.itemsize, 0, 1, 0), RingEntry("b", 8, PROBE.itemsize, 1, 2, 1)]
    control = ControlFile.create(pipeline_name, STAGES, entries)
    with contextlib.ExitStack() as stack:
        stack.callback(control.segment.unlink)
        stack.callback(control.close)
        owned = {}
        for entry in entries:
            ring = Ring.create(ring_segment_name(pipeline_name, entry.name), entry.capacity, entry.slot_size)
            stack.callback(ring.unlink)
            stack.callback(ring.close)
            owned[entry.name] = ring
        source = StageContext.of(control, "source", 0, ProbeSource.Params(rate=0, max_burst=5))
        relay = StageContext.of(control, "relay", 1)
        sink = StageContext.of(control, "sink", 2)
        for ctx in (source, relay, sink):
            stack.callback(ctx.close)
        source.outputs["a"] = Ring.attach(owned["a"].name)
        relay.inputs["a"] = InputPort(
            Ring.attach(owned["a"].name), control.hop_histogram(0), 0, relay.counter(CounterKind.MESSAGES_IN)
        )
        relay.outputs["b"] = Ring.attach(owned["b"].name)
        sink.inputs["b"] = InputPort(
            Ring.attach(owned["b"].name), control.hop_histogram(1), 1, sink.counter(CounterKind.MESSAGES_IN)
        )
        yield Probes(control, source, relay, sink)


def _started(agent: ProbeSource | ProbeRelay | ProbeSink) -> AgentInvoker:
    invoker = AgentInvoker(agent)
    invoker.start()
    return invoker


def test_should_carry_every_probe_from_source_to_sink_in_order(probes: Probes) -> None:
    source = _started(ProbeSource(probes.source))
    relay = _started(ProbeRelay(probes.relay))
    sink = _started(ProbeSink(probes.sink))
    for _ in range(40):
        source.invoke()
        relay.invoke()
        sink.invoke()
    # Unpaced, each duty cycle moves one burst of 5 all the way through.
    assert probes.control.read_counters(0)["messages_out"] == 200
    assert probes.control.read_counters(1)["messages_in"] == probes.control.read_counters(1)["messages_out"] == 200
    sink_counters = probes.control.read_counters(2)
    assert sink_counters["messages_in"] == 200
    assert sink_counters["sequence_gaps"] == sink_counters["sequence_repeats"] == 0
    assert probes.control.read_hop_histogram(0).count == 200
    assert probes.control.read_hop_histogram(1).count == 200
    assert probes.control.read_end_to_end_histogram(2).count == 200
    assert probes.control.read_errors(2) == []


def test_should_count_backpressure_when_the_ring_is_full(probes: Probes) -> None:
    source = _started(ProbeSource(probes.source))
    assert source.invoke() == 5
    assert source.invoke() == 3  # the 8-slot ring fills
    assert source.invoke() == 0
    counters = probes.control.read_counters(0)
    assert (counters["messages_out"], counters["backpressure"]) == (8, 2)


def test_should_stamp_sequence_numbers_from_zero(probes: Probes) -> None:
    source = _started(ProbeSource(probes.source))
    source.invoke()
    out = PROBE.zeros(8)
    assert probes.relay.inputs["a"].ring.poll_into(out) == 5
    assert out["seq"][:5].tolist() == [0, 1, 2, 3, 4]
    assert (out["rtype"][:5] == int(RecordType.PROBE)).all()
    assert (out["ts_hop"][:5, 0] == out["ts_origin"][:5]).all()


def test_should_record_a_gap_when_the_sink_sees_a_sequence_jump(probes: Probes) -> None:
    sink = _started(ProbeSink(probes.sink))
    ring = probes.relay.outputs["b"]
    for seq in (0, 1, 5, 5):
        record = PROBE.zeros(1)
        record["seq"] = seq
        assert ring.offer(record.tobytes())
    assert sink.invoke() == 4
    counters = probes.control.read_counters(2)
    assert (counters["sequence_gaps"], counters["sequence_repeats"]) == (3, 1)
    assert [(e.message, e.count) for e in probes.control.read_errors(2)] == [
        ("probe sequence gap", 1),
        ("probe sequence repeated (upstream restart replays)", 1),
    ]


def test_should_continue_the_sequence_after_a_source_restart(probes: Probes) -> None:
    _started(ProbeSource(probes.source)).invoke()
    restarted = _started(ProbeSource(probes.source))  # same counter block: messages_out is 5
    assert restarted.invoke() == 3
    out = PROBE.zeros(8)
    assert probes.relay.inputs["a"].ring.poll_into(out) == 8
    assert out["seq"].tolist() == list(range(8))


def test_should_stamp_each_hop_with_the_time_the_relay_took_the_record_and_measure_it(probes: Probes) -> None:
    source = _started(ProbeSource(probes.source))
    relay = _started(ProbeRelay(probes.relay))
    source.invoke()
    relay.invoke()
    out = PROBE.zeros(8)
    assert probes.sink.inputs["b"].ring.poll_into(out) == 5
    hops = out["ts_hop"][:5]
    assert (hops[:, 0] == out["ts_origin"][:5]).all()
    assert (hops[:, 1] >= hops[:, 0]).all()
    assert (hops[:, 2:] == 0).all()
    waited = hops[:, 1] - hops[:, 0]
    measured = probes.control.read_hop_histogram(0)
    assert (measured.count, measured.min_value, measured.max_value) == (5, int(waited.min()), int(waited.max()))
