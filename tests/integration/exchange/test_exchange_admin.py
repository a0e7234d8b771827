"""Admin commands against a running exchange, then trading with the keys they made."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.integration.exchange.harness import RunningExchange
from tests.integration.exchange.trading import api_url, settings_of
from tests.integration.exchange_docs_client.client import DocsClient, result_of, run_scenario


def _cli(command: list[str], config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, "exchange", *args, "-c", str(config)], capture_output=True, text=True, check=False, timeout=120
    )


def _free(balances: dict[str, Any], account: str, asset: str) -> Decimal:
    entry = next(a for a in balances["accounts"] if a["account"] == account)
    return next(Decimal(b["free"]) for b in entry["balances"] if b["asset"] == asset)


def test_should_add_keys_move_funds_and_trade_with_the_new_keys(
    start_exchange: Callable[..., RunningExchange], hftpipe_cmd: list[str], tmp_path: Path
) -> None:
    exchange = start_exchange()
    config = exchange.config
    settings = settings_of(config)

    added = _cli(hftpipe_cmd, config, "keys", "add", "--account", "alice", "--json")
    assert added.returncode == 0, added.stderr
    key = json.loads(added.stdout)
    assert key["account_id"] >= 1000 and len(key["secret"]) >= 32

    deposit = _cli(hftpipe_cmd, config, "deposit", "--account", "alice", "--asset", "USDT", "--amount", "25000")
    assert deposit.returncode == 0, deposit.stderr
    withdraw = _cli(hftpipe_cmd, config, "withdraw", "--account", "alice", "--asset", "USDT", "--amount", "100.5")
    assert withdraw.returncode == 0, withdraw.stderr
    too_much = _cli(hftpipe_cmd, config, "withdraw", "--account", "alice", "--asset", "USDT", "--amount", "1000000")
    assert too_much.returncode == 1
    assert "-2010" in too_much.stderr

    summary = run_scenario(api_url(settings), key["api_key"], key["secret"], "BTCUSDT")
    assert "balanceUpdate" not in summary["events"]  # funds moved before the session subscribed

    listing = _cli(hftpipe_cmd, config, "balances", "--account", "alice", "--json")
    assert listing.returncode == 0, listing.stderr
    balances = json.loads(listing.stdout)
    assert balances["invariant_ok"] is True
    assert _free(balances, "alice", "USDT") == Decimal("24899.5")

    private = Ed25519PrivateKey.generate()
    pem = tmp_path / "bob.pem"
    pem.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    added = _cli(hftpipe_cmd, config, "keys", "add", "--account", "bob", "--ed25519-public-key", str(pem), "--json")
    assert added.returncode == 0, added.stderr
    bob = json.loads(added.stdout)
    assert "secret" not in bob or not bob["secret"]

    with DocsClient(api_url(settings), bob["api_key"], "") as client:
        params: dict[str, Any] = {"apiKey": bob["api_key"], "timestamp": int(time.time() * 1000)}
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
        params["signature"] = base64.b64encode(private.sign(payload.encode())).decode()
        logged_on = result_of(client.request("session.logon", params), "session.logon")
        assert logged_on["apiKey"] == bob["api_key"]
        account = result_of(client.in_session("account.status"), "account.status")
        assert all(Decimal(b["free"]) == 0 for b in account["balances"])
