"""control.py + control_layout.py: the control file as the owner writes it and readers see it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from hftpipe.substrate.control import ControlFile, RingEntry, control_segment_name
from hftpipe.substrate.control_layout import (
    META_END,
    NAME_BYTES,
    NAMED_HISTOGRAMS_PER_STAGE,
    STAGE_SLOT_SIZE,
    ControlLayout,
    PipelineState,
    StageState,
)
from hftpipe.substrate.counters import STANDARD_KINDS, CounterKind
from hftpipe.substrate.shm import KIND_CONTROL, SHM_DIR, Segment

STAGES = ["source", "relay", "sink"]
RINGS = [
    RingEntry("source-relay", 4096, 64, 0, 1, 0),
    RingEntry("relay-sink", 1024, 128, 1, 2, 1),
]


@pytest.fixture
def control(pipeline_name: str) -> Iterator[ControlFile]:
    cf = ControlFile.create(pipeline_name, STAGES, RINGS)
    try:
        yield cf
    finally:
        cf.close()
        cf.segment.unlink()
    assert not os.path.exists(os.path.join(SHM_DIR, control_segment_name(pipeline_name).lstrip("/")))


@pytest.fixture(params=[False, True], ids=["read-write", "readonly"])
def attached(request: pytest.FixtureRequest, control: ControlFile) -> Iterator[ControlFile]:
    cf = ControlFile.attach(control.pipeline_name, readonly=request.param)
    try:
        yield cf
    finally:
        cf.close()


def test_should_name_the_control_segment_after_the_pipeline() -> None:
    assert control_segment_name("p1") == "/hftpipe.p1.control"


def test_should_show_an_attacher_the_stage_names_and_ring_table(control: ControlFile, attached: ControlFile) -> None:
    assert attached.pipeline_name == control.pipeline_name
    assert attached.stage_names == STAGES
    assert attached.rings == RINGS
    assert attached.layout == ControlLayout(3, 2)
    assert attached.owner_pid == os.getpid()


def test_should_show_an_attacher_the_counter_labels_before_any_stage_runs(attached: ControlFile) -> None:
    for stage in range(len(STAGES)):
        assert list(attached.read_counters(stage)) == [k.label for k in STANDARD_KINDS]


def test_should_start_in_starting_state_with_stages_not_started(attached: ControlFile) -> None:
    assert attached.state is PipelineState.STARTING
    assert attached.halted
    for stage in range(len(STAGES)):
        assert attached.stage_state(stage) is StageState.NOT_STARTED
        assert attached.stage_pid(stage) == 0
        assert attached.stage_cpu(stage) is None
        assert attached.stage_exit(stage) is None
        assert attached.stage_restarts(stage) == 0
    assert attached.started_wall_ns > 0 and attached.started_mono_ns > 0


def test_should_round_trip_pipeline_state_and_halted(control: ControlFile, attached: ControlFile) -> None:
    control.set_state(PipelineState.RUNNING)
    assert attached.state is PipelineState.RUNNING
    assert not attached.halted
    control.set_state(PipelineState.HALTED)
    assert attached.state is PipelineState.HALTED
    assert attached.halted


def test_should_round_trip_stage_state_pid_cpu_idle_restarts_and_exit(
    control: ControlFile, attached: ControlFile
) -> None:
    control.register_stage_process(1, 4321)
    assert (attached.stage_pid(1), attached.stage_state(1)) == (4321, StageState.STARTING)
    control.set_stage_state(1, StageState.RUNNING)
    control.set_stage_cpu(1, 3)
    control.set_stage_idle(1, "blocking")
    control.count_restart(1)
    control.count_restart(1)
    control.set_stage_exit(1, -9)
    assert attached.stage_state(1) is StageState.RUNNING
    assert attached.stage_cpu(1) == 3
    assert attached.stage_idle(1) == "blocking"
    assert attached.stage_restarts(1) == 2
    assert attached.stage_exit(1) == -9
    control.set_stage_cpu(1, None)
    control.set_stage_exit(1, 0)
    assert attached.stage_cpu(1) is None
    assert attached.stage_exit(1) == 0
    for other in (0, 2):  # neighbours untouched
        assert (attached.stage_pid(other), attached.stage_restarts(other)) == (0, 0)


@pytest.mark.parametrize("alias", ["busy-spin", "yield", "backoff", "blocking"])
def test_should_round_trip_every_idle_alias(control: ControlFile, alias: str) -> None:
    control.set_stage_idle(2, alias)
    assert control.stage_idle(2) == alias


def test_should_find_stages_by_name_and_refuse_unknown_ones(control: ControlFile) -> None:
    assert control.stage_index("sink") == 2
    with pytest.raises(KeyError) as exc:
        control.stage_index("nope")
    assert exc.value.args[0] == f"no stage 'nope' in pipeline {control.pipeline_name!r}"


def test_should_lay_out_tables_without_overlap() -> None:
    layout = ControlLayout(3, 2)
    stride = layout.histogram_stride
    assert layout.stage_table == META_END == 256
    assert layout.ring_table == 256 + 3 * STAGE_SLOT_SIZE
    assert layout.stage_table < layout.ring_table < layout.counters < layout.error_log < layout.histograms
    assert layout.histograms % 128 == 0
    assert layout.hop_histogram(1) == layout.histograms + layout.histogram_stride
    assert layout.end_to_end_histogram(0) == layout.hop_histogram(2)
    assert layout.named_histograms == layout.end_to_end_histogram(3)
    assert layout.named_histogram(1, 0) == layout.named_histogram(0, NAMED_HISTOGRAMS_PER_STAGE - 1) + stride
    assert layout.histogram_names == layout.named_histogram(3, 0)
    assert layout.histogram_name(2, 3) == layout.histogram_names + (2 * 4 + 3) * NAME_BYTES
    assert layout.requests == layout.histogram_names + 3 * 4 * 32  # 384 bytes: a multiple of 128 already
    assert layout.request_slot(1) == layout.requests + 128 and layout.request_slot(9) == layout.request_slot(1)
    assert layout.status == layout.requests + 128 + 8 * 512
    assert layout.size == layout.status_slot(3) == layout.status + 3 * 4096
    assert layout.error_block(3) == layout.error_log + 3 * 8 * 256  # the owner's block after the stages'


def test_should_size_the_segment_for_its_stages_and_rings(control: ControlFile) -> None:
    assert control.segment.size == ControlLayout(3, 2).size


def test_should_refuse_to_attach_a_control_file_that_is_not_published(pipeline_name: str) -> None:
    seg = Segment.create(control_segment_name(pipeline_name), ControlLayout(1, 0).size, KIND_CONTROL)
    try:
        with pytest.raises(RuntimeError) as exc:
            ControlFile.attach(pipeline_name)
        assert str(exc.value) == (
            f"control file of pipeline {pipeline_name!r} is not ready or has layout version 0 (expected 3)"
        )
    finally:
        seg.close()
        seg.unlink()


def test_should_refuse_to_attach_a_missing_control_file(pipeline_name: str) -> None:
    name = control_segment_name(pipeline_name)
    with pytest.raises(FileNotFoundError, match=re.escape(f"shared-memory segment {name} does not exist")):
        ControlFile.attach(pipeline_name)


def test_should_refuse_to_create_a_second_control_file_for_a_running_pipeline(control: ControlFile) -> None:
    name = control_segment_name(control.pipeline_name)
    with pytest.raises(FileExistsError, match=re.escape(f"shared-memory segment {name} already exists")):
        ControlFile.create(control.pipeline_name, STAGES, RINGS)


def test_should_create_a_control_file_for_a_pipeline_without_rings(pipeline_name: str) -> None:
    cf = ControlFile.create(pipeline_name, ["solo"], [])
    try:
        assert (cf.stage_names, cf.rings) == (["solo"], [])
    finally:
        cf.close()
        cf.segment.unlink()


def test_should_refuse_a_long_stage_name_without_leaving_a_segment(pipeline_name: str) -> None:
    with pytest.raises(ValueError, match=r"^name 's{33}' is longer than 32 bytes$"):
        ControlFile.create(pipeline_name, ["s" * 33], [])
    assert not os.path.exists(os.path.join(SHM_DIR, control_segment_name(pipeline_name)[1:]))


def test_should_tell_a_reader_which_counters_are_counts_and_which_are_levels(
    control: ControlFile, attached: ControlFile
) -> None:
    block = control.counters(1)
    block.add("gaps").add(3)
    block.gauge("books_stale").set(2)
    kinds = attached.read_counter_kinds(1)
    assert kinds["messages_in"] is CounterKind.MESSAGES_IN
    assert kinds["gaps"] is CounterKind.CUSTOM
    assert kinds["books_stale"] is CounterKind.GAUGE
    assert attached.read_counters(1)["books_stale"] == 2
    again = control.counters(1).gauge("books_stale")  # a restarted stage finds its level again
    assert again.value == 2


def test_should_show_a_stage_named_histogram_to_readers_under_its_name(
    control: ControlFile, attached: ControlFile
) -> None:
    assert attached.read_named_histograms(1) == {}
    ack = control.named_histogram(1, "order_ack")
    fill = control.named_histogram(1, "fill")
    for value in (1_000, 2_000, 3_000):
        ack.record(value)
    fill.record(50_000)
    named = attached.read_named_histograms(1)
    assert list(named) == ["order_ack", "fill"]
    assert (named["order_ack"].count, named["order_ack"].max_value, named["order_ack"].min_value) == (3, 3_000, 1_000)
    assert (named["fill"].count, named["fill"].max_value) == (1, 50_000)
    assert attached.read_named_histograms(0) == {} and attached.read_named_histograms(2) == {}
    assert attached.read_end_to_end_histogram(1).count == 0  # a slot of its own, not the end-to-end one


def test_should_give_a_restarted_stage_its_named_histogram_back(control: ControlFile, attached: ControlFile) -> None:
    control.named_histogram(0, "order_ack").record(7_000)
    again = control.named_histogram(0, "order_ack")  # as a restarted stage asks for it
    again.record(5_000)
    (only,) = attached.read_named_histograms(0).values()
    assert (only.count, only.min_value, only.max_value) == (2, 5_000, 7_000)


def test_should_refuse_a_named_histogram_past_the_stage_slots_naming_the_ones_it_has(control: ControlFile) -> None:
    names = [f"h{i}" for i in range(NAMED_HISTOGRAMS_PER_STAGE)]
    for name in names:
        control.named_histogram(2, name)
    with pytest.raises(ValueError) as exc:
        control.named_histogram(2, "one_more")
    assert str(exc.value) == (
        f"stage 'sink' has all {NAMED_HISTOGRAMS_PER_STAGE} named histograms ({', '.join(names)}); "
        "no room for 'one_more'"
    )
    control.named_histogram(1, "one_more")  # another stage's slots are its own


@pytest.mark.parametrize("name", ["", "x" * 33, "größe"])
def test_should_refuse_a_histogram_name_that_does_not_fit(control: ControlFile, name: str) -> None:
    with pytest.raises(ValueError, match=re.escape("must be 1..32 ASCII characters")):
        control.named_histogram(0, name)
