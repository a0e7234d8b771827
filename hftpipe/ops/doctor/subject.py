"""What the checks look at: the host, and the pipeline's config and placement when one is given."""

from __future__ import annotations

from dataclasses import dataclass

from hftpipe.ops.cpulist import format_cpulist
from hftpipe.ops.doctor.host import Host
from hftpipe.runtime.config import PipelineConfig
from hftpipe.runtime.placement import PlacementPlan, plan_placement

SYSCTL_FILE = "/etc/sysctl.d/90-hftpipe.conf"
LIMITS_FILE = "/etc/security/limits.d/hftpipe.conf"
GRUB_FIX = "add {args} to GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub (grub2-mkconfig) and reboot"


@dataclass(frozen=True, slots=True)
class Subject:
    host: Host
    config: PipelineConfig | None
    plan: PlacementPlan | None
    latency_cores: frozenset[int]
    """The cores latency depends on: those the config's stages are placed on, else the isolated ones."""

    @classmethod
    def of(cls, host: Host, config: PipelineConfig | None) -> Subject:
        if config is None:
            return cls(host, None, None, frozenset(host.isolated()))
        online = host.cpus("online")
        pinned = {s.cpu for s in config.stages if isinstance(s.cpu, int)}
        # As the owner unit runs it: every housekeeping core plus the pinned ones (hftpipe units).
        cores = sorted((online - host.isolated()) | (pinned & online)) or sorted(online)
        plan = plan_placement(config, cores)
        placed = {p.cpu for p in plan.stages.values() if p.cpu is not None}
        return cls(host, config, plan, frozenset(placed & online))  # a missing core is its own finding

    def cores_to_isolate(self) -> str:
        """The cores a fix should isolate: the latency cores, else every online core but the first."""
        cores = set(self.latency_cores) or set(sorted(self.host.cpus("online"))[1:])
        return format_cpulist(cores) or "<cores>"

    def housekeeping(self) -> str:
        """The cores left to the OS, its timers and IRQs."""
        online = self.host.cpus("online")
        rest = online - set(self.latency_cores) if self.latency_cores else set(sorted(online)[:1])
        return format_cpulist(rest) or "0"

    def grub(self, args: str) -> str:
        return GRUB_FIX.format(args=args)


def sysctl_fix(name: str, value: str) -> str:
    """Set now, and for every boot."""
    return f"sysctl -w {name}={value}; echo '{name} = {value}' >> {SYSCTL_FILE}"
