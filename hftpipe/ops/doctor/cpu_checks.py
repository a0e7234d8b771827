"""Per-core settings: frequency, idle states, SMT siblings, where interrupts land."""

from __future__ import annotations

from hftpipe.ops.cpulist import format_cpulist, parse_cpulist
from hftpipe.ops.doctor.finding import Finding, Status
from hftpipe.ops.doctor.subject import Subject

MAX_EXIT_LATENCY_US = 2
"""An idle state slower to leave than this delays the next record (tuned latency-performance keeps C1 at most)."""
IRQBALANCE_CONFIGS = ("/etc/default/irqbalance", "/etc/sysconfig/irqbalance")


def _cores(subject: Subject) -> list[int]:
    """The cores to look at: the latency cores, else every online one."""
    return sorted(subject.latency_cores or subject.host.cpus("online"))


def governor(subject: Subject) -> Finding:
    host = subject.host
    why = "a governor other than performance lowers the clock of a core that waits, and a record pays to raise it"
    governors = {cpu: host.cpu_file(cpu, "cpufreq/scaling_governor") for cpu in _cores(subject)}
    known = {cpu: g for cpu, g in governors.items() if g is not None}
    if not known:
        return Finding("cpu: frequency governor", Status.WARN,
                       "no cpufreq here (a VM, or firmware owns the clock): cannot check; set the host's or BIOS's "
                       "power profile to performance", why)  # fmt: skip
    slow = {cpu: g for cpu, g in known.items() if g != "performance"}
    if not slow:
        return Finding("cpu: frequency governor", Status.PASS, f"performance on {format_cpulist(known)}", why)
    found = ", ".join(f"cpu{c} {g}" for c, g in sorted(slow.items()))
    fix = "cpupower frequency-set -g performance (or tuned-adm profile latency-performance)"
    return Finding("cpu: frequency governor", Status.WARN, found, why, fix)


def boost(subject: Subject) -> Finding:
    host = subject.host
    why = "turbo boost moves a core's clock with the load and temperature of its neighbours: latency jitter"
    no_turbo = host.read("/sys/devices/system/cpu/intel_pstate/no_turbo")
    if no_turbo is not None:
        if no_turbo == "1":
            return Finding("cpu: boost", Status.PASS, "intel_pstate no_turbo=1", why)
        fix = "echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo"
        return Finding("cpu: boost", Status.WARN, "intel_pstate turbo on", why, fix)
    generic = host.read("/sys/devices/system/cpu/cpufreq/boost")
    if generic is not None:
        if generic == "0":
            return Finding("cpu: boost", Status.PASS, "cpufreq boost=0", why)
        return Finding("cpu: boost", Status.WARN, "cpufreq boost on", why,
                       "echo 0 > /sys/devices/system/cpu/cpufreq/boost")  # fmt: skip
    return Finding("cpu: boost", Status.WARN, "no boost control here (a VM, or no cpufreq driver): cannot check", why)


def idle_states(subject: Subject) -> Finding:
    host = subject.host
    why = f"a core waking from an idle state slower than {MAX_EXIT_LATENCY_US} µs delays the record that woke it"
    deep: dict[str, set[int]] = {}
    seen = False
    for cpu in _cores(subject):
        for state in host.listdir(f"/sys/devices/system/cpu/cpu{cpu}/cpuidle"):
            base = f"cpuidle/{state}"
            latency = host.cpu_file(cpu, f"{base}/latency")
            if latency is None or not latency.isdigit():
                continue
            seen = True
            if host.cpu_file(cpu, f"{base}/disable") != "1" and int(latency) > MAX_EXIT_LATENCY_US:
                name = host.cpu_file(cpu, f"{base}/name") or state
                deep.setdefault(f"{name} ({latency} µs)", set()).add(cpu)
    if not seen:
        return Finding("cpu: idle states", Status.PASS, "no cpuidle states exposed (the kernel's default idle)", why)
    if not deep:
        return Finding("cpu: idle states", Status.PASS, f"none slower than {MAX_EXIT_LATENCY_US} µs enabled", why)
    found = "; ".join(f"{name} on cpu {format_cpulist(cpus)}" for name, cpus in sorted(deep.items()))
    fix = f"cpupower idle-set -D {MAX_EXIT_LATENCY_US} (or tuned-adm profile latency-performance)"
    return Finding("cpu: idle states", Status.WARN, found, why, fix)


def smt_siblings(subject: Subject) -> Finding:
    host = subject.host
    why = "an SMT sibling shares the core's execution units and caches: whatever runs there slows the stage"
    if not subject.latency_cores:
        return Finding("cpu: SMT siblings of pinned cores", Status.PASS, "no pinned or isolated cores to check", why)
    busy: list[str] = []
    for cpu in sorted(subject.latency_cores):
        siblings = parse_cpulist(host.cpu_file(cpu, "topology/thread_siblings_list") or str(cpu)) - {cpu}
        exposed = siblings - host.isolated()
        if exposed:
            busy.append(f"cpu{cpu} shares its core with cpu {format_cpulist(exposed)} (not isolated)")
    if not busy:
        found = f"cores {format_cpulist(subject.latency_cores)} have no sibling the OS schedules on"
        return Finding("cpu: SMT siblings of pinned cores", Status.PASS, found, why)
    fix = (
        "echo off > /sys/devices/system/cpu/smt/control (or nosmt on the kernel command line), "
        "or isolate the siblings too and leave them idle"
    )
    return Finding("cpu: SMT siblings of pinned cores", Status.WARN, "; ".join(busy), why, fix)


def irq_affinity(subject: Subject) -> Finding:
    host = subject.host
    why = "an interrupt handled on a latency core stops the stage running there for its handler's duration"
    cores = set(subject.latency_cores)
    if not cores:
        return Finding("irq: affinity", Status.PASS, "no pinned or isolated cores to keep IRQs off", why)
    landing: list[str] = []
    for irq in (i for i in host.listdir("/proc/irq") if i.isdigit()):
        targets = host.read(f"/proc/irq/{irq}/effective_affinity_list") or host.read(
            f"/proc/irq/{irq}/smp_affinity_list"
        )
        if targets and parse_cpulist(targets) & cores:
            landing.append(irq)
    if not landing:
        return Finding("irq: affinity", Status.PASS, f"no IRQ targets cores {format_cpulist(cores)}", why)
    shown = ", ".join(landing[:12]) + (f" and {len(landing) - 12} more" if len(landing) > 12 else "")
    fix = (
        f"for i in {' '.join(landing)}; do echo {subject.housekeeping()} > /proc/irq/$i/smp_affinity_list; done"
        f" (persist: {subject.grub('irqaffinity=' + subject.housekeeping())})"
    )
    found = f"IRQ {shown} may land on cores {format_cpulist(cores)}"
    return Finding("irq: affinity", Status.WARN, found, why, fix)


def irqbalance(subject: Subject) -> Finding:
    host = subject.host
    why = "irqbalance moves IRQs every 10 s, onto any core it is not told to keep away from"
    if not host.running("irqbalance"):
        return Finding("irq: irqbalance", Status.PASS, "not running (IRQ affinity stays as set)", why)
    cores = set(subject.latency_cores)
    if not cores:
        return Finding("irq: irqbalance", Status.PASS, "running; no pinned or isolated cores to keep IRQs off", why)
    # irqbalance leaves isolcpus= and nohz_full= cores alone by itself; banned ones too.
    banned = host.isolated() | host.cpus("nohz_full")
    for path in IRQBALANCE_CONFIGS:
        for line in (host.read(path) or "").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "IRQBALANCE_BANNED_CPULIST":
                banned |= parse_cpulist(value.strip().strip("\"'"))
    exposed = cores - banned
    if not exposed:
        return Finding("irq: irqbalance", Status.PASS, "running, keeping off the latency cores", why)
    fix = (
        f"echo 'IRQBALANCE_BANNED_CPULIST={format_cpulist(exposed)}' >> /etc/default/irqbalance"
        " && systemctl restart irqbalance (or systemctl disable --now irqbalance)"
    )
    return Finding("irq: irqbalance", Status.WARN, f"running, free to move IRQs onto cpu {format_cpulist(exposed)}",
                   why, fix)  # fmt: skip


CHECKS = (governor, boost, idle_states, smt_siblings, irq_affinity, irqbalance)
