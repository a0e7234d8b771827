"""Synthetic orders as a strategy asks for them: one :class:`Leg` per order, alone or in a contingent group.

The execution stage holds them and releases real orders when the market
triggers them (see the README, "Synthesized orders"); to the strategy each
leg is an :class:`~hftpipe.strategy.orders.Order` of its own, whose states go
HELD → TRIGGERED → the released order's (OPEN, PARTIALLY_FILLED, FILLED, ...).

Build legs with the class methods (prices and quantities in any
:data:`~hftpipe.strategy.pricing.Number` form; the strategy's rounding rule
applies when they are sent) and pass them to
:meth:`~hftpipe.strategy.Strategy.oco`, :meth:`~hftpipe.strategy.Strategy.oto`
or :meth:`~hftpipe.strategy.Strategy.bracket`; the single-order methods
(``stop_market``, ``take_profit``, ...) build one for you.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import (
    SYNTHETIC_TYPES,
    Contingency,
    IntentFlag,
    OrderSide,
    OrderType,
    RejectReason,
    SynthTerms,
    TimeInForce,
    Trigger,
)
from hftpipe.strategy.pricing import Number, Refused, Rounding, to_price, to_qty


@dataclass(frozen=True, slots=True, kw_only=True)
class Leg:
    """One synthetic order's terms; the instrument is the group's."""

    side: OrderSide
    qty: Number
    order_type: OrderType
    price: Number | None = None
    """The limit price of what it releases (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT, LIMIT_MAKER)."""
    stop_price: Number | None = None
    """The trigger level of a stop or take-profit."""
    trigger: Trigger = Trigger.LAST
    tif: TimeInForce = TimeInForce.GTC
    trail: Number | None = None
    """A trailing stop's distance from the best price, in price units."""
    trail_bps: int = 0
    """A trailing stop's distance in basis points of the best price (instead of ``trail``)."""
    peg_offset: int = 0
    """A peg's distance from the mid in ticks, away from the other side (negative leans in)."""
    min_move: int = 1
    """A peg's re-price threshold, ticks."""
    max_replaces: int = 5
    """A peg's replaces per second at most."""
    post_only: bool = False
    reduce_only: bool = False

    # -- direct legs (the parent of an OTO or bracket, an OCO's resting limit) ---------------
    @classmethod
    def limit(cls, side: OrderSide, qty: Number, price: Number, *, tif: TimeInForce = TimeInForce.GTC,
              post_only: bool = False, reduce_only: bool = False) -> Leg:  # fmt: skip
        order_type = OrderType.LIMIT_MAKER if post_only else OrderType.LIMIT
        return cls(side=side, qty=qty, order_type=order_type, price=price, tif=tif, reduce_only=reduce_only)

    @classmethod
    def market(cls, side: OrderSide, qty: Number, *, reduce_only: bool = False) -> Leg:
        return cls(side=side, qty=qty, order_type=OrderType.MARKET, tif=TimeInForce.IOC, reduce_only=reduce_only)

    # -- trigger legs --------------------------------------------------------------------------
    @classmethod
    def stop(cls, side: OrderSide, qty: Number, stop_price: Number, limit_price: Number | None = None, *,
             trigger: Trigger = Trigger.LAST, tif: TimeInForce = TimeInForce.GTC,
             reduce_only: bool = False) -> Leg:  # fmt: skip
        """Stop-market (no ``limit_price``) or stop-limit: a buy fires on a rise to the level, a sell on a fall."""
        order_type = OrderType.STOP_MARKET if limit_price is None else OrderType.STOP_LIMIT
        return cls(side=side, qty=qty, order_type=order_type, price=limit_price, stop_price=stop_price,
                   trigger=trigger, tif=tif, reduce_only=reduce_only)  # fmt: skip

    @classmethod
    def take_profit(cls, side: OrderSide, qty: Number, stop_price: Number, limit_price: Number | None = None, *,
                    trigger: Trigger = Trigger.LAST, tif: TimeInForce = TimeInForce.GTC,
                    reduce_only: bool = False) -> Leg:  # fmt: skip
        """Take-profit (market, or limit at ``limit_price``): a sell fires on a rise to the level, a buy on a fall."""
        order_type = OrderType.TAKE_PROFIT if limit_price is None else OrderType.TAKE_PROFIT_LIMIT
        return cls(side=side, qty=qty, order_type=order_type, price=limit_price, stop_price=stop_price,
                   trigger=trigger, tif=tif, reduce_only=reduce_only)  # fmt: skip

    @classmethod
    def trailing(cls, side: OrderSide, qty: Number, *, trail: Number | None = None, bps: int = 0,
                 trigger: Trigger = Trigger.LAST, reduce_only: bool = False) -> Leg:  # fmt: skip
        """A trailing stop ``trail`` price units (or ``bps`` basis points) behind the best price; releases MARKET."""
        return cls(side=side, qty=qty, order_type=OrderType.TRAILING_STOP, trail=trail, trail_bps=bps,
                   trigger=trigger, reduce_only=reduce_only)  # fmt: skip

    @classmethod
    def peg(cls, side: OrderSide, qty: Number, *, offset_ticks: int = 0, min_move_ticks: int = 1,
            max_replaces_per_s: int = 5, post_only: bool = False, reduce_only: bool = False) -> Leg:  # fmt: skip
        """A limit order kept at mid ∓ ``offset_ticks`` (buy below, sell above), re-priced at a bounded rate."""
        return cls(side=side, qty=qty, order_type=OrderType.PEG_MID, peg_offset=offset_ticks,
                   min_move=min_move_ticks, max_replaces=max_replaces_per_s, post_only=post_only,
                   reduce_only=reduce_only)  # fmt: skip

    @property
    def fires_up(self) -> bool:
        """A trigger leg that fires on a rise (a buy stop or trailing stop, a sell take-profit)."""
        if self.order_type in (OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT):
            return self.side is OrderSide.SELL
        return self.side is OrderSide.BUY


_DIRECT: Final = frozenset({OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET})
_LIMITED: Final = frozenset({OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT})
_LEVELED: Final = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT,
                             OrderType.TAKE_PROFIT_LIMIT})  # fmt: skip
_U2: Final = 0xFFFF
_I4: Final = 1 << 31


class FixedLeg(NamedTuple):
    """A leg in the instrument's fixed point, checked: what one ORDER_INTENT carries."""

    side: OrderSide
    order_type: OrderType
    tif: TimeInForce
    flags: IntentFlag
    price: int
    qty: int
    stop_price: int
    terms: SynthTerms


def fix_leg(leg: Leg, instrument: Instrument, rounding: Rounding, group: bool) -> FixedLeg:
    """``leg`` on the instrument's tick and lot (:mod:`~hftpipe.strategy.pricing`' rules), or :class:`Refused`.

    Limit prices round passively (buys down, sells up); a trigger level rounds
    towards firing later (up for one that fires on a rise), and so does a
    trailing distance (wider). A direct leg (LIMIT, LIMIT_MAKER, MARKET) is a
    synthetic order only inside a ``group``.
    """
    kind = leg.order_type
    if kind in _DIRECT and not group:
        raise Refused(RejectReason.BAD_SYNTHETIC, f"a {kind.name} leg is held only in an OCO, OTO or bracket")
    if kind not in _DIRECT and kind not in SYNTHETIC_TYPES:
        raise Refused(RejectReason.BAD_SYNTHETIC, f"{kind!r} is not a synthetic order type")
    buy = leg.side is OrderSide.BUY
    qty = to_qty(leg.qty, instrument, rounding)
    price = 0
    if kind in _LIMITED:
        if leg.price is None:
            raise Refused(RejectReason.PRICE_NOT_POSITIVE, f"a {kind.name} leg needs a limit price")
        price = to_price(leg.price, instrument, buy, rounding)
    stop_price = 0
    if kind in _LEVELED:
        if leg.stop_price is None:
            raise Refused(RejectReason.PRICE_NOT_POSITIVE, f"a {kind.name} leg needs a stop price")
        stop_price = to_price(leg.stop_price, instrument, not leg.fires_up, rounding)
    trail = trail_bps = 0
    if kind is OrderType.TRAILING_STOP:
        if (leg.trail is None) == (not leg.trail_bps):
            raise Refused(RejectReason.BAD_SYNTHETIC, "a trailing stop takes trail or bps, exactly one")
        if leg.trail is not None:
            trail = to_price(leg.trail, instrument, False, rounding)
        elif not 0 < leg.trail_bps < 10_000:
            raise Refused(RejectReason.BAD_SYNTHETIC, f"a trailing stop's bps must be 1..9999, got {leg.trail_bps}")
        trail_bps = leg.trail_bps
    pegged = kind is OrderType.PEG_MID
    if pegged and not (1 <= leg.min_move <= _U2 and 1 <= leg.max_replaces <= _U2 and -_I4 < leg.peg_offset < _I4):
        raise Refused(RejectReason.BAD_SYNTHETIC, "a peg needs min_move and max_replaces of 1..65535")
    flags = IntentFlag.SYNTHETIC
    if leg.reduce_only:
        flags |= IntentFlag.REDUCE_ONLY
    if leg.post_only and kind is OrderType.PEG_MID:
        flags |= IntentFlag.POST_ONLY
    terms = SynthTerms(
        trail=trail, trail_bps=trail_bps, trigger=int(leg.trigger),
        peg_offset=leg.peg_offset if pegged else 0, min_move=leg.min_move if pegged else 0,
        max_replaces=leg.max_replaces if pegged else 0,
    )  # fmt: skip
    tif = TimeInForce.IOC if kind is OrderType.MARKET else leg.tif
    return FixedLeg(leg.side, kind, tif, flags, price, qty, stop_price, terms)


def check_group(contingency: Contingency, legs: Sequence[FixedLeg]) -> None:
    """What the execution stage's book needs of a group's legs (:class:`Refused`, BAD_SYNTHETIC, otherwise)."""
    if contingency is Contingency.NONE:
        if len(legs) != 1:
            raise Refused(RejectReason.BAD_SYNTHETIC, "a lone synthetic order is one leg")
        return
    if len(legs) > 255:
        raise Refused(RejectReason.BAD_SYNTHETIC, f"a group has at most 255 legs, got {len(legs)}")
    head = legs[0]
    if contingency is Contingency.OCO and len(legs) != 2:
        raise Refused(RejectReason.BAD_SYNTHETIC, f"an OCO has two legs, got {len(legs)}")
    if contingency is Contingency.BRACKET and len(legs) != 3:
        raise Refused(RejectReason.BAD_SYNTHETIC, f"a bracket has an entry and two exits, got {len(legs)} legs")
    if contingency is Contingency.OTO and len(legs) < 2:
        raise Refused(RejectReason.BAD_SYNTHETIC, "an OTO needs a parent and at least one child")
    for leg in legs[1:]:
        if leg.qty != head.qty:
            raise Refused(
                RejectReason.BAD_SYNTHETIC, f"a group's legs share one quantity, got {leg.qty} and {head.qty}"
            )
        if contingency is Contingency.BRACKET and leg.side is head.side:
            raise Refused(RejectReason.BAD_SYNTHETIC, "a bracket's exits are on the other side of its entry")
