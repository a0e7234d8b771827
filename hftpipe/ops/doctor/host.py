"""The host as the doctor reads it: ``/proc`` and ``/sys`` under a root (``/``, or a test's fake tree)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from hftpipe.ops.cpulist import parse_cpulist

_LIMIT_LINE = re.compile(r"^(?P<name>Max [a-z ]+?)\s{2,}(?P<soft>\S+)\s+(?P<hard>\S+)")


@dataclass(frozen=True, slots=True)
class Mount:
    device: str
    path: str
    fstype: str
    options: tuple[str, ...]


@dataclass
class Host:
    root: Path = Path("/")
    _cmdline: dict[str, str] | None = field(default=None, repr=False)

    def read(self, path: str) -> str | None:
        """The stripped text of ``path`` (absolute, under the root), or None if it cannot be read."""
        try:
            return (self.root / path.lstrip("/")).read_text().strip()
        except OSError:
            return None

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self.root / path.lstrip("/")))
        except OSError:
            return []

    def cmdline(self) -> dict[str, str]:
        """Kernel parameters: ``name -> value`` (``""`` for a bare flag such as ``nosmt``)."""
        if self._cmdline is None:
            words = (self.read("/proc/cmdline") or "").split(" -- ")[0].split()
            self._cmdline = {w.partition("=")[0]: w.partition("=")[2] for w in words}
        return self._cmdline

    def cpus(self, which: str = "online") -> set[int]:
        """``online``, ``isolated``, ``nohz_full`` ... from ``/sys/devices/system/cpu``."""
        return parse_cpulist(self.read(f"/sys/devices/system/cpu/{which}") or "")

    def cpu_file(self, cpu: int, name: str) -> str | None:
        return self.read(f"/sys/devices/system/cpu/cpu{cpu}/{name}")

    def isolated(self) -> set[int]:
        """Cores kept from the scheduler's load balancing: sysfs ``isolated`` or ``isolcpus=``."""
        return self.cpus("isolated") | parse_cpulist(self.cmdline().get("isolcpus", ""))

    def sysctl(self, name: str) -> str | None:
        return self.read("/proc/sys/" + name.replace(".", "/"))

    def limits(self) -> dict[str, tuple[str, str]]:
        """``/proc/self/limits``: ``"Max locked memory" -> (soft, hard)``."""
        rows = {}
        for line in (self.read("/proc/self/limits") or "").splitlines()[1:]:
            match = _LIMIT_LINE.match(line)
            if match:
                rows[match["name"]] = (match["soft"], match["hard"])
        return rows

    def mounts(self) -> list[Mount]:
        rows = []
        for line in (self.read("/proc/mounts") or "").splitlines():
            parts = line.split()
            if len(parts) >= 4:
                rows.append(Mount(parts[0], parts[1], parts[2], tuple(parts[3].split(","))))
        return rows

    def running(self, command: str) -> bool:
        """Whether a process named ``command`` runs (``/proc/PID/comm``)."""
        return any(self.read(f"/proc/{pid}/comm") == command for pid in self.listdir("/proc") if pid.isdigit())

    def statvfs_bytes(self, path: str) -> int | None:
        try:
            stat = os.statvfs(self.root / path.lstrip("/"))
        except OSError:
            return None
        return stat.f_blocks * stat.f_frsize
