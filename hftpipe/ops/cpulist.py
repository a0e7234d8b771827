"""The kernel's CPU list format (``0-3,8,10-11``): sysfs, ``isolcpus=``, ``CPUAffinity=``."""

from __future__ import annotations

from collections.abc import Iterable


def parse_cpulist(text: str) -> set[int]:
    """``"0-2,5"`` -> ``{0, 1, 2, 5}``; flags such as ``isolcpus=domain,managed_irq,2-3`` are skipped,
    and so is the ``/N`` stride suffix's remainder (a list only ever narrows with it)."""
    cpus: set[int] = set()
    for raw_part in text.strip().split(","):
        part = raw_part.strip()
        if not part or not part[0].isdigit():
            continue
        span, _, stride_text = part.partition("/")
        stride = int(stride_text.partition(":")[0]) if stride_text else 1
        first, _, last = span.partition("-")
        cpus.update(range(int(first), int(last or first) + 1, stride))
    return cpus


def format_cpulist(cpus: Iterable[int]) -> str:
    """``{0, 1, 2, 5}`` -> ``"0-2,5"``."""
    ordered = sorted(set(cpus))
    runs: list[str] = []
    start = prev = None
    for cpu in [*ordered, None]:
        if cpu is not None and prev is not None and cpu == prev + 1:
            prev = cpu
            continue
        if start is not None:
            runs.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = cpu
    return ",".join(runs)
