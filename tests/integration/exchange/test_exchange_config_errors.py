"""``hftpipe exchange run`` with a bad value exits 78 naming it, before any process starts.

Each of these used to start (exit 0, then refuse every request) or fail in a
stage with a traceback (exit 70).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hftpipe.runtime.validation import EX_CONFIG
from hftpipe.substrate.shm import list_entries
from tests.integration.exchange.harness import write_exchange_config

CASES = [
    (
        "orders_per_10s = 50",
        "orders_per_10s = -1",
        "exchange.rate_limits.orders_per_10s: must be >= 1, got -1",
    ),
    (
        "connections_per_5min = 300",
        "connections_per_5min = 0",
        "exchange.rate_limits.connections_per_5min: must be >= 1, got 0",
    ),
    (
        'journal_fsync = "none"',
        'journal_fsync = "none"\nrecv_window_max_ms = -1',
        "exchange.recv_window_max_ms: must be >= 1, got -1",
    ),
    (
        'journal_fsync = "none"',
        'journal_fsync = "none"\nmax_client_queue = 0',
        "exchange.max_client_queue: must be >= 1, got 0",
    ),
    (
        'min_price = "0.01"\nmax_price = "1000000"\nstep_size = "0.00001"',
        'min_price = "2000000"\nmax_price = "1000000"\nstep_size = "0.00001"',
        "exchange.symbols[0].min_price: must be <= max_price (1000000), got 2000000",
    ),
]


def _exchange_run(hftpipe_cmd: list[str], config: Path) -> subprocess.CompletedProcess[str]:
    command = [*hftpipe_cmd, "exchange", "run", "-c", str(config), "--duration", "1"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("old", "new", "error"), CASES, ids=[c[2].split(":")[0] for c in CASES])
def test_should_exit_78_naming_the_key_and_reason(
    hftpipe_cmd: list[str], tmp_path: Path, pipeline_name: str, old: str, new: str, error: str
) -> None:
    path = write_exchange_config(tmp_path, pipeline_name, flow=False)
    text = path.read_text()
    assert text.count(old) == 1, f"configs/exchange.toml changed: {old!r}"
    path.write_text(text.replace(old, new))
    result = _exchange_run(hftpipe_cmd, path)
    assert (result.returncode, result.stderr.strip()) == (EX_CONFIG, f"hftpipe: config error: {error}")
    assert list_entries(pipeline_name) == []


def test_should_exit_78_for_a_state_dir_it_cannot_create(
    hftpipe_cmd: list[str], tmp_path: Path, pipeline_name: str
) -> None:
    path = write_exchange_config(tmp_path, pipeline_name, flow=False)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    path.write_text(path.read_text().replace(f'state_dir = "{tmp_path / "state"}"', 'state_dir = "not-a-dir/state"'))
    result = _exchange_run(hftpipe_cmd, path)
    assert (result.returncode, result.stderr.strip()) == (
        EX_CONFIG,
        f"hftpipe: config error: exchange.state_dir: cannot create {blocker / 'state'}: Not a directory",
    )
    assert list_entries(pipeline_name) == []
