"""``hftpipe exchange`` admin commands as a user runs them, against a scripted admin socket.

The real admin socket is the gateway's; here a WebSocket server on a unix
socket in a temporary state directory answers like it (the protocol of the
exchange spec), so the CLI's requests, output and exit codes are checked
without an exchange. The whole exchange is the end-to-end tests' job.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, unix_serve

from tests.conftest import REPO

EXCHANGE_CONFIG = REPO / "configs" / "exchange.toml"
Answer = Callable[[str, dict[str, Any]], dict[str, Any]]


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """Short, so ``admin.sock`` stays within the 108-byte limit of a unix socket path."""
    path = Path(tempfile.mkdtemp(prefix="hx"))
    try:
        yield path / "state"
    finally:
        shutil.rmtree(path)


@pytest.fixture
def config(state_dir: Path) -> Path:
    text = EXCHANGE_CONFIG.read_text()
    text, replaced = re.subn(r"(?m)^# state_dir = .*$", f'state_dir = "{state_dir}"', text)
    assert replaced == 1
    path = state_dir.parent / "exchange.toml"
    path.write_text(text)
    return path


@pytest.fixture
def admin_server(state_dir: Path) -> Iterator[Callable[[Answer], list[dict[str, Any]]]]:
    """``admin_server(answer)``: serve ``answer(method, params) -> reply`` on the admin socket; returns the log."""
    servers: list[Any] = []

    def start(answer: Answer) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = []

        def handler(ws: ServerConnection) -> None:
            for raw in ws:
                request = json.loads(raw)
                log.append(request)
                ws.send(json.dumps({"id": request["id"], **answer(request["method"], request.get("params", {}))}))

        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        server = unix_serve(handler, str(state_dir / "admin.sock"))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return log

    yield start
    for server in servers:
        server.shutdown()


def _cli(hftpipe_cmd: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*hftpipe_cmd, "exchange", *args], capture_output=True, text=True, timeout=60, check=False)


def test_should_list_the_exchange_commands_in_help(hftpipe_cmd: list[str]) -> None:
    result = _cli(hftpipe_cmd, "--help")
    assert result.returncode == 0
    for command in ("run", "keys", "deposit", "withdraw", "balances"):
        assert re.search(rf"(?m)^  {command}\b", result.stdout), result.stdout
    top = subprocess.run([*hftpipe_cmd, "--help"], capture_output=True, text=True, check=True)
    assert re.search(r"(?m)^  exchange\b", top.stdout)


@pytest.mark.parametrize(
    "args",
    [
        ("balances",),
        ("deposit", "--account", "demo", "--asset", "USDT", "--amount", "10"),
        ("withdraw", "--account", "demo", "--asset", "USDT", "--amount", "10"),
        ("keys", "add", "--account", "someone"),
    ],
)
def test_should_exit_69_when_no_exchange_is_running(
    hftpipe_cmd: list[str], config: Path, args: tuple[str, ...]
) -> None:
    result = _cli(hftpipe_cmd, *args, "-c", str(config))
    assert result.returncode == 69
    assert result.stdout == ""
    assert result.stderr.startswith("hftpipe: no exchange is running (admin socket "), result.stderr
    assert "hftpipe exchange run" in result.stderr


def test_should_exit_69_for_a_stale_admin_socket(hftpipe_cmd: list[str], config: Path, state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(state_dir / "admin.sock"))  # bound, never listening: what a killed gateway leaves
    result = _cli(hftpipe_cmd, "balances", "-c", str(config))
    assert result.returncode == 69
    assert "no exchange is running" in result.stderr


@pytest.mark.parametrize("command", [("run", "--duration", "1"), ("balances",)])
def test_should_exit_78_naming_the_key_for_a_bad_config(
    hftpipe_cmd: list[str], config: Path, command: tuple[str, ...]
) -> None:
    config.write_text(config.read_text().replace("orders_per_second = 50", "orders_per_second = 0", 1))
    result = _cli(hftpipe_cmd, *command, "-c", str(config))
    assert result.returncode == 78
    assert result.stderr.strip() == "hftpipe: config error: exchange.flow.orders_per_second: must be > 0, got 0"


def test_should_exit_78_for_a_config_without_an_exchange_table(hftpipe_cmd: list[str], tmp_path: Path) -> None:
    plain = tmp_path / "plain.toml"
    plain.write_text('[pipeline]\nname = "p"\n')
    result = _cli(hftpipe_cmd, "balances", "-c", str(plain))
    assert result.returncode == 78
    assert result.stderr.startswith("hftpipe: config error: exchange: missing: ")


def test_should_add_a_key_and_print_it_as_json(
    hftpipe_cmd: list[str], config: Path, admin_server: Callable[[Answer], list[dict[str, Any]]]
) -> None:
    reply = {"api_key": "K" * 64, "secret": "S" * 64, "account": "alice", "account_id": 1000}
    log = admin_server(lambda method, params: {"status": 200, "result": reply})
    result = _cli(hftpipe_cmd, "keys", "add", "--account", "alice", "--json", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == reply
    assert log == [{"id": 1, "method": "keys.add", "params": {"account": "alice"}}]


def test_should_send_an_ed25519_public_key_and_show_no_secret(
    hftpipe_cmd: list[str], config: Path, tmp_path: Path, admin_server: Callable[[Answer], list[dict[str, Any]]]
) -> None:
    pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA" + "A" * 43 + "=\n-----END PUBLIC KEY-----\n"
    (tmp_path / "key.pem").write_text(pem)
    reply = {"api_key": "E" * 64, "account": "bob", "account_id": 1001}
    log = admin_server(lambda method, params: {"status": 200, "result": reply})
    result = _cli(
        hftpipe_cmd,
        "keys",
        "add",
        "--account",
        "bob",
        "--ed25519-public-key",
        str(tmp_path / "key.pem"),
        "-c",
        str(config),
    )
    assert result.returncode == 0, result.stderr
    assert "E" * 64 in result.stdout and "secret" not in result.stdout
    assert log[0]["params"] == {"account": "bob", "ed25519_public_key": pem}


def test_should_deposit_and_report_the_new_balance(
    hftpipe_cmd: list[str], config: Path, admin_server: Callable[[Answer], list[dict[str, Any]]]
) -> None:
    log = admin_server(
        lambda method, params: {
            "status": 200,
            "result": {**params, "free": "110.00000000", "locked": "0.00000000"},
        }
    )
    result = _cli(hftpipe_cmd, "deposit", "--account", "demo", "--asset", "USDT", "--amount", "10.5", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "deposit 10.5 USDT to demo: free 110.00000000, locked 0.00000000"
    assert log[0] == {"id": 1, "method": "deposit", "params": {"account": "demo", "asset": "USDT", "amount": "10.5"}}


def test_should_exit_nonzero_with_the_binance_error_when_refused(
    hftpipe_cmd: list[str], config: Path, admin_server: Callable[[Answer], list[dict[str, Any]]]
) -> None:
    admin_server(
        lambda method, params: {
            "status": 400,
            "error": {"code": -2010, "msg": "Account has insufficient balance for requested action."},
        }
    )
    result = _cli(hftpipe_cmd, "withdraw", "--account", "demo", "--asset", "BTC", "--amount", "99", "-c", str(config))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "hftpipe: withdraw refused: -2010 Account has insufficient balance for requested action."
    )


def test_should_reject_a_malformed_amount_before_asking(hftpipe_cmd: list[str], config: Path) -> None:
    result = _cli(hftpipe_cmd, "deposit", "--account", "demo", "--asset", "USDT", "--amount", "-5", "-c", str(config))
    assert result.returncode == 2
    assert "positive decimal number" in result.stderr


def _balances_reply(invariant_ok: bool) -> dict[str, Any]:
    return {
        "status": 200,
        "result": {
            "accounts": [
                {
                    "account": "demo",
                    "account_id": 1,
                    "balances": [{"asset": "USDT", "free": "100000.00000000", "locked": "0.00000000"}],
                },
                {"account": "exchange-fees", "account_id": 0, "balances": []},
            ],
            "invariant_ok": invariant_ok,
        },
    }


def test_should_print_balances_and_the_invariant(
    hftpipe_cmd: list[str], config: Path, admin_server: Callable[[Answer], list[dict[str, Any]]]
) -> None:
    log = admin_server(lambda method, params: _balances_reply(True))
    result = _cli(hftpipe_cmd, "balances", "--account", "demo", "-c", str(config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["demo", "1", "USDT", "100000.00000000", "0.00000000"]
    assert lines[-1] == "ledger invariant: ok"
    assert log[0]["params"] == {"account": "demo"}
    as_json = _cli(hftpipe_cmd, "balances", "--json", "-c", str(config))
    assert json.loads(as_json.stdout) == _balances_reply(True)["result"]
    assert log[1]["params"] == {}


def test_should_exit_1_when_the_ledger_invariant_failed(
    hftpipe_cmd: list[str], config: Path, admin_server: Callable[[Answer], list[dict[str, Any]]]
) -> None:
    admin_server(lambda method, params: _balances_reply(False))
    result = _cli(hftpipe_cmd, "balances", "-c", str(config))
    assert result.returncode == 1
    assert "ledger invariant: FAILED" in result.stdout
    assert "the ledger invariant failed" in result.stderr


def test_should_become_ready_once_status_is_answered(
    config: Path, state_dir: Path, admin_server: Callable[[Answer], list[dict[str, Any]]]
) -> None:
    from stages.exchange.cli import ReadyProbe, read_exchange_settings, ready_line

    settings = read_exchange_settings(config)
    probe = ReadyProbe(settings.admin_socket)
    probe.start()
    try:
        assert not probe.ready.wait(0.3)  # nothing listens yet: the exchange is still starting
        log = admin_server(lambda method, params: {"status": 200, "result": {"live": True, "invariant_ok": True}})
        assert probe.ready.wait(30)
        assert log[-1]["method"] == "status"
    finally:
        probe.stop()
    assert ready_line(settings) == (
        "exchange ready: market data ws://127.0.0.1:9443 (REST http://127.0.0.1:9443/api/v3), "
        "API ws://127.0.0.1:9444/ws-api/v3, REST API http://127.0.0.1:9445/api/v3, "
        f"admin {state_dir / 'admin.sock'}, symbols BTCUSDT ETHUSDT"
    )
