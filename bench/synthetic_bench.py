"""Trigger-to-send of synthetic orders, on the paper pipeline (configs/paper-capture.toml) with real processes.

``python -m bench.synthetic_bench --duration 20`` runs the shipped paper
pipeline with :class:`StopPair` as its strategy: on every book it keeps one
OCO of a buy stop a tick above the ask and a sell stop a tick below the bid
(``trigger = bid_ask``), so each tick the touch moves triggers one. Reported
from the execution stage's status: trigger-to-send (the market update that
triggered a stop, in the execution stage, to its child approved by risk and
handed to the paper venue: execution → risk → execution, two ring hops and a
full risk check), beside the same run's ``intents`` hop (strategy → risk,
one ring hop) and ``approved`` hop (risk → execution), medians and p99, in µs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hftpipe.strategy import BookView, Leg, OrderSide, Strategy, Trigger

REPO = Path(__file__).resolve().parent.parent
PAPER = REPO / "configs" / "paper-capture.toml"
STRATEGY = """[stages.strategy.params]
id = 1
name = "stops"
class = "bench.synthetic_bench:StopPair"
instruments = ["NKNUSDT", "BLZETH", "LRCBTC"]
params = { qty = "10" }
"""


class StopPair(Strategy):
    """Keeps one OCO of stops a tick outside the touch on each instrument (see the module docstring)."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        qty: str = "10"
        ticks: int = 1

    def on_book(self, book: BookView) -> None:
        if not book.two_sided or any(order.synthetic for order in self.open_orders(book.id)):
            return
        away = self.params.ticks * book.instrument.tick
        qty = self.instrument(book.id).qty(self.params.qty)
        self.oco(
            book.id,
            Leg.stop(OrderSide.BUY, qty, book.ask_price + away, trigger=Trigger.BID_ASK),
            Leg.stop(OrderSide.SELL, qty, book.bid_price - away, trigger=Trigger.BID_ASK),
        )


def _config(folder: Path, port: int) -> Path:
    text = PAPER.read_text().replace("19453", str(port)).replace('name = "paper"', 'name = "synthbench"', 1)
    start = text.index("[stages.strategy.params]")
    end = text.index("[stages.risk]")
    text = text[:start] + STRATEGY + "\n" + text[end:]
    shutil.copytree(PAPER.parent / "captures", folder / "captures")
    config = folder / "synthbench.toml"
    config.write_text(text)
    return config


def run(duration: float, port: int) -> dict[str, Any]:
    """Run the pipeline for ``duration`` s; the figures (µs) and counts."""
    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp), port)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        done = subprocess.run(
            [sys.executable, "-m", "hftpipe", "run", "-c", str(config), "--duration", str(duration), "--json"],
            capture_output=True, text=True, check=False, env=env, cwd=tmp, timeout=duration + 120,
        )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the pipeline failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    status = summary["stages"]["execution"].get("status", {})
    trigger = summary["latency"].get("trigger_to_send", {})  # the execution stage's named histogram
    hops = {hop["name"]: hop for hop in summary["latency"]["hops"]}

    def us(value: int | None) -> float | None:
        return None if value is None else round(value / 1000, 1)

    result = {
        "duration_s": duration,
        "triggered": status.get("synthetic", {}).get("released", 0),
        "trigger_to_send": {
            "count": trigger.get("count", 0),
            "p50_us": us(trigger.get("p50_ns")),
            "p99_us": us(trigger.get("p99_ns")),
        },
        "errors": summary["errors"],
    }
    for name in ("intents", "approved"):
        hop = hops.get(name, {})
        result[f"hop_{name}"] = {"p50_us": us(hop.get("p50_ns")), "p99_us": us(hop.get("p99_ns"))}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=19463)
    args = parser.parse_args()
    print(json.dumps(run(args.duration, args.port), indent=2))


if __name__ == "__main__":
    main()
