"""The compatibility table: one cell per (client, feature), from every outcome of the tests proving it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.exchange_compat.table import BEGIN, CLIENTS, END, FEATURES, Outcomes, render, write_table


def _outcomes(**cells: list[str]) -> Outcomes:
    outcomes = Outcomes()
    for key, results in cells.items():
        client, feature = key.split("__")
        outcomes.cells[(client.replace("_", "-"), feature.replace("_", " "))] = results
    return outcomes


def test_should_mark_each_cell_by_all_of_its_outcomes() -> None:
    outcomes = _outcomes(
        ccxt__markets=["passed", "skipped"],
        ccxt__klines=["passed", "passed"],
        ccxt__balances=["passed", "failed"],
        cryptofeed__user_data=["skipped"],
    )
    assert outcomes.symbol("ccxt", "markets") == "✓ 1/2"
    assert outcomes.symbol("ccxt", "klines") == "✓"
    assert outcomes.symbol("ccxt", "balances") == "✗"
    assert outcomes.symbol("cryptofeed", "user data") == "skip"
    assert outcomes.symbol("cryptofeed", "order WS API") == "—"


def test_should_render_one_row_per_client_and_one_column_per_feature() -> None:
    lines = render(_outcomes(python_binance__book_sync=["passed"])).splitlines()
    assert len(lines) == 2 + len(CLIENTS)
    assert all(line.count("|") == len(FEATURES) + 2 for line in lines)
    row = next(line for line in lines if line.startswith("| python-binance |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1 + FEATURES.index("book sync")] == "✓"
    assert cells.count("—") == len(FEATURES) - 1


def test_should_replace_only_the_text_between_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{BEGIN}\nold table\n{END}\nafter\n")
    write_table(readme, _outcomes(ccxt__klines=["passed"]))
    text = readme.read_text()
    assert text.startswith(f"before\n{BEGIN}\n| client |") and text.endswith(f"|\n{END}\nafter\n")
    assert "old table" not in text


def test_should_refuse_a_readme_without_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("no table here\n")
    with pytest.raises(SystemExit, match="markers"):
        write_table(readme, Outcomes())
    assert readme.read_text() == "no table here\n"
