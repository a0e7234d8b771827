"""An ``[exchange]`` table expands into the stages and rings of the exchange pipeline.

One engine process per symbol, one accounting (sequencer, ledger, journal),
one gateway (WebSocket API), one publisher (market data), and the flow
generator when ``[exchange.flow] enabled``. ``[stages.NAME]`` tables in the
same file may set ``cpu``, ``idle``, ``realtime_priority``, ``mlockall`` and ``process`` of
a generated stage; everything else is derived here. A ``[stages.NAME]`` table
with a ``class`` and a name no generated stage has is a stage of its own, run
beside the exchange, and ``[[rings]]`` connect such stages (a trading pipeline
and the exchange it trades on, in one ``hftpipe run``). The table is parsed here,
once per process that loads the config, and every generated stage gets the
same :class:`ExchangeSettings` as its ``settings`` param.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.exchange import EX_RECORD_SIZE
from hftpipe.schema.records import RECORD_SIZE
from stages.exchange.protocol.settings import ExchangeSettings

ENGINE_CLASS: Final = "stages.exchange.engine.stage:EngineStage"
ACCOUNTING_CLASS: Final = "stages.exchange.accounting.stage:AccountingStage"
GATEWAY_CLASS: Final = "stages.exchange.gateway.stage:GatewayStage"
PUBLISHER_CLASS: Final = "stages.exchange.publisher.stage:PublisherStage"
FLOW_CLASS: Final = "stages.exchange.flow.stage:FlowStage"
GENERATED_CLASSES: Final = {ENGINE_CLASS, ACCOUNTING_CLASS, GATEWAY_CLASS, PUBLISHER_CLASS, FLOW_CLASS}
OVERRIDABLE: Final = {"cpu", "idle", "realtime_priority", "mlockall", "process"}

GATEWAY_TO_ACCOUNTING: Final = "gw-acct"
ACCOUNTING_TO_GATEWAY: Final = "acct-gw"


def engine_stage(symbol: str) -> str:
    return f"engine_{symbol}"


def command_ring(symbol: str) -> str:
    """accounting -> engine."""
    return f"cmd-{symbol}"


def event_ring(symbol: str) -> str:
    """engine -> accounting."""
    return f"evt-{symbol}"


def market_ring(symbol: str) -> str:
    """engine -> publisher (BOOK_DELTA and TRADE records)."""
    return f"md-{symbol}"


def expand(
    raw_exchange: Mapping[str, Any], raw_stages: Mapping[str, Any], base_dir: Path | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``stages`` table and ``rings`` list of the exchange pipeline (``base_dir``: the config file's)."""
    settings = ExchangeSettings.from_raw(raw_exchange, base_dir=base_dir)
    stages: dict[str, dict[str, Any]] = {}
    rings: list[dict[str, Any]] = []
    for symbol in settings.symbols:
        name = engine_stage(symbol.symbol)
        stages[name] = {"class": ENGINE_CLASS, "params": {"settings": settings, "symbol": symbol.symbol}}
        rings += [
            {
                "name": command_ring(symbol.symbol),
                "from": "accounting",
                "to": name,
                "capacity": 16384,
                "slot_size": EX_RECORD_SIZE,
            },
            {
                "name": event_ring(symbol.symbol),
                "from": name,
                "to": "accounting",
                "capacity": 65536,
                "slot_size": EX_RECORD_SIZE,
            },
            {
                "name": market_ring(symbol.symbol),
                "from": name,
                "to": "publisher",
                "capacity": 65536,
                "slot_size": RECORD_SIZE,
            },
        ]
    stages["accounting"] = {"class": ACCOUNTING_CLASS, "params": {"settings": settings}}
    stages["publisher"] = {"class": PUBLISHER_CLASS, "params": {"settings": settings}}
    stages["gateway"] = {"class": GATEWAY_CLASS, "params": {"settings": settings}}
    rings += [
        {
            "name": GATEWAY_TO_ACCOUNTING,
            "from": "gateway",
            "to": "accounting",
            "capacity": 16384,
            "slot_size": EX_RECORD_SIZE,
        },
        {
            "name": ACCOUNTING_TO_GATEWAY,
            "from": "accounting",
            "to": "gateway",
            "capacity": 65536,
            "slot_size": EX_RECORD_SIZE,
        },
    ]
    if settings.flow.enabled:
        stages["flow"] = {"class": FLOW_CLASS, "params": {"settings": settings}}
    generated = set(stages)
    for name, override in raw_stages.items():
        if not isinstance(override, Mapping):
            raise ConfigError(f"stages.{name}", "must be a table")
        if name not in generated:
            if "class" not in override:
                raise ConfigError(
                    f"stages.{name}",
                    f"not a stage of this exchange (stages: {', '.join(generated)}); "
                    "a stage of its own beside the exchange needs a class",
                )
            stages[name] = dict(override)
            continue
        for field in override:
            if field not in OVERRIDABLE:
                raise ConfigError(
                    f"stages.{name}.{field}",
                    f"an exchange stage takes only {', '.join(sorted(OVERRIDABLE))} here; the rest is [exchange]'s",
                )
        stages[name].update(override)
    return stages, rings


def expand_config(raw: Mapping[str, Any], base_dir: Path | None = None) -> dict[str, Any]:
    """The ``hftpipe.config_sections`` expander of ``[exchange]``: a config with its stages and rings.

    An exchange config names no stage classes or rings: they follow from
    ``[exchange]``, so no ring's ``slot_size`` can be set too small for the
    records it carries. ``[[rings]]`` may connect the stages added beside
    it (``[stages.NAME]`` with a ``class``), never a generated one.
    ``base_dir``: where the table's relative paths start.
    """
    exchange, raw_stages, raw_rings = raw["exchange"], raw.get("stages", {}), raw.get("rings", [])
    if not isinstance(exchange, Mapping):
        raise ConfigError("exchange", f"must be a table, got {type(exchange).__name__}")
    if not isinstance(raw_stages, Mapping):
        raise ConfigError("stages", f"must be a table, got {type(raw_stages).__name__}")
    if not isinstance(raw_rings, list):
        raise ConfigError("rings", f"must be an array of tables, got {type(raw_rings).__name__}")
    stages, rings = expand(exchange, raw_stages, base_dir)
    generated = {name for name, stage in stages.items() if stage.get("class") in GENERATED_CLASSES}
    for index, ring in enumerate(raw_rings):
        if not isinstance(ring, Mapping):
            raise ConfigError(f"rings[{index}]", "must be a table")
        to = ring.get("to")
        for end in [ring.get("from"), *(to if isinstance(to, list) else [to])]:
            if end in generated:
                raise ConfigError(
                    f"rings[{index}]",
                    f"{end!r} is a stage of the exchange; its rings follow from [exchange] "
                    "(reach it as any client does, over its WebSocket and REST ports)",
                )
    rings = [*rings, *raw_rings]
    return {**{k: v for k, v in raw.items() if k != "exchange"}, "stages": stages, "rings": rings}
