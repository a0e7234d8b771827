"""POSIX shared-memory segments owned by one process and attached by others.

Only the creator unlinks a segment: we use ``posix_ipc`` rather than
``multiprocessing.shared_memory`` because Python 3.11 registers *attached*
segments with the resource tracker, which may unlink them when an attaching
process exits.

Every segment of ours starts with a 64-byte :class:`SegmentHeader` prefix
(magic, layout version, owner pid and owner start time) so that ``hftpipe shm
clean`` can tell a live pipeline from the leftovers of a dead one without
knowing anything else about the segment.

The header is only believed in a file our own uid owns: anyone may write our
magic and one of its own pids into ``/dev/shm``. An object another uid owns
is *foreign*: never attached, never counted as a live (or stale) pipeline,
never removed, and a name it takes cannot be ours (:class:`ForeignSegmentError`).

Naming scheme: ``/hftpipe.<pipeline>.<kind>[.<name>]``; named semaphores
appear in ``/dev/shm`` as ``sem.hftpipe.<pipeline>.bell.<stage>``.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import time
from dataclasses import dataclass
from typing import Final

import posix_ipc
import psutil

from hftpipe.substrate.layout import CACHE_LINE

PREFIX: Final = "hftpipe"
SHM_DIR: Final = "/dev/shm"
SEGMENT_MODE: Final = 0o600
_NAME_PART = re.compile(r"^[A-Za-z0-9_-]{1,48}$")

MAGIC: Final = 0x4846_5450_4950_4531  # "HFTPIPE1"

# ---------------------------------------------------------------------------
# Segment header: the first cache line of every segment.
#
#   0               8               16              24              32
#   +---------------+---------------+---------------+---------------+
#   | magic         | layout ver.   | owner pid     | owner start ms|
#   +---------------+---------------+---------------+---------------+
#   | kind          | created (wall ns)             | reserved      |
#   +---------------+---------------+---------------+---------------+
#
# ``layout version`` is written last by the creator: non-zero means ready.
# ---------------------------------------------------------------------------
HDR_MAGIC: Final = 0
HDR_LAYOUT_VERSION: Final = 8
HDR_OWNER_PID: Final = 16
HDR_OWNER_START_MS: Final = 24
HDR_KIND: Final = 32
HDR_CREATED_NS: Final = 40
SEGMENT_HEADER_SIZE: Final = CACHE_LINE

KIND_CONTROL: Final = 1
KIND_RING: Final = 2
KIND_BROADCAST: Final = 3


def check_name_part(value: str, what: str) -> str:
    if not _NAME_PART.fullmatch(value):  # match() would let "$" accept a trailing newline
        raise ValueError(f"{what} {value!r} must be 1-48 characters of A-Z a-z 0-9 _ -")
    return value


def segment_name(pipeline: str, kind: str, name: str | None = None) -> str:
    """``/hftpipe.<pipeline>.<kind>[.<name>]`` — the one naming scheme."""
    check_name_part(pipeline, "pipeline name")
    parts = [PREFIX, pipeline, kind]
    if name is not None:
        parts.append(check_name_part(name, f"{kind} name"))
    return "/" + ".".join(parts)


def shm_path(name: str, semaphore: bool = False) -> str:
    """Where the POSIX object ``name`` (leading slash) lives in the file system."""
    return os.path.join(SHM_DIR, ("sem." if semaphore else "") + name.lstrip("/"))


class ForeignSegmentError(PermissionError):
    """An object under one of our names that another uid owns: not ours to use, trust or remove."""

    def __init__(self, path: str, owner_uid: int) -> None:
        super().__init__(f"{path} belongs to uid {owner_uid}, not to us (uid {os.geteuid()})")
        self.path = path
        self.owner_uid = owner_uid


def _owner_uid(path: str) -> int | None:
    try:
        return os.stat(path).st_uid
    except OSError:
        return None


def _denied(name: str, semaphore: bool = False) -> PermissionError:
    """The error for an object the OS refused us: foreign (naming its owner) or, if ours, just denied."""
    path = shm_path(name, semaphore)
    uid = _owner_uid(path)
    if uid is not None and uid != os.geteuid():
        return ForeignSegmentError(path, uid)
    return PermissionError(f"{path}: permission denied")


def _exists(name: str, semaphore: bool = False) -> OSError:
    """The error for a name already taken: by another uid (foreign) or by us."""
    denied = _denied(name, semaphore)
    if isinstance(denied, ForeignSegmentError):
        return denied
    return FileExistsError(f"shared-memory {'semaphore' if semaphore else 'segment'} {name} already exists")


def process_start_ms(pid: int) -> int:
    """Process start time in ms since the epoch; tells a live owner from a reused pid."""
    return int(psutil.Process(pid).create_time() * 1000)


def owner_alive(pid: int, start_ms: int) -> bool:
    try:
        actual = process_start_ms(pid)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return False
    # create_time() is derived from jiffies: allow for its rounding.
    return abs(actual - start_ms) <= 50


class Segment:
    """A mapped POSIX shared-memory segment; ``create`` owns it, ``attach`` borrows it."""

    def __init__(self, name: str, mapping: mmap.mmap, owner: bool) -> None:
        self.name = name
        self._mmap = mapping
        self.buf = memoryview(mapping)
        self.words = self.buf.cast("q")
        self.owner = owner
        self.size = len(mapping)

    @classmethod
    def create(cls, name: str, size: int, kind: int) -> Segment:
        """Create, size and map ``name``; a failure half-way unlinks it before the error propagates."""
        try:
            shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, mode=SEGMENT_MODE)
        except posix_ipc.ExistentialError:
            raise _exists(name) from None
        except posix_ipc.PermissionsError:
            raise _denied(name) from None
        seg: Segment | None = None
        try:
            try:
                os.fchmod(shm.fd, SEGMENT_MODE)  # umask must not widen or narrow it
                os.ftruncate(shm.fd, size)
                mapping = mmap.mmap(shm.fd, size)
            finally:
                shm.close_fd()
            seg = cls(name, mapping, owner=True)
            pid = os.getpid()
            w = seg.words
            w[HDR_MAGIC // 8] = MAGIC
            w[HDR_OWNER_PID // 8] = pid
            w[HDR_OWNER_START_MS // 8] = process_start_ms(pid)
            w[HDR_KIND // 8] = kind
            w[HDR_CREATED_NS // 8] = time.time_ns()
        except BaseException as exc:
            if seg is not None:
                seg.close()
            unlink_segment(name)
            if isinstance(exc, OSError) and exc.errno is not None:
                raise OSError(exc.errno, exc.strerror, shm_path(name)) from exc  # name the segment
            raise
        return seg

    @classmethod
    def attach(cls, name: str, readonly: bool = False) -> Segment:
        """Map an existing segment of ours; one another uid owns is refused before it is read."""
        try:
            shm = posix_ipc.SharedMemory(name, flags=0, read_only=readonly)
        except posix_ipc.ExistentialError as exc:
            raise FileNotFoundError(f"shared-memory segment {name} does not exist") from exc
        except posix_ipc.PermissionsError:
            raise _denied(name) from None
        try:
            owner_uid = os.fstat(shm.fd).st_uid
            if owner_uid != os.geteuid():
                raise ForeignSegmentError(shm_path(name), owner_uid)
            access = mmap.ACCESS_READ if readonly else mmap.ACCESS_WRITE
            mapping = mmap.mmap(shm.fd, shm.size, access=access)
        finally:
            shm.close_fd()
        seg = cls(name, mapping, owner=False)
        if seg.size < SEGMENT_HEADER_SIZE or seg.words[HDR_MAGIC // 8] != MAGIC:
            seg.close()
            raise ValueError(f"{name} is not an hftpipe segment (bad magic)")
        return seg

    def publish(self, layout_version: int) -> None:
        """Write the layout version last: readers treat non-zero as ready."""
        self.words[HDR_LAYOUT_VERSION // 8] = layout_version

    @property
    def layout_version(self) -> int:
        return int(self.words[HDR_LAYOUT_VERSION // 8])

    @property
    def kind(self) -> int:
        """What the segment holds (``KIND_*``): an attacher checks it before believing the layout."""
        return int(self.words[HDR_KIND // 8])

    @property
    def owner_pid(self) -> int:
        return int(self.words[HDR_OWNER_PID // 8])

    def owner_is_alive(self) -> bool:
        return owner_alive(self.owner_pid, int(self.words[HDR_OWNER_START_MS // 8]))

    def close(self) -> None:
        """Drop this process's mapping; views handed out must be released first."""
        for view in (self.words, self.buf):
            try:
                view.release()
            except BufferError:
                return  # a numpy view still holds the buffer; the mapping dies with the process
        with contextlib.suppress(BufferError):
            self._mmap.close()

    def unlink(self) -> None:
        unlink_segment(self.name)


def unlink_segment(name: str) -> bool:
    """Remove ``name``; False if it was already gone, PermissionError if it is not ours to remove."""
    try:
        posix_ipc.unlink_shared_memory(name)
        return True
    except posix_ipc.ExistentialError:
        return False
    except posix_ipc.PermissionsError:
        raise _denied(name) from None


def create_semaphore(name: str) -> None:
    """Create the semaphore ``name`` (a doorbell) at 0, owner-only, failing like :meth:`Segment.create`."""
    try:
        sem = posix_ipc.Semaphore(name, posix_ipc.O_CREX, mode=SEGMENT_MODE, initial_value=0)
    except posix_ipc.ExistentialError:
        raise _exists(name, semaphore=True) from None
    except posix_ipc.PermissionsError:
        raise _denied(name, semaphore=True) from None
    sem.close()


def unlink_semaphore(name: str) -> bool:
    try:
        posix_ipc.unlink_semaphore(name)
        return True
    except posix_ipc.ExistentialError:
        return False
    except posix_ipc.PermissionsError:
        raise _denied(name, semaphore=True) from None


@dataclass(frozen=True, slots=True)
class ShmEntry:
    """One object under our prefix in /dev/shm, as ``hftpipe shm ls`` shows it."""

    name: str  # POSIX name, with leading slash
    pipeline: str
    is_semaphore: bool
    size: int
    owner_pid: int | None  # from the header of a segment of ours; None for semaphores and foreign objects
    alive: bool
    owner_uid: int
    foreign: bool
    """Another uid owns it: its header is not believed, it is neither live nor stale to us, never removed."""

    @property
    def path(self) -> str:
        return shm_path(self.name, self.is_semaphore)

    @property
    def state(self) -> str:
        """``live``, ``stale`` (a dead owner's: ``shm clean`` removes it) or ``foreign``."""
        return "foreign" if self.foreign else "live" if self.alive else "stale"


def _read_owner(path: str) -> tuple[int, int] | None:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(SEGMENT_HEADER_SIZE)
    except OSError:
        return None
    if len(raw) < SEGMENT_HEADER_SIZE:
        return None
    words = memoryview(raw).cast("q")
    if words[HDR_MAGIC // 8] != MAGIC:
        return None
    return int(words[HDR_OWNER_PID // 8]), int(words[HDR_OWNER_START_MS // 8])


def list_entries(pipeline: str | None = None) -> list[ShmEntry]:
    """Everything under our prefix in /dev/shm, with each pipeline's liveness.

    A pipeline counts as alive while any segment of ours (owned by our uid)
    has a live owner; a semaphore has no header and shares the fate of its
    pipeline. Objects of other uids are listed as foreign and count for nothing.
    """
    me = os.geteuid()
    raw: list[tuple[str, str, bool, os.stat_result, tuple[int, int] | None]] = []
    for fname in sorted(os.listdir(SHM_DIR)):
        is_sem = fname.startswith("sem.")
        base = fname[4:] if is_sem else fname
        parts = base.split(".")
        if parts[0] != PREFIX or len(parts) < 3:
            continue
        if pipeline is not None and parts[1] != pipeline:
            continue
        path = os.path.join(SHM_DIR, fname)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        owner = None if is_sem or st.st_uid != me else _read_owner(path)
        raw.append(("/" + base, parts[1], is_sem, st, owner))
    alive_pipelines = {pipe for _, pipe, _, _, owner in raw if owner is not None and owner_alive(*owner)}
    return [
        ShmEntry(
            name,
            pipe,
            is_sem,
            st.st_size,
            owner[0] if owner else None,
            st.st_uid == me and pipe in alive_pipelines,
            st.st_uid,
            st.st_uid != me,
        )
        for name, pipe, is_sem, st, owner in raw
    ]


def _unlink(entry: ShmEntry) -> bool:
    return unlink_semaphore(entry.name) if entry.is_semaphore else unlink_segment(entry.name)


def clean_stale(pipeline: str | None = None) -> list[str]:
    """Unlink every object of ours whose pipeline has no live owner; return their names.

    Foreign objects are left alone: we cannot know whether their owner lives.
    """
    return [e.name for e in list_entries(pipeline) if not e.alive and not e.foreign and _unlink(e)]


def remove_pipeline(pipeline: str) -> list[str]:
    """Unlink every object of ``pipeline``, live or not (owner shutdown, test teardown)."""
    return [e.name for e in list_entries(pipeline) if _unlink(e)]
