"""A broadcast ring wired as stage processes wire it: one output port for the producer, an input port per receiver,
losses counted and logged, doorbells rung, and every receiver's row in the reports."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import posix_ipc
import pytest

from hftpipe.cli.main import _stat_text
from hftpipe.runtime import StageContext
from hftpipe.runtime.config import parse_config
from hftpipe.runtime.report import RingReader, pipeline_report
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, open_stage_context
from hftpipe.schema import SPECS
from hftpipe.schema.records import RecordType
from hftpipe.substrate.broadcast import BroadcastReceiver, BroadcastTransmitter
from hftpipe.substrate.control import ControlFile

PROBE = SPECS[RecordType.PROBE]
CAPACITY = 8


@dataclass
class FanOut:
    """``up`` broadcasts ``md`` to ``a`` and ``b``; ``a`` also reads ``up``'s SPSC ring ``side``."""

    owned: OwnedObjects
    up: StageContext
    a: StageContext
    b: StageContext

    @property
    def control(self) -> ControlFile:
        return self.owned.control

    def counters(self, stage: str) -> dict[str, int]:
        return self.control.read_counters(self.control.stage_index(stage))

    def hop_count(self, row: str) -> int:
        index = [entry.name for entry in self.control.rings].index(row)
        return self.control.read_hop_histogram(index).count


@pytest.fixture
def fan_out(pipeline_name: str) -> Iterator[FanOut]:
    config = parse_config(
        {
            "pipeline": {"name": pipeline_name},
            "stages": {
                "up": {"class": "stages.probe:ProbeSource"},
                "a": {"class": "stages.probe:ProbeSink"},
                "b": {"class": "stages.probe:ProbeSink"},
            },
            "rings": [
                {"name": "md", "kind": "broadcast", "from": "up", "to": ["a", "b"], "capacity": CAPACITY,
                 "slot_size": PROBE.itemsize},
                {"name": "side", "from": "up", "to": "a", "capacity": CAPACITY, "slot_size": PROBE.itemsize},
            ],
        },
        allowed_cpus={0, 1},
    )  # fmt: skip
    owned = create_pipeline_objects(config)
    contexts = [open_stage_context(config, owned.control, stage) for stage in ("up", "a", "b")]
    try:
        yield FanOut(owned, *contexts)
    finally:
        for ctx in contexts:
            ctx.close()
        owned.destroy()


def _publish(fan_out: FanOut, seqs: range, stamp: int) -> None:
    out = fan_out.up.output_port("md")
    for seq in seqs:
        offset = out.claim()
        assert offset >= 0
        PROBE.packer.pack_into(out.buffer, offset, RecordType.PROBE, 0, 1, seq, 0, 77, 0, 0, 0, 0)
        out.commit(offset, stamp - seq)


def _seq(buf: memoryview, offset: int) -> int:
    return int.from_bytes(buf[offset + 8 : offset + 16], "little")


def test_should_give_the_producer_one_output_and_each_receiver_an_input_named_after_the_ring(fan_out: FanOut) -> None:
    assert list(fan_out.up.outputs) == ["md", "side"]
    assert isinstance(fan_out.up.outputs["md"], BroadcastTransmitter)
    assert fan_out.up.output_port("md").ring is fan_out.up.outputs["md"]
    assert list(fan_out.a.inputs) == ["md", "side"]
    assert list(fan_out.b.inputs) == ["md"]
    receiver_a = fan_out.a.inputs["md"].ring
    receiver_b = fan_out.b.the_input().ring
    assert isinstance(receiver_a, BroadcastReceiver) and isinstance(receiver_b, BroadcastReceiver)
    assert (receiver_a.index, receiver_b.index) == (0, 1)
    assert [entry.name for entry in fan_out.control.rings] == ["md.a", "md.b", "side"]
    assert {name: fan_out.counters(name).get("lost.md") for name in ("up", "a", "b")} == {
        "up": None,
        "a": 0,
        "b": 0,
    }


def test_should_measure_each_receivers_hop_in_its_own_histogram_and_count_it_in(fan_out: FanOut) -> None:
    stamp = time.monotonic_ns()
    _publish(fan_out, range(5), stamp)
    taken: list[tuple[int, int]] = []
    port = fan_out.a.input_port("md")
    assert port.poll(lambda buf, offset, now: taken.append((_seq(buf, offset), now)), 3) == 3
    assert port.poll(lambda buf, offset, now: taken.append((_seq(buf, offset), now)), 10) == 2
    assert [seq for seq, _ in taken] == [0, 1, 2, 3, 4]
    hop = fan_out.control.read_hop_histogram(0)
    waited = [now - (stamp - seq) for seq, now in taken]
    assert (hop.count, hop.min_value, hop.max_value) == (5, min(waited), max(waited))
    assert (fan_out.hop_count("md.a"), fan_out.hop_count("md.b")) == (5, 0)
    assert fan_out.counters("a")["messages_in"] == 5
    assert fan_out.b.input_port().poll(lambda *_: None, 10) == 5
    assert (fan_out.hop_count("md.b"), fan_out.counters("b")["messages_in"]) == (5, 5)


def test_should_never_find_the_ring_full_nor_count_backpressure(fan_out: FanOut) -> None:
    out = fan_out.up.output_port("md")
    record = PROBE.zeros(1).tobytes()
    for _ in range(5 * CAPACITY):
        assert out.room(CAPACITY) == CAPACITY
        assert out.offer(record, 1)
    assert out.room(CAPACITY + 1) == CAPACITY
    counters = fan_out.counters("up")
    assert (counters["messages_out"], counters["backpressure"]) == (5 * CAPACITY, 0)


def test_should_count_every_lost_record_and_log_a_lap_episode_once(
    fan_out: FanOut, caplog: pytest.LogCaptureFixture
) -> None:
    _publish(fan_out, range(3 * CAPACITY), time.monotonic_ns())
    seen: list[int] = []
    port = fan_out.b.input_port()
    with caplog.at_level(logging.WARNING):
        assert port.poll(lambda buf, offset, now: seen.append(_seq(buf, offset)), 100) == 1
        _publish(fan_out, range(3 * CAPACITY, 6 * CAPACITY), time.monotonic_ns())
        assert port.poll(lambda buf, offset, now: seen.append(_seq(buf, offset)), 100) == 1
    assert seen == [3 * CAPACITY - 1, 6 * CAPACITY - 1]
    counters = fan_out.counters("b")
    assert counters["lost.md"] == 6 * CAPACITY - 2
    assert counters["messages_in"] == 2 and counters["errors"] == 0  # a recovery, not an error
    errors = fan_out.control.read_errors(fan_out.control.stage_index("b"))
    assert [(e.message, e.count) for e in errors] == [
        ("lapped on broadcast ring md: records lost, resumed from the newest", 1)
    ]
    warnings = [r.getMessage() for r in caplog.records if "lapped" in r.getMessage()]
    assert warnings == [
        f"lapped on broadcast ring md: {3 * CAPACITY - 1} records lost, resumed from the newest (episode 1; further"
        " laps within 1 s are only counted in lost.md)"
    ]
    assert fan_out.counters("a")["lost.md"] == 0  # the other receiver has not looked yet


def test_should_take_a_record_once_from_a_broadcast_ring_with_poll_until_and_count_what_a_raise_took(
    fan_out: FanOut,
) -> None:
    _publish(fan_out, range(6), time.monotonic_ns())
    port = fan_out.a.input_port("md")
    assert port.poll_until(lambda buf, offset, now: _seq(buf, offset) == 1, 10) == 2

    def fail_on_3(buf: memoryview, offset: int, now: int) -> bool:
        if _seq(buf, offset) == 3:
            raise RuntimeError("handler failed")
        return False

    with pytest.raises(RuntimeError, match="handler failed"):
        port.poll_until(fail_on_3, 10)
    assert fan_out.counters("a")["messages_in"] == 4  # 0, 1, then 2 and the failed 3: taken, never again
    seen: list[int] = []

    def fail_on_4(buf: memoryview, offset: int, now: int) -> None:
        seen.append(_seq(buf, offset))
        if seen[-1] == 4:
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        port.poll(fail_on_4, 10)
    assert port.poll(fail_on_4, 10) == 1
    assert seen == [4, 5]
    assert fan_out.counters("a")["messages_in"] == 6 == fan_out.hop_count("md.a")


def test_should_ring_the_doorbell_of_each_parked_receiver_stage(fan_out: FanOut) -> None:
    bells = {name: posix_ipc.Semaphore(ctx.doorbell.name) for name, ctx in (("a", fan_out.a), ("b", fan_out.b))}
    try:
        _publish(fan_out, range(2), time.monotonic_ns())
        assert {name: bell.value for name, bell in bells.items()} == {"a": 0, "b": 0}
        fan_out.b.input_port().ring.set_parked(True)
        _publish(fan_out, range(2, 3), time.monotonic_ns())
        assert {name: bell.value for name, bell in bells.items()} == {"a": 0, "b": 1}
    finally:
        fan_out.b.input_port().ring.set_parked(False)
        for bell in bells.values():
            bell.close()


def test_should_report_the_producer_and_each_receivers_position_and_loss(fan_out: FanOut) -> None:
    _publish(fan_out, range(3 * CAPACITY), time.monotonic_ns())
    fan_out.a.input_port("md").poll(lambda *_: None, 100)
    side = fan_out.up.output_port("side")
    assert side.offer(PROBE.zeros(1).tobytes(), 1)
    reader = RingReader(fan_out.control)
    try:
        assert set(reader.rings) == {"md", "side"}
        from_reader = pipeline_report(fan_out.control, reader.rings)
    finally:
        reader.close()
    report = pipeline_report(fan_out.control, fan_out.owned.rings)
    assert report["rings"] == from_reader["rings"]
    shape = {"from": "up", "capacity": CAPACITY, "slot_size": PROBE.itemsize, "full": 0, "kind": "broadcast"}
    assert report["rings"] == {
        "md.a": {**shape, "to": "a", "ring": "md", "receiver": 0, "produced": 24, "consumed": 24, "backlog": 0,
                 "lost": 23},
        "md.b": {**shape, "to": "b", "ring": "md", "receiver": 1, "produced": 24, "consumed": 0, "backlog": 24,
                 "lost": 0},
        "side": {**shape, "kind": "spsc", "to": "a", "produced": 1, "consumed": 0, "backlog": 1, "lost": 0},
    }  # fmt: skip
    assert [hop["name"] for hop in report["latency"]["hops"]] == ["md.a", "md.b", "side"]
    text = _stat_text({**report, "uptime_s": 0})
    assert "ring md.a                   up->a produced 24 consumed 24 backlog 0/8 lost 23" in text
    assert "ring side                   up->a produced 1 consumed 0 backlog 1/8 full 0" in text
