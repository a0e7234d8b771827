"""The README's own strategy, verbatim, on the shipped capture with no venue (configs/strategy-dryrun.toml).

The README's first smoke test, as a user would run it: a strategy module of
their own (outside the package, importable from where they run), named in a
copy of the dry-run config, run through feed → book → strategy → dry-run venue
by the real CLI in real processes. Intents are counted, written to the file and
acknowledged; the JSON summary carries the strategy's counters and tick-to-intent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO
from tests.integration.exchange.harness import free_port

DRYRUN = REPO / "configs" / "strategy-dryrun.toml"

README = REPO / "README.md"


def readme_strategy() -> str:
    """The strategy the README's *Writing a strategy* shows, verbatim: the user's starting point."""
    text = README.read_text()
    section = text[text.index("### Writing a strategy") :]
    return section[section.index("```python\n") + len("```python\n") : section.index("```\n", 10)]


def _config(tmp_path: Path, name: str) -> Path:
    text = DRYRUN.read_text().replace("19453", str(free_port()))
    text = text.replace('name = "dryrun"', f'name = "{name}"', 1)
    text = text.replace("stages.trading.strategy.builtin.market_maker:MarketMaker", "my_strategy:Quoter")
    text = text.replace('params = { qty = "10", spread_ticks = 2, max_inventory = "100" }', 'params = { qty = "3" }')
    assert "my_strategy:Quoter" in text and 'qty = "3"' in text
    (tmp_path / "my_strategy.py").write_text(readme_strategy())
    shutil.copytree(DRYRUN.parent / "captures", tmp_path / "captures")
    config = tmp_path / "dryrun.toml"
    config.write_text(text)
    return config


def test_should_run_a_users_strategy_on_the_capture_and_count_its_intents(
    hftpipe_cmd: list[str], pipeline_name: str, tmp_path: Path
) -> None:
    config = _config(tmp_path, pipeline_name)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    result = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(config), "--duration", "8", "--json"],
        capture_output=True, text=True, check=False, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    strategy, venue = summary["counters"]["strategy"], summary["counters"]["dryrun"]
    lines = [json.loads(line) for line in (tmp_path / "out" / "intents.jsonl").read_text().splitlines()]

    new = [line for line in lines if line["action"] == "NEW"]
    assert strategy["mm.books"] > 0
    assert strategy["mm.intents.new"] == venue["intents.new"] == len(new) > 0
    assert strategy["mm.errors"] == strategy["mm.refused"] == 0
    assert strategy["mm.reports"] >= len(new)  # every order was acknowledged (and canceled at stop)
    assert {line["symbol"] for line in new} <= {"NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"}
    for line in new:  # quotes a tick outside the touch: post-only, three lots
        assert (line["type"], line["tif"], line["qty"]) == ("LIMIT_MAKER", "GTC", "3")
        assert line["client_order_id"].startswith("hp1-") and len(line["client_order_id"]) <= 36
    assert len({line["client_order_id"] for line in new}) == len(new)
    tick_to_intent = summary["latency"]["end_to_end_by_stage"]["strategy"]
    assert tick_to_intent["count"] == len(new)  # every order here was caused by a book update
    assert 0 < tick_to_intent["p50_ns"] <= tick_to_intent["max_ns"]
    hops = {hop["name"]: hop for hop in summary["latency"]["hops"]}
    assert hops["approved"]["count"] == len(lines)  # risk -> dry-run venue: every line passed risk
    assert summary["counters"]["risk"]["rejected"] == 0
