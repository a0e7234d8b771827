"""The shipped trading configs beyond the loopback default: they load and validate with no network.

``configs/paper.toml`` trades on paper on Binance's live public market data;
``configs/binance-testnet.toml`` sends real signed orders to Binance's spot
testnet with a key from the environment. Neither is run here (both need the
internet): what they would connect to, and how they read their key, is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hftpipe.runtime.config import PipelineConfig, load_config
from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.instruments import InstrumentRegistry
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.venues.registry import adapter_class
from stages.trading.execution.binance.client import Ed25519Credentials, HmacCredentials
from tests.conftest import DEFAULT_CONFIG, REPO

PAPER = REPO / "configs" / "paper.toml"
TESTNET = REPO / "configs" / "binance-testnet.toml"
TRADING_STAGES = ["feed", "book", "strategy", "risk", "execution"]


def _pipeline_shape(config: PipelineConfig) -> None:
    assert [s.name for s in config.stages] == TRADING_STAGES
    assert [(r.name, r.producer, r.consumer) for r in config.rings if not r.is_broadcast] == [
        ("feed-book", "feed", "book"), ("intents", "strategy", "risk"), ("approved", "risk", "execution"),
        ("reports", "execution", "risk"), ("strategy-reports", "risk", "strategy"),
    ]  # fmt: skip
    assert sorted(r.consumer for r in config.rings if r.is_broadcast) == ["execution", "risk", "strategy"]
    strategies = config.stage("strategy").params.strategies
    assert {s.name: s.instruments for s in strategies} == {"mm-btc": ("BTCUSDT",), "mm-eth": ("ETHUSDT",)}
    # the same ids, scales, tick and lot as the loopback exchange's, which copies Binance's filters
    assert list(config.instruments) == list(load_config(DEFAULT_CONFIG).instruments)


def test_should_paper_trade_on_binance_public_market_data() -> None:
    config = load_config(PAPER)
    assert config.name == "paper-live"
    _pipeline_shape(config)
    execution = config.stage("execution").params
    assert (execution.mode, execution.ws_api_url, execution.api_key_env) == ("paper", "", "")
    feed = config.stage("feed").params
    assert (feed.venue, feed.url, feed.rest_url) == ("binance", "", "")  # the venue's own endpoints
    adapter = adapter_class("binance")(BooksSink(), InstrumentRegistry(), symbols=feed.symbols)
    (url,) = adapter.websocket_urls()
    assert url.startswith("wss://stream.binance.com:9443/stream?streams=")
    for stream in ("btcusdt@depth@100ms", "btcusdt@aggTrade", "ethusdt@depth@100ms"):
        assert stream in url  # depth and trades: what the paper venue fills on


def test_should_trade_on_the_binance_spot_testnet_with_a_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load_config(TESTNET)
    assert config.name == "binance-testnet"
    _pipeline_shape(config)
    feed = config.stage("feed").params
    assert feed.url.startswith("wss://stream.testnet.binance.vision/stream?streams=btcusdt@depth@100ms/")
    assert feed.rest_url == "https://testnet.binance.vision"
    execution = config.stage("execution").params
    assert (execution.mode, execution.ws_api_url) == ("live", "wss://ws-api.testnet.binance.vision/ws-api/v3")
    assert (execution.api_key, execution.api_key_env, execution.secret_env) == (
        "", "BINANCE_TESTNET_API_KEY", "BINANCE_TESTNET_SECRET",
    )  # fmt: skip
    monkeypatch.delenv("BINANCE_TESTNET_API_KEY", raising=False)
    with pytest.raises(ValueError, match="api_key_env: the environment variable 'BINANCE_TESTNET_API_KEY' is not"):
        execution.credentials()
    monkeypatch.setenv("BINANCE_TESTNET_API_KEY", "testnet-key")
    monkeypatch.setenv("BINANCE_TESTNET_SECRET", "testnet-secret")
    assert execution.credentials() == HmacCredentials("testnet-key", "testnet-secret")


def test_should_take_an_ed25519_key_file_in_place_of_the_testnet_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As the config's comment says: ``private_key_path`` in place of ``secret_env``, relative to the file."""
    (tmp_path / "keys").mkdir()
    pem = tmp_path / "keys" / "testnet.pem"
    pem.write_bytes((REPO / "configs" / "keys" / "loopback-trader.pem").read_bytes())
    text = TESTNET.read_text()
    assert text.count('secret_env = "BINANCE_TESTNET_SECRET"') == 1
    mine = tmp_path / "testnet.toml"
    mine.write_text(text.replace('secret_env = "BINANCE_TESTNET_SECRET"', 'private_key_path = "keys/testnet.pem"'))
    monkeypatch.setenv("BINANCE_TESTNET_API_KEY", "testnet-key")
    assert load_config(mine).stage("execution").params.credentials() == Ed25519Credentials("testnet-key", pem)
    both = text.replace('secret_env = "BINANCE_TESTNET_SECRET"', f'{"secret_env"} = "S"\nprivate_key_path = "x.pem"')
    mine.write_text(both)
    with pytest.raises(ConfigError) as caught:
        load_config(mine)
    assert caught.value.key == "stages.execution.params"
    assert "one of private_key_path (Ed25519) or secret_env (HMAC)" in caught.value.reason
