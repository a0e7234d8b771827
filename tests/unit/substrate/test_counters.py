"""counters.py: standard counter slots first, custom ones after, one writer, any reader."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.counters import (
    COUNTERS_PER_STAGE,
    LABEL_BYTES,
    STANDARD_KINDS,
    CounterBlock,
    CounterKind,
    read_counter_block,
)

STANDARD_LABELS = [
    "messages_in",
    "messages_out",
    "backpressure",
    "drops",
    "errors",
    "duty_cycles",
    "max_duty_cycle_ns",
    "heartbeat_ns",
]


@pytest.fixture
def control(pipeline_name: str) -> Iterator[ControlFile]:
    cf = ControlFile.create(pipeline_name, ["src", "mid", "sink"], [])
    try:
        yield cf
    finally:
        cf.close()
        cf.segment.unlink()


@pytest.fixture
def reader(control: ControlFile) -> Iterator[ControlFile]:
    cf = ControlFile.attach(control.pipeline_name, readonly=True)
    try:
        yield cf
    finally:
        cf.close()


def test_should_label_the_standard_kinds_in_catalogue_order() -> None:
    assert [k.label for k in STANDARD_KINDS] == STANDARD_LABELS
    assert CounterKind.CUSTOM not in STANDARD_KINDS
    assert CounterKind.CUSTOM.label == "custom"


def test_should_show_the_standard_counters_at_zero_before_any_stage_runs(reader: ControlFile) -> None:
    for stage in range(3):
        assert reader.read_counters(stage) == dict.fromkeys(STANDARD_LABELS, 0)


def test_should_make_add_and_set_visible_to_a_reader(control: ControlFile, reader: ControlFile) -> None:
    block = control.counters(1)
    received = block.standard(CounterKind.MESSAGES_IN)
    received.add(5)
    received.add()
    block.standard(CounterKind.HEARTBEAT_NS).set(123_456_789)
    block.standard(CounterKind.DROPS).add(-2)  # a plain signed 8-byte store
    counters = reader.read_counters(1)
    assert counters["messages_in"] == 6
    assert counters["heartbeat_ns"] == 123_456_789
    assert counters["drops"] == -2
    assert reader.heartbeat_ns(1) == 123_456_789
    assert received.value == 6
    assert reader.read_counters(0) == dict.fromkeys(STANDARD_LABELS, 0)
    assert reader.read_counters(2) == dict.fromkeys(STANDARD_LABELS, 0)


def test_should_hand_out_its_slot_for_an_inlined_add_that_a_reader_sees(
    control: ControlFile, reader: ControlFile
) -> None:
    sent = control.counters(1).standard(CounterKind.MESSAGES_OUT)
    sent.add(2)
    words, index = sent.slot
    words[index] += 1
    assert sent.value == reader.read_counters(1)["messages_out"] == 3
    assert reader.read_counters(1)["messages_in"] == 0


def test_should_register_custom_counters_after_the_standard_ones(control: ControlFile, reader: ControlFile) -> None:
    block = control.counters(2)
    gaps = block.add("sequence_gaps")
    block.add("resyncs").add(3)
    gaps.add(7)
    assert list(reader.read_counters(2).items()) == [
        *((label, 0) for label in STANDARD_LABELS),
        ("sequence_gaps", 7),
        ("resyncs", 3),
    ]


def test_should_return_the_same_counter_when_a_label_is_added_twice(control: ControlFile) -> None:
    block = control.counters(0)
    first = block.add("gaps")
    first.add(2)
    again = block.add("gaps")
    assert again is first
    assert block.add("messages_in") is block.standard(CounterKind.MESSAGES_IN)


def test_should_keep_values_when_a_restarted_stage_reopens_its_block(control: ControlFile) -> None:
    block = control.counters(0)
    block.standard(CounterKind.MESSAGES_OUT).add(41)
    block.add("gaps").add(2)
    reopened = control.counters(0)
    assert reopened.standard(CounterKind.MESSAGES_OUT).value == 41
    assert reopened.add("gaps").value == 2


def test_should_fill_all_64_slots_then_raise_the_exact_message(control: ControlFile) -> None:
    block = control.counters(0)
    custom = COUNTERS_PER_STAGE - len(STANDARD_KINDS)
    for i in range(custom):
        block.add(f"c{i}")
    assert len(control.read_counters(0)) == COUNTERS_PER_STAGE
    with pytest.raises(RuntimeError) as exc:
        block.add("one_too_many")
    assert str(exc.value) == "no counter slot left for 'one_too_many' (64 per stage)"
    assert control.read_counters(1) == dict.fromkeys(STANDARD_LABELS, 0)  # nothing spilled into the next block


@pytest.mark.parametrize("label", ["", "x" * (LABEL_BYTES + 1), "é" * 25])
def test_should_reject_a_label_that_does_not_fit_its_slot(control: ControlFile, label: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"counter label must be 1..48 bytes, got {label!r}")):
        control.counters(0).add(label)


def test_should_accept_a_label_of_exactly_48_bytes(control: ControlFile) -> None:
    label = "y" * LABEL_BYTES
    control.counters(0).add(label).set(9)
    assert control.read_counters(0)[label] == 9


def test_should_read_a_block_directly_from_a_buffer() -> None:
    buf = bytearray(COUNTERS_PER_STAGE * 64)
    view = memoryview(buf)
    words = view.cast("q")
    block = CounterBlock(words, view, 0)
    block.add("custom_one").set(-1)
    assert read_counter_block(view, 0)["custom_one"] == -1
    assert list(read_counter_block(view, 0))[: len(STANDARD_LABELS)] == STANDARD_LABELS
    assert int(words[8 * len(STANDARD_LABELS) + 1]) == CounterKind.CUSTOM  # kind word of the first custom slot
    words.release()
    view.release()


def test_should_find_custom_counters_by_label_when_a_restart_registers_them_in_another_order(
    control: ControlFile,
) -> None:
    first = control.counters(0)
    first.add("gaps").add(3)
    first.add("resyncs").add(7)
    again = control.counters(0)
    assert again.add("resyncs").value == 7
    assert again.add("gaps").value == 3
    assert again.add("new_one").value == 0
