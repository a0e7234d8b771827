"""Resolve ``cpu = "auto"`` and ``idle = "auto"`` for the cores this host offers.

Busy-spinning only pays when every stage has a core of its own: five spinning
processes on two cores are slower than five that block, because a spinner
holds the core its producer needs. So:

* cores > stages: pin each auto stage to its own core, leaving the first
  core to the OS and the supervisor; idle = busy-spin.
* cores == stages: pin one per core; idle = backoff (nothing is left over).
* cores < stages: leave auto stages unpinned so the kernel can balance them;
  idle = blocking for stages with input rings, backoff for sources.

On CPUs without x86-64 store ordering only ``blocking`` is allowed.

The unit placed is the OS process (:mod:`hftpipe.runtime.processes`): a
composite of several stages counts once and gets one core and one idle
strategy, written into each of its stages' slots. A composite with an
asyncio stage idles in its event loop (``event-loop``); one of polling stages
only idles as one polling stage would (``blocking`` when it has inputs and
cores are shared).
"""

from __future__ import annotations

from dataclasses import dataclass

from hftpipe.runtime.agent import Drive
from hftpipe.runtime.config import AUTO, NO_PINNING, PipelineConfig
from hftpipe.runtime.validation import ConfigError
from hftpipe.substrate.idle import EVENT_LOOP, check_memory_order
from hftpipe.substrate.ring import is_total_store_order


@dataclass(frozen=True, slots=True)
class Placement:
    cpu: int | None
    idle: str


@dataclass(frozen=True, slots=True)
class PlacementPlan:
    stages: dict[str, Placement]
    explanation: str


def plan_placement(config: PipelineConfig, cores: list[int], machine: str | None = None) -> PlacementPlan:
    cores = sorted(cores)
    n_stages = len(config.stages)
    processes = config.processes()
    n_units = len(processes)
    taken = {s.cpu for s in config.stages if isinstance(s.cpu, int)}
    free = [c for c in cores if c not in taken]
    tso = is_total_store_order(machine)
    if len(cores) > n_units:
        spare, pool, mode = free[:1], free[1:], "dedicated"
    elif len(cores) == n_units:
        spare, pool, mode = [], free, "one-per-core"
    else:
        spare, pool, mode = [], [], "shared"
    auto_idle = {"dedicated": "busy-spin", "one-per-core": "backoff", "shared": "blocking"}[mode]

    placements: dict[str, Placement] = {}
    for members in processes.values():
        stage = members[0]  # the stages of a process agree on cpu and idle (checked by the config)
        if stage.cpu == AUTO:
            cpu = pool.pop(0) if pool else None
        elif stage.cpu == NO_PINNING:
            cpu = None
        else:
            assert isinstance(stage.cpu, int)
            cpu = stage.cpu
        idle = stage.idle
        if any(member.drive is Drive.EVENT_LOOP for member in members):
            idle = EVENT_LOOP  # its asyncio loop blocks in epoll: no idle strategy applies
        elif idle == AUTO:
            has_inputs = any(config.inputs_of(member.name) for member in members)
            idle = auto_idle if (has_inputs or mode != "shared") else "backoff"
            if not tso:
                idle = "blocking"
        else:
            try:
                check_memory_order(idle, machine)
            except RuntimeError as exc:
                raise ConfigError(f"stages.{stage.name}.idle", str(exc)) from exc
        for member in members:
            placements[member.name] = Placement(cpu, idle)

    placements = {s.name: placements[s.name] for s in config.stages}
    core_text = f"{len(cores)} core{'s' if len(cores) != 1 else ''}"
    stage_text = f"{n_stages} stages" + (f" in {n_units} processes" if n_units != n_stages else "")
    if mode == "dedicated":
        why = f"each auto stage on its own core, core {spare[0] if spare else '-'} left to the OS and supervisor"
    elif mode == "one-per-core":
        why = "one stage per core, no spare core, so stages back off instead of spinning"
    else:
        why = "fewer cores than stages: auto stages unpinned, consumers block on their doorbell"
    detail = ", ".join(f"{name}=cpu {p.cpu if p.cpu is not None else '-'}/{p.idle}" for name, p in placements.items())
    return PlacementPlan(placements, f"auto placement: {core_text} for {stage_text}: {why} ({detail})")
