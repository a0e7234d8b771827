"""The [exchange] table: the shipped config parses, and every mistake names its key."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest

from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.exchange import ASSET_SCALE, FEE_ACCOUNT
from stages.exchange.protocol.settings import FEE_ACCOUNT_NAME, ExchangeSettings
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
