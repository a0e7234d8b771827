"""The embedded default, as a fresh user runs it: ``hftpipe run --duration 20 --json`` with no ``-c``.

That is the whole trading system of configs/default.toml in one ``hftpipe
run``: the loopback exchange's gateway, accounting, engines, publisher and
flow generator, and feed → book ═md═► strategy (market maker), risk and the
execution stage in live mode, logged on to the gateway with the trader's
Ed25519 key. ``HOME`` is a fresh directory, so the exchange's
``~/.local/state/...`` journal starts from the deposits and nothing is left
in the user's home (a short one under /tmp: the exchange's admin socket lives
there, and a Unix socket's path has at most 107 bytes). Afterwards the exchange alone is started on that journal
(flow off, so nothing trades), and the trader's balances are read over its
admin socket: with no fees in this config, each base asset moved by exactly
the position the run's ``trading`` summary shows.

The default's ports (19543–19545) and pipeline name (``default``) are fixed:
this is the only test that runs it (the suite runs one test at a time).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import pytest

from hftpipe.substrate.shm import PREFIX, SHM_DIR
from tests.conftest import DEFAULT_CONFIG, leftovers
from tests.integration.exchange.harness import free_port

TRADING_MARKER: Final = "# " + "-" * 73 + " the trading pipeline"
STATE_DIR_LINE: Final = 'state_dir = "~/.local/state/hftpipe/exchange-loopback"'
DEFAULT_PORTS: Final = (19543, 19544, 19545)


def _ours(pipeline: str) -> list[str]:
    """Everything of pipeline ``pipeline`` in /dev/shm: segments and semaphores, that name exactly."""
    stem = f"{PREFIX}.{pipeline}."
    return sorted(f for f in os.listdir(SHM_DIR) if f.startswith((stem, f"sem.{stem}")))


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _exchange_alone(tmp_path: Path, state_dir: Path) -> Path:
    """The default's exchange alone on the run's state dir: flow off, free ports, absolute key paths."""
    text = DEFAULT_CONFIG.read_text()[: DEFAULT_CONFIG.read_text().index(TRADING_MARKER)]
    assert STATE_DIR_LINE in text
    text = text.replace(STATE_DIR_LINE, f'state_dir = "{state_dir}"')
    for port in DEFAULT_PORTS:
        text = text.replace(str(port), str(free_port()))
    text = text.replace('"keys/', f'"{DEFAULT_CONFIG.parent / "keys"}/')
    flow = "[exchange.flow]\nenabled = true"
    assert flow in text
    alone = tmp_path / "exchange-alone.toml"
    alone.write_text(text.replace(flow, "[exchange.flow]\nenabled = false"))
    return alone


def _balances_after(hftpipe_cmd: list[str], config: Path, name: str, env: dict[str, str]) -> dict[str, Decimal]:
    """Start the exchange alone on the run's journal; the trader's free + locked balance per asset."""
    exchange = subprocess.Popen(
        [*hftpipe_cmd, "exchange", "run", "-c", str(config), "--name", name, "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert exchange.stdout is not None
        ready = exchange.stdout.readline()
        assert ready.startswith("exchange ready"), ready + (exchange.stderr.read() if exchange.stderr else "")
        result = subprocess.run(
            [*hftpipe_cmd, "exchange", "balances", "-c", str(config), "--account", "trader", "--json"],
            capture_output=True, text=True, check=False, env=env, timeout=30,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    finally:
        exchange.terminate()  # SIGTERM: it stops and removes what it made
        assert exchange.wait(timeout=60) == 0
    answer = json.loads(result.stdout)
    assert answer["invariant_ok"]
    (account,) = answer["accounts"]
    return {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"]) for b in account["balances"]}


def test_should_trade_the_embedded_default_and_book_what_the_exchange_booked(
    hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path
) -> None:
    if _ours("default") or any(map(_port_taken, DEFAULT_PORTS)):
        pytest.fail(
            f"another run of the default holds its ports {DEFAULT_PORTS} or its shared memory "
            f"({_ours('default')}): stop it (hftpipe shm ls) before running this test"
        )
    home = Path(tempfile.mkdtemp(prefix="hftpipe-home-", dir="/tmp"))  # short: the admin socket's path must fit
    try:
        _run_and_check(hftpipe_cmd, pipeline_name, tmp_path, home)
    finally:
        shutil.rmtree(home)


def _run_and_check(hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path, home: Path) -> None:
    env = {**os.environ, "HOME": str(home)}
    result = subprocess.run(
        [*hftpipe_cmd, "run", "--duration", "20", "--json"],
        capture_output=True, text=True, check=False, env=env, cwd=tmp_path, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _ours("default") == []
    summary = json.loads(result.stdout)
    assert (summary["pipeline"], summary["errors"], summary["failure"]) == ("default", [], None)
    counters = summary["counters"]
    execution, risk, strategy = counters["execution"], counters["risk"], counters["strategy"]
    trading: dict[str, Any] = summary["trading"]
    latency = summary["latency"]
    print(
        f"default: books {strategy['mm.books']}, approved {risk['approved']}, trading {trading}, "
        f"tick_to_order {latency.get('tick_to_order')}, order_ack {latency.get('order_ack')}, "
        f"fill {latency.get('fill')}"
    )
    assert strategy["mm.books"] > 0 and strategy["mm.intents.new"] > 0 and risk["approved"] > 0
    assert (trading["orders_sent"], trading["acks"], trading["fills"], trading["rejects"]) == (
        execution["orders_sent"], execution["acks"], execution["fills"], execution["rejects"],
    )  # fmt: skip
    assert trading["orders_sent"] > 0 and 0 < trading["acks"] <= trading["orders_sent"] and trading["fills"] > 0
    assert (trading["state"], trading["set_by"]) == ("ACTIVE", None)  # no breaker; stopping stages are no failure
    assert trading["fees"] == "0"  # no commission in this config
    assert Decimal(trading["realized_pnl"]).is_finite()  # a decimal string, quote currency
    assert trading["unrealized_pnl"] is not None  # every open position has a mark: the book's mid
    tick_to_order, order_ack = latency["tick_to_order"], latency["order_ack"]  # feed receive -> socket; -> answer
    assert 0 < tick_to_order["count"] <= trading["orders_sent"] and tick_to_order["p50_ns"] > 0
    assert tick_to_order["count"] == latency["end_to_end_by_stage"]["execution"]["count"]
    assert 0 < order_ack["count"] <= trading["orders_sent"] and 0 < order_ack["p50_ns"] <= order_ack["max_ns"]
    assert 0 < latency["fill"]["count"] <= trading["fills"]
    assert risk["fills"] == strategy["mm.fills"] == execution["fills"]
    assert risk["unrouted_reports"] == 0 and strategy["mm.errors"] == 0
    for name in ("feed", "book", "strategy", "risk", "execution"):
        assert counters[name]["errors"] == 0, name

    positions = {symbol: Decimal(qty) for symbol, qty in trading["positions"].items()}
    exchange = tomllib.loads(DEFAULT_CONFIG.read_text())["exchange"]
    assert set(positions) == {s["symbol"] for s in exchange["symbols"]}
    deposits: dict[str, Any] = next(a for a in exchange["accounts"] if a["name"] == "trader")["deposits"]
    state_dir = home / ".local" / "state" / "hftpipe" / "exchange-loopback"
    assert (state_dir / "journal.bin").is_file()  # the run's journal, under the fresh HOME
    alone_name = f"{pipeline_name}x"
    balances = _balances_after(hftpipe_cmd, _exchange_alone(tmp_path, state_dir), alone_name, env)
    assert leftovers(alone_name) == []
    for symbol in exchange["symbols"]:
        moved = balances.get(symbol["base"], Decimal(0)) - Decimal(deposits[symbol["base"]])
        assert moved == positions[symbol["symbol"]], symbol["symbol"]
