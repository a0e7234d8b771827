"""The ``[[instruments]]`` tables: one id, scales, tick and lot per tradable symbol, for every stage.

The feed numbers the instruments it publishes with these ids, and the trading
stages convert prices and sizes with these scales, tick and lot, so the stages
of a pipeline agree on what instrument 3 is without talking to each other.
A symbol the feed sees that is not declared gets the next free id.

::

    [[instruments]]
    venue = "binance"
    symbol = "NKNUSDT"
    price_scale = 8          # decimals of prices on records (default 8)
    qty_scale = 8            # decimals of quantities (default 8)
    tick = "0.00001"         # price step (default: one unit at price_scale)
    lot = "1"                # quantity step (default: one unit at qty_scale)
    # id = 1                 # default: the table's position, from 1
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hftpipe.runtime.validation import ConfigError, integer, reject_unknown, string, table
from hftpipe.schema.fixedpoint import FixedPointError, parse_fixed
from hftpipe.schema.instruments import Instrument

_KEYS: Final = {"id", "venue", "symbol", "price_scale", "qty_scale", "tick", "lot"}


def parse_instruments(raw: Any) -> tuple[Instrument, ...]:
    """Every ``[[instruments]]`` table, checked: ids and (venue, symbol) pairs unique."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError("instruments", "must be an array of tables ([[instruments]])")
    instruments = tuple(_parse_one(i, entry) for i, entry in enumerate(raw))
    ids: dict[int, int] = {}
    symbols: dict[tuple[str, str], int] = {}
    for i, instrument in enumerate(instruments):
        if instrument.id in ids:
            raise ConfigError(
                f"instruments[{i}].id", f"id {instrument.id} is already instruments[{ids[instrument.id]}]'s"
            )
        pair = (instrument.venue, instrument.symbol)
        if pair in symbols:
            raise ConfigError(
                f"instruments[{i}].symbol", f"{pair[0]}:{pair[1]} is already instruments[{symbols[pair]}]"
            )
        ids[instrument.id] = i
        symbols[pair] = i
    return instruments


def _parse_one(index: int, raw: Any) -> Instrument:
    key = f"instruments[{index}]"
    entry: Mapping[str, Any] = table(raw, key)
    reject_unknown(entry, _KEYS, key)
    for required in ("venue", "symbol"):
        if required not in entry:
            raise ConfigError(f"{key}.{required}", "missing")
    price_scale = integer(entry, "price_scale", key, 8, minimum=0)
    qty_scale = integer(entry, "qty_scale", key, 8, minimum=0)
    tick, lot = _step(entry, "tick", key, price_scale), _step(entry, "lot", key, qty_scale)
    try:
        return Instrument(
            id=integer(entry, "id", key, index + 1, minimum=1),
            venue=string(entry, "venue", key, ""),
            symbol=string(entry, "symbol", key, ""),
            price_scale=price_scale,
            qty_scale=qty_scale,
            tick=tick,
            lot=lot,
        )
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from exc


def _step(entry: Mapping[str, Any], name: str, key: str, scale: int) -> int:
    text = entry.get(name)
    if text is None:
        return 1
    if not isinstance(text, str):
        raise ConfigError(f"{key}.{name}", f'must be a decimal string like "0.01", got {text!r}')
    try:
        value = parse_fixed(text, scale)
    except FixedPointError as exc:
        raise ConfigError(f"{key}.{name}", str(exc)) from exc
    if value <= 0:
        raise ConfigError(f"{key}.{name}", f"must be positive, got {text!r}")
    return value
