"""The [exchange] table: the shipped config parses, and every mistake names its key."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.exchange import ASSET_SCALE, FEE_ACCOUNT
from stages.exchange.protocol.settings import FEE_ACCOUNT_NAME, ExchangeSettings
from stages.exchange.protocol.state_dir import prepare_state_dir
from tests.conftest import REPO

SHIPPED = tomllib.loads((REPO / "configs" / "exchange.toml").read_text())["exchange"]


def _raw() -> dict[str, Any]:
    return copy.deepcopy(SHIPPED)


def test_should_parse_the_shipped_exchange_config() -> None:
    settings = ExchangeSettings.from_raw(SHIPPED)
    assert [s.symbol for s in settings.symbols] == ["BTCUSDT", "ETHUSDT"]
    assert settings.assets == ("BTC", "USDT", "ETH")
    btc = settings.symbols[0]
    assert (btc.symbol_id, btc.price_scale, btc.qty_scale, btc.tick_size, btc.step_size) == (1, 2, 5, 1, 1)
    assert btc.min_notional == 500
    assert (btc.base_asset, btc.quote_asset) == (1, 2)
    assert settings.account_id("demo") == 1
    assert settings.account_id(FEE_ACCOUNT_NAME) == FEE_ACCOUNT
    assert settings.maker_commission == 100_000  # 0.001 at 1e-8
    assert settings.flow.enabled and settings.flow.makers == ("mm-1", "mm-2")
    assert all(k.order_rate_exempt for k in settings.api_keys if k.account != "demo")
    assert settings.stream_messages_per_second == 5  # Binance's limit, unless configured


def test_should_convert_quantities_and_notionals_to_balances_exactly() -> None:
    btc = ExchangeSettings.from_raw(SHIPPED).symbols[0]
    assert btc.qty_to_asset(1) == 10 ** (ASSET_SCALE - 5)  # 0.00001 BTC
    assert btc.quote_to_asset(6_000_000 * 100_000) == 60_000 * 10**ASSET_SCALE  # 60000.00 * 1.00000


def _set(path: str, value: Any) -> dict[str, Any]:
    raw = _raw()
    node: Any = raw
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return raw


_DELETE = object()

ERRORS = [
    ("symbols.0.step_size", "0.0000001", "exchange.symbols[0].step_size", "decimals add to 9 > 8"),
    ("symbols.0.symbol", "BTCUSD", "exchange.symbols[0].symbol", "must be base + quote"),
    ("symbols.0.tick_size", 0.01, "exchange.symbols[0].tick_size", "must be a decimal string"),
    ("symbols.0.initial_price", "60000.005", "exchange.symbols[0].initial_price", "more decimals"),
    ("symbols.1.symbol", "BTCUSDT", "exchange.symbols[1].symbol", "must be base + quote"),
    ("accounts.0.deposits", {"DOGE": "1"}, "exchange.accounts[0].deposits.DOGE", "unknown asset"),
    ("accounts.0.name", FEE_ACCOUNT_NAME, "exchange.accounts[0].name", "must be letters"),
    ("api_keys.0.account", "nobody", "exchange.api_keys[0].account", "no account named 'nobody'"),
    ("api_keys.0.secret", _DELETE, "exchange.api_keys[0]", "exactly one of secret"),
    ("api_keys.0.permissions", ["WITHDRAW"], "exchange.api_keys[0].permissions", "must be a list of"),
    ("api_port", 9443, "exchange.api_port", "must differ from market_port"),
    ("rest_port", 9444, "exchange.rest_port", "must differ from market_port and api_port"),
    ("rest_port", 70000, "exchange.rest_port", "TCP port"),
    ("market_port", 70000, "exchange.market_port", "TCP port"),
    ("journal_fsync", "sometimes", "exchange.journal_fsync", "must be one of none, always"),
    ("maker_commission", "1.5", "exchange.maker_commission", "must be a rate in [0, 1)"),
    ("flow.makers", ["demo2"], "exchange.flow.makers", "no account named 'demo2'"),
    ("flow.orders_per_second", 0, "exchange.flow.orders_per_second", "must be > 0"),
    ("rate_limits.per_hour", 5, "exchange.rate_limits.per_hour", "unknown key"),
    ("listen", "0.0.0.0", "exchange.listen", "unknown key"),
]


@pytest.mark.parametrize(("path", "value", "key", "reason"), ERRORS, ids=[e[0] for e in ERRORS])
def test_should_name_the_key_and_reason_of_each_exchange_config_error(
    path: str, value: Any, key: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        ExchangeSettings.from_raw(_set(path, value))
    assert caught.value.key == key
    assert reason in caught.value.reason


def test_should_refuse_a_flow_account_without_an_hmac_key() -> None:
    raw = _raw()
    raw["accounts"].append({"name": "mm-3"})
    raw["flow"]["makers"] = ["mm-3"]
    with pytest.raises(ConfigError) as caught:
        ExchangeSettings.from_raw(raw)
    assert (caught.value.key, "has no HMAC key" in caught.value.reason) == ("exchange.flow.makers", True)


# Every value that would start an exchange that refuses everything, or fails in a stage, is refused here.
RANGE_ERRORS = [
    ("rate_limits.orders_per_10s", -1, "exchange.rate_limits.orders_per_10s", "must be >= 1, got -1"),
    ("rate_limits.connections_per_5min", 0, "exchange.rate_limits.connections_per_5min", "must be >= 1, got 0"),
    ("rate_limits.orders_per_day", 0, "exchange.rate_limits.orders_per_day", "must be >= 1, got 0"),
    (
        "rate_limits.request_weight_per_minute",
        0,
        "exchange.rate_limits.request_weight_per_minute",
        "must be >= 1, got 0",
    ),
    ("recv_window_max_ms", -1, "exchange.recv_window_max_ms", "must be >= 1, got -1"),
    ("max_client_queue", 0, "exchange.max_client_queue", "must be >= 1, got 0"),
    ("stream_messages_per_second", 0, "exchange.stream_messages_per_second", "must be >= 1, got 0"),
    ("stream_messages_per_second", 1001, "exchange.stream_messages_per_second", "must be 1..1000, got 1001"),
    (
        "symbols.0.symbol",
        "A" * 21,
        "exchange.symbols[0].symbol",
        "must be at most 20 characters, got 'AAAAAAAAAAAAAAAAAAAAA'",
    ),
    ("order_history", -1, "exchange.order_history", "must be >= 0, got -1"),
    ("recv_window_max_ms", "60000", "exchange.recv_window_max_ms", "must be an integer, got '60000'"),
    ("host", "", "exchange.host", "must be an address to listen on (\"127.0.0.1\"), got ''"),
    (
        "symbols.0.min_price",
        "2000000",
        "exchange.symbols[0].min_price",
        "must be <= max_price (1000000), got 2000000",
    ),
    ("symbols.0.min_qty", "9001", "exchange.symbols[0].min_qty", "must be <= max_qty (9000), got 9001"),
    ("symbols.0.min_qty", "-1", "exchange.symbols[0].min_qty", "must be >= 0, got -1"),
    ("symbols.0.max_notional", "1", "exchange.symbols[0].min_notional", "must be <= max_notional (1), got 5"),
    ("symbols.0.max_price", "-1", "exchange.symbols[0].max_price", "must be >= 0, got -1"),
    ("symbols.0.min_price", "70000", "exchange.symbols[0].min_price", "must be <= initial_price (60000), got 70000"),
    (
        "symbols.0.initial_price",
        "2000000",
        "exchange.symbols[0].initial_price",
        "must be <= max_price (1000000), got 2000000",
    ),
    ("flow.volatility_bps", -1, "exchange.flow.volatility_bps", "must be >= 0, got -1.0"),
    ("flow.orders_per_second", float("inf"), "exchange.flow.orders_per_second", "must be a finite number, got inf"),
    ("flow.orders_per_second", -2, "exchange.flow.orders_per_second", "must be > 0, got -2"),
]


@pytest.mark.parametrize(("path", "value", "key", "reason"), RANGE_ERRORS, ids=[f"{e[0]}={e[1]}" for e in RANGE_ERRORS])
def test_should_refuse_each_value_out_of_its_range_naming_key_and_reason(
    path: str, value: Any, key: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        ExchangeSettings.from_raw(_set(path, value))
    assert caught.value.key == key
    assert caught.value.reason.startswith(reason), caught.value.reason


def test_should_allow_zero_as_no_upper_limit_of_a_filter() -> None:
    raw = _set("symbols.0.max_price", "0")
    raw["symbols"][0].update(max_qty="0", max_notional="0", min_price="70000", initial_price="70000")
    symbol = ExchangeSettings.from_raw(raw).symbols[0]
    assert (symbol.max_price, symbol.max_qty, symbol.max_notional, symbol.min_price) == (0, 0, 0, 7_000_000)


# Relative paths start from the config file's directory, not the working directory.
def test_should_resolve_a_relative_state_dir_and_key_file_against_the_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = tmp_path / "etc"
    (config_dir / "keys").mkdir(parents=True)
    pem = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    (config_dir / "keys" / "demo.pem").write_bytes(pem)
    raw = _set("state_dir", "state")
    raw["api_keys"].append({"account": "demo", "api_key": "Ed25519Key0001", "ed25519_public_key_file": "keys/demo.pem"})
    monkeypatch.chdir(tmp_path)  # elsewhere: the working directory must not matter
    settings = ExchangeSettings.from_raw(raw, base_dir=config_dir)
    assert settings.state_dir == config_dir / "state"
    assert settings.api_keys[-1].ed25519_public_key == pem.decode()
    home = ExchangeSettings.from_raw(_set("state_dir", "~/exchange-state"), base_dir=config_dir)
    assert home.state_dir == Path.home().resolve() / "exchange-state"


def test_should_refuse_a_key_file_that_is_not_an_ed25519_public_key(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("not a key\n")
    raw = _raw()
    raw["api_keys"].append({"account": "demo", "api_key": "Ed25519Key0001", "ed25519_public_key_file": "bad.pem"})
    with pytest.raises(ConfigError) as caught:
        ExchangeSettings.from_raw(raw, base_dir=tmp_path)
    assert caught.value.key == "exchange.api_keys[5].ed25519_public_key_file"
    assert caught.value.reason.startswith(f"{tmp_path / 'bad.pem'} is not an Ed25519 public key in PEM: ")


def test_should_refuse_an_unusable_state_dir_before_a_run(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = ExchangeSettings.from_raw(_set("state_dir", str(blocker / "state")))
    with pytest.raises(ConfigError) as caught:
        prepare_state_dir(settings)
    assert (caught.value.key, caught.value.reason) == (
        "exchange.state_dir",
        f"cannot create {blocker / 'state'}: Not a directory",
    )
    usable = ExchangeSettings.from_raw(_set("state_dir", str(tmp_path / "a" / "state")))
    prepare_state_dir(usable)
    assert (tmp_path / "a" / "state").stat().st_mode & 0o777 == 0o700
