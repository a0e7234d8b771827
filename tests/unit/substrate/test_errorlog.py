"""errorlog.py: distinct errors once each, repeats counted, overflow never silent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.control_layout import ERROR_MESSAGE_BYTES, ERRORS_PER_BLOCK
from hftpipe.substrate.errorlog import OVERFLOW_MESSAGE


@pytest.fixture
def control(pipeline_name: str) -> Iterator[ControlFile]:
    cf = ControlFile.create(pipeline_name, ["a", "b"], [])
    try:
        yield cf
    finally:
        cf.close()
        cf.segment.unlink()


def _summary(control: ControlFile, stage: int | None) -> list[tuple[str, int]]:
    return [(e.message, e.count) for e in control.read_errors(stage)]


def test_should_start_with_an_empty_log(control: ControlFile) -> None:
    assert control.read_errors(0) == []
    assert control.read_errors(None) == []


def test_should_keep_one_entry_and_count_repeats_of_the_same_message(control: ControlFile) -> None:
    log = control.error_log(0)
    for _ in range(5):
        log.record("malformed depth update")
    [entry] = control.read_errors(0)
    assert (entry.message, entry.count) == ("malformed depth update", 5)
    assert 0 < entry.first_wall_ns <= entry.last_wall_ns


def test_should_keep_distinct_messages_in_first_seen_order(control: ControlFile) -> None:
    log = control.error_log(0)
    for message in ("b", "a", "b", "c", "a", "b"):
        log.record(message)
    assert _summary(control, 0) == [("b", 3), ("a", 2), ("c", 1)]


def test_should_overflow_further_distinct_errors_into_the_last_entry(control: ControlFile) -> None:
    log = control.error_log(0)
    kept = ERRORS_PER_BLOCK - 1
    for i in range(kept + 4):
        log.record(f"error {i}")
    log.record("error 0")  # an earlier message still counts in its own entry
    log.record(f"error {kept}")  # a message that overflowed keeps counting as overflow
    assert _summary(control, 0) == [
        ("error 0", 2),
        *((f"error {i}", 1) for i in range(1, kept)),
        (OVERFLOW_MESSAGE, 5),
    ]
    assert OVERFLOW_MESSAGE == "(further distinct errors)"
    assert len(control.read_errors(0)) == ERRORS_PER_BLOCK


def test_should_give_each_stage_and_the_owner_their_own_block(control: ControlFile) -> None:
    control.error_log(0).record("stage a failed")
    control.error_log(1).record("stage b failed")
    control.error_log(None).record("supervisor noticed")
    assert _summary(control, 0) == [("stage a failed", 1)]
    assert _summary(control, 1) == [("stage b failed", 1)]
    assert _summary(control, None) == [("supervisor noticed", 1)]


def test_should_continue_counting_after_a_restarted_writer_reopens_the_block(control: ControlFile) -> None:
    control.error_log(0).record("gap")
    control.error_log(0).record("other")
    reopened = control.error_log(0)
    reopened.record("gap")
    reopened.record("new")
    assert _summary(control, 0) == [("gap", 2), ("other", 1), ("new", 1)]


def test_should_truncate_long_messages_to_the_entry_size(control: ControlFile) -> None:
    message = "x" * (ERROR_MESSAGE_BYTES + 50)
    log = control.error_log(0)
    log.record(message)
    log.record(message[: ERROR_MESSAGE_BYTES + 1])  # same first 224 bytes: the same error
    assert _summary(control, 0) == [("x" * ERROR_MESSAGE_BYTES, 2)]


def test_should_truncate_at_a_character_boundary_and_find_the_entry_again_after_a_restart(
    control: ControlFile,
) -> None:
    message = "a" + "é" * 200  # 401 bytes: the cut at 224 falls inside an "é"
    control.error_log(0).record(message)
    control.error_log(0).record(message)  # a restarted writer
    expected = "a" + "é" * ((ERROR_MESSAGE_BYTES - 1) // 2)
    assert _summary(control, 0) == [(expected, 2)]


def test_should_make_entries_visible_to_a_readonly_reader(control: ControlFile) -> None:
    control.error_log(1).record("ValueError: bad tick")
    reader = ControlFile.attach(control.pipeline_name, readonly=True)
    try:
        assert _summary(reader, 1) == [("ValueError: bad tick", 1)]
    finally:
        reader.close()
