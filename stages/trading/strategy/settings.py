"""The strategy stage's params: which strategies it hosts and how its clock runs, parsed once.

One strategy per process is the default shape (its keys straight in the
stage's ``params``); a ``strategies = [...]`` array hosts several in one
process, each with its own id, counters and orders. Each strategy's own
``params`` table is checked against its class's ``Params`` dataclass here,
so a bad value exits 78 naming the key before any process starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from hftpipe.runtime.config import build_params
from hftpipe.runtime.loader import load_class
from hftpipe.runtime.validation import ConfigError, integer, reject_unknown, string, table, tables
from hftpipe.strategy import Rounding, Strategy


class ClockMode(StrEnum):
    LIVE = "live"
    """The records' time, and the host's monotonic clock between records (timers fire in a quiet market)."""
    RECORDS = "records"
    """Only the records' time: replays and backtests fire the same timers at the same records, every run."""


_STRATEGY_KEYS: Final = frozenset(
    {"id", "name", "class", "instruments", "params", "max_errors", "rounding", "cancel_on_stop"}
)
_STAGE_KEYS: Final = frozenset({"strategies", "clock", "epoch", "batch", "conflate"})
MAX_STRATEGY_ID: Final = (1 << 16) - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategySettings:
    id: int
    """1..65535: part of every client order id, so unique per account."""
    name: str
    """Labels its counters and log lines."""
    class_path: str
    strategy_class: type[Strategy]
    params: Any
    """An instance of the strategy class's ``Params``."""
    instruments: tuple[str, ...] = ()
    """Symbols of the pipeline's ``[[instruments]]`` it trades (empty: all of them)."""
    max_errors: int = 10
    """Handler exceptions before the strategy is disabled (and its orders canceled)."""
    rounding: Rounding = Rounding.PASSIVE
    cancel_on_stop: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyStageParams:
    strategies: tuple[StrategySettings, ...]
    clock: ClockMode = ClockMode.LIVE
    epoch: int = 0
    """Run epoch in client order ids, ms; 0: the stage's start time (unique across restarts)."""
    batch: int = 256
    conflate: bool = True
    """Hand a strategy the newest book per instrument once per poll (false: every book record, in order)."""

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], key: str, base_dir: Path) -> StrategyStageParams:
        stage_part = {k: v for k, v in raw.items() if k in _STAGE_KEYS}
        single = {k: v for k, v in raw.items() if k not in _STAGE_KEYS}
        reject_unknown(single, _STRATEGY_KEYS, key)
        if "strategies" in stage_part:
            if single:
                raise ConfigError(
                    f"{key}.{next(iter(single))}", "give strategies either as strategies = [...] or inline, not both"
                )
            listed = tables(stage_part["strategies"], f"{key}.strategies")
            strategies = tuple(_strategy(entry, f"{key}.strategies[{i}]", base_dir) for i, entry in enumerate(listed))
        else:
            strategies = (_strategy(single, key, base_dir),)
        if not strategies:
            raise ConfigError(f"{key}.strategies", "host at least one strategy")
        seen: dict[int, str] = {}
        names: set[str] = set()
        for i, settings in enumerate(strategies):
            where = f"{key}.strategies[{i}]" if len(strategies) > 1 else key
            if settings.id in seen:
                raise ConfigError(f"{where}.id", f"strategy id {settings.id} is already {seen[settings.id]!r}'s")
            if settings.name in names:
                raise ConfigError(f"{where}.name", f"two strategies named {settings.name!r}")
            seen[settings.id] = settings.name
            names.add(settings.name)
        return cls(
            strategies=strategies,
            clock=ClockMode(string(stage_part, "clock", key, ClockMode.LIVE, tuple(ClockMode))),
            epoch=integer(stage_part, "epoch", key, 0, minimum=0, maximum=10**13 - 1),
            batch=integer(stage_part, "batch", key, 256, minimum=1),
            conflate=_flag(stage_part, "conflate", key, True),
        )


def _strategy(raw: Mapping[str, Any], key: str, base_dir: Path) -> StrategySettings:
    reject_unknown(raw, _STRATEGY_KEYS, key)
    if "class" not in raw:
        raise ConfigError(f"{key}.class", 'missing: name the strategy class as "module:Class"')
    if "id" not in raw:
        raise ConfigError(f"{key}.id", "missing: every strategy needs an id 1..65535 (it is in its client order ids)")
    class_path = string(raw, "class", key, "")
    strategy_class = load_class(class_path, f"{key}.class", Strategy)
    strategy_id = integer(raw, "id", key, 0, minimum=1, maximum=MAX_STRATEGY_ID)
    instruments = raw.get("instruments", [])
    if not isinstance(instruments, list) or not all(isinstance(s, str) and s for s in instruments):
        raise ConfigError(f"{key}.instruments", f"must be a list of symbols, got {instruments!r}")
    name = string(raw, "name", key, f"s{strategy_id}")
    if not name.replace("_", "").replace("-", "").isalnum() or len(name) > 24:
        raise ConfigError(f"{key}.name", f"must be 1..24 letters, digits, '-' or '_', got {name!r}")
    cancel_on_stop = _flag(raw, "cancel_on_stop", key, True)
    return StrategySettings(
        id=strategy_id,
        name=name,
        class_path=class_path,
        strategy_class=strategy_class,
        params=build_params(strategy_class, table(raw.get("params", {}), f"{key}.params"), f"{key}.params", base_dir),
        instruments=tuple(instruments),
        max_errors=integer(raw, "max_errors", key, 10, minimum=1),
        rounding=Rounding(string(raw, "rounding", key, Rounding.PASSIVE, tuple(Rounding))),
        cancel_on_stop=cancel_on_stop,
    )


def _flag(raw: Mapping[str, Any], name: str, key: str, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key}.{name}", f"must be true or false, got {value!r}")
    return value
