"""One line of the doctor's report: what was checked, how it stands, why it matters, how to fix it."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    """Costs latency or jitter, or could not be checked here; the pipeline still runs."""
    FAIL = "FAIL"
    """The given config cannot run as configured on this host."""


@dataclass(frozen=True, slots=True)
class Finding:
    item: str
    status: Status
    found: str
    why: str
    fix: str = ""
    """A command (or the line to add and where) that makes it PASS; empty when it passes."""
