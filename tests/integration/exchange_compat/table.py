"""The README's compatibility table (client × feature), from the outcomes of the tests that prove each cell."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CLIENTS = ("binance-sdk-spot", "ccxt", "python-binance", "cryptofeed")
FEATURES = (
    "markets",
    "balances",
    "order REST",
    "order WS API",
    "my trades",
    "klines",
    "agg trades",
    "user data",
    "book sync",
)
BEGIN, END = "<!-- compat-table: begin -->", "<!-- compat-table: end -->"
PROPERTY = "compat"


def mark_cell(item: pytest.Item) -> None:
    """Carries the test's ``compat(client, feature)`` mark to its reports (as a user property)."""
    mark = item.get_closest_marker(PROPERTY)
    if mark is None:
        return
    client, feature = mark.args
    if client not in CLIENTS or feature not in FEATURES:
        raise pytest.UsageError(f"{item.nodeid}: compat({client!r}, {feature!r}) names no column or row")
    item.user_properties.append((PROPERTY, (client, feature)))


@dataclass
class Outcomes:
    """Per cell, the outcome of each test that proves it ("passed", "failed", "skipped")."""

    cells: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))

    def record(self, report: pytest.TestReport) -> None:
        cell = next((value for name, value in report.user_properties if name == PROPERTY), None)
        if cell is None:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.cells[tuple(cell)].append(report.outcome)
        elif report.when == "teardown" and report.failed:
            self.cells[tuple(cell)].append("failed")

    def symbol(self, client: str, feature: str) -> str:
        outcomes = self.cells.get((client, feature), [])
        if not outcomes:
            return "—"
        if "failed" in outcomes:
            return "✗"
        if all(o == "passed" for o in outcomes):
            return "✓"
        if all(o == "skipped" for o in outcomes):
            return "skip"
        return f"✓ {outcomes.count('passed')}/{len(outcomes)}"


def render(outcomes: Outcomes) -> str:
    head = "| client | " + " | ".join(FEATURES) + " |"
    rule = "| --- " * (len(FEATURES) + 1) + "|"
    rows = [f"| {c} | " + " | ".join(outcomes.symbol(c, f) for f in FEATURES) + " |" for c in CLIENTS]
    return "\n".join([head, rule, *rows])


def write_table(path: Path, outcomes: Outcomes) -> None:
    """Replaces the table between the markers in ``path`` (a README), or writes the bare table to a new file."""
    table = render(outcomes)
    if not path.exists():
        path.write_text(table + "\n")
        return
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: no {BEGIN} … {END} markers to put the compatibility table between")
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    path.write_text(f"{before}{BEGIN}\n{table}\n{END}{after}")
