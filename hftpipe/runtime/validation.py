"""Config errors and the checks every settings parser shares.

A :class:`ConfigError` names its key as a dotted path (``stages.relay1.cpu``,
``exchange.symbols[0].tick_size``) and says what is wrong; the CLI turns it
into exit status 78 (:data:`EX_CONFIG`). The pipeline config and every
application's own table (``[exchange]``, ...) are checked with these same
functions, so a mistake reads the same wherever it is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

EX_CONFIG: Final = 78
"""sysexits.h EX_CONFIG: what every config error exits with."""


class ConfigError(ValueError):
    """A bad config: ``key`` is the dotted path, ``reason`` says what is wrong."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def table(raw: Any, key: str) -> dict[str, Any]:
    """``raw`` as a TOML table, or an error naming ``key``."""
    if not isinstance(raw, Mapping):
        raise ConfigError(key, f"must be a table, got {type(raw).__name__}")
    return dict(raw)


def tables(raw: Any, key: str) -> list[dict[str, Any]]:
    """``raw`` as an array of tables (``[[key]]``)."""
    if not isinstance(raw, list):
        raise ConfigError(key, "must be an array of tables ([[...]])")
    return [table(item, f"{key}[{i}]") for i, item in enumerate(raw)]


def reject_unknown(raw: Mapping[str, Any], allowed: set[str] | frozenset[str], key: str) -> None:
    """Refuse keys that no field reads, listing the ones that are allowed."""
    for name in raw:
        if name not in allowed:
            prefix = f"{key}." if key else ""
            raise ConfigError(f"{prefix}{name}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def typed(raw: Mapping[str, Any], name: str, key: str, kind: type, default: Any) -> Any:
    """``raw[name]`` (or ``default``) checked to be a ``kind``; bools are not ints, ints are floats."""
    value = raw.get(name, default)
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ConfigError(f"{key}.{name}", f"must be {kind.__name__}, got {value!r}")
    return value


def integer(raw: Mapping[str, Any], name: str, key: str, default: int, minimum: int = 0) -> int:
    """An integer of at least ``minimum``."""
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}.{name}", f"must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{key}.{name}", f"must be >= {minimum}, got {value}")
    return value


def string(raw: Mapping[str, Any], name: str, key: str, default: str, choices: tuple[str, ...] = ()) -> str:
    """A string, one of ``choices`` when given."""
    value = raw.get(name, default)
    if not isinstance(value, str):
        raise ConfigError(f"{key}.{name}", f"must be a string, got {value!r}")
    if choices and value not in choices:
        raise ConfigError(f"{key}.{name}", f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def port(raw: Mapping[str, Any], name: str, key: str, default: int) -> int:
    """A TCP port, 0 (pick a free one) to 65535."""
    value: int = typed(raw, name, key, int, default)
    if not 0 <= value <= 65535:
        raise ConfigError(f"{key}.{name}", f"must be a TCP port 0..65535, got {value}")
    return value
