"""The account's worst-case exposure, in quote currency, across its instruments.

Per instrument, with ``p`` the account's position, ``m`` the mark (the mid of
the last two-sided touch), ``B`` and ``S`` the leaves x price of its open buy
and sell orders (a market order at the touch it was approved at)::

    long  = p * m + B        # every open buy fills, no sell does
    short = p * m - S        # every open sell fills, no buy does

Whatever subset of the open orders fills, the instrument's exposure lies in
``[short, long]``, so its worst gross exposure is ``max(|long|, |short|) =
max(long, -short)``, the account's gross the sum of those, and its worst net
exposure ``max(sum(long), -sum(short))`` (the net of a sum of intervals is
widest at their ends). An order adds its notional (limit price x qty, or the
touch x qty for a market order) to ``long`` (a buy) or ``short`` (a sell) of
its instrument: valued at what it may cost, not at the mark.

Instruments have their own scales, so every amount is brought to one common
scale, :attr:`Exposure.scale` = the largest ``price_scale + qty_scale``:
exact integers, no rounding but the mid's (half a price unit). Each
instrument's part is kept, and the totals with it, so a check is O(1):
:meth:`Exposure.refresh` recomputes one instrument's part, and the checks
call it when its mark moves (a book update), its orders change (approval,
reports) and for the instrument of every order they check. The position is
read from :class:`~stages.trading.risk.positions.Positions` at those
moments, so the stage applies a fill to the ledger before it reports it
here; :meth:`Exposure.refresh_all` catches up after anything else (a ledger
reloaded from the venue). Until an instrument has had a two-sided book its
mark is 0 and its position counts as nothing (its own orders are refused
meanwhile: BOOK_NOT_SYNCED).
"""

from __future__ import annotations

from collections.abc import Iterable

from hftpipe.schema.instruments import Instrument
from stages.trading.risk.orders import BUY, InstrumentOrders, OpenOrders
from stages.trading.risk.positions import Positions


class _Part:
    """One instrument's part of the account's exposure (common scale)."""

    __slots__ = ("gross", "long", "mark", "short", "unit")

    def __init__(self, unit: int) -> None:
        self.unit = unit
        """What turns the instrument's price x qty into the common scale."""
        self.mark = 0
        self.long = 0
        self.short = 0
        self.gross = 0
        """``max(long, -short)``."""


class Exposure:
    """Worst-case gross and net exposure of the account, quote currency at :attr:`scale`."""

    __slots__ = ("_parts", "_positions", "gross", "net_long", "net_short", "scale")

    def __init__(self, instruments: Iterable[Instrument], positions: Positions) -> None:
        listed = list(instruments)
        self.scale = max((i.price_scale + i.qty_scale for i in listed), default=0)
        self._parts = {i.id: _Part(10 ** (self.scale - i.price_scale - i.qty_scale)) for i in listed}
        self._positions = positions
        self.gross = 0
        self.net_long = 0
        """sum(long): the net exposure if every open buy fills."""
        self.net_short = 0
        """sum(short): the net exposure if every open sell fills."""

    def set_mark(self, instrument_id: int, mark: int) -> bool:
        """A new mark (price scale); 0 (a one-sided book) keeps the last one. Whether it changed."""
        part = self._parts[instrument_id]
        if mark <= 0 or mark == part.mark:
            return False
        part.mark = mark
        return True

    def refresh(self, instrument_id: int, orders: InstrumentOrders) -> None:
        """Recompute the instrument's part from the ledger's position, its mark and ``orders``."""
        part = self._parts[instrument_id]
        held = self._positions.account_qty(instrument_id) * part.mark
        unit = part.unit
        notional = orders.notional
        long = (held + notional[0]) * unit
        short = (held - notional[1]) * unit
        gross = long if long > -short else -short
        self.gross += gross - part.gross
        self.net_long += long - part.long
        self.net_short += short - part.short
        part.long = long
        part.short = short
        part.gross = gross

    def refresh_all(self, orders: OpenOrders) -> None:
        """Recompute every instrument's part."""
        for instrument_id in self._parts:
            self.refresh(instrument_id, orders.instrument(instrument_id))

    def part(self, instrument_id: int) -> tuple[int, int]:
        """The instrument's ``(short, long)`` (diagnostics, tests)."""
        part = self._parts[instrument_id]
        return part.short, part.long

    def gross_with(self, instrument_id: int, side: int, notional: int) -> int:
        """The account's worst gross exposure with one more order (``notional``: price x qty, its scales)."""
        part = self._parts[instrument_id]
        added = notional * part.unit
        if side == BUY:
            long, short = part.long + added, part.short
        else:
            long, short = part.long, part.short - added
        return self.gross - part.gross + (long if long > -short else -short)

    def net(self) -> int:
        """The account's worst net exposure (absolute)."""
        return self.net_long if self.net_long > -self.net_short else -self.net_short

    def net_with(self, instrument_id: int, side: int, notional: int) -> int:
        """The account's worst net exposure with one more order."""
        added = notional * self._parts[instrument_id].unit
        if side == BUY:
            long, short = self.net_long + added, self.net_short
        else:
            long, short = self.net_long, self.net_short - added
        return long if long > -short else -short
