"""The doctor's findings as text for a person or JSON for a tool."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict

from hftpipe.ops.doctor.finding import Finding, Status


def summary(findings: list[Finding]) -> dict[str, int]:
    counts = Counter(f.status for f in findings)
    return {status.value: counts.get(status, 0) for status in Status}


def as_json(findings: list[Finding]) -> str:
    return json.dumps({"findings": [asdict(f) for f in findings], "summary": summary(findings)})


def as_text(findings: list[Finding]) -> str:
    """PASS in one line; WARN and FAIL with why it matters and the fix."""
    lines = []
    for finding in findings:
        lines.append(f"{finding.status.value:<5} {finding.item}: {finding.found}")
        if finding.status is not Status.PASS:
            lines.append(f"      why: {finding.why}")
            if finding.fix:
                lines.append(f"      fix: {finding.fix}")
    counts = summary(findings)
    lines.append(", ".join(f"{n} {status}" for status, n in counts.items()))
    return "\n".join(lines)
