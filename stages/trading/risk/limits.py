"""Pre-trade limits as configured: the account's, and overrides per strategy and per instrument.

The table shape (``[stages.risk.params]``; the risk stage may keep keys of its
own beside these and hand the rest to :meth:`RiskSettings.from_config`)::

    [stages.risk.params.account]                 # the whole account
    max_order_notional = "5000"                  # per order, quote currency (a decimal string)
    min_notional = "5"                           # per order, quote currency
    price_band_bps = 50                          # buy <= ask * (1 + 50/1e4), sell >= bid * (1 - 50/1e4)
    max_slippage_bps = 30                        # a marketable order's estimated cost against the touch
    max_data_age_ms = 2000                       # the book may be this old, no older
    max_open_orders = 200                        # the account's, per instrument
    orders_per_second = 10                       # the account's, all strategies together
    orders_per_10s = 50
    cancels_per_second = 50
    max_gross_exposure = "20000"                 # quote currency, worst case (see checks.py)
    max_net_exposure = "10000"

    [stages.risk.params.instruments.NKNUSDT]     # one instrument, by symbol
    max_order_qty = "50000"                      # base units (the instrument's quantity)
    max_position = "200000"                      # the account's position in it, worst case

    [stages.risk.params.strategies.1]            # one strategy, by its id (1..65535)
    max_position = "100000"                      # its own position, on each instrument
    orders_per_second = 5                        # its own order flow

    [stages.risk.params.strategies.1.instruments.NKNUSDT]   # one strategy on one instrument
    max_position = "60000"

Every key is optional; a missing key, or 0, is no limit. Quantities and
amounts are decimal strings (an integer is accepted; a float is not: ``0.1``
is not what it looks like), read once into exact fractions here and into
each instrument's fixed point when the checks are built
(:mod:`stages.trading.risk.scaled`).

Which table's value applies, by kind of key:

* Per order (``max_order_qty``, ``max_order_notional``, ``min_notional``,
  ``price_band_bps``, ``max_slippage_bps``, ``max_data_age_ms``): the most specific table that sets
  it: strategy-on-instrument, then strategy, then instrument, then account.
* Totals (``max_position``, ``max_open_orders``): each table bounds its own
  scope, and every bound applies. The account's total on an instrument is the
  instrument table's value, else the account table's; a strategy's own total
  on an instrument is its strategy-on-instrument value, else its strategy
  value, else none (the account's still applies).
* Rates (``orders_per_second``, ``orders_per_10s``, ``cancels_per_second``):
  the account table's bound the account's whole flow, a strategy table's that
  strategy's own; an instrument table may not set them (venues count per
  account, not per symbol).
* Exposure (``max_gross_exposure``, ``max_net_exposure``): the account table
  only.

Impossible values are config errors naming the key: negative values,
``orders_per_10s`` below ``orders_per_second`` in one table, and
``min_notional`` above the ``max_order_notional`` in effect, checked for every
combination of tables (a strategy's minimum may clash with an instrument's
maximum).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from hftpipe.runtime.validation import ConfigError, integer, reject_unknown, table

ORDER_KEYS: Final = (
    "max_order_qty", "max_order_notional", "min_notional", "price_band_bps", "max_slippage_bps", "max_data_age_ms",
)  # fmt: skip
TOTAL_KEYS: Final = ("max_position", "max_open_orders")
RATE_KEYS: Final = ("orders_per_second", "orders_per_10s", "cancels_per_second")
EXPOSURE_KEYS: Final = ("max_gross_exposure", "max_net_exposure")
DECIMAL_KEYS: Final = frozenset(
    {"max_order_qty", "max_order_notional", "min_notional", "max_position", "max_gross_exposure", "max_net_exposure"}
)
MAX_RATE: Final = 100_000
"""Most tokens a rate may give: a bucket keeps one int per token (:mod:`stages.trading.risk.buckets`)."""
MAX_STRATEGY_ID: Final = (1 << 16) - 1

_ACCOUNT_KEYS: Final = frozenset(ORDER_KEYS + TOTAL_KEYS + RATE_KEYS + EXPOSURE_KEYS)
_STRATEGY_KEYS: Final = frozenset(ORDER_KEYS + TOTAL_KEYS + RATE_KEYS)
_INSTRUMENT_KEYS: Final = frozenset(ORDER_KEYS + TOTAL_KEYS)
_SECTIONS: Final = frozenset({"account", "instruments", "strategies"})
_DECIMAL: Final = re.compile(r"-?\d+(\.\d+)?")
_NOT_HERE: Final = {
    **dict.fromkeys(RATE_KEYS, "a rate bounds the account or a strategy ([account], [strategies.N]), not a symbol"),
    **dict.fromkeys(EXPOSURE_KEYS, "exposure is the account's: set it in [account]"),
}


def _check_consistent(limits: Limits) -> None:
    """Limits no order could meet, or a rate the wider window would always cut."""
    low, high = limits.min_notional, limits.max_order_notional
    if low and high and low > high:
        raise ConfigError("min_notional", f"must be <= max_order_notional ({_shown(high)}), got {_shown(low)}")
    per_second, per_10s = limits.orders_per_second, limits.orders_per_10s
    if per_second and per_10s and per_10s < per_second:
        raise ConfigError("orders_per_10s", f"must be >= orders_per_second ({per_second}), got {per_10s}")


def _shown(value: Fraction | int) -> str:
    """A limit as the config wrote it: an exact decimal (every value here came from one)."""
    value = Fraction(value)
    places = 0
    while (value * 10**places).denominator != 1 and places < 40:
        places += 1
    digits = str(abs(value.numerator * 10**places // value.denominator)).rjust(places + 1, "0")
    whole, frac = (digits[:-places], digits[-places:]) if places else (digits, "")
    return ("-" if value < 0 else "") + whole + (f".{frac}" if frac else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """One table's limits; None: this table does not set it (a less specific one may), 0: no limit.

    Quantities are in the instrument's base units, amounts in its quote
    currency, both exact fractions (the config's decimal strings).
    """

    max_order_qty: Fraction | None = None
    max_order_notional: Fraction | None = None
    min_notional: Fraction | None = None
    price_band_bps: int | None = None
    """A buy may be priced at most this far above the best ask, a sell this far below the best bid."""
    max_slippage_bps: int | None = None
    """A marketable order's estimated average price (the visible depth walked) at most this far from the touch."""
    max_data_age_ms: int | None = None
    """The instrument's last book update may be this old when an order is checked, no older."""
    max_position: Fraction | None = None
    """|position + every open order on the order's side + the order| (see checks.py)."""
    max_open_orders: int | None = None
    orders_per_second: int | None = None
    orders_per_10s: int | None = None
    cancels_per_second: int | None = None
    max_gross_exposure: Fraction | None = None
    max_net_exposure: Fraction | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None and value < 0:
                raise ConfigError(f.name, f"must be >= 0 (0: no limit), got {_shown(value)}")
        for name in RATE_KEYS:
            value = getattr(self, name)
            if value is not None and value > MAX_RATE:
                raise ConfigError(name, f"must be <= {MAX_RATE}, got {value}")
        _check_consistent(self)

    def over(self, base: Limits, keys: Iterable[str]) -> Limits:
        """``keys`` only: these limits where set, ``base``'s elsewhere (the other keys unset)."""
        values = {name: getattr(self, name) for name in keys}
        return Limits(**{name: getattr(base, name) if value is None else value for name, value in values.items()})

    @classmethod
    def from_table(cls, raw: Any, key: str, allowed: frozenset[str] = _ACCOUNT_KEYS) -> Limits:
        """One TOML table of limits; keys outside ``allowed`` are errors naming them."""
        entries = table(raw, key)
        for name in entries:
            if name in _NOT_HERE and name not in allowed:
                raise ConfigError(f"{key}.{name}", _NOT_HERE[name])
        reject_unknown(entries, allowed, key)
        values: dict[str, Any] = {}
        for name in entries:
            values[name] = _decimal(entries, name, key) if name in DECIMAL_KEYS else integer(entries, name, key, 0)
        try:
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(f"{key}.{exc.key}", exc.reason) from exc


NO_LIMITS: Final = Limits()


@dataclass(frozen=True, slots=True, kw_only=True)
class Effective:
    """The limits on one strategy's orders in one instrument, every table merged; 0: no limit.

    ``max_position`` and ``max_open_orders`` are the strategy's own;
    ``account_max_position`` and ``account_max_open_orders`` the account's
    total in the instrument (all strategies); both apply.
    """

    max_order_qty: Fraction
    max_order_notional: Fraction
    min_notional: Fraction
    price_band_bps: int
    max_slippage_bps: int
    max_data_age_ms: int
    max_position: Fraction
    max_open_orders: int
    account_max_position: Fraction
    account_max_open_orders: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskSettings:
    """The account's limits and the overrides, as configured (module docstring: the shape and precedence)."""

    account: Limits = NO_LIMITS
    instruments: Mapping[str, Limits] = field(default_factory=dict)
    """By symbol."""
    strategies: Mapping[int, Limits] = field(default_factory=dict)
    """By strategy id."""
    strategy_instruments: Mapping[tuple[int, str], Limits] = field(default_factory=dict)
    """By (strategy id, symbol)."""
    key: str = field(default="", compare=False)
    """Where they were configured (``stages.risk.params``): errors found later (a symbol no instrument
    has) name their key under it."""

    def __post_init__(self) -> None:
        # A strategy's min_notional may clash with an instrument's max_order_notional: check every
        # combination of tables (0 and "" stand for a strategy and an instrument that have none).
        # Rates do not merge (each table's bound its own flow), so only the notional bounds can clash.
        for strategy_id in (0, *self.strategies):
            for symbol in ("", *self.instruments, *(s for sid, s in self.strategy_instruments if sid == strategy_id)):
                try:
                    self._order_tables(strategy_id, symbol)  # each merge is a Limits: it checks itself
                except ConfigError as exc:
                    raise ConfigError(
                        f"{self.where(strategy_id, symbol)}.{exc.key}", f"{exc.reason}, with every table merged"
                    ) from exc

    def effective(self, strategy_id: int, symbol: str) -> Effective:
        """What applies to ``strategy_id``'s orders in ``symbol`` (module docstring: the precedence)."""
        orders = self._order_tables(strategy_id, symbol)
        own = self.strategy_instruments.get((strategy_id, symbol), NO_LIMITS).over(
            self.strategies.get(strategy_id, NO_LIMITS), TOTAL_KEYS
        )
        account = self.instruments.get(symbol, NO_LIMITS).over(self.account, TOTAL_KEYS)
        return Effective(
            max_order_qty=orders.max_order_qty or Fraction(0),
            max_order_notional=orders.max_order_notional or Fraction(0),
            min_notional=orders.min_notional or Fraction(0),
            price_band_bps=orders.price_band_bps or 0,
            max_slippage_bps=orders.max_slippage_bps or 0,
            max_data_age_ms=orders.max_data_age_ms or 0,
            max_position=own.max_position or Fraction(0),
            max_open_orders=own.max_open_orders or 0,
            account_max_position=account.max_position or Fraction(0),
            account_max_open_orders=account.max_open_orders or 0,
        )

    def strategy_rates(self, strategy_id: int) -> tuple[int, int, int]:
        """The strategy's own ``(orders_per_second, orders_per_10s, cancels_per_second)``; 0: none."""
        own = self.strategies.get(strategy_id, NO_LIMITS)
        return (own.orders_per_second or 0, own.orders_per_10s or 0, own.cancels_per_second or 0)

    def account_rates(self) -> tuple[int, int, int]:
        """The account's ``(orders_per_second, orders_per_10s, cancels_per_second)``; 0: none."""
        account = self.account
        return (account.orders_per_second or 0, account.orders_per_10s or 0, account.cancels_per_second or 0)

    def where(self, strategy_id: int = 0, symbol: str = "") -> str:
        """The key of the most specific table configured for the pair (for error messages)."""
        prefix = f"{self.key}." if self.key else ""
        if (strategy_id, symbol) in self.strategy_instruments:
            return f"{prefix}strategies.{strategy_id}.instruments.{symbol}"
        if strategy_id in self.strategies:
            return f"{prefix}strategies.{strategy_id}"
        if symbol in self.instruments:
            return f"{prefix}instruments.{symbol}"
        return f"{prefix}account"

    def _order_tables(self, strategy_id: int, symbol: str) -> Limits:
        """The per-order keys, each from the most specific table that sets it."""
        merged = self.instruments.get(symbol, NO_LIMITS).over(self.account, ORDER_KEYS)
        merged = self.strategies.get(strategy_id, NO_LIMITS).over(merged, ORDER_KEYS)
        return self.strategy_instruments.get((strategy_id, symbol), NO_LIMITS).over(merged, ORDER_KEYS)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], key: str, base_dir: Path | None = None) -> RiskSettings:
        """Parse the table shape of the module docstring; ``base_dir`` is unused (no paths here)."""
        del base_dir
        raw = table(raw, key)
        reject_unknown(raw, _SECTIONS, key)
        account = Limits.from_table(raw.get("account", {}), f"{key}.account", _ACCOUNT_KEYS)
        instruments = {
            symbol: Limits.from_table(limits, f"{key}.instruments.{symbol}", _INSTRUMENT_KEYS)
            for symbol, limits in table(raw.get("instruments", {}), f"{key}.instruments").items()
        }
        strategies: dict[int, Limits] = {}
        pairs: dict[tuple[int, str], Limits] = {}
        for name, entry in table(raw.get("strategies", {}), f"{key}.strategies").items():
            where = f"{key}.strategies.{name}"
            strategy_id = _strategy_id(name, where)
            own = table(entry, where)
            for symbol, limits in table(own.pop("instruments", {}), f"{where}.instruments").items():
                pairs[(strategy_id, symbol)] = Limits.from_table(
                    limits, f"{where}.instruments.{symbol}", _INSTRUMENT_KEYS
                )
            if strategy_id in strategies:
                raise ConfigError(where, f"strategy {strategy_id} is configured twice")
            strategies[strategy_id] = Limits.from_table(own, where, _STRATEGY_KEYS | {"instruments"})
        for symbol in {*instruments, *(s for _, s in pairs)}:
            if not symbol:
                raise ConfigError(f"{key}.instruments", "a symbol may not be empty")
        return cls(account=account, instruments=instruments, strategies=strategies, strategy_instruments=pairs, key=key)


def _decimal(raw: Mapping[str, Any], name: str, key: str) -> Fraction:
    """A decimal string (or an integer) as an exact fraction."""
    value = raw[name]
    if isinstance(value, int) and not isinstance(value, bool):
        return Fraction(value)
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise ConfigError(f"{key}.{name}", f'must be a decimal string like "12.5", got {value!r}')
    return Fraction(value)


def _strategy_id(name: str, key: str) -> int:
    """A ``strategies`` table's name: the strategy's id, 1..65535."""
    if not (isinstance(name, str) and name.isascii() and name.isdigit()) or not 1 <= int(name) <= MAX_STRATEGY_ID:
        raise ConfigError(key, f"a strategy table is named by the strategy's id, 1..{MAX_STRATEGY_ID}; got {name!r}")
    return int(name)
