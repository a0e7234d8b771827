"""API keys and the accounts they trade for: the configured ones plus those added at run time.

Configured keys come from ``[[exchange.api_keys]]``. Keys added through the
admin socket (``keys.add``), and the accounts created for them, are written to
``settings.key_store_path`` so they survive restarts: JSON, mode 0600, written
to a temporary file in the same directory, fsynced and renamed over the old
one (a crash leaves the old or the new store, never half of one). A new
account name gets the next id from ``DYNAMIC_ACCOUNT_BASE`` up; configured
accounts keep their configured ids.

Only the gateway writes the store; the other stages never read it (accounting
knows accounts by id only).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hftpipe.protocols.binance_signing import load_ed25519_public_key
from hftpipe.schema.exchange import FEE_ACCOUNT
from stages.exchange.protocol.settings import DYNAMIC_ACCOUNT_BASE, FEE_ACCOUNT_NAME, PERMISSIONS, ExchangeSettings

STORE_VERSION: Final = 1
_ALPHANUMERIC: Final = string.ascii_letters + string.digits
KEY_LENGTH: Final = 64


def random_token(length: int = KEY_LENGTH) -> str:
    """Letters and digits, like Binance API keys and secrets."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


class KeyStoreError(ValueError):
    """A bad ``keys.add`` request, or an unreadable key store."""


@dataclass(slots=True)
class ApiKey:
    api_key: str
    account: str
    account_id: int
    secret: str = ""
    """HMAC-SHA256 secret; empty for an Ed25519 key."""
    ed25519_pem: str = ""
    permissions: tuple[str, ...] = PERMISSIONS
    order_rate_exempt: bool = False
    dynamic: bool = False
    ed25519: Ed25519PublicKey | None = field(default=None, repr=False)

    @property
    def is_hmac(self) -> bool:
        return bool(self.secret)


def valid_key_format(api_key: str) -> bool:
    """What Binance's -2014 "API-key format invalid." guards: letters and digits, sane length."""
    return 8 <= len(api_key) <= 128 and api_key.isascii() and api_key.isalnum()


def valid_account_name(name: str) -> bool:
    return bool(name) and name.isascii() and name.replace("-", "").replace("_", "").isalnum()


class KeyStore:
    """Look up keys by ``apiKey``; add keys and accounts, persisted."""

    def __init__(self, settings: ExchangeSettings, path: Path | None = None) -> None:
        self.settings = settings
        self.path = path if path is not None else settings.key_store_path
        self._keys: dict[str, ApiKey] = {}
        self._accounts: dict[str, int] = {account.name: account.account_id for account in settings.accounts}
        self._accounts[FEE_ACCOUNT_NAME] = FEE_ACCOUNT
        self._dynamic_accounts: dict[str, int] = {}
        for configured in settings.api_keys:
            self._keys[configured.api_key] = self._make(
                api_key=configured.api_key,
                account=configured.account,
                account_id=self._accounts[configured.account],
                secret=configured.secret,
                ed25519_pem=configured.ed25519_public_key,
                permissions=configured.permissions,
                order_rate_exempt=configured.order_rate_exempt,
            )

    # -- lookups --------------------------------------------------------------------------------
    def get(self, api_key: str) -> ApiKey | None:
        return self._keys.get(api_key)

    def account_id(self, name: str) -> int | None:
        return self._accounts.get(name)

    def account_name(self, account_id: int) -> str:
        for name, known in self._accounts.items():
            if known == account_id:
                return name
        return f"account-{account_id}"

    def accounts(self) -> dict[str, int]:
        """Every account name and id: configured, the fee account, and dynamic ones."""
        return dict(self._accounts)

    def keys(self) -> Iterable[ApiKey]:
        return self._keys.values()

    # -- persistence ----------------------------------------------------------------------------
    def load(self) -> None:
        """Read the dynamic keys and accounts (a missing store is an empty one)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return
        try:
            raw = json.loads(text)
            if raw.get("version") != STORE_VERSION:
                raise KeyStoreError(f"unsupported key store version {raw.get('version')!r}")
            for account in raw["accounts"]:
                self._add_account(str(account["name"]), int(account["account_id"]))
            for key in raw["keys"]:
                name = str(key["account"])
                account_id = self._accounts.get(name)
                if account_id is None:
                    raise KeyStoreError(f"key {key['api_key']!r} names unknown account {name!r}")
                self._keys[str(key["api_key"])] = self._make(
                    api_key=str(key["api_key"]),
                    account=name,
                    account_id=account_id,
                    secret=str(key.get("secret", "")),
                    ed25519_pem=str(key.get("ed25519_public_key", "")),
                    permissions=tuple(key.get("permissions", PERMISSIONS)),
                    dynamic=True,
                )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise KeyStoreError(f"{self.path}: unreadable key store: {exc}") from exc

    def _snapshot(self) -> dict[str, Any]:
        return {
            "version": STORE_VERSION,
            "accounts": [{"name": name, "account_id": i} for name, i in sorted(self._dynamic_accounts.items())],
            "keys": [
                {
                    "api_key": key.api_key,
                    "account": key.account,
                    "secret": key.secret,
                    "ed25519_public_key": key.ed25519_pem,
                    "permissions": list(key.permissions),
                }
                for key in self._keys.values()
                if key.dynamic
            ],
        }

    def save(self) -> None:
        directory = self.path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = json.dumps(self._snapshot(), indent=1).encode()
        temporary = directory / f".{self.path.name}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
        directory_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)

    # -- changes --------------------------------------------------------------------------------
    def add_key(
        self, account: str, ed25519_public_key: str = "", permissions: Sequence[str] | None = None
    ) -> tuple[ApiKey, bool]:
        """A new key for ``account`` (created when unknown); returns it and whether the account is new.

        HMAC when no Ed25519 public key (PEM) is given. Persisted before it returns.
        """
        if not valid_account_name(account) or account == FEE_ACCOUNT_NAME:
            raise KeyStoreError(f"bad account name {account!r}: letters, digits, - and _ (not {FEE_ACCOUNT_NAME!r})")
        chosen = tuple(permissions) if permissions is not None else PERMISSIONS
        unknown = [p for p in chosen if p not in PERMISSIONS]
        if unknown or not chosen:
            raise KeyStoreError(f"permissions must be a non-empty list of {', '.join(PERMISSIONS)}, got {list(chosen)}")
        if ed25519_public_key:
            try:
                load_ed25519_public_key(ed25519_public_key)
            except ValueError as exc:
                raise KeyStoreError(f"ed25519_public_key: {exc}") from exc
        created = account not in self._accounts
        if created:
            used = [i for i in self._accounts.values() if i >= DYNAMIC_ACCOUNT_BASE]
            self._add_account(account, max(used, default=DYNAMIC_ACCOUNT_BASE - 1) + 1)
        api_key = random_token()
        while api_key in self._keys:
            api_key = random_token()
        key = self._make(
            api_key=api_key,
            account=account,
            account_id=self._accounts[account],
            secret="" if ed25519_public_key else random_token(),
            ed25519_pem=ed25519_public_key,
            permissions=chosen,
            dynamic=True,
        )
        self._keys[api_key] = key
        try:
            self.save()
        except OSError:
            del self._keys[api_key]
            if created:
                del self._accounts[account]
                del self._dynamic_accounts[account]
            raise
        return key, created

    def _add_account(self, name: str, account_id: int) -> None:
        if name in self._accounts and self._accounts[name] != account_id:
            raise KeyStoreError(f"account {name!r} has id {self._accounts[name]}, the store says {account_id}")
        if account_id < DYNAMIC_ACCOUNT_BASE:
            raise KeyStoreError(f"dynamic account {name!r} has id {account_id} < {DYNAMIC_ACCOUNT_BASE}")
        self._accounts[name] = account_id
        self._dynamic_accounts[name] = account_id

    @staticmethod
    def _make(**fields: Any) -> ApiKey:
        key = ApiKey(**fields)
        if key.ed25519_pem:
            key.ed25519 = load_ed25519_public_key(key.ed25519_pem)
        return key
