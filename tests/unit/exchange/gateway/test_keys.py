"""The key store: configured keys, keys added at run time, persisted 0600 by atomic rename."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from stages.exchange.gateway.keys import KeyStore, KeyStoreError, valid_key_format
from stages.exchange.protocol.settings import DYNAMIC_ACCOUNT_BASE, ExchangeSettings
from tests.unit.exchange.gateway.harness import DEMO_KEY, DEMO_SECRET, MM_KEY, exchange_table


@pytest.fixture
def settings(tmp_path: Path) -> ExchangeSettings:
    return ExchangeSettings.from_raw(exchange_table(tmp_path / "state"))


def test_should_know_the_configured_keys_and_accounts(settings: ExchangeSettings) -> None:
    store = KeyStore(settings)
    demo = store.get(DEMO_KEY)
    assert demo is not None and demo.secret == DEMO_SECRET and demo.account == "demo" and demo.account_id == 1
    assert not demo.order_rate_exempt and demo.is_hmac
    mm = store.get(MM_KEY)
    assert mm is not None and mm.order_rate_exempt
    assert store.get("nope") is None
    assert store.account_id("exchange-fees") == 0 and store.account_name(0) == "exchange-fees"
    assert store.account_name(4242) == "account-4242"


def test_should_add_hmac_keys_for_existing_and_new_accounts_and_persist_them(settings: ExchangeSettings) -> None:
    store = KeyStore(settings)
    existing, created = store.add_key("demo")
    assert not created and existing.account_id == 1 and len(existing.secret) == 64
    fresh, created = store.add_key("alice", permissions=["USER_DATA"])
    assert created and fresh.account_id == DYNAMIC_ACCOUNT_BASE and fresh.permissions == ("USER_DATA",)
    second, created = store.add_key("bob")
    assert created and second.account_id == DYNAMIC_ACCOUNT_BASE + 1
    path = settings.key_store_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    saved = json.loads(path.read_text())
    assert {a["name"] for a in saved["accounts"]} == {"alice", "bob"}
    assert DEMO_KEY not in path.read_text()  # configured keys stay in the config

    reloaded = KeyStore(settings)
    reloaded.load()
    again = reloaded.get(fresh.api_key)
    assert again is not None and again.secret == fresh.secret and again.account_id == DYNAMIC_ACCOUNT_BASE
    assert reloaded.get(existing.api_key) is not None
    third, _ = reloaded.add_key("carol")
    assert third.account_id == DYNAMIC_ACCOUNT_BASE + 2
    assert reloaded.accounts()["bob"] == DYNAMIC_ACCOUNT_BASE + 1


def test_should_add_ed25519_keys_without_a_secret(settings: ExchangeSettings) -> None:
    pem = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    store = KeyStore(settings)
    key, _ = store.add_key("dave", ed25519_public_key=pem.decode())
    assert key.secret == "" and key.ed25519 is not None and not key.is_hmac
    reloaded = KeyStore(settings)
    reloaded.load()
    loaded = reloaded.get(key.api_key)
    assert loaded is not None and loaded.ed25519 is not None


@pytest.mark.parametrize(
    ("account", "pem", "permissions"),
    [
        ("exchange-fees", "", None),
        ("bad name", "", None),
        ("", "", None),
        ("ok", "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n", None),
        ("ok", "", ["WITHDRAW"]),
        ("ok", "", []),
    ],
)
def test_should_refuse_bad_key_requests(
    settings: ExchangeSettings, account: str, pem: str, permissions: list[str] | None
) -> None:
    store = KeyStore(settings)
    with pytest.raises(KeyStoreError):
        store.add_key(account, pem, permissions)
    assert not settings.key_store_path.exists()


def test_should_refuse_a_corrupt_store(settings: ExchangeSettings) -> None:
    settings.key_store_path.parent.mkdir(parents=True)
    settings.key_store_path.write_text('{"version": 1, "accounts": [{"name": "x", "account_id": 5}], "keys": []}')
    with pytest.raises(KeyStoreError, match="5 < 1000"):
        KeyStore(settings).load()
    settings.key_store_path.write_text("{not json")
    with pytest.raises(KeyStoreError):
        KeyStore(settings).load()


def test_should_check_key_format() -> None:
    assert valid_key_format(DEMO_KEY)
    assert not valid_key_format("short")
    assert not valid_key_format("has-dash-but-long-enough")
