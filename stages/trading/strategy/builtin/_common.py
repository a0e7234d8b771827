"""What the built-in strategies share: decimal params checked at load, sizes in fixed point, worst-case exposure."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import OrderSide
from hftpipe.strategy import BookView, Order, OrderState, Strategy
from hftpipe.strategy.pricing import Refused, to_qty

PENDING = frozenset({OrderState.PENDING_NEW, OrderState.PENDING_CANCEL, OrderState.PENDING_REPLACE})
"""States in which the venue has not answered yet: a side with one of these waits for the answer."""


def decimal_param(name: str, text: str) -> Decimal:
    """A size given as a decimal string (TOML has no exact decimals), > 0, or a ConfigError naming ``name``."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(name, f'must be a decimal string like "10" or "0.5", got {text!r}') from None
    if not value.is_finite() or value <= 0:
        raise ConfigError(name, f"must be > 0, got {text!r}")
    return value


def size_within(qty: str, limit_name: str, limit: str) -> None:
    """``qty`` <= the limit ``limit_name`` (both decimal strings already checked): a smaller limit never trades."""
    if Decimal(qty) > Decimal(limit):
        raise ConfigError("qty", f"must be <= {limit_name} ({limit}), got {qty!r}")


def fixed_qty(value: Decimal, instrument: Instrument) -> int:
    """``value`` in the instrument's fixed-point quantity units, truncated (a limit, not an order size)."""
    return int(value.scaleb(instrument.qty_scale))


def order_qty(strategy: Strategy, value: Decimal, instrument: Instrument) -> int | None:
    """``value`` as the order size the venue will see (down to the lot); None, logged, when under one lot."""
    try:
        return to_qty(value, instrument)
    except Refused as refusal:
        strategy.log.error("%s: qty %s cannot trade %s (%s): not trading it", strategy.name, value,
                           instrument.symbol, refusal)  # fmt: skip
        return None


def traded_books(strategy: Strategy) -> Iterable[BookView]:
    """The books of every instrument the strategy trades (its host's ``instruments`` setting)."""
    return strategy.host.books.values()


def sizes(strategy: Strategy, qty: str, limit: str) -> tuple[dict[int, int], dict[int, int]]:
    """Per traded instrument: the order size (down to the lot) and the position limit, fixed point.

    An instrument whose lot is larger than ``qty`` is left out (logged): the strategy does not trade it.
    """
    order_sizes: dict[int, int] = {}
    limits: dict[int, int] = {}
    for book in traded_books(strategy):
        size = order_qty(strategy, Decimal(qty), book.instrument)
        if size is not None:
            order_sizes[book.id] = size
            limits[book.id] = fixed_qty(Decimal(limit), book.instrument)
    return order_sizes, limits


def exposure(position: int, orders: Iterable[Order], side: OrderSide) -> int:
    """The position if every open order of ``side`` filled: signed, fixed point (worst case for a limit)."""
    pending = sum(o.leaves_qty for o in orders if o.side is side)
    return position + pending if side is OrderSide.BUY else position - pending


def room(strategy: Strategy, key: int, side: OrderSide, qty: int, limit: int) -> bool:
    """Whether ``qty`` more on ``side`` keeps the worst case (every open order of that side filled) within ±``limit``.

    Only the side's own bound counts: a buy while short beyond the limit is
    allowed, since it brings the position back.
    """
    worst = exposure(strategy.position(key).qty, strategy.open_orders(key), side)
    return worst + qty <= limit if side is OrderSide.BUY else worst - qty >= -limit
