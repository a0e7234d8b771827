"""Relative paths in a config start from the config file's directory: never the package's, never the cwd."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hftpipe.runtime.config import load_config
from hftpipe.runtime.config_paths import config_dir, resolve_path
from hftpipe.runtime.validation import ConfigError
from stages.exchange.cli import read_exchange_settings, settings_of
from tests.conftest import MARKETDATA_CONFIG, REPO

CAPTURES = REPO / "configs" / "captures"
EXCHANGE_CONFIG = REPO / "configs" / "exchange.toml"


def test_should_resolve_against_the_given_directory_expanding_home(tmp_path: Path) -> None:
    assert resolve_path("a/../b.txt", tmp_path) == tmp_path.resolve() / "b.txt"
    assert resolve_path("/abs/file", tmp_path) == Path("/abs/file")
    assert resolve_path("~/x", tmp_path) == Path.home().resolve() / "x"
    assert config_dir(tmp_path / "c.toml") == tmp_path.resolve()
    assert config_dir("") == Path.cwd()


def test_should_replay_the_capture_beside_a_copied_config_not_the_embedded_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "mine" / "default.toml"
    mine.parent.mkdir()
    shutil.copy(MARKETDATA_CONFIG, mine)
    monkeypatch.chdir(CAPTURES.parent)  # even from where the embedded captures are
    with pytest.raises(ConfigError) as caught:
        load_config(mine)
    assert (caught.value.key, caught.value.reason) == (
        "stages.venue.params.capture",
        f"{mine.parent / 'captures' / 'BINANCE.ws.1.0'} does not exist",
    )
    shutil.copytree(CAPTURES, mine.parent / "captures")
    venue = load_config(mine).stage("venue").params
    assert (venue.capture, venue.snapshots) == (
        mine.parent / "captures" / "BINANCE.ws.1.0",
        mine.parent / "captures" / "BINANCE.http.0.0",
    )


def test_should_still_find_the_embedded_default_capture_beside_the_default_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    venue = load_config(MARKETDATA_CONFIG).stage("venue").params
    assert (venue.capture, venue.snapshots) == (CAPTURES / "BINANCE.ws.1.0", CAPTURES / "BINANCE.http.0.0")


def test_should_record_the_feed_beside_the_config_and_refuse_a_missing_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = MARKETDATA_CONFIG.read_text().replace("replay = true,", 'replay = true, record_to = "out/feed.ws",', 1)
    path = tmp_path / "conf" / "pipeline.toml"
    path.parent.mkdir()
    path.write_text(text.replace('"captures/', f'"{CAPTURES}/'))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert (caught.value.key, caught.value.reason) == (
        "stages.feed.params.record_to",
        f"{path.parent / 'out'} is not a directory this user can write to",
    )
    (path.parent / "out").mkdir()
    assert load_config(path).stage("feed").params.record_to == path.parent / "out" / "feed.ws"


def test_should_keep_the_exchange_state_dir_beside_its_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "conf" / "exchange.toml"
    path.parent.mkdir()
    path.write_text(EXCHANGE_CONFIG.read_text().replace("[exchange]\n", '[exchange]\nstate_dir = "state"\n', 1))
    monkeypatch.chdir(tmp_path)
    settings = settings_of(load_config(path))
    assert settings is not None
    assert settings.state_dir == path.parent / "state"
    assert read_exchange_settings(path).state_dir == path.parent / "state"  # what the admin commands read
