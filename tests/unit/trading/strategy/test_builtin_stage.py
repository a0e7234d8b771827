"""Each built-in in the real StrategyStage over real rings, on the capture's book-stage records, against DryRunVenue.

book (driven here: the capture's DEPTH/BBO/TRADE/CONTROL records, plus a bar
at each NKNUSDT book's mid) → strategy → dryrun (writes and acks every
intent) → reports → strategy, each stage stepped by an AgentInvoker.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from hftpipe.runtime import AgentInvoker
from hftpipe.runtime.config import parse_config
from hftpipe.runtime.validation import ConfigError
from hftpipe.runtime.wiring import create_pipeline_objects, open_stage_context
from hftpipe.schema.marketdata import BookState
from hftpipe.schema.records import RecordType
from stages.trading.strategy.dry_run import DryRunVenue
from stages.trading.strategy.stage import StrategyStage
from tests.conftest import REPO
from tests.unit.trading.strategy.builtin_harness import bar_record, capture_records, rtype_of, state_record, ts_origin

DRYRUN = REPO / "configs" / "strategy-dryrun.toml"
NKN = 1
BUILTIN = "stages.trading.strategy.builtin"
CASES = {
    "market_maker:MarketMaker": {"qty": "10", "spread_ticks": 2, "max_inventory": "100"},
    "imbalance:Imbalance": {"qty": "10", "levels": 3, "threshold": 0.5, "max_position": "100"},
    "momentum:Momentum": {"qty": "10", "max_position": "10", "rsi_high": 60.0, "rsi_low": 40.0},
    "mean_reversion:MeanReversion": {"qty": "10", "max_position": "10", "rsi_high": 60.0, "rsi_low": 40.0},
    "signal_model:SignalModel": {"qty": "10", "max_position": "10"},
}


def _dryrun() -> dict[str, Any]:
    with open(DRYRUN, "rb") as fh:
        return tomllib.load(fh)


def _records() -> Iterator[bytes]:
    """The capture's book-stage records, and after each NKNUSDT book a tick bar closing at its mid."""
    for record in capture_records():
        yield record
        if rtype_of(record) == RecordType.DEPTH and record[4] == NKN:
            bid, ask = int.from_bytes(record[80:88], "little"), int.from_bytes(record[400:408], "little")
            yield bar_record(NKN, (bid + ask) // 2, ts=ts_origin(record), volume=10**8)


class Pipeline:
    def __init__(self, name: str, class_path: str, params: dict[str, Any], out: Path) -> None:
        self.config = parse_config(
            {
                "pipeline": {"name": name},
                "instruments": _dryrun()["instruments"],
                "stages": {
                    "book": {"class": "stages.probe:ProbeSource"},  # its producer end is driven from here
                    "strategy": {
                        "class": "stages.trading.strategy.stage:StrategyStage",
                        "params": {"id": 3, "name": "s", "class": class_path, "params": params, "clock": "records"},
                    },
                    "dryrun": {"class": "stages.trading.strategy.dry_run:DryRunVenue", "params": {"path": str(out)}},
                },
                "rings": [
                    {"from": "book", "to": "strategy", "capacity": 1024, "slot_size": 768},
                    {"from": "strategy", "to": "dryrun", "capacity": 1024, "slot_size": 192},
                    {"name": "reports", "from": "dryrun", "to": "strategy", "capacity": 1024, "slot_size": 192},
                ],
            },
            source="test",
            allowed_cpus={0, 1},
        )
        self.owned = create_pipeline_objects(self.config)
        self.contexts = [open_stage_context(self.config, self.owned.control, n) for n in ("book", "strategy", "dryrun")]
        self.book = self.contexts[0].output_port()
        self.stage = StrategyStage(self.contexts[1])
        self.invokers = [AgentInvoker(self.stage), AgentInvoker(DryRunVenue(self.contexts[2]))]
        for invoker in self.invokers:
            invoker.start()

    def send(self, record: bytes) -> None:
        assert self.book.offer(record, ts_origin(record))
        while sum(invoker.invoke() for invoker in self.invokers):
            pass

    def counter(self, name: str) -> int:
        return int(self.stage.ctx.counters.add(f"s.{name}").value)

    def close(self) -> None:
        for invoker in self.invokers:
            invoker.close()
        for ctx in self.contexts:
            ctx.close()
        self.owned.destroy()


@pytest.fixture
def pipeline(pipeline_name: str, tmp_path: Path) -> Iterator[Any]:
    made: list[Pipeline] = []

    def make(class_path: str, params: dict[str, Any]) -> Pipeline:
        made.append(Pipeline(pipeline_name, class_path, params, tmp_path / "intents.jsonl"))
        return made[-1]

    yield make
    for p in made:
        p.close()


def _intents(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


@pytest.mark.parametrize("name", list(CASES))
def test_should_run_in_the_strategy_stage_on_the_capture_with_every_intent_answered(
    pipeline: Any, name: str, tmp_path: Path
) -> None:
    p: Pipeline = pipeline(f"{BUILTIN}.{name}", CASES[name])
    for record in _records():
        p.send(record)
    intents = _intents(tmp_path / "intents.jsonl")
    sent = sum(p.counter(f"intents.{a}") for a in ("new", "cancel", "replace", "cancel_all"))
    assert len(intents) == sent > 0
    assert p.counter("errors") == p.counter("disabled") == p.counter("rejects") == 0
    assert p.counter("books") > 0 and p.counter("bars") > 100
    runner = p.stage.runners[0]
    assert all(o.state.name == "OPEN" for o in runner.open_orders())  # every request was answered
    if name.startswith("market_maker"):
        assert {i["type"] for i in intents if i["action"] in ("NEW", "REPLACE")} == {"LIMIT_MAKER"}
        assert len(runner.open_orders()) == 2 * len(runner.books)  # both sides of every instrument
    else:
        assert {(i["type"], i["tif"]) for i in intents} == {("LIMIT", "IOC")} and not runner.open_orders()


def test_should_pull_the_market_makers_quotes_through_the_venue_when_a_book_resyncs(
    pipeline: Any, tmp_path: Path
) -> None:
    p: Pipeline = pipeline(f"{BUILTIN}.market_maker:MarketMaker", CASES["market_maker:MarketMaker"])
    records = list(_records())
    for record in records:
        p.send(record)
    runner = p.stage.runners[0]
    assert len(runner.open_orders(NKN)) == 2
    before = len(_intents(tmp_path / "intents.jsonl"))
    p.send(state_record(NKN, BookState.RESYNCING, ts=ts_origin(records[-1])))
    pulled = _intents(tmp_path / "intents.jsonl")[before:]
    assert [(i["action"], i["symbol"]) for i in pulled] == [("CANCEL_ALL", "NKNUSDT")]
    assert not runner.open_orders(NKN) and len(runner.open_orders()) == 6  # the venue canceled both; others stand


def test_should_load_the_dryrun_config_and_exit_78_style_on_a_bad_strategy_param() -> None:
    raw = _dryrun()
    config = parse_config(raw, source=str(DRYRUN))
    strategy = next(s for s in config.stages if s.name == "strategy")
    assert strategy.params.strategies[0].class_path.endswith("market_maker:MarketMaker")
    raw["stages"]["strategy"]["params"]["params"]["spread_ticks"] = 0
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, source=str(DRYRUN))
    assert caught.value.key == "stages.strategy.params.params.spread_ticks"
