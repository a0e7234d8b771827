"""Status bulletins and operator requests in the control file: seqlocked texts, one writer each."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from hftpipe.substrate.bulletin import Bulletin
from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.control_layout import REQUEST_SLOTS, STATUS_SLOT_SIZE
from hftpipe.substrate.shm import remove_pipeline


@pytest.fixture
def control(pipeline_name: str) -> Iterator[ControlFile]:
    created = ControlFile.create(pipeline_name, ["a", "b"], [])
    yield created
    created.close()
    remove_pipeline(pipeline_name)


def test_should_read_nothing_from_a_bulletin_never_written(control: ControlFile) -> None:
    assert control.read_status(0) is None
    assert control.requests_posted == 0
    assert control.read_request(1) is None


def test_should_read_back_the_last_complete_status_of_each_stage(control: ControlFile) -> None:
    control.status(0).write('{"state": "ACTIVE"}')
    control.status(1).write('{"state": "x"}')
    seq = control.status(0).write('{"state": "HALTED"}')
    reader = ControlFile.attach(control.pipeline_name, readonly=True)
    try:
        assert (reader.read_status(0), reader.read_status(1)) == ('{"state": "HALTED"}', '{"state": "x"}')
        assert reader.status(0).sequence == seq == 4
    finally:
        reader.close()


def test_should_refuse_a_status_longer_than_its_slot(control: ControlFile) -> None:
    with pytest.raises(ValueError, match=rf"exceeds the slot's {STATUS_SLOT_SIZE - 16}"):
        control.status(0).write("x" * STATUS_SLOT_SIZE)


def test_should_not_hand_out_a_torn_text_while_a_write_is_under_way(control: ControlFile) -> None:
    bulletin = control.status(0)
    bulletin.write("before")
    words = control.segment.words
    word = control.layout.status_slot(0) // 8
    words[word] += 1  # as if a writer stopped half-way
    assert bulletin.read() is None
    assert bulletin.write("after") == 6  # the next writer goes past the dead one's write
    assert bulletin.read() == (6, "after")


def test_should_number_requests_and_keep_the_last_eight(control: ControlFile) -> None:
    numbers = [control.post_request(lambda n: json.dumps({"n": n, "command": "halt"})) for _ in range(10)]
    assert numbers == list(range(1, 11))
    assert control.requests_posted == 10
    assert control.read_request(2) is None  # its slot was reused by request 10
    assert [json.loads(control.read_request(n) or "{}")["n"] for n in range(11 - REQUEST_SLOTS, 11)] == list(
        range(11 - REQUEST_SLOTS, 11)
    )
    assert control.read_request(11) is None


def test_should_refuse_a_misaligned_slot() -> None:
    buf = memoryview(bytearray(64))
    with pytest.raises(ValueError, match="misaligned or too small"):
        Bulletin(buf.cast("q"), buf, 4, 32)
