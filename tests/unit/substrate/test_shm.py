"""shm.py: segment naming, the ownership header, and listing/cleaning our objects in /dev/shm."""

from __future__ import annotations

import errno
import os
import re
import resource
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import posix_ipc
import pytest

from hftpipe.substrate.shm import (
    HDR_OWNER_START_MS,
    KIND_CONTROL,
    KIND_RING,
    SEGMENT_HEADER_SIZE,
    SHM_DIR,
    ForeignSegmentError,
    Segment,
    clean_stale,
    list_entries,
    remove_pipeline,
    segment_name,
)


def _path(name: str) -> str:
    return os.path.join(SHM_DIR, name.lstrip("/"))


@pytest.fixture
def segment(pipeline_name: str) -> Iterator[Segment]:
    seg = Segment.create(segment_name(pipeline_name, "ring", "a"), 4096, KIND_RING)
    try:
        yield seg
    finally:
        seg.close()
        seg.unlink()


def _make_stale(seg: Segment) -> None:
    """Pretend the owner died and its pid was reused: the start time no longer matches."""
    seg.words[HDR_OWNER_START_MS // 8] = 1


def test_should_name_segments_by_pipeline_kind_and_name() -> None:
    assert segment_name("p-1", "ring", "source-relay1") == "/hftpipe.p-1.ring.source-relay1"
    assert segment_name("p_1", "control") == "/hftpipe.p_1.control"


@pytest.mark.parametrize(
    ("pipeline", "name", "message"),
    [
        ("a.b", None, "pipeline name 'a.b' must be 1-48 characters of A-Z a-z 0-9 _ -"),
        ("", None, "pipeline name '' must be 1-48 characters of A-Z a-z 0-9 _ -"),
        ("x" * 49, None, f"pipeline name {'x' * 49!r} must be 1-48 characters of A-Z a-z 0-9 _ -"),
        ("p", "a/b", "ring name 'a/b' must be 1-48 characters of A-Z a-z 0-9 _ -"),
    ],
)
def test_should_reject_name_parts_that_would_break_the_naming_scheme(
    pipeline: str, name: str | None, message: str
) -> None:
    with pytest.raises(ValueError) as exc:
        segment_name(pipeline, "ring", name)
    assert str(exc.value) == message


def test_should_write_the_owner_header_and_publish_the_layout_version_last(segment: Segment) -> None:
    assert segment.owner and segment.owner_pid == os.getpid()
    assert segment.owner_is_alive()
    assert segment.layout_version == 0
    segment.publish(3)
    other = Segment.attach(segment.name)
    try:
        assert not other.owner
        assert other.layout_version == 3
        assert other.owner_pid == os.getpid()
    finally:
        other.close()


def test_should_create_segments_with_mode_0600(segment: Segment) -> None:
    assert os.stat(_path(segment.name)).st_mode & 0o777 == 0o600


def test_should_refuse_to_attach_a_segment_without_our_magic(pipeline_name: str) -> None:
    name = segment_name(pipeline_name, "ring", "foreign")
    shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=SEGMENT_HEADER_SIZE)
    shm.close_fd()
    try:
        with pytest.raises(ValueError, match=re.escape(f"{name} is not an hftpipe segment (bad magic)")):
            Segment.attach(name)
    finally:
        shm.unlink()


def test_should_list_our_segments_and_semaphores_with_liveness(pipeline_name: str, segment: Segment) -> None:
    bell = posix_ipc.Semaphore(segment_name(pipeline_name, "bell", "s"), posix_ipc.O_CREX)
    try:
        entries = {e.name: e for e in list_entries(pipeline_name)}
        assert set(entries) == {segment.name, bell.name}
        assert entries[segment.name].owner_pid == os.getpid()
        assert entries[segment.name].size == 4096
        assert not entries[segment.name].is_semaphore
        assert entries[bell.name].is_semaphore and entries[bell.name].owner_pid is None
        assert all(e.alive and e.pipeline == pipeline_name for e in entries.values())
    finally:
        bell.unlink()
        bell.close()


def test_should_not_clean_a_pipeline_whose_owner_is_alive(pipeline_name: str, segment: Segment) -> None:
    assert clean_stale(pipeline_name) == []
    assert os.path.exists(_path(segment.name))


def test_should_clean_a_stale_pipeline_segments_and_semaphores(pipeline_name: str, segment: Segment) -> None:
    bell = posix_ipc.Semaphore(segment_name(pipeline_name, "bell", "s"), posix_ipc.O_CREX)
    bell.close()
    _make_stale(segment)
    assert [e.alive for e in list_entries(pipeline_name)] == [False, False]
    assert sorted(clean_stale(pipeline_name)) == sorted([segment.name, bell.name])
    assert list_entries(pipeline_name) == []


def test_should_remove_every_object_of_a_live_pipeline_on_owner_shutdown(pipeline_name: str, segment: Segment) -> None:
    assert remove_pipeline(pipeline_name) == [segment.name]
    assert not os.path.exists(_path(segment.name))


# ----------------------------------------------------------------------------- another user's segments
NOBODY = 65534
"""A uid that is not ours; the segment is given to it with chown (root only)."""


@pytest.fixture
def foreign(pipeline_name: str) -> Iterator[Segment]:
    """A segment with our magic and a live owner pid, owned by another uid: a squatter's."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give a segment to another uid")
    seg = Segment.create(segment_name(pipeline_name, "control"), 4096, KIND_CONTROL)
    os.chown(_path(seg.name), NOBODY, -1)
    try:
        yield seg
    finally:
        seg.close()
        seg.unlink()


def test_should_list_another_users_segment_as_foreign_and_never_as_ours(foreign: Segment, pipeline_name: str) -> None:
    (entry,) = list_entries(pipeline_name)
    assert (entry.foreign, entry.owner_uid, entry.alive, entry.owner_pid) == (True, NOBODY, False, None)
    assert entry.path == _path(foreign.name)


def test_should_never_clean_another_users_segment(foreign: Segment, pipeline_name: str) -> None:
    assert clean_stale(pipeline_name) == []
    assert os.path.exists(_path(foreign.name))


def test_should_refuse_to_attach_or_create_over_another_users_segment(foreign: Segment) -> None:
    message = f"{_path(foreign.name)} belongs to uid {NOBODY}, not to us (uid {os.geteuid()})"
    with pytest.raises(ForeignSegmentError, match=re.escape(message)) as exc:
        Segment.attach(foreign.name, readonly=True)
    assert (exc.value.path, exc.value.owner_uid) == (_path(foreign.name), NOBODY)
    with pytest.raises(ForeignSegmentError, match=re.escape(message)):
        Segment.create(foreign.name, 4096, KIND_CONTROL)


# ----------------------------------------------------------------------------- creation failing half-way
@contextmanager
def _file_size_limit(limit: int | None) -> Iterator[None]:
    """ftruncate beyond RLIMIT_FSIZE fails with EFBIG (Python ignores SIGXFSZ); None: no limit set."""
    if limit is None:
        yield
        return
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)


@pytest.mark.parametrize(
    ("size", "limit", "errno_"),
    [
        (1 << 60, None, errno.ENOMEM),  # more than any address space: mmap fails
        (1 << 20, 1 << 16, errno.EFBIG),  # past the file size limit: ftruncate fails
    ],
)
def test_should_unlink_a_segment_whose_creation_fails_half_way(
    ring_name: Callable[[str], str], size: int, limit: int | None, errno_: int
) -> None:
    name = ring_name("huge")
    with _file_size_limit(limit), pytest.raises(OSError) as exc:
        Segment.create(name, size, KIND_RING)
    assert exc.value.errno == errno_
    assert not os.path.exists(_path(name))
