"""With a config: do the cores its stages are placed on exist, are they isolated, and does every
busy-spinning stage have a physical core to itself?"""

from __future__ import annotations

from hftpipe.ops.cpulist import format_cpulist, parse_cpulist
from hftpipe.ops.doctor.finding import Finding, Status
from hftpipe.ops.doctor.subject import Subject
from hftpipe.substrate.idle import SPINNING_ALIASES

HOLDS_ITS_CORE = tuple(a for a in SPINNING_ALIASES if a in ("busy-spin", "yield"))
"""Idle strategies that never give their core back while idle (``backoff`` parks, ``blocking`` sleeps)."""


def pinned_cores_exist(subject: Subject) -> Finding:
    assert subject.config is not None
    online = subject.host.cpus("online")
    pinned = {s.name: s.cpu for s in subject.config.stages if isinstance(s.cpu, int)}
    missing = {name: cpu for name, cpu in pinned.items() if cpu not in online}
    why = "a stage pinned to a core the host lacks cannot start"
    if missing:
        found = (
            ", ".join(f"{name} on cpu{cpu}" for name, cpu in missing.items()) + f" (online: {format_cpulist(online)})"
        )
        return Finding("config: pinned cores exist", Status.FAIL, found, why, "set those stages' cpu to an online core")
    found = f"cpu {format_cpulist(pinned.values())} online" if pinned else "no stage pinned to a core by number"
    return Finding("config: pinned cores exist", Status.PASS, found, why)


def placed_cores_isolated(subject: Subject) -> Finding:
    assert subject.plan is not None
    isolated = subject.host.isolated()
    placed = {name: p.cpu for name, p in subject.plan.stages.items() if p.cpu is not None}
    exposed = {name: cpu for name, cpu in placed.items() if cpu not in isolated}
    why = "a stage's core that is not isolated also runs whatever else the scheduler puts there"
    if not placed:
        return Finding("config: stage cores isolated", Status.PASS, "no stage is pinned on this host", why)
    if not exposed:
        return Finding("config: stage cores isolated", Status.PASS, f"cpu {format_cpulist(placed.values())}", why)
    found = ", ".join(f"{name} on cpu{cpu}" for name, cpu in exposed.items()) + " not isolated"
    fix = subject.grub(f"isolcpus=managed_irq,domain,{format_cpulist(placed.values())}")
    return Finding("config: stage cores isolated", Status.WARN, found, why, fix)


def spinners_alone(subject: Subject) -> Finding:
    assert subject.plan is not None
    host = subject.host
    spinners = {name: p.cpu for name, p in subject.plan.stages.items() if p.idle in HOLDS_ITS_CORE}
    why = "a busy-spinning stage holds its core: two on one physical core (or SMT siblings) starve each other"
    if not spinners:
        return Finding("config: busy-spinning stages alone", Status.PASS, "no stage busy-spins on this host", why)
    unpinned = [name for name, cpu in spinners.items() if cpu is None]
    by_core: dict[frozenset[int], list[str]] = {}
    for name, cpu in spinners.items():
        if cpu is not None:
            siblings = parse_cpulist(host.cpu_file(cpu, "topology/thread_siblings_list") or str(cpu)) | {cpu}
            by_core.setdefault(frozenset(siblings), []).append(f"{name} (cpu{cpu})")
    shared = [names for names in by_core.values() if len(names) > 1]
    if shared:
        found = "; ".join(" and ".join(names) + " share a physical core" for names in shared)
        fix = 'pin each busy-spinning stage to a different physical core, or give one idle = "backoff"'
        return Finding("config: busy-spinning stages alone", Status.FAIL, found, why, fix)
    if unpinned:
        found = ", ".join(unpinned) + " busy-spin without a core of their own"
        return Finding("config: busy-spinning stages alone", Status.WARN, found, why,
                       "give each a cpu = N of its own, or idle = \"backoff\"")  # fmt: skip
    found = ", ".join(f"{n} on cpu{c}" for n, c in spinners.items())
    return Finding("config: busy-spinning stages alone", Status.PASS, found, why)


CHECKS = (pinned_cores_exist, placed_cores_isolated, spinners_alone)
