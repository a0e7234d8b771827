"""``hftpipe doctor``: is this host ready for low latency, and for this pipeline?

Each check reads ``/proc`` and ``/sys`` (under a root a test can point at a
fake tree) and says PASS, WARN or FAIL, what it found, why it matters and the
command that fixes it. FAIL is kept for what stops a given config from
running as configured (a pinned core the host lacks, no room in /dev/shm,
two spinning stages on one physical core, a limit below what a stage asks);
what costs latency, or cannot be checked here (a VM without cpufreq), is a
WARN. Anchors: tuned's ``latency-performance`` and ``cpu-partitioning``
profiles, ``rpk redpanda check``, Red Hat's low-latency tuning guide.
"""

from __future__ import annotations

from hftpipe.ops.doctor import cpu_checks, kernel_checks, memory_checks, pipeline_checks
from hftpipe.ops.doctor.finding import Finding, Status
from hftpipe.ops.doctor.host import Host
from hftpipe.ops.doctor.subject import Subject
from hftpipe.runtime.config import PipelineConfig

HOST_CHECKS = (*kernel_checks.CHECKS, *cpu_checks.CHECKS, *memory_checks.CHECKS)


def examine(host: Host, config: PipelineConfig | None = None) -> list[Finding]:
    """Every host check, then, with a config, the checks of its stages' placement."""
    subject = Subject.of(host, config)
    checks = HOST_CHECKS + (pipeline_checks.CHECKS if config is not None else ())
    return [check(subject) for check in checks]


__all__ = ["Finding", "Host", "Status", "examine"]
