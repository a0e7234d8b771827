"""ports.py: input ports measure each hop and count records in; output ports stamp their hop and count out."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from hftpipe.runtime import StageContext
from hftpipe.runtime.config import parse_config
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.schema import SPECS
from hftpipe.schema.records import RecordType
from hftpipe.substrate.control import ControlFile

PROBE = SPECS[RecordType.PROBE]
CAPACITY = 8


@dataclass
class Line:
    """up -(in)-> me -(out)-> down, wired as a stage process wires itself; ``me`` is at hop 1."""

    owned: OwnedObjects
    up: StageContext
    me: StageContext
    down: StageContext

    @property
    def control(self) -> ControlFile:
        return self.owned.control

    def counters(self, stage: str) -> dict[str, int]:
        return self.control.read_counters(self.control.stage_index(stage))


@pytest.fixture
def line(pipeline_name: str) -> Iterator[Line]:
    config = parse_config(
        {
            "pipeline": {"name": pipeline_name},
            "stages": {
                "up": {"class": "stages.probe:ProbeSource"},
                "me": {"class": "stages.probe:ProbeRelay"},
                "down": {"class": "stages.probe:ProbeSink"},
            },
            "rings": [
                {"name": "in", "from": "up", "to": "me", "capacity": CAPACITY, "slot_size": PROBE.itemsize},
                {"name": "out", "from": "me", "to": "down", "capacity": CAPACITY, "slot_size": PROBE.itemsize},
            ],
        },
        allowed_cpus={0, 1},
    )
    owned = create_pipeline_objects(config)
    contexts = [open_stage_context(config, owned.control, stage) for stage in ("up", "me", "down")]
    try:
        yield Line(owned, *contexts)
    finally:
        for ctx in contexts:
            ctx.close()
        owned.destroy()


def _publish_upstream(line: Line, seqs: range, stamp: int) -> None:
    """``up`` publishes probes whose ts_hop[0] is ``stamp - seq`` (its port stamps ts_hop[0])."""
    out = line.up.output_port()
    for seq in seqs:
        offset = out.claim()
        assert offset >= 0
        PROBE.packer.pack_into(out.buffer, offset, RecordType.PROBE, 0, 1, seq, 0, 77, 0, 0, 0, 0)
        out.commit(offset, stamp - seq)


def _drain(ctx: StageContext) -> np.ndarray:
    records = PROBE.zeros(CAPACITY)
    return records[: ctx.input_port().ring.poll_into(records)]


def test_should_hand_each_record_with_the_time_it_was_taken_and_record_that_hop(line: Line) -> None:
    stamp = time.monotonic_ns()  # the histogram tracks up to ~68 s: stamp as a producer would
    _publish_upstream(line, range(5), stamp)
    taken: list[tuple[int, int]] = []
    port = line.me.input_port("in")

    def handler(buf: memoryview, offset: int, now: int) -> None:
        taken.append((int.from_bytes(buf[offset + 8 : offset + 16], "little"), now))

    assert port.poll(handler, 3) == 3
    assert port.poll(handler, 10) == 2
    assert port.poll(handler, 10) == 0
    assert [seq for seq, _ in taken] == [0, 1, 2, 3, 4]
    waited = [now - (stamp - seq) for seq, now in taken]
    hop = line.control.read_hop_histogram(0)
    assert (hop.count, hop.min_value, hop.max_value) == (5, min(waited), max(waited))
    assert line.counters("me")["messages_in"] == 5
    assert line.control.read_hop_histogram(1).count == 0


def test_should_stamp_only_its_own_hop_on_commit_and_count_it_out(line: Line) -> None:
    out = line.me.output_port()
    assert out.hop == 1
    offset = out.claim()
    PROBE.packer.pack_into(out.buffer, offset, RecordType.PROBE, 3, 9, 41, 5, 6, 11, 12, 13, 14)
    out.commit(offset, 999)
    assert out.offer(PROBE.packer.pack(RecordType.PROBE, 3, 9, 42, 5, 6, 21, 22, 23, 24), 555)
    records = _drain(line.down)
    assert records["seq"].tolist() == [41, 42]
    assert records["ts_hop"].tolist() == [[11, 999, 13, 14], [21, 555, 23, 24]]
    assert (records["flags"].tolist(), records["ts_venue"].tolist(), records["ts_origin"].tolist()) == (
        [3, 3],
        [5, 5],
        [6, 6],
    )
    counters = line.counters("me")
    assert (counters["messages_out"], counters["backpressure"]) == (2, 0)


def test_should_say_where_its_stamp_goes_and_count_records_published_past_commit(line: Line) -> None:
    out = line.me.output_port()
    item = out.stamp_item(6)  # PROBE: rtype, flags, instrument, seq, ts_venue, ts_origin, ts_hop[0..3]
    assert item == 7
    fields = [RecordType.PROBE, 3, 9, 41, 5, 6, 11, 12, 13, 14]
    fields[item] = 999
    for seq in (41, 42):
        offset = out.ring.try_claim()
        fields[3] = seq
        PROBE.packer.pack_into(out.buffer, offset, *fields)
        out.ring.commit()
    out.count_sent(2)
    out.count_sent(0)
    records = _drain(line.down)
    assert records["seq"].tolist() == [41, 42]
    assert records["ts_hop"].tolist() == [[11, 999, 13, 14], [11, 999, 13, 14]]
    assert line.counters("me")["messages_out"] == 2


def test_should_give_a_source_packers_that_stamp_its_own_hop_and_zero_the_others(line: Line) -> None:
    for ctx, hops in ((line.up, [777, 0, 0, 0]), (line.me, [0, 777, 0, 0])):
        record = bytearray(b"\xff" * PROBE.itemsize)
        ctx.output_port().packer(PROBE).pack_into(record, 0, RecordType.PROBE, 3, 9, 41, 5, 6, 777)
        assert record == PROBE.packer.pack(RecordType.PROBE, 3, 9, 41, 5, 6, *hops)


def test_should_count_backpressure_once_per_refused_claim_offer_or_short_room(line: Line) -> None:
    out = line.me.output_port()
    record = PROBE.zeros(1).tobytes()
    assert out.room() == CAPACITY
    assert out.room(CAPACITY) == CAPACITY
    assert line.counters("me")["backpressure"] == 0
    for _ in range(CAPACITY):
        assert out.offer(record, 1)
    assert out.claim() == -1
    assert not out.offer(record, 1)
    assert out.room() == 0
    counters = line.counters("me")
    assert (counters["messages_out"], counters["backpressure"]) == (CAPACITY, 3)
    _drain(line.down)
    assert out.room(CAPACITY + 1) == CAPACITY
    assert line.counters("me")["backpressure"] == 4


def test_should_give_a_stage_one_output_port_per_ring(line: Line) -> None:
    assert line.me.output_port() is line.me.output_port("out")
    assert line.me.output_port().ring is line.me.outputs["out"] is line.me.the_output()
    assert line.me.input_port() is line.me.inputs["in"] is line.me.the_input()


def test_should_name_the_rings_a_stage_has_when_asked_for_one_it_lacks(line: Line) -> None:
    with pytest.raises(RuntimeError, match=re.escape("stage 'me' has no output ring 'in' (it has: out)")):
        line.me.output_port("in")
    with pytest.raises(RuntimeError, match=re.escape("stage 'up' has no input ring 'x' (it has: none)")):
        line.up.input_port("x")
    with pytest.raises(RuntimeError, match=re.escape("stage 'up' needs exactly one input ring, has 0")):
        line.up.input_port()


def test_should_take_a_record_only_once_its_handler_is_done_and_stop_where_it_says(line: Line) -> None:
    stamp = time.monotonic_ns()
    _publish_upstream(line, range(6), stamp)
    port = line.me.input_port()
    seen: list[tuple[int, int]] = []

    def stop_after_seq_1(buf: memoryview, offset: int, now: int) -> bool:
        seq = int.from_bytes(buf[offset + 8 : offset + 16], "little")
        seen.append((seq, now))
        return seq == 1

    assert port.poll_until(stop_after_seq_1, 10) == 2
    assert port.ring.consumer_position == 2 and line.counters("me")["messages_in"] == 2  # the rest wait
    assert port.poll_until(lambda buf, offset, now: False, 3) == 3
    assert [seq for seq, _ in seen] == [0, 1]
    waited = [now - (stamp - seq) for seq, now in seen]
    hop = line.control.read_hop_histogram(0)
    assert hop.count == 5 and hop.min_value <= min(waited) and hop.max_value >= max(waited)

    def fail(buf: memoryview, offset: int, now: int) -> bool:
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        port.poll_until(fail, 10)
    assert port.ring.consumer_position == 6  # the failed record is taken: it is never handed over twice
    assert line.counters("me")["messages_in"] == 6 and line.control.read_hop_histogram(0).count == 6
    assert port.poll_until(fail, 10) == 0
