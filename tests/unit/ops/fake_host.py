"""Fake ``/proc`` and ``/sys`` trees for the doctor: an 8-core SMT host, tuned or not."""

from __future__ import annotations

from pathlib import Path

SIBLINGS = {0: "0,4", 1: "1,5", 2: "2,6", 3: "3,7", 4: "0,4", 5: "1,5", 6: "2,6", 7: "3,7"}
LIMITS_HEADER = "Limit                     Soft Limit           Hard Limit           Units     "


def _write(root: Path, path: str, text: str) -> None:
    file = root / path.lstrip("/")
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text + "\n")


def _limits(memlock: str, rtprio: str) -> str:
    return "\n".join([
        LIMITS_HEADER,
        f"Max locked memory         {memlock:<21}{memlock:<21}bytes     ",
        f"Max realtime priority     {rtprio:<21}{rtprio:<21}          ",
    ])  # fmt: skip


def write_host(root: Path, *, tuned: bool, cpufreq: bool = True) -> Path:
    """A tuned host (cores 2-3 and their siblings 6-7 isolated) or an untouched one."""
    cpu = "/sys/devices/system/cpu"
    _write(root, f"{cpu}/online", "0-7")
    _write(root, f"{cpu}/kernel_max", "15")
    _write(root, f"{cpu}/isolated", "2-3,6-7" if tuned else "")
    _write(root, f"{cpu}/nohz_full", "2-3,6-7" if tuned else "(null)")
    for n in range(8):
        _write(root, f"{cpu}/cpu{n}/topology/thread_siblings_list", SIBLINGS[n])
        if cpufreq:
            _write(root, f"{cpu}/cpu{n}/cpufreq/scaling_governor", "performance" if tuned else "powersave")
        for index, (name, latency, disabled) in enumerate([("POLL", 0, 0), ("C1", 2, 0), ("C6", 133, int(tuned))]):
            _write(root, f"{cpu}/cpu{n}/cpuidle/state{index}/name", name)
            _write(root, f"{cpu}/cpu{n}/cpuidle/state{index}/latency", str(latency))
            _write(root, f"{cpu}/cpu{n}/cpuidle/state{index}/disable", str(disabled))
    if cpufreq:
        _write(root, f"{cpu}/intel_pstate/no_turbo", "1" if tuned else "0")
    cmdline = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet"
    if tuned:
        cmdline += " isolcpus=managed_irq,domain,2-3,6-7 nohz_full=2-3,6-7 rcu_nocbs=2-3,6-7 irqaffinity=0-1,4-5"
    _write(root, "/proc/cmdline", cmdline)
    sysctls = {
        "vm/swappiness": ("10", "60"),
        "kernel/numa_balancing": ("0", "1"),
        "kernel/timer_migration": ("0", "1"),
        "kernel/nmi_watchdog": ("0", "1"),
        "kernel/watchdog": ("0", "1"),
        "kernel/sched_rt_runtime_us": ("-1", "950000"),
    }
    for name, (good, bad) in sysctls.items():
        _write(root, f"/proc/sys/{name}", good if tuned else bad)
    _write(root, "/sys/kernel/mm/transparent_hugepage/enabled", "always madvise [never]" if tuned else
           "[always] madvise never")  # fmt: skip
    clocks = "/sys/devices/system/clocksource/clocksource0"
    _write(root, f"{clocks}/current_clocksource", "tsc" if tuned else "hpet")
    _write(root, f"{clocks}/available_clocksource", "tsc hpet acpi_pm")
    for irq, target in (("24", "0"), ("25", "1" if tuned else "2")):
        _write(root, f"/proc/irq/{irq}/effective_affinity_list", target)
    _write(root, "/proc/1/comm", "systemd")
    _write(root, "/proc/812/comm", "sshd" if tuned else "irqbalance")
    _write(root, "/proc/self/limits", _limits("unlimited", "99") if tuned else _limits("65536", "0"))
    shm_size = "4g" if tuned else "64k"
    _write(root, "/proc/mounts", f"tmpfs /dev/shm tmpfs rw,nosuid,nodev,size={shm_size} 0 0")
    (root / "dev" / "shm").mkdir(parents=True, exist_ok=True)
    return root
