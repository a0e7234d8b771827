"""Binance symbol filters (PRICE_FILTER, LOT_SIZE, MIN_NOTIONAL / NOTIONAL) in fixed point.

What is implemented, following Binance's ``filters.md`` and ``errors.md``:

* ``PRICE_FILTER`` (limit prices only; a MARKET order's price is ignored):
  ``price >= minPrice``, ``price <= maxPrice``, ``price % tickSize == 0``; each rule
  is disabled when its value is 0. A price ``<= 0`` always fails it.
* ``LOT_SIZE``: ``quantity >= minQty``, ``quantity <= maxQty`` (0 disables),
  ``quantity % stepSize == 0`` (0 disables). A quantity ``<= 0`` always fails it.
  Not applied up front to ``quoteOrderQty`` MARKET orders (they carry no quantity):
  the engine rounds what they buy or sell down to ``stepSize`` instead.
* ``NOTIONAL`` (current name) and ``MIN_NOTIONAL`` (legacy name, no maximum): the
  notional must lie in ``[minNotional, maxNotional]`` (``maxNotional == 0``
  disables the maximum). For LIMIT / LIMIT_MAKER the notional is ``price * qty``.
  For MARKET orders the minimum is checked only when ``applyMinToMarket``
  (``applyToMarket`` for MIN_NOTIONAL) is true, the maximum only when
  ``applyMaxToMarket`` is; the notional is ``reference_price * qty`` where the
  caller passes the reference price (Binance: the average price over
  ``avgPriceMins`` minutes, the last price when that is 0; the matching engine
  passes its last trade price, see :mod:`stages.exchange.core.matching`). With no
  reference price (0) the MARKET notional check is skipped. A ``quoteOrderQty``
  MARKET order's notional is its ``quoteOrderQty``.
* Order of evaluation: PRICE_FILTER, then LOT_SIZE, then the notional filter; the
  first failure is returned. Filter failures carry code ``-1013`` (the texts:
  :mod:`hftpipe.schema.exchange_errors`).

Numbers: prices, ``tickSize``, ``minPrice``, ``maxPrice`` are fixed point at the
price scale; quantities, ``stepSize``, ``minQty``, ``maxQty`` at the qty scale;
quote amounts (``minNotional``, ``maxNotional``, ``quoteOrderQty``) at the
**price scale** (quote-asset units, like prices). ``price * qty`` is compared
exactly with ``minNotional * 10**qty_scale`` (Python ints, no rounding).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from hftpipe.schema.exchange_errors import LOT_SIZE, MIN_NOTIONAL, NOTIONAL, PRICE_FILTER, RejectReason
from hftpipe.schema.fixedpoint import parse_fixed
from hftpipe.schema.trading import OrderType

NOTIONAL_FILTER_NAMES: Final = ("NOTIONAL", "MIN_NOTIONAL")

_MARKET: Final = int(OrderType.MARKET)


class OrderLike(Protocol):
    """What :meth:`SymbolFilters.check` reads from an order."""

    @property
    def order_type(self) -> int: ...
    @property
    def price(self) -> int: ...
    @property
    def qty(self) -> int: ...
    @property
    def quote_qty(self) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolFilters:
    """One symbol's trading rules, fixed point (see the module docstring for scales).

    ``qty_scale`` is needed to compare ``price * qty`` (scale ``price_scale +
    qty_scale``) with the notional bounds (scale ``price_scale``).
    """

    qty_scale: int
    tick_size: int = 0
    min_price: int = 0
    max_price: int = 0
    step_size: int = 0
    min_qty: int = 0
    max_qty: int = 0
    min_notional: int = 0
    max_notional: int = 0
    apply_min_to_market: bool = True
    apply_max_to_market: bool = False
    notional_filter: str = "NOTIONAL"
    """``"NOTIONAL"`` or ``"MIN_NOTIONAL"``: only decides the failure text."""
    _min_scaled: int = field(init=False, repr=False, compare=False)
    _max_scaled: int = field(init=False, repr=False, compare=False)
    _notional_reason: RejectReason = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in (
            "tick_size",
            "min_price",
            "max_price",
            "step_size",
            "min_qty",
            "max_qty",
            "min_notional",
            "max_notional",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.qty_scale < 0:
            raise ValueError(f"qty_scale must be >= 0, got {self.qty_scale}")
        if self.notional_filter not in NOTIONAL_FILTER_NAMES:
            raise ValueError(f"notional_filter must be one of {NOTIONAL_FILTER_NAMES}, got {self.notional_filter!r}")
        if self.notional_filter == "MIN_NOTIONAL" and self.max_notional:
            raise ValueError("MIN_NOTIONAL has no maximum; use notional_filter='NOTIONAL'")
        unit = 10**self.qty_scale
        object.__setattr__(self, "_min_scaled", self.min_notional * unit)
        object.__setattr__(self, "_max_scaled", self.max_notional * unit)
        object.__setattr__(self, "_notional_reason", NOTIONAL if self.notional_filter == "NOTIONAL" else MIN_NOTIONAL)

    @property
    def lot(self) -> int:
        """The quantity granularity: ``step_size``, or one unit of the qty scale when disabled."""
        return self.step_size or 1

    def check(self, order: OrderLike, reference_price: int = 0) -> RejectReason | None:
        """The first filter ``order`` fails, or ``None``."""
        return self.check_values(order.order_type, order.price, order.qty, order.quote_qty, reference_price)

    def check_values(
        self, order_type: int, price: int, qty: int, quote_qty: int = 0, reference_price: int = 0
    ) -> RejectReason | None:
        """:meth:`check` on plain ints (the engine's hot path)."""
        if order_type != _MARKET:
            if (
                price <= 0
                or price < self.min_price
                or (self.max_price and price > self.max_price)
                or (self.tick_size and price % self.tick_size)
            ):
                return PRICE_FILTER
            if (
                qty <= 0
                or qty < self.min_qty
                or (self.max_qty and qty > self.max_qty)
                or (self.step_size and qty % self.step_size)
            ):
                return LOT_SIZE
            notional = price * qty
            if notional < self._min_scaled or (self._max_scaled and notional > self._max_scaled):
                return self._notional_reason
            return None
        if quote_qty:
            notional = quote_qty * 10**self.qty_scale
        else:
            if (
                qty <= 0
                or qty < self.min_qty
                or (self.max_qty and qty > self.max_qty)
                or (self.step_size and qty % self.step_size)
            ):
                return LOT_SIZE
            if not reference_price:
                return None
            notional = reference_price * qty
        if self.apply_min_to_market and notional < self._min_scaled:
            return self._notional_reason
        if self.apply_max_to_market and self._max_scaled and notional > self._max_scaled:
            return self._notional_reason
        return None

    @classmethod
    def from_exchange_info(
        cls, filters: Iterable[Mapping[str, Any]], *, price_scale: int, qty_scale: int
    ) -> SymbolFilters:
        """From the ``filters`` array of a Binance ``/exchangeInfo`` symbol (decimal strings).

        Reads PRICE_FILTER, LOT_SIZE and NOTIONAL or MIN_NOTIONAL (NOTIONAL wins when
        both are present); other filter types are ignored.
        """

        def p(value: Any) -> int:
            return parse_fixed(str(value), price_scale)

        def q(value: Any) -> int:
            return parse_fixed(str(value), qty_scale)

        kwargs: dict[str, Any] = {}
        by_type = {f["filterType"]: f for f in filters}
        if (pf := by_type.get("PRICE_FILTER")) is not None:
            kwargs.update(tick_size=p(pf["tickSize"]), min_price=p(pf["minPrice"]), max_price=p(pf["maxPrice"]))
        if (ls := by_type.get("LOT_SIZE")) is not None:
            kwargs.update(step_size=q(ls["stepSize"]), min_qty=q(ls["minQty"]), max_qty=q(ls["maxQty"]))
        if (nf := by_type.get("NOTIONAL")) is not None:
            kwargs.update(
                notional_filter="NOTIONAL",
                min_notional=p(nf.get("minNotional", "0")),
                max_notional=p(nf.get("maxNotional", "0")),
                apply_min_to_market=bool(nf.get("applyMinToMarket", True)),
                apply_max_to_market=bool(nf.get("applyMaxToMarket", False)),
            )
        elif (mn := by_type.get("MIN_NOTIONAL")) is not None:
            kwargs.update(
                notional_filter="MIN_NOTIONAL",
                min_notional=p(mn.get("minNotional", "0")),
                apply_min_to_market=bool(mn.get("applyToMarket", True)),
                apply_max_to_market=False,
            )
        return cls(qty_scale=qty_scale, **kwargs)
