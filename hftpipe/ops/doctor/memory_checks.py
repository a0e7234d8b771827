"""Memory: huge pages, swapping, locked-memory and realtime limits, and the shared memory the rings live in."""

from __future__ import annotations

import os
import re

from hftpipe.ops.doctor.finding import Finding, Status
from hftpipe.ops.doctor.subject import LIMITS_FILE, Subject, sysctl_fix
from hftpipe.runtime.config import check_shared_memory
from hftpipe.runtime.validation import ConfigError

SHM = "/dev/shm"
MIN_SHM_BYTES = 1 << 30
"""Without a config: less than this in /dev/shm is tight for a trading system's rings."""
MAX_SWAPPINESS = 10
_SIZE = re.compile(r"^(\d+)([kmgt]?)$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def transparent_huge_pages(subject: Subject) -> Finding:
    raw = subject.host.read("/sys/kernel/mm/transparent_hugepage/enabled")
    why = "with THP always, khugepaged compacts and collapses pages behind a running stage: stalls of milliseconds"
    if raw is None:
        return Finding("memory: transparent huge pages", Status.PASS, "not built into this kernel", why)
    chosen = raw.split("[")[1].split("]")[0] if "[" in raw else raw
    if chosen in ("never", "madvise"):
        return Finding("memory: transparent huge pages", Status.PASS, chosen, why)
    fix = "echo never > /sys/kernel/mm/transparent_hugepage/enabled; persist: " + subject.grub(
        "transparent_hugepage=never"
    )
    return Finding("memory: transparent huge pages", Status.WARN, chosen, why, fix)


def swappiness(subject: Subject) -> Finding:
    value = subject.host.sysctl("vm.swappiness")
    why = "a swapped-out page of a ring or a stage's heap costs a disk read on the hot path"
    if value is None or (value.isdigit() and int(value) <= MAX_SWAPPINESS):
        return Finding("sysctl: vm.swappiness", Status.PASS, value or "not present", why)
    fix = sysctl_fix("vm.swappiness", str(MAX_SWAPPINESS))
    return Finding("sysctl: vm.swappiness", Status.WARN, value, why, fix)


def memlock_limit(subject: Subject) -> Finding:
    soft = subject.host.limits().get("Max locked memory", ("unknown", ""))[0]
    why = "mlockall (a stage's mlockall = true) needs RLIMIT_MEMLOCK above the stage's whole footprint"
    needed = subject.config is not None and any(s.mlockall for s in subject.config.stages)
    if soft == "unlimited":
        return Finding("limit: RLIMIT_MEMLOCK", Status.PASS, "unlimited", why)
    fix = (
        f"LimitMEMLOCK=infinity in the unit (hftpipe units writes it), or '<user> - memlock unlimited' in {LIMITS_FILE}"
    )
    found = f"{soft} bytes" if soft.isdigit() else soft
    if needed:
        return Finding("limit: RLIMIT_MEMLOCK", Status.FAIL, f"{found}, and a stage asks for mlockall", why, fix)
    return Finding("limit: RLIMIT_MEMLOCK", Status.WARN, found, why, fix)


def rtprio_limit(subject: Subject) -> Finding:
    soft = subject.host.limits().get("Max realtime priority", ("unknown", ""))[0]
    why = "SCHED_FIFO (a stage's realtime_priority) up to this priority without root"
    wanted = max((s.realtime_priority or 0 for s in subject.config.stages), default=0) if subject.config else 0
    limit = 100 if soft == "unlimited" else int(soft) if soft.isdigit() else 0
    fix = (
        f"LimitRTPRIO=99 in the unit (hftpipe units writes the config's highest), or '<user> - rtprio 99'"
        f" in {LIMITS_FILE}"
    )
    if wanted and limit < wanted:
        found = f"{soft}, below the config's realtime_priority {wanted}"
        return Finding("limit: RLIMIT_RTPRIO", Status.FAIL, found, why, fix)
    if subject.config is not None and not wanted:
        return Finding("limit: RLIMIT_RTPRIO", Status.PASS, f"{soft} (no stage asks for SCHED_FIFO)", why)
    if limit == 0:
        return Finding("limit: RLIMIT_RTPRIO", Status.WARN, soft, why, fix)
    return Finding("limit: RLIMIT_RTPRIO", Status.PASS, soft, why)


def _size_option(options: tuple[str, ...]) -> int | None:
    for option in options:
        if option.startswith("size="):
            match = _SIZE.match(option[5:])
            if match:
                return int(match[1]) * _UNITS[match[2].lower()]
    return None


def dev_shm(subject: Subject) -> Finding:
    host = subject.host
    why = "every ring and the control file are files in /dev/shm: a pipeline needs it writable, and room for them"
    mount = next((m for m in reversed(host.mounts()) if m.path == SHM), None)
    if mount is None:
        fix = "mount -t tmpfs -o size=4g,nosuid,nodev tmpfs /dev/shm"
        return Finding("memory: /dev/shm", Status.FAIL, "not mounted", why, fix)
    resize = f"mount -o remount,size=<bytes> {SHM}; persist the size in /etc/fstab"
    if "ro" in mount.options:
        return Finding("memory: /dev/shm", Status.FAIL, f"{mount.fstype} mounted read-only", why,
                       f"mount -o remount,rw {SHM}")  # fmt: skip
    try:
        stat = os.statvfs(host.root / SHM.lstrip("/"))
        size, free = stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize
    except OSError:
        size = free = 0
    declared = _size_option(mount.options)
    if declared is not None:  # a fake tree's mount line says what its directory cannot
        size, free = declared, min(free, declared) if free else declared
    found = f"{mount.fstype}, {size >> 20} MiB ({free >> 20} MiB free), {','.join(mount.options)}"
    if mount.fstype != "tmpfs":
        return Finding("memory: /dev/shm", Status.WARN, found + ": not tmpfs, so rings live on a disk", why,
                       "mount -t tmpfs -o size=4g,nosuid,nodev tmpfs /dev/shm")  # fmt: skip
    if subject.config is not None:
        try:
            check_shared_memory(subject.config, free)
        except ConfigError as exc:
            return Finding("memory: /dev/shm", Status.FAIL, f"{found}: {exc.reason}", why, resize)
        return Finding("memory: /dev/shm", Status.PASS, found + ": room for the config's rings", why)
    if size < MIN_SHM_BYTES:
        return Finding("memory: /dev/shm", Status.WARN, found + ": under 1 GiB", why, resize)
    return Finding("memory: /dev/shm", Status.PASS, found, why)


CHECKS = (transparent_huge_pages, swappiness, memlock_limit, rtprio_limit, dev_shm)
