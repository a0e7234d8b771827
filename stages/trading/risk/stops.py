"""Protective exits per position: stop loss, trailing stop, take profit; pure, marks passed in.

A :class:`StopBook` is told each (strategy, instrument) position after every
fill (:meth:`StopBook.position`: signed qty and entry cost, exactly what
:class:`stages.trading.risk.ledger.PositionLedger` keeps) and each mark price
(:meth:`StopBook.mark`); it answers with the orders that flatten the
positions whose exit the mark reached: ``(strategy_id, instrument_id, side,
qty, kind)``, the whole open size on the reducing side, to be sent
reduce-only (``IntentFlag.REDUCE_ONLY | IntentFlag.FLATTEN``).

Episodes
--------
An exit fires **at most once per position episode**. An episode starts when
the position opens from flat or changes sign (a flip through zero) and ends
when it is flat; growing or shrinking on the same side keeps the episode, so
a fired exit stays fired while the flattening order works, and the trail
keeps its best price. That is why the positions must come per fill: a
position that goes flat and reopens between two marks is a new episode even
though both marks see it on the same side. :meth:`StopBook.rearm` arms a
fired episode again (the stage's call when a flattening order is rejected or
canceled and the position is still open).

Levels (all inclusive: a mark that *reaches* the level fires, one tick short of it does not)
---------------------------------------------------------------------------------------------
``entry`` is the open size's average entry price, ``cost / qty`` (exact: the
comparisons multiply through, no division, no float). For a long:

* stop loss: ``mark <= price``, or ``mark <= entry − offset``;
* take profit: ``mark >= price``, or ``mark >= entry + offset``;
* trailing stop: ``best`` is the highest mark since the episode began (the
  first mark seen with the position open starts it; the entry price does
  not, as the fill may have been at a price no mark showed); fires when
  ``mark <= best − amount``, or ``mark <= best × (1 − percent / 100)``.

A short mirrors each: the stop loss fires at ``mark >= price`` or ``mark >=
entry + offset``, the take profit at ``mark <= price`` or ``mark <= entry −
offset``, the trail follows the lowest mark and fires at ``mark >= best +
amount`` or ``mark >= best × (1 + percent / 100)``. An absolute ``price`` is
the same number for both sides: where a long is cut when the mark falls to
it, a short is cut when the mark rises to it.

When several exits reach their level on one mark, one order goes out, named
after the first in the order stop loss, trailing stop, take profit.

Settings
--------
:class:`StopSettings` is configured per instrument and/or per strategy, with
decimal strings in quote price units (``"1.5"``), so a strategy's settings
apply across instruments of different scales. The exits in force for a
(strategy, instrument) are the instrument's **and** the strategy's: each
level adds exits, none overrides another, and whichever is reached first
flattens the position.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Final, NamedTuple, Protocol

from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.fixedpoint import FixedPointError, parse_fixed
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import OrderSide


class StopKind(StrEnum):
    """Which exit fired."""

    STOP_LOSS = "stop_loss"
    TRAILING_STOP = "trailing_stop"
    TAKE_PROFIT = "take_profit"


class StopOrder(NamedTuple):
    """A flattening order to send reduce-only: the whole open size, on the side that reduces it."""

    strategy_id: int
    instrument_id: int
    side: OrderSide
    qty: int
    """Unsigned, the instrument's qty scale: ``abs`` of the position when the mark came."""
    kind: StopKind


class Exit(Protocol):
    """One exit rule at one instrument's price scale."""

    kind: ClassVar[StopKind]

    def hit(self, long: bool, size: int, cost: int, best: int, mark: int) -> bool:
        """Whether ``mark`` reached the level; ``size``, ``cost``: unsigned (entry = cost / size)."""
        ...


def _one_of(price: int | None, offset: int | None, what: str) -> None:
    if (price is None) == (offset is None):
        raise ValueError(f"{what} takes a price or an offset, exactly one")
    if (price if price is not None else offset or 0) <= 0:
        raise ValueError(f"{what}'s price or offset must be > 0, got {price if price is not None else offset}")


@dataclass(frozen=True, slots=True)
class StopLoss:
    """Cut a loss: at an absolute ``price``, or ``offset`` beyond the entry (both fixed point, price scale)."""

    price: int | None = None
    offset: int | None = None
    kind: ClassVar[StopKind] = StopKind.STOP_LOSS

    def __post_init__(self) -> None:
        _one_of(self.price, self.offset, "a stop loss")

    def hit(self, long: bool, size: int, cost: int, best: int, mark: int) -> bool:
        if self.price is not None:
            return mark <= self.price if long else mark >= self.price
        offset = self.offset or 0
        # long: mark <= cost/size − offset;  short: mark >= cost/size + offset
        return (mark + offset) * size <= cost if long else (mark - offset) * size >= cost


@dataclass(frozen=True, slots=True)
class TakeProfit:
    """Take a gain: at an absolute ``price``, or ``offset`` beyond the entry in the position's favour."""

    price: int | None = None
    offset: int | None = None
    kind: ClassVar[StopKind] = StopKind.TAKE_PROFIT

    def __post_init__(self) -> None:
        _one_of(self.price, self.offset, "a take profit")

    def hit(self, long: bool, size: int, cost: int, best: int, mark: int) -> bool:
        if self.price is not None:
            return mark >= self.price if long else mark <= self.price
        offset = self.offset or 0
        # long: mark >= cost/size + offset;  short: mark <= cost/size − offset
        return (mark - offset) * size >= cost if long else (mark + offset) * size <= cost


@dataclass(frozen=True, slots=True)
class TrailingStop:
    """Follow the best mark since the episode began; fire ``percent`` % (0 < percent < 100) or ``amount`` away.

    ``percent`` is exact (a :class:`~decimal.Decimal`, compared as a ratio of
    integers); ``amount`` is fixed point at the price scale.
    """

    percent: Decimal | None = None
    amount: int | None = None
    kind: ClassVar[StopKind] = StopKind.TRAILING_STOP
    _num: int = field(init=False, repr=False, compare=False, default=0)
    _den: int = field(init=False, repr=False, compare=False, default=1)

    def __post_init__(self) -> None:
        if (self.percent is None) == (self.amount is None):
            raise ValueError("a trailing stop takes a percent or an amount, exactly one")
        if self.percent is not None:
            if not (self.percent.is_finite() and 0 < self.percent < 100):
                raise ValueError(f"a trailing stop's percent must be in (0, 100), got {self.percent}")
            num, den = (self.percent / 100).as_integer_ratio()
            object.__setattr__(self, "_num", num)
            object.__setattr__(self, "_den", den)
        elif (self.amount or 0) <= 0:
            raise ValueError(f"a trailing stop's amount must be > 0, got {self.amount}")

    def hit(self, long: bool, size: int, cost: int, best: int, mark: int) -> bool:
        if self.amount is not None:
            return mark <= best - self.amount if long else mark >= best + self.amount
        num, den = self._num, self._den
        # long: mark <= best × (1 − num/den);  short: mark >= best × (1 + num/den)
        return mark * den <= best * (den - num) if long else mark * den >= best * (den + num)


# ------------------------------------------------------------------------------------------ settings
_DECIMAL: Final = re.compile(r"\d+(\.\d+)?")


def _positive_decimal(name: str, value: object) -> Decimal:
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise ConfigError(name, f'must be a decimal string such as "1.5", got {value!r}')
    number = Decimal(value)
    if number <= 0:
        raise ConfigError(name, f"must be > 0, got {value}")
    return number


@dataclass(frozen=True, slots=True, kw_only=True)
class StopSettings:
    """The exits of an instrument's or a strategy's positions; decimal strings, quote price units.

    Each exit takes at most one of its two forms. ``trailing_percent`` is a
    percentage (``"1.5"``: 1.5 %), below 100. None set: no exits. Errors are
    :class:`ConfigError` naming the field.
    """

    stop_loss_price: str | None = None
    """Cut at this price (a long when the mark falls to it, a short when it rises to it)."""
    stop_loss_offset: str | None = None
    """Cut this far from the average entry, against the position."""
    trailing_percent: str | None = None
    trailing_amount: str | None = None
    take_profit_price: str | None = None
    take_profit_offset: str | None = None
    """Take the gain this far from the average entry, in the position's favour."""

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is not None:
                _positive_decimal(spec.name, value)
        for first, second in (
            ("stop_loss_price", "stop_loss_offset"),
            ("trailing_percent", "trailing_amount"),
            ("take_profit_price", "take_profit_offset"),
        ):
            if getattr(self, first) is not None and getattr(self, second) is not None:
                raise ConfigError(second, f"give {first} or {second}, not both")
        if self.trailing_percent is not None and Decimal(self.trailing_percent) >= 100:
            raise ConfigError("trailing_percent", f"must be < 100, got {self.trailing_percent}")

    def exits(self, instrument: Instrument) -> tuple[Exit, ...]:
        """The exits at ``instrument``'s price scale, in firing precedence (stop loss, trailing, take profit).

        A price, offset or amount with more decimals than the scale is a
        :class:`ConfigError` naming the field and the instrument.
        """

        def fixed(name: str) -> int | None:
            text: str | None = getattr(self, name)
            if text is None:
                return None
            try:
                return parse_fixed(text, instrument.price_scale)
            except FixedPointError:
                raise ConfigError(
                    name, f"{text} has more decimals than {instrument.symbol}'s price scale ({instrument.price_scale})"
                ) from None

        found: list[Exit] = []
        loss_price, loss_offset = fixed("stop_loss_price"), fixed("stop_loss_offset")
        if loss_price is not None or loss_offset is not None:
            found.append(StopLoss(loss_price, loss_offset))
        amount = fixed("trailing_amount")
        if self.trailing_percent is not None or amount is not None:
            percent = None if self.trailing_percent is None else Decimal(self.trailing_percent)
            found.append(TrailingStop(percent, amount))
        gain_price, gain_offset = fixed("take_profit_price"), fixed("take_profit_offset")
        if gain_price is not None or gain_offset is not None:
            found.append(TakeProfit(gain_price, gain_offset))
        return tuple(found)


# ---------------------------------------------------------------------------------------- the book
class _Episode:
    """One open position between flat (or a flip) and flat, and what its exits have done."""

    __slots__ = ("best", "cost", "exits", "fired", "qty")

    def __init__(self, exits: tuple[Exit, ...], qty: int, cost: int) -> None:
        self.exits = exits
        self.qty = qty
        self.cost = cost
        self.best: int | None = None
        """The trail's best mark (long: highest, short: lowest); None before the first mark."""
        self.fired = False


class StopBook:
    """The exits of every (strategy, instrument) position, fed fills' positions and marks; answers orders.

    ``by_instrument`` and ``by_strategy`` map ids to settings; every
    strategy's settings are resolved for every instrument here, so a bad
    scale is a :class:`ConfigError` at start-up, not at the first fill.
    """

    __slots__ = ("_episodes", "_instrument_exits", "_open_by_instrument", "_strategy_exits")

    def __init__(
        self,
        instruments: Iterable[Instrument],
        by_instrument: Mapping[int, StopSettings] | None = None,
        by_strategy: Mapping[int, StopSettings] | None = None,
    ) -> None:
        known = {inst.id: inst for inst in instruments}
        per_instrument = by_instrument or {}
        for iid in per_instrument:
            if iid not in known:
                raise ValueError(f"stop settings for instrument id {iid}, which is not among the instruments")
        self._instrument_exits: dict[int, tuple[Exit, ...]] = {
            iid: per_instrument[iid].exits(inst) if iid in per_instrument else () for iid, inst in known.items()
        }
        self._strategy_exits: dict[tuple[int, int], tuple[Exit, ...]] = {
            (sid, iid): self._instrument_exits[iid] + settings.exits(inst)
            for sid, settings in (by_strategy or {}).items()
            for iid, inst in known.items()
        }
        """(strategy, instrument) -> its exits, for the strategies with settings of their own."""
        self._episodes: dict[tuple[int, int], _Episode] = {}
        self._open_by_instrument: dict[int, dict[int, _Episode]] = {iid: {} for iid in known}

    def exits(self, strategy_id: int, instrument_id: int) -> tuple[Exit, ...]:
        """The exits in force for the pair: the instrument's, then the strategy's (none for an unknown instrument)."""
        found = self._strategy_exits.get((strategy_id, instrument_id))
        if found is None:
            found = self._instrument_exits.get(instrument_id, ())
        return found

    def position(self, strategy_id: int, instrument_id: int, qty: int, cost: int) -> None:
        """The pair's position after a fill: signed ``qty`` (qty scale) and entry ``cost`` (notional scale).

        Flat ends the episode; a new sign starts one (armed, trail reset).
        """
        key = (strategy_id, instrument_id)
        episode = self._episodes.get(key)
        if qty == 0:
            if episode is not None:
                del self._episodes[key]
                del self._open_by_instrument[instrument_id][strategy_id]
            return
        if episode is None or (episode.qty > 0) != (qty > 0):
            exits = self.exits(strategy_id, instrument_id)
            if not exits:
                return
            episode = self._episodes[key] = _Episode(exits, qty, cost)
            self._open_by_instrument[instrument_id][strategy_id] = episode
        else:
            episode.qty = qty
            episode.cost = cost

    def mark(self, instrument_id: int, mark: int) -> list[StopOrder]:
        """A mark price (price scale) for the instrument: the flattening orders it triggers, each once per episode."""
        orders: list[StopOrder] = []
        for strategy_id, episode in self._open_by_instrument.get(instrument_id, {}).items():
            long = episode.qty > 0
            best = episode.best
            if best is None or (mark > best if long else mark < best):
                best = episode.best = mark
            if episode.fired:
                continue
            size = abs(episode.qty)
            cost = abs(episode.cost)
            for rule in episode.exits:
                if rule.hit(long, size, cost, best, mark):
                    episode.fired = True
                    side = OrderSide.SELL if long else OrderSide.BUY
                    orders.append(StopOrder(strategy_id, instrument_id, side, size, rule.kind))
                    break
        return orders

    def armed(self, strategy_id: int, instrument_id: int) -> bool:
        """Whether the pair has an open episode whose exits have not fired."""
        episode = self._episodes.get((strategy_id, instrument_id))
        return episode is not None and not episode.fired

    def rearm(self, strategy_id: int, instrument_id: int) -> None:
        """Arm the pair's open episode again (its flattening order did not get it flat); no-op when flat."""
        episode = self._episodes.get((strategy_id, instrument_id))
        if episode is not None:
            episode.fired = False
