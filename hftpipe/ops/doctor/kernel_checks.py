"""Kernel command line and scheduler/timer settings (tuned's ``cpu-partitioning`` and
``latency-performance`` profiles, Red Hat's low-latency tuning guide)."""

from __future__ import annotations

from hftpipe.ops.cpulist import format_cpulist, parse_cpulist
from hftpipe.ops.doctor.finding import Finding, Status
from hftpipe.ops.doctor.subject import SYSCTL_FILE, Subject, sysctl_fix


def _covers(listed: set[int], subject: Subject) -> tuple[Status, str]:
    missing = set(subject.latency_cores) - listed
    if not listed:
        return Status.WARN, "not set"
    if missing:
        return Status.WARN, f"{format_cpulist(listed)}, leaving out latency cores {format_cpulist(missing)}"
    return Status.PASS, format_cpulist(listed)


def isolcpus(subject: Subject) -> Finding:
    status, found = _covers(subject.host.isolated(), subject)
    return Finding(
        "kernel: isolcpus",
        status,
        found,
        "an isolated core runs only what is pinned to it: no other task is balanced onto a spinning stage",
        "" if status is Status.PASS else subject.grub(f"isolcpus=managed_irq,domain,{subject.cores_to_isolate()}"),
    )


def _cmdline_list(subject: Subject, parameter: str, why: str) -> Finding:
    status, found = _covers(parse_cpulist(subject.host.cmdline().get(parameter, "")), subject)
    fix = "" if status is Status.PASS else subject.grub(f"{parameter}={subject.cores_to_isolate()}")
    return Finding(f"kernel: {parameter}", status, found, why, fix)


def nohz_full(subject: Subject) -> Finding:
    return _cmdline_list(
        subject, "nohz_full", "without it the scheduler tick interrupts a busy core up to 1000 times a second"
    )


def rcu_nocbs(subject: Subject) -> Finding:
    return _cmdline_list(subject, "rcu_nocbs", "RCU callbacks otherwise run on the core that queued them, as jitter")


def irqaffinity(subject: Subject) -> Finding:
    value = subject.host.cmdline().get("irqaffinity")
    why = "the default affinity of every new IRQ: without it, device interrupts may land on latency cores"
    fix = subject.grub(f"irqaffinity={subject.housekeeping()}")
    if value is None:
        return Finding("kernel: irqaffinity", Status.WARN, "not set", why, fix)
    overlap = parse_cpulist(value) & set(subject.latency_cores)
    if overlap:
        return Finding("kernel: irqaffinity", Status.WARN, f"{value}, including latency cores "
                       f"{format_cpulist(overlap)}", why, fix)  # fmt: skip
    return Finding("kernel: irqaffinity", Status.PASS, value, why)


def _sysctl(subject: Subject, name: str, good: str, why: str, absent: str) -> Finding:
    value = subject.host.sysctl(name)
    if value is None:
        return Finding(f"sysctl: {name}", Status.PASS, absent, why)
    if value == good:
        return Finding(f"sysctl: {name}", Status.PASS, value, why)
    fix = sysctl_fix(name, good)
    return Finding(f"sysctl: {name}", Status.WARN, value, why, fix)


def numa_balancing(subject: Subject) -> Finding:
    return _sysctl(
        subject,
        "kernel.numa_balancing",
        "0",
        "automatic NUMA balancing unmaps pages to sample them: a hot path takes page faults",
        "not present (a kernel without NUMA balancing)",
    )


def timer_migration(subject: Subject) -> Finding:
    return _sysctl(
        subject,
        "kernel.timer_migration",
        "0",
        "timers migrate to busy cores when it is on; off, they stay where they were armed",
        "not present",
    )


def watchdogs(subject: Subject) -> Finding:
    host = subject.host
    on = [name for name in ("kernel.nmi_watchdog", "kernel.watchdog") if host.sysctl(name) not in (None, "0")]
    why = "the lockup watchdogs fire a timer (and a perf NMI) on every core, isolated ones included"
    if not on:
        return Finding("kernel: watchdogs", Status.PASS, "nmi_watchdog and soft-lockup watchdog off", why)
    fix = (
        f"sysctl -w kernel.nmi_watchdog=0 kernel.watchdog=0 (persist in {SYSCTL_FILE}, "
        f"or {subject.grub('nowatchdog nmi_watchdog=0')})"
    )
    return Finding("kernel: watchdogs", Status.WARN, " and ".join(f"{n}=1" for n in on), why, fix)


def rt_runtime(subject: Subject) -> Finding:
    value = subject.host.sysctl("kernel.sched_rt_runtime_us")
    why = (
        "SCHED_FIFO tasks are throttled for the rest of each second once they used this many µs:"
        " a spinning realtime stage stalls for 50 ms every second at the default 950000"
    )
    wants_rt = subject.config is None or any(s.realtime_priority for s in subject.config.stages)
    if value == "-1":
        return Finding("sysctl: kernel.sched_rt_runtime_us", Status.PASS, "-1 (no throttling)", why)
    if not wants_rt:
        found = f"{value} (no stage asks for SCHED_FIFO, so it does not matter here)"
        return Finding("sysctl: kernel.sched_rt_runtime_us", Status.PASS, found, why)
    fix = sysctl_fix("kernel.sched_rt_runtime_us", "-1")
    return Finding("sysctl: kernel.sched_rt_runtime_us", Status.WARN, value or "not readable", why, fix)


def clocksource(subject: Subject) -> Finding:
    base = "/sys/devices/system/clocksource/clocksource0"
    current = subject.host.read(f"{base}/current_clocksource")
    available = (subject.host.read(f"{base}/available_clocksource") or "").split()
    why = "every latency stamp reads the clock: the TSC is read in user space in ~20 ns, others may need a syscall"
    if current == "tsc":
        return Finding("clocksource", Status.PASS, "tsc", why)
    found = f"{current or 'unknown'} (available: {' '.join(available) or 'unknown'})"
    if "tsc" in available:
        fix = f"echo tsc > {base}/current_clocksource; persist: {subject.grub('clocksource=tsc tsc=reliable')}"
    else:
        fix = "none from here: the TSC is not offered (a VM whose hypervisor hides an invariant TSC)"
    return Finding("clocksource", Status.WARN, found, why, fix)


CHECKS = (isolcpus, nohz_full, rcu_nocbs, irqaffinity, clocksource, watchdogs, timer_migration, numa_balancing,
          rt_runtime)  # fmt: skip
