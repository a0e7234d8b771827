"""The risk stage's params, parsed once: limits, breakers, stops, cost method and routing.

::

    [stages.risk.params]
    execution = "execution"          # the stage approved intents go to (default "execution")
    cost_method = "fifo"             # fifo | lifo | average: realized PnL of positions
    watch_stages = ["feed", "book", "strategy", "execution"]   # a stage not running halts trading
    status_interval_ms = 250         # how often positions and PnL are published (hftpipe stat)

    [stages.risk.params.account]     # pre-trade limits (stages/trading/risk/limits.py): account, then
    max_order_notional = "5000"      # ...instruments.SYMBOL, ...strategies.ID, ...strategies.ID.instruments.SYMBOL

    [stages.risk.params.breakers]    # circuit breakers (stages/trading/risk/breakers.py)
    max_loss = "100"                 # quote currency; 0 / absent: off
    max_drawdown = "50"
    max_rejects_per_10s = 20
    max_venue_errors_per_10s = 5
    max_report_latency_ms = 500
    max_data_age_ms = 5000
    on_breach = "halt"               # halt | reduce
    [stages.risk.params.breakers.strategies.1]
    max_loss = "20"

    [stages.risk.params.stops.instruments.NKNUSDT]   # exits (stages/trading/risk/stops.py)
    stop_loss_offset = "0.002"
    trailing_percent = "1.5"
    [stages.risk.params.stops.strategies.1]
    take_profit_offset = "0.01"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from hftpipe.runtime.validation import ConfigError, integer, reject_unknown, string, table
from hftpipe.schema.trading import TradingState
from stages.trading.risk.breakers import BreakerLimits
from stages.trading.risk.ledger import QUOTE_SCALE
from stages.trading.risk.limits import RiskSettings
from stages.trading.risk.lots import CostMethod
from stages.trading.risk.stops import StopSettings

_STAGE_KEYS: Final = frozenset({"execution", "cost_method", "watch_stages", "status_interval_ms", "breakers", "stops"})
_BREAKER_KEYS: Final = frozenset({
    "max_loss", "max_drawdown", "max_rejects_per_10s", "max_venue_errors_per_10s", "max_report_latency_ms",
    "max_data_age_ms", "on_breach",
})  # fmt: skip
_STRATEGY_BREAKER_KEYS: Final = frozenset({"max_loss", "max_drawdown", "on_breach"})
_BREACH: Final = {"halt": TradingState.HALTED, "reduce": TradingState.REDUCING}


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskStageParams:
    limits: RiskSettings
    execution: str = "execution"
    cost_method: CostMethod = CostMethod.FIFO
    watch_stages: tuple[str, ...] | None = None
    """None: every other stage of the pipeline."""
    status_interval_ms: int = 250
    breakers: BreakerLimits = field(default_factory=BreakerLimits)
    strategy_breakers: dict[int, BreakerLimits] = field(default_factory=dict)
    stops_by_symbol: dict[str, StopSettings] = field(default_factory=dict)
    stops_by_strategy: dict[int, StopSettings] = field(default_factory=dict)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], key: str, base_dir: Path) -> RiskStageParams:
        raw = table(raw, key)
        own = {k: v for k, v in raw.items() if k in _STAGE_KEYS}
        limits = RiskSettings.from_config({k: v for k, v in raw.items() if k not in _STAGE_KEYS}, key, base_dir)
        watch = own.get("watch_stages")
        if watch is not None and (not isinstance(watch, list) or not all(isinstance(s, str) and s for s in watch)):
            raise ConfigError(f"{key}.watch_stages", f"must be a list of stage names, got {watch!r}")
        breakers_raw = table(own.get("breakers", {}), f"{key}.breakers")
        per_strategy = table(breakers_raw.pop("strategies", {}), f"{key}.breakers.strategies")
        stops_raw = table(own.get("stops", {}), f"{key}.stops")
        reject_unknown(stops_raw, {"instruments", "strategies"}, f"{key}.stops")
        return cls(
            limits=limits,
            execution=string(own, "execution", key, "execution"),
            cost_method=CostMethod(string(own, "cost_method", key, CostMethod.FIFO, tuple(CostMethod))),
            watch_stages=None if watch is None else tuple(watch),
            status_interval_ms=integer(own, "status_interval_ms", key, 250, minimum=10),
            breakers=_breakers(breakers_raw, f"{key}.breakers", _BREAKER_KEYS),
            strategy_breakers={
                _strategy_id(name, f"{key}.breakers.strategies.{name}"): _breakers(
                    table(entry, f"{key}.breakers.strategies.{name}"),
                    f"{key}.breakers.strategies.{name}",
                    _STRATEGY_BREAKER_KEYS,
                )
                for name, entry in per_strategy.items()
            },
            stops_by_symbol={
                symbol: _stops(entry, f"{key}.stops.instruments.{symbol}")
                for symbol, entry in table(stops_raw.get("instruments", {}), f"{key}.stops.instruments").items()
            },
            stops_by_strategy={
                _strategy_id(name, f"{key}.stops.strategies.{name}"): _stops(entry, f"{key}.stops.strategies.{name}")
                for name, entry in table(stops_raw.get("strategies", {}), f"{key}.stops.strategies").items()
            },
        )


def _breakers(raw: Mapping[str, Any], key: str, allowed: frozenset[str]) -> BreakerLimits:
    reject_unknown(raw, allowed, key)
    return BreakerLimits(
        max_loss=_quote(raw, "max_loss", key),
        max_drawdown=_quote(raw, "max_drawdown", key),
        max_rejects_per_10s=integer(raw, "max_rejects_per_10s", key, 0),
        max_venue_errors_per_10s=integer(raw, "max_venue_errors_per_10s", key, 0),
        max_report_latency_ns=integer(raw, "max_report_latency_ms", key, 0) * 1_000_000,
        max_data_age_ns=integer(raw, "max_data_age_ms", key, 0) * 1_000_000,
        on_breach=_BREACH[string(raw, "on_breach", key, "halt", tuple(_BREACH))],
    )


def _quote(raw: Mapping[str, Any], name: str, key: str) -> int:
    """A quote amount given as a decimal string, at the ledger's 8 decimals (0 when absent)."""
    text = raw.get(name)
    if text is None:
        return 0
    if not isinstance(text, str):
        raise ConfigError(f"{key}.{name}", f'must be a decimal string like "100", got {text!r}')
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{key}.{name}", f"not a decimal number: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{key}.{name}", f"must be >= 0, got {text!r}")
    return int(value.scaleb(QUOTE_SCALE))


def _stops(raw: Any, key: str) -> StopSettings:
    entry = table(raw, key)
    try:
        return StopSettings(**entry)
    except ConfigError as exc:
        raise ConfigError(f"{key}.{exc.key}", exc.reason) from exc
    except TypeError as exc:
        raise ConfigError(key, f"unknown key ({exc})") from exc


def _strategy_id(name: str, key: str) -> int:
    if not name.isdigit() or not 1 <= int(name) <= 65535:
        raise ConfigError(key, f"a strategy is named by its id 1..65535, got {name!r}")
    return int(name)
