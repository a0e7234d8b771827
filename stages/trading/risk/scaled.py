"""Limits in an instrument's fixed point: what the hot path compares, built once per strategy and instrument.

The config's limits are exact fractions (:mod:`stages.trading.risk.limits`);
an order's numbers are integers at the instrument's scales. A bound the
order must stay under is rounded down to the scale, a bound it must reach
(``min_notional``) up: an integer is ``<= x`` exactly when it is ``<=
floor(x)``, so the comparison stays exact. Notional bounds are at
``price_scale + qty_scale``, the scale of ``price * qty``. A positive bound
that rounds to zero (``max_order_qty = "0.5"`` on a whole-unit instrument)
is a config error: zero means no limit.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Final

from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.instruments import Instrument
from stages.trading.risk.limits import Effective

BPS: Final = 10_000
MS_NS: Final = 1_000_000


def at_most(value: Fraction, scale: int, key: str, what: str) -> int:
    """An upper bound at ``scale``: ``floor(value * 10**scale)``; 0 stays 0 (no limit)."""
    unit: int = 10**scale
    scaled = math.floor(value * unit)
    if value and not scaled:
        raise ConfigError(key, f"{value} is below one unit of {what} (scale {scale}); 0 would mean no limit")
    return scaled


def at_least(value: Fraction, scale: int) -> int:
    """A lower bound at ``scale``: ``ceil(value * 10**scale)``."""
    unit: int = 10**scale
    return math.ceil(value * unit)


class ScaledLimits:
    """One strategy's limits in one instrument; 0: no limit (see :class:`~stages.trading.risk.limits.Effective`)."""

    __slots__ = (
        "account_max_open_orders",
        "account_max_position",
        "band_bps",
        "band_down",
        "band_up",
        "max_age_ns",
        "max_open_orders",
        "max_order_notional",
        "max_order_qty",
        "max_position",
        "max_slippage_bps",
        "min_notional",
    )

    def __init__(self, limits: Effective, instrument: Instrument, where: str, account_where: str) -> None:
        """``where``, ``account_where``: the keys of the tables the strategy's and the account's totals came from."""
        qty_scale, notional_scale = instrument.qty_scale, instrument.price_scale + instrument.qty_scale
        quantity, amount = f"{instrument.symbol}'s quantity", f"{instrument.symbol}'s price x quantity"
        self.max_order_qty = at_most(limits.max_order_qty, qty_scale, f"{where}.max_order_qty", quantity)
        """Qty scale."""
        self.max_order_notional = at_most(
            limits.max_order_notional, notional_scale, f"{where}.max_order_notional", amount
        )
        """Price scale + qty scale (``price * qty``)."""
        self.min_notional = at_least(limits.min_notional, notional_scale)
        self.band_bps = limits.price_band_bps
        self.band_up = BPS + limits.price_band_bps
        """A buy: ``price * BPS <= ask * band_up``."""
        self.band_down = max(BPS - limits.price_band_bps, 0)
        """A sell: ``price * BPS >= bid * band_down``."""
        self.max_slippage_bps = limits.max_slippage_bps
        """A marketable order's estimated cost against the touch, bps (see the slippage check)."""
        self.max_age_ns = limits.max_data_age_ms * MS_NS
        self.max_position = at_most(limits.max_position, qty_scale, f"{where}.max_position", quantity)
        self.max_open_orders = limits.max_open_orders
        self.account_max_position = at_most(
            limits.account_max_position, qty_scale, f"{account_where}.max_position", quantity
        )
        self.account_max_open_orders = limits.account_max_open_orders
