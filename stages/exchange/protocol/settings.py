"""The ``[exchange]`` table of an exchange config: symbols, assets, accounts, keys, ports.

Parsed once per process into frozen dataclasses, by the config expander
(:func:`stages.exchange.protocol.topology.expand_config`), which hands the one
:class:`ExchangeSettings` to every exchange stage it generates as its
``settings`` param; every mistake is a :class:`ConfigError` naming the key
(exit 78). The checks are the runtime's shared ones
(:mod:`hftpipe.runtime.validation`) plus the exchange's own (decimals, scales).

Relative paths (``state_dir``, ``ed25519_public_key_file``) start from the
config file's directory (:func:`~hftpipe.runtime.config_paths.resolve_path`).

Fixed point: a symbol's price and quantity scales come from its ``tick_size``
and ``step_size``; ``price_scale + qty_scale`` may not exceed
:data:`~hftpipe.schema.exchange.ASSET_SCALE`, so ``price * qty`` converts to a
balance with no rounding and assets are conserved exactly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hftpipe.runtime.config_paths import resolve_path
from hftpipe.runtime.validation import (
    ConfigError,
    at_least,
    integer,
    not_above,
    number,
    port,
    reject_unknown,
    string,
    table,
    tables,
    typed,
)
from hftpipe.schema.exchange import ASSET_SCALE, FEE_ACCOUNT
from hftpipe.schema.fixedpoint import parse_fixed

PERMISSIONS: Final = ("TRADE", "USER_DATA", "USER_STREAM")
FSYNC_POLICIES: Final = ("none", "always")
FEE_ACCOUNT_NAME: Final = "exchange-fees"
DYNAMIC_ACCOUNT_BASE: Final = 1000
"""Accounts created at run time (``hftpipe exchange keys add``) get ids from here up."""
_RATE_SCALE: Final = 8
MAX_SYMBOL_LENGTH: Final = 20
"""Binance's symbol pattern is ``^[A-Z0-9-_.]{1,20}$``; stream names are bounded by it."""
MAX_STREAM_MESSAGES_PER_SECOND: Final = 1000
"""Upper bound of ``stream_messages_per_second``: each connection remembers that many arrival times."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolSettings:
    symbol_id: int
    """1-based position in ``[[exchange.symbols]]``: the records' ``instrument``."""
    symbol: str
    base: str
    quote: str
    base_asset: int
    quote_asset: int
    price_scale: int
    qty_scale: int
    tick_size: int
    min_price: int
    max_price: int
    step_size: int
    min_qty: int
    max_qty: int
    min_notional: int
    """At ``price_scale`` (Binance's NOTIONAL filter), 0 for none."""
    max_notional: int
    initial_price: int
    """Where the flow generator's fair value starts (price scale)."""
    text: Mapping[str, str]
    """The configured decimal strings, for exchangeInfo."""

    def qty_to_asset(self, qty: int) -> int:
        """Base quantity -> base balance units."""
        return qty * int(10 ** (ASSET_SCALE - self.qty_scale))

    def quote_to_asset(self, price_times_qty: int) -> int:
        """``price * qty`` (scale ``price_scale + qty_scale``) -> quote balance units."""
        return price_times_qty * int(10 ** (ASSET_SCALE - self.price_scale - self.qty_scale))


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSettings:
    name: str
    account_id: int
    deposits: tuple[tuple[int, int], ...]
    """(asset id, amount at ASSET_SCALE) credited once, when the journal is empty."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeySettings:
    account: str
    api_key: str
    secret: str = ""
    """HMAC-SHA256 secret; empty for an Ed25519 key."""
    ed25519_public_key: str = ""
    """PEM text of an Ed25519 public key (read from the configured file)."""
    permissions: tuple[str, ...] = ("TRADE", "USER_DATA", "USER_STREAM")
    order_rate_exempt: bool = False
    """Skip the ORDERS limits (the flow generator's keys)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitSettings:
    request_weight_per_minute: int = 6000
    orders_per_10s: int = 50
    orders_per_day: int = 160000
    connections_per_5min: int = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowSettings:
    enabled: bool = False
    seed: int = 1
    orders_per_second: float = 20.0
    makers: tuple[str, ...] = ()
    takers: tuple[str, ...] = ()
    cancellers: tuple[str, ...] = ()
    volatility_bps: float = 5.0
    """Random-walk step of the fair value per second, in basis points."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeSettings:
    state_dir: Path
    """Journal, key store and admin socket live here (created 0700)."""
    host: str = "127.0.0.1"
    market_port: int = 9443
    api_port: int = 9444
    rest_port: int = 9445
    """Binance's REST API, public and signed (the gateway's): one base URL for every REST client."""
    maker_commission: int = 100_000
    """Rate at 1e-8 (0.001 = 0.1 %), applied to the asset a fill pays the maker."""
    taker_commission: int = 100_000
    journal_fsync: str = "none"
    """``none``: write(2) per batch (survives kill -9); ``always``: also fdatasync (power loss)."""
    recv_window_max_ms: int = 60000
    max_client_queue: int = 1000
    """Messages a market-data subscriber may have pending before it is dropped."""
    stream_messages_per_second: int = 5
    """Messages a market-stream client may send in any second (Binance: 5); one more closes it (1008)."""
    order_history: int = 100_000
    """Finished orders kept for order.status, per exchange (oldest forgotten first)."""
    symbols: tuple[SymbolSettings, ...]
    assets: tuple[str, ...]
    """Asset names; asset id = index + 1."""
    accounts: tuple[AccountSettings, ...]
    api_keys: tuple[ApiKeySettings, ...]
    rate_limits: RateLimitSettings = RateLimitSettings()
    flow: FlowSettings = FlowSettings()

    @property
    def admin_socket(self) -> Path:
        return self.state_dir / "admin.sock"

    @property
    def journal_path(self) -> Path:
        return self.state_dir / "journal.bin"

    @property
    def key_store_path(self) -> Path:
        return self.state_dir / "keys.json"

    def symbol(self, name: str) -> SymbolSettings | None:
        for symbol in self.symbols:
            if symbol.symbol == name:
                return symbol
        return None

    def asset_id(self, name: str) -> int | None:
        return self.assets.index(name) + 1 if name in self.assets else None

    def asset_name(self, asset_id: int) -> str:
        return self.assets[asset_id - 1]

    def account_id(self, name: str) -> int | None:
        if name == FEE_ACCOUNT_NAME:
            return FEE_ACCOUNT
        for account in self.accounts:
            if account.name == name:
                return account.account_id
        return None

    @staticmethod
    def from_raw(raw: Mapping[str, Any], key: str = "exchange", base_dir: Path | None = None) -> ExchangeSettings:
        """``base_dir``: where relative paths start, the config file's directory (default: the working one)."""
        return _parse(raw, key, base_dir or Path.cwd())


def expect_settings(value: object) -> None:
    """What every exchange stage's ``Params`` checks: its ``settings`` came from the expander."""
    if not isinstance(value, ExchangeSettings):
        raise ValueError(
            f"settings must be the parsed [exchange] table, got {type(value).__name__}: "
            "exchange stages are configured by an [exchange] table"
        )


# ------------------------------------------------------------------------------------- parsing

_TOP_KEYS: Final = {
    "state_dir",
    "host",
    "market_port",
    "api_port",
    "rest_port",
    "maker_commission",
    "taker_commission",
    "journal_fsync",
    "recv_window_max_ms",
    "max_client_queue",
    "stream_messages_per_second",
    "order_history",
    "symbols",
    "accounts",
    "api_keys",
    "rate_limits",
    "flow",
}
_SYMBOL_KEYS: Final = {
    "symbol",
    "base",
    "quote",
    "tick_size",
    "min_price",
    "max_price",
    "step_size",
    "min_qty",
    "max_qty",
    "min_notional",
    "max_notional",
    "initial_price",
}

_ORDERED: Final = (
    ("min_price", "max_price"),
    ("min_qty", "max_qty"),
    ("min_notional", "max_notional"),
    ("min_price", "initial_price"),
    ("initial_price", "max_price"),
)
"""(low, high) pairs of a symbol's filters: ``low <= high`` unless ``high`` is 0 (no limit)."""


def _decimal(raw: Mapping[str, Any], name: str, key: str, default: str | None = None) -> str:
    if name not in raw and default is None:
        raise ConfigError(f"{key}.{name}", 'missing: give it as a decimal string, e.g. "0.01"')
    value = raw.get(name, default)
    if not isinstance(value, str):
        raise ConfigError(f"{key}.{name}", f'must be a decimal string like "0.01" (exact), got {value!r}')
    try:
        parse_fixed(value, ASSET_SCALE)
    except ValueError as exc:
        raise ConfigError(f"{key}.{name}", f"not a decimal number: {exc}") from exc
    return value


def _scale_of(text: str) -> int:
    """Decimals of a step like ``"0.01000000"`` (trailing zeros do not count)."""
    _, _, frac = text.partition(".")
    return len(frac.rstrip("0"))


def _fixed(text: str, scale: int, key: str) -> int:
    try:
        return parse_fixed(text, scale)
    except ValueError as exc:
        raise ConfigError(key, f"{text!r} has more decimals than the symbol allows (scale {scale}): {exc}") from exc


def _parse_symbol(index: int, raw: Mapping[str, Any], assets: list[str]) -> SymbolSettings:
    key = f"exchange.symbols[{index}]"
    reject_unknown(raw, _SYMBOL_KEYS, key)
    names: dict[str, str] = {}
    for name in ("symbol", "base", "quote"):
        value = typed(raw, name, key, str, "")
        if not value or not value.isalnum() or not value.isupper():
            raise ConfigError(f"{key}.{name}", f"must be upper-case letters/digits, got {value!r}")
        if len(value) > MAX_SYMBOL_LENGTH:
            raise ConfigError(f"{key}.{name}", f"must be at most {MAX_SYMBOL_LENGTH} characters, got {value!r}")
        names[name] = value
    if names["symbol"] != names["base"] + names["quote"]:
        raise ConfigError(f"{key}.symbol", f"must be base + quote ({names['base'] + names['quote']})")
    text = {
        name: _decimal(raw, name, key, default)
        for name, default in (
            ("tick_size", None),
            ("min_price", "0"),
            ("max_price", "0"),
            ("step_size", None),
            ("min_qty", "0"),
            ("max_qty", "0"),
            ("min_notional", "0"),
            ("max_notional", "0"),
            ("initial_price", None),
        )
    }
    price_scale, qty_scale = _scale_of(text["tick_size"]), _scale_of(text["step_size"])
    if price_scale + qty_scale > ASSET_SCALE:
        raise ConfigError(
            f"{key}.step_size",
            f"tick_size and step_size decimals add to {price_scale + qty_scale} > {ASSET_SCALE}: "
            "price * qty would not convert to a balance exactly",
        )
    tick = _fixed(text["tick_size"], price_scale, f"{key}.tick_size")
    step = _fixed(text["step_size"], qty_scale, f"{key}.step_size")
    if tick <= 0 or step <= 0:
        raise ConfigError(f"{key}.tick_size", "tick_size and step_size must be > 0")
    for asset in (names["base"], names["quote"]):
        if asset not in assets:
            assets.append(asset)
    initial = _fixed(text["initial_price"], price_scale, f"{key}.initial_price")
    if initial <= 0 or initial % tick:
        raise ConfigError(f"{key}.initial_price", "must be > 0 and a multiple of tick_size")
    scales = {"price": price_scale, "qty": qty_scale, "notional": price_scale}
    values = {
        f"{bound}_{kind}": _fixed(text[f"{bound}_{kind}"], scale, f"{key}.{bound}_{kind}")
        for kind, scale in scales.items()
        for bound in ("min", "max")
    }
    for name, value in values.items():
        at_least(f"{key}.{name}", value, 0, text[name])
    values["initial_price"] = initial
    for low, high in _ORDERED:
        if values[high]:  # a max_* of 0: no upper limit
            not_above(f"{key}.{low}", values[low], high, values[high], (text[low], text[high]))
    return SymbolSettings(
        symbol_id=index + 1,
        symbol=names["symbol"],
        base=names["base"],
        quote=names["quote"],
        base_asset=assets.index(names["base"]) + 1,
        quote_asset=assets.index(names["quote"]) + 1,
        price_scale=price_scale,
        qty_scale=qty_scale,
        tick_size=tick,
        min_price=values["min_price"],
        max_price=values["max_price"],
        step_size=step,
        min_qty=values["min_qty"],
        max_qty=values["max_qty"],
        min_notional=values["min_notional"],
        max_notional=values["max_notional"],
        initial_price=initial,
        text=text,
    )


def _parse_account(index: int, raw: Mapping[str, Any], assets: list[str]) -> AccountSettings:
    key = f"exchange.accounts[{index}]"
    reject_unknown(raw, {"name", "deposits"}, key)
    name = typed(raw, "name", key, str, "")
    if not name or name == FEE_ACCOUNT_NAME or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"{key}.name", f"must be letters, digits, - or _ (not {FEE_ACCOUNT_NAME!r}), got {name!r}")
    deposits = []
    for asset, amount in table(raw.get("deposits", {}), f"{key}.deposits").items():
        if asset not in assets:
            raise ConfigError(f"{key}.deposits.{asset}", f"unknown asset (known: {', '.join(assets)})")
        value = _fixed(_decimal({"v": amount}, "v", f"{key}.deposits.{asset}"), ASSET_SCALE, f"{key}.deposits.{asset}")
        if value <= 0:
            raise ConfigError(f"{key}.deposits.{asset}", "must be > 0")
        deposits.append((assets.index(asset) + 1, value))
    return AccountSettings(name=name, account_id=index + 1, deposits=tuple(deposits))


def _parse_key(index: int, raw: Mapping[str, Any], accounts: set[str], base_dir: Path) -> ApiKeySettings:
    key = f"exchange.api_keys[{index}]"
    reject_unknown(
        raw, {"account", "api_key", "secret", "ed25519_public_key_file", "permissions", "order_rate_exempt"}, key
    )
    account = typed(raw, "account", key, str, "")
    if account not in accounts:
        raise ConfigError(f"{key}.account", f"no account named {account!r} in [[exchange.accounts]]")
    api_key = typed(raw, "api_key", key, str, "")
    if not 8 <= len(api_key) <= 64 or not api_key.isalnum():
        raise ConfigError(f"{key}.api_key", "must be 8-64 letters and digits")
    secret = typed(raw, "secret", key, str, "")
    key_file = typed(raw, "ed25519_public_key_file", key, str, "")
    if bool(secret) == bool(key_file):
        raise ConfigError(key, "give exactly one of secret (HMAC-SHA256) or ed25519_public_key_file")
    pem = _public_key_pem(key_file, f"{key}.ed25519_public_key_file", base_dir) if key_file else ""
    permissions = raw.get("permissions", list(PERMISSIONS))
    if not isinstance(permissions, list) or any(p not in PERMISSIONS for p in permissions):
        raise ConfigError(f"{key}.permissions", f"must be a list of {', '.join(PERMISSIONS)}, got {permissions!r}")
    return ApiKeySettings(
        account=account,
        api_key=api_key,
        secret=secret,
        ed25519_public_key=pem,
        permissions=tuple(permissions),
        order_rate_exempt=typed(raw, "order_rate_exempt", key, bool, False),
    )


def _public_key_pem(key_file: str, key: str, base_dir: Path) -> str:
    """The PEM text of an Ed25519 public key file, checked here so a bad one never reaches the gateway."""
    from hftpipe.protocols.binance_signing import load_ed25519_public_key  # noqa: PLC0415 - cryptography only if used

    path = resolve_path(key_file, base_dir)
    try:
        pem = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(key, f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        load_ed25519_public_key(pem)
    except ValueError as exc:
        raise ConfigError(key, f"{path} is not an Ed25519 public key in PEM: {exc}") from exc
    return pem


def _parse_flow(raw: Mapping[str, Any], accounts: set[str], keyed: set[str]) -> FlowSettings:
    key = "exchange.flow"
    reject_unknown(
        raw, {"enabled", "seed", "orders_per_second", "makers", "takers", "cancellers", "volatility_bps"}, key
    )
    roles: dict[str, tuple[str, ...]] = {}
    for role in ("makers", "takers", "cancellers"):
        names = raw.get(role, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{key}.{role}", "must be a list of account names")
        for name in names:
            if name not in accounts:
                raise ConfigError(f"{key}.{role}", f"no account named {name!r} in [[exchange.accounts]]")
            if name not in keyed:
                raise ConfigError(f"{key}.{role}", f"account {name!r} has no HMAC key in [[exchange.api_keys]]")
        roles[role] = tuple(names)
    flow = FlowSettings(
        enabled=typed(raw, "enabled", key, bool, False),
        seed=typed(raw, "seed", key, int, 1),
        orders_per_second=number(raw, "orders_per_second", key, 20.0),
        volatility_bps=number(raw, "volatility_bps", key, 5.0, minimum=0),
        **roles,
    )
    if flow.enabled and not flow.makers:
        raise ConfigError(f"{key}.makers", "the flow generator needs at least one market maker")
    return flow


def _commission(raw: Mapping[str, Any], name: str) -> int:
    text = _decimal(raw, name, "exchange", "0.001")
    rate = _fixed(text, _RATE_SCALE, f"exchange.{name}")
    if not 0 <= rate < 10**_RATE_SCALE:
        raise ConfigError(f"exchange.{name}", 'must be a rate in [0, 1), e.g. "0.001" for 0.1 %')
    return rate


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "hftpipe" / "exchange"


def _parse(raw: Mapping[str, Any], key: str, base_dir: Path) -> ExchangeSettings:
    raw = table(raw, key)
    reject_unknown(raw, _TOP_KEYS, key)
    assets: list[str] = []
    symbols = tuple(
        _parse_symbol(i, s, assets) for i, s in enumerate(tables(raw.get("symbols", []), f"{key}.symbols"))
    )
    if not symbols:
        raise ConfigError(f"{key}.symbols", "missing: an exchange needs at least one [[exchange.symbols]]")
    if len({s.symbol for s in symbols}) != len(symbols):
        raise ConfigError(f"{key}.symbols", "a symbol is listed twice")
    accounts = tuple(
        _parse_account(i, a, assets) for i, a in enumerate(tables(raw.get("accounts", []), f"{key}.accounts"))
    )
    if len(accounts) >= DYNAMIC_ACCOUNT_BASE:
        raise ConfigError(f"{key}.accounts", f"at most {DYNAMIC_ACCOUNT_BASE - 1} configured accounts")
    names = {a.name for a in accounts}
    if len(names) != len(accounts):
        raise ConfigError(f"{key}.accounts", "an account name is listed twice")
    state_text = typed(raw, "state_dir", key, str, "")
    state_dir = resolve_path(state_text, base_dir) if state_text else default_state_dir().resolve()
    keys = tuple(
        _parse_key(i, k, names, base_dir) for i, k in enumerate(tables(raw.get("api_keys", []), f"{key}.api_keys"))
    )
    if len({k.api_key for k in keys}) != len(keys):
        raise ConfigError(f"{key}.api_keys", "an api_key is listed twice")
    hmac_keyed = {k.account for k in keys if k.secret}
    limits_raw = table(raw.get("rate_limits", {}), f"{key}.rate_limits")
    reject_unknown(limits_raw, {f for f in RateLimitSettings.__dataclass_fields__}, f"{key}.rate_limits")
    defaults = RateLimitSettings()
    limits = RateLimitSettings(  # a limit of 0 would refuse everything
        **{
            name: integer(limits_raw, name, f"{key}.rate_limits", getattr(defaults, name), minimum=1)
            for name in RateLimitSettings.__dataclass_fields__
        }
    )
    fsync = string(raw, "journal_fsync", key, "none", FSYNC_POLICIES)
    market_port, api_port = port(raw, "market_port", key, 9443), port(raw, "api_port", key, 9444)
    if market_port and market_port == api_port:
        raise ConfigError(f"{key}.api_port", "must differ from market_port")
    rest_port = port(raw, "rest_port", key, 9445)
    if rest_port and rest_port in (market_port, api_port):
        raise ConfigError(f"{key}.rest_port", "must differ from market_port and api_port")
    host = typed(raw, "host", key, str, "127.0.0.1")
    if not host or host != host.strip():
        raise ConfigError(f"{key}.host", f'must be an address to listen on ("127.0.0.1"), got {host!r}')
    return ExchangeSettings(
        state_dir=state_dir,
        host=host,
        market_port=market_port,
        api_port=api_port,
        rest_port=rest_port,
        maker_commission=_commission(raw, "maker_commission"),
        taker_commission=_commission(raw, "taker_commission"),
        journal_fsync=fsync,
        recv_window_max_ms=integer(raw, "recv_window_max_ms", key, 60000, minimum=1),
        max_client_queue=integer(raw, "max_client_queue", key, 1000, minimum=1),
        stream_messages_per_second=integer(
            raw, "stream_messages_per_second", key, 5, minimum=1, maximum=MAX_STREAM_MESSAGES_PER_SECOND
        ),
        order_history=integer(raw, "order_history", key, 100_000, minimum=0),
        symbols=symbols,
        assets=tuple(assets),
        accounts=accounts,
        api_keys=keys,
        rate_limits=limits,
        flow=_parse_flow(table(raw.get("flow", {}), f"{key}.flow"), names, hmac_keyed),
    )
