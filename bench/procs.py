"""Producer/consumer process pairs for the benchmarks: pinning, handshake, cleanup.

Each measurement runs in two fresh processes (``fork`` context) pinned to two
different cores. The protocol on each process's ``Pipe``:

1. the child pins itself, disables the garbage collector, sets everything up
   and sends ``("ready", None)``;
2. once both are ready the parent sends ``"go"`` to the producer (the consumer
   is already polling, so the first record finds it running);
3. after the timed part each child sends ``("result", (obj, preempted))``,
   where ``preempted`` counts its involuntary context switches (how often
   something else took its core: noise, reported beside the numbers), or, on
   any exception, ``("error", text)``.

Results travel only after the timed part. Children ignore SIGINT (Ctrl-C
reaches the whole process group; the parent handles it), die with the parent
(``PR_SET_PDEATHSIG``), and are terminated, then killed, in ``finally``
whatever happens in the parent, ``KeyboardInterrupt`` included.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import resource
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Final

READY: Final = "ready"
GO: Final = "go"
RESULT: Final = "result"
ERROR: Final = "error"
START_METHOD: Final = "fork"
_PR_SET_PDEATHSIG: Final = 1

Work = Callable[..., Any]
"""``work(conn, *args)``: calls :func:`signal_ready` (and, for producers,
:func:`await_go`) itself, then returns its picklable result."""


class BenchmarkError(RuntimeError):
    """A benchmark could not produce a valid measurement (loss, crash, timeout)."""


@dataclass(frozen=True, slots=True)
class Pinning:
    cores_available: tuple[int, ...]
    producer_core: int | None
    consumer_core: int | None

    @property
    def pinned(self) -> bool:
        return self.producer_core is not None

    def describe(self) -> str:
        if not self.pinned:
            return f"unpinned (only {len(self.cores_available)} core available)"
        return f"producer pinned to core {self.producer_core}, consumer to core {self.consumer_core}"


def choose_pinning() -> Pinning:
    """Two different cores when there are two: the last two, leaving core 0 to the OS on bigger hosts."""
    cores = tuple(sorted(os.sched_getaffinity(0)))
    if len(cores) >= 2:
        return Pinning(cores, cores[-2], cores[-1])
    return Pinning(cores, None, None)


def signal_ready(conn: Connection) -> None:
    conn.send((READY, None))


def await_go(conn: Connection) -> None:
    message = conn.recv()
    if message != GO:
        raise BenchmarkError(f"expected {GO!r} from the parent, got {message!r}")


def _die_with_parent(parent: int) -> None:
    """Children spin without looking around: have the kernel kill them if the parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the prctl
        os._exit(1)


def _child_entry(work: Work, conn: Connection, core: int | None, parent: int, args: tuple[Any, ...]) -> None:
    # Ctrl-C reaches the whole process group: the parent handles it and terminates us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    try:
        if core is not None:
            os.sched_setaffinity(0, {core})
        gc.disable()  # no collector pauses inside the timed loops (both sides, every transport)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
        result = work(conn, *args)
        preempted = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - before
        conn.send((RESULT, (result, preempted)))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent, loudly
        with contextlib.suppress(OSError, ValueError):
            conn.send((ERROR, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def _stop(process: BaseProcess) -> None:
    if process.is_alive():
        process.terminate()
        process.join(2.0)
    if process.is_alive():
        process.kill()
        process.join(2.0)


def _receive(
    label: str,
    pending: dict[str, tuple[BaseProcess, Connection]],
    expected: str,
    deadline: float,
) -> dict[str, Any]:
    """One message of kind ``expected`` from every pending child; raise on error, death or timeout."""
    results: dict[str, Any] = {}
    waiting = dict(pending)
    while waiting:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BenchmarkError(f"{label}: timed out waiting for {', '.join(waiting)} ({expected})")
        handles: list[Any] = [conn for _, conn in waiting.values()]
        handles += [process.sentinel for process, _ in waiting.values()]
        wait(handles, remaining)
        for role, (process, conn) in list(waiting.items()):
            if conn.poll():
                try:
                    kind, payload = conn.recv()
                except EOFError:
                    process.join(1.0)
                    raise BenchmarkError(f"{label}: {role} exited (code {process.exitcode}) without a result") from None
                if kind == ERROR:
                    raise BenchmarkError(f"{label}: {role} failed: {payload}")
                if kind != expected:
                    raise BenchmarkError(f"{label}: {role} sent {kind!r}, expected {expected!r}")
                results[role] = payload
                del waiting[role]
            elif not process.is_alive():
                raise BenchmarkError(f"{label}: {role} exited (code {process.exitcode}) before sending {expected!r}")
    return results


@dataclass(frozen=True, slots=True)
class PairResult:
    producer: Any
    consumer: Any
    preempted: dict[str, int]
    """Involuntary context switches of each side while it ran."""


def run_pair(
    label: str,
    producer: tuple[Work, tuple[Any, ...]],
    consumer: tuple[Work, tuple[Any, ...]],
    pinning: Pinning,
    timeout_s: float,
) -> PairResult:
    """Run ``producer`` and ``consumer`` in two pinned processes; what each returned."""
    ctx = multiprocessing.get_context(START_METHOD)
    started: list[BaseProcess] = []
    connections: list[Connection] = []
    try:
        ends: dict[str, tuple[BaseProcess, Connection]] = {}
        # The consumer starts first so that it is polling before anything is sent.
        for role, (work, args), core in (
            ("consumer", consumer, pinning.consumer_core),
            ("producer", producer, pinning.producer_core),
        ):
            parent_end, child_end = ctx.Pipe()
            connections += [parent_end, child_end]
            process: BaseProcess = ctx.Process(
                target=_child_entry,
                args=(work, child_end, core, os.getpid(), args),
                name=f"{label}-{role}",
                daemon=True,
            )
            process.start()
            started.append(process)
            child_end.close()  # the parent keeps its end only: a dead child reads as EOF
            ends[role] = (process, parent_end)
        deadline = time.monotonic() + timeout_s
        _receive(label, ends, READY, deadline)
        ends["producer"][1].send(GO)
        results = _receive(label, ends, RESULT, deadline)
        for process in started:
            process.join(5.0)
        return PairResult(
            results["producer"][0],
            results["consumer"][0],
            {"producer": results["producer"][1], "consumer": results["consumer"][1]},
        )
    finally:
        for process in started:
            _stop(process)
        for conn in connections:
            conn.close()
