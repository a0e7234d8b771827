"""Which stages share an OS process: the ``process`` key of ``[stages.NAME]``.

By default every stage runs in a process of its own, named after it. Stages
that name the same ``process`` run in one *composite* process (Agrona's
``CompositeAgent``, Aeron's shared threading mode): still joined by their
rings, each with its own counters, histograms, heartbeat, status and state.

``process = "auto"`` lets the host decide: when it offers fewer cores than
there would be processes with one per stage, the ``auto`` stages joined by
rings (a connected part of the ring graph, counting only ``auto`` stages)
share one composite named ``auto-<its first stage>``; otherwise each runs
alone. Stages that meet only over sockets (an exchange and the pipeline
trading on it) are never merged by ``auto``. The choice is a pure function of
the config and the cores the process may use; every process of a pipeline
is started by its supervisor with the supervisor's cores, so each reaches the
same assignment (which names the doorbells producers ring).

A composite is placed as one: its stages may not be pinned to different
cores, ask for different idle strategies, priorities or ``mlockall``
(each mismatch is a :class:`~hftpipe.runtime.validation.ConfigError` on the
later stage's key).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from hftpipe.runtime.validation import ConfigError

if TYPE_CHECKING:
    from hftpipe.runtime.config import RingConfig, StageConfig

AUTO_PROCESS: Final = "auto"
AUTO_PREFIX: Final = "auto-"
_SHARED_SETTINGS: Final = ("cpu", "idle", "realtime_priority", "mlockall")
"""What a process has once, so its stages must agree on it."""


def assign_processes(stages: Sequence[StageConfig], rings: Sequence[RingConfig], n_cores: int) -> dict[str, str]:
    """Each stage's process name: declared, its own, or (``"auto"``) decided for ``n_cores``."""
    declared = {s.name: s.process for s in stages}
    names = set(declared)
    for stage in stages:
        process = stage.process
        if process in names and declared[process] not in (process, "") and process != stage.name:
            raise ConfigError(
                f"stages.{stage.name}.process",
                f"{process!r} is a stage that runs in process {declared[process]!r}: name a process, not a stage",
            )
        if process.startswith(AUTO_PREFIX):
            raise ConfigError(f"stages.{stage.name}.process", f'names starting {AUTO_PREFIX!r} are given by "auto"')
    assigned = {name: (process or name) for name, process in declared.items() if process != AUTO_PROCESS}
    auto = [s.name for s in stages if s.process == AUTO_PROCESS]
    solo_count = len(set(assigned.values())) + len(auto)
    if auto and n_cores < solo_count:
        assigned.update(_components(auto, rings))
    else:
        assigned.update({name: name for name in auto})
    ordered = {s.name: assigned[s.name] for s in stages}
    _check_agreement(stages, ordered)
    return ordered


def _components(auto: list[str], rings: Sequence[RingConfig]) -> dict[str, str]:
    """The ``auto`` stages joined by rings, each part named after its first stage (in declared order)."""
    parent = {name: name for name in auto}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for ring in rings:
        if ring.producer in parent and ring.consumer in parent:
            a, b = root(ring.producer), root(ring.consumer)
            if a != b:
                first, second = sorted((a, b), key=auto.index)
                parent[second] = first
    return {name: AUTO_PREFIX + root(name) for name in auto}


def _check_agreement(stages: Sequence[StageConfig], process_of: dict[str, str]) -> None:
    first: dict[str, StageConfig] = {}
    for stage in stages:
        process = process_of[stage.name]
        head = first.setdefault(process, stage)
        if head is stage:
            continue
        for setting in _SHARED_SETTINGS:
            mine, theirs = getattr(stage, setting), getattr(head, setting)
            if mine != theirs:
                raise ConfigError(
                    f"stages.{stage.name}.{setting}",
                    f"{mine!r} differs from {theirs!r} of stage {head.name!r}, which runs in the same process"
                    f" {process!r}: a process has one {setting}",
                )
