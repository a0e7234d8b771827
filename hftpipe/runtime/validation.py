"""Config errors and the checks every settings parser shares.

A :class:`ConfigError` names its key as a dotted path (``stages.relay1.cpu``,
``exchange.symbols[0].tick_size``) and says what is wrong; the CLI turns it
into exit status 78 (:data:`EX_CONFIG`). The pipeline config and every
application's own table (``[exchange]``, ...) are checked with these same
functions, so a mistake reads the same wherever it is made.

Two kinds: the table readers (:func:`integer`, :func:`number`, :func:`port`,
...) take a value out of a TOML table and check it; the value checks
(:func:`at_least`, :func:`positive`, :func:`within`, :func:`not_above`) check
one already read, so a stage's ``Params.__post_init__`` can raise the same
error. A ``ConfigError`` raised there names the param (``port``), and the
config prefixes its table (``stages.venue.params.port``).
"""

from __future__ import annotations

import math
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


def integer(
    raw: Mapping[str, Any], name: str, key: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    """An integer of at least ``minimum`` (and at most ``maximum``, when given)."""
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}.{name}", f"must be an integer, got {value!r}")
    at_least(f"{key}.{name}", value, minimum)
    if maximum is not None:
        within(f"{key}.{name}", value, minimum, maximum)
    return value


def number(
    raw: Mapping[str, Any], name: str, key: str, default: float, *, minimum: float | None = None, above: float = 0.0
) -> float:
    """A finite number (an integer reads as a float): ``> above``, or ``>= minimum`` when that is given."""
    value: float = typed(raw, name, key, float, default)
    if not math.isfinite(value):
        raise ConfigError(f"{key}.{name}", f"must be a finite number, got {value}")
    if minimum is not None:
        at_least(f"{key}.{name}", value, minimum)
    elif not value > above:
        raise ConfigError(f"{key}.{name}", f"must be > {above:g}, got {value:g}")
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
    tcp_port(f"{key}.{name}", value)
    return value


# ------------------------------------------------------------------------------ value checks
def at_least(key: str, value: float, minimum: float, shown: str | None = None) -> None:
    """``value >= minimum``; ``shown``: the value as the config wrote it (a decimal string)."""
    if not value >= minimum:
        raise ConfigError(key, f"must be >= {minimum}, got {shown or value}")


def positive(key: str, value: float) -> None:
    """``value > 0`` (a size, a rate, a timeout)."""
    if not value > 0:
        raise ConfigError(key, f"must be > 0, got {value}")


def within(key: str, value: float, low: float, high: float, what: str = "") -> None:
    """``low <= value <= high``; ``what`` names the kind of value (``"a TCP port "``)."""
    if not low <= value <= high:
        raise ConfigError(key, f"must be {what}{low}..{high}, got {value}")


def tcp_port(key: str, value: int) -> None:
    """A TCP port, 0 (pick a free one) to 65535."""
    within(key, value, 0, 65535, "a TCP port ")


def not_above(key: str, value: float, other: str, bound: float, shown: tuple[str, str] | None = None) -> None:
    """``value <= bound``, where ``bound`` is the setting named ``other``; ``shown``: both as the config wrote them."""
    if value > bound:
        value_text, bound_text = shown or (str(value), str(bound))
        raise ConfigError(key, f"must be <= {other} ({bound_text}), got {value_text}")
