"""The whole trading system on loopback (configs/trading-loopback.toml): the exchange and the pipeline trading on it.

One ``hftpipe run``: the exchange's gateway, accounting, engines, publisher and
flow generator, and feed → book ═md═► strategy (market maker), risk and the
execution stage in live mode, logged on to the gateway with the trader's
Ed25519 key. Afterwards the exchange alone is started on the same state
directory (flow off, so nothing trades), which replays the journal, and the
trader's balances are read over its admin socket: with no fees in this
config, each base asset moved by exactly risk's position in its symbol.
"""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import REPO, leftovers
from tests.integration.exchange.harness import free_port

CONFIG = REPO / "configs" / "default.toml"
TRADING_MARKER = "# ------------------------------------------------------------------------- the trading pipeline"
STATE_DIR_LINE = 'state_dir = "~/.local/state/hftpipe/exchange-loopback"'


def _configs(tmp_path: Path) -> tuple[Path, Path]:
    """The config with free ports, its state in tmp and absolute key paths; and its exchange alone, flow off."""
    text = CONFIG.read_text()
    market, api = free_port(), free_port()
    text = text.replace("19543", str(market)).replace("19544", str(api))
    assert STATE_DIR_LINE in text
    text = text.replace(STATE_DIR_LINE, f'state_dir = "{tmp_path / "state"}"')
    text = text.replace('"keys/', f'"{CONFIG.parent / "keys"}/')
    full = tmp_path / "trading-loopback.toml"
    full.write_text(text)
    exchange_only = text[: text.index(TRADING_MARKER)]
    flow = "[exchange.flow]\nenabled = true"
    assert flow in exchange_only
    alone = tmp_path / "exchange-alone.toml"
    alone.write_text(exchange_only.replace(flow, "[exchange.flow]\nenabled = false"))
    return full, alone


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
        exchange.terminate()
        exchange.wait(timeout=60)
    answer = json.loads(result.stdout)
    assert answer["invariant_ok"]
    (account,) = answer["accounts"]
    return {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"]) for b in account["balances"]}


def test_should_trade_on_the_loopback_exchange_and_book_what_it_booked(
    hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path
) -> None:
    config, alone = _configs(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(config), "--name", pipeline_name, "--duration", "25", "--json"],
        capture_output=True, text=True, check=False, env=env, cwd=tmp_path, timeout=200,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    counters = summary["counters"]
    execution, risk, strategy = counters["execution"], counters["risk"], counters["strategy"]
    print(
        f"loopback: books {strategy['mm.books']}, approved {risk['approved']}, orders {execution['orders_sent']}, "
        f"acks {execution['acks']}, fills {execution['fills']}, rejects {execution['rejects']}"
    )
    assert summary["errors"] == [] and summary["failure"] is None
    assert strategy["mm.books"] > 0 and strategy["mm.intents.new"] > 0
    assert risk["approved"] > 0
    assert execution["orders_sent"] > 0 and execution["acks"] > 0
    assert execution["acks"] <= execution["orders_sent"]
    tick_to_order = summary["latency"]["end_to_end_by_stage"]["execution"]  # feed receive -> request on the socket
    round_trip = summary["stages"]["execution"]["status"]["order_round_trip"]  # socket -> the venue's answer
    assert 0 < tick_to_order["count"] <= execution["orders_sent"] and tick_to_order["p50_ns"] > 0
    assert 0 < round_trip["count"] <= execution["orders_sent"] and 0 < round_trip["p50_ns"] <= round_trip["max_ns"]
    print(f"tick-to-order {tick_to_order}, order round trip {round_trip}")
    assert risk["fills"] == strategy["mm.fills"] == execution["fills"]
    assert risk["unrouted_reports"] == 0 and strategy["mm.errors"] == 0
    for name in ("feed", "book", "strategy", "risk", "execution"):
        assert counters[name]["errors"] == 0, name
    assert leftovers(pipeline_name) == []

    positions = {p["symbol"]: Decimal(p["qty"]) for p in summary["stages"]["risk"]["status"]["positions"]}
    exchange = tomllib.loads(config.read_text())["exchange"]
    deposits: dict[str, Any] = next(a for a in exchange["accounts"] if a["name"] == "trader")["deposits"]
    alone_name = f"{pipeline_name}x"
    balances = _balances_after(hftpipe_cmd, alone, alone_name, env)
    assert leftovers(alone_name) == []
    for symbol in exchange["symbols"]:
        moved = balances.get(symbol["base"], Decimal(0)) - Decimal(deposits[symbol["base"]])
        assert moved == positions.get(symbol["symbol"], Decimal(0)), symbol["symbol"]
