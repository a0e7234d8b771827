"""The layer contracts (pyproject.toml ``[tool.importlinter]``) hold, and they are not toothless.

The second test copies the code into a temporary folder, adds one upward
import (the framework importing an application) and checks that the same
contracts then fail, naming the offending import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )


def _copy_tree(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("hftpipe", "stages", "bench", "tests"):
        shutil.copytree(REPO / package, dest / package, ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_should_keep_every_layer_contract() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_should_break_the_framework_contract_when_the_substrate_imports_an_application(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    (root / "hftpipe" / "substrate" / "upward.py").write_text("import stages.probe\n")
    result = _lint(root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "The framework never imports an application, a benchmark or a test BROKEN" in result.stdout
    assert "hftpipe.substrate.upward -> stages.probe" in result.stdout


def test_should_break_the_independence_contract_when_one_application_imports_another(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    (root / "stages" / "exchange" / "core" / "sideways.py").write_text("import stages.marketdata.book.stage\n")
    result = _lint(root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Applications meet only through schema records, rings and sockets BROKEN" in result.stdout
    assert "stages.exchange.core.sideways -> stages.marketdata.book.stage" in result.stdout
