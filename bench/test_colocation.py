"""``hftpipe bench tick-to-order``'s layouts: each rewrites only processes, cores, ports and the state
directory of the default config, and each is a valid config with the processes it says."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bench.colocation_bench import TRADING_PATH, default_config, exchange_stage_names, layout_raw
from hftpipe.runtime.config import parse_config

SOURCE = default_config()
RAW = tomllib.loads(SOURCE.read_text())
EXCHANGE = exchange_stage_names(SOURCE, RAW)


def _processes(layout: str, tmp_path: Path) -> tuple[dict[str, list[str]], dict[str, object]]:
    raw = layout_raw(RAW, layout, [0, 1], str(tmp_path / "state"), EXCHANGE)
    config = parse_config(raw, source=str(SOURCE), allowed_cpus={0, 1})
    processes = {name: [s.name for s in members] for name, members in config.processes().items()}
    return processes, {s.name: s.cpu for s in config.stages}


def test_should_know_the_exchange_stages_of_the_config() -> None:
    assert sorted(EXCHANGE) == ["accounting", "engine_BTCUSDT", "engine_ETHUSDT", "flow", "gateway", "publisher"]


def test_should_give_every_stage_its_own_unpinned_process_in_the_baseline(tmp_path: Path) -> None:
    processes, cpus = _processes("per-stage", tmp_path)
    assert all(members == [name] for name, members in processes.items())
    assert set(cpus.values()) == {"none"}


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("trading", {"trading": list(TRADING_PATH), **{name: [name] for name in EXCHANGE}}),
        ("trading+exchange", {"trading": list(TRADING_PATH), "exchange": EXCHANGE}),
        ("pinned", {"trading": list(TRADING_PATH), "exchange": EXCHANGE}),
    ],
)
def test_should_put_each_layouts_stages_in_its_processes(
    layout: str, expected: dict[str, list[str]], tmp_path: Path
) -> None:
    processes, cpus = _processes(layout, tmp_path)
    assert {name: sorted(members) for name, members in processes.items()} == {
        name: sorted(members) for name, members in expected.items()
    }
    pinned = layout == "pinned"
    assert {cpus[name] for name in TRADING_PATH} == ({1} if pinned else {"none"})
    assert {cpus[name] for name in EXCHANGE} == ({0} if pinned else {"none"})


def test_should_move_ports_and_state_and_leave_the_source_alone(tmp_path: Path) -> None:
    before = SOURCE.read_text()
    raw = layout_raw(RAW, "pinned", [0, 1], str(tmp_path / "state"), EXCHANGE)
    exchange = raw["exchange"]
    assert exchange["state_dir"] == str(tmp_path / "state")
    assert (exchange["market_port"], exchange["api_port"]) != (
        RAW["exchange"]["market_port"],
        RAW["exchange"]["api_port"],
    )
    assert f":{exchange['market_port']}/" in raw["stages"]["feed"]["params"]["url"]
    assert raw["stages"]["execution"]["params"]["ws_api_url"].startswith(f"ws://127.0.0.1:{exchange['api_port']}/")
    assert SOURCE.read_text() == before and RAW["exchange"]["state_dir"] != exchange["state_dir"]


def test_should_refuse_an_unknown_layout(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown layout 'solo'"):
        layout_raw(RAW, "solo", [0, 1], str(tmp_path), EXCHANGE)
