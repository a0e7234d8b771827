"""Positions and PnL from fills, per strategy and for the whole account: exact integers, prices passed in.

Units (every number is an int):

* prices and marks: fixed point at the instrument's price scale;
* quantities: fixed point at its qty scale; a position's ``qty`` is signed
  (> 0 long, < 0 short);
* one instrument's money (``realized``, ``fees``, ``cost``, ``unrealized``):
  quote units at the **notional scale**, ``price_scale + qty_scale``
  decimals, where price × qty is exact;
* the :class:`Ledger`'s totals across instruments (PnL, fees, drawdown,
  exposure): quote units at :data:`QUOTE_SCALE` (8) decimals. Every
  instrument is assumed to be quoted in the same currency (USDT, say);
  converting between quote currencies is not this module's business.

Realized PnL is gross of fees; ``pnl = realized + unrealized − fees`` is the
net figure. A flip through zero (selling more than a long holds, buying more
than a short owes) realizes the closing part against the open lots and opens
the rest as a new lot at the fill's price.

Fees
----
A fill's ``fee`` comes in one of two assets:

* **quote** (``fee_in_base=False``, the default; what ``EXEC_REPORT.fee``
  carries): fixed point at the instrument's **price scale**. It is added to
  ``fees`` as ``fee × 10**qty_scale`` (the notional scale), exactly; the
  position and realized PnL are untouched.
* **base** (``fee_in_base=True``; Binance takes a buy's commission out of the
  base asset it delivers): fixed point at the instrument's **qty scale**,
  ``0 <= fee <= qty``. The venue keeps ``fee`` of the base asset, so the
  account's holding changes by ``+qty − fee`` on a buy (it received less than
  it bought) and by ``−qty − fee`` on a sell (the fee is paid on top of what
  was sold). The fill is booked as that one trade, of ``qty − fee`` (buy) or
  ``qty + fee`` (sell) at the fill's price, through the cost method like any
  other fill; and the base the venue kept is a cost worth ``fee × price`` at
  the notional scale, added to ``fees``. Both are exact, and the net PnL is
  exactly what the account's balances say.

Worked example, price scale 2, qty scale 3 (notional scale 5), FIFO::

    BUY  1.000 @ 100.00, base fee 0.001  -> bought 0.999 at 100.00
         qty 0.999, lots [(100.00, 0.999)], realized 0, fees 0.001 × 100.00 = 0.1
    SELL 0.500 @ 110.00, base fee 0.001  -> sold 0.501 at 110.00
         realized (110.00 − 100.00) × 0.501 = 5.01, qty 0.498, lots [(100.00, 0.498)],
         fees 0.1 + 0.001 × 110.00 = 0.21
    SELL 0.498 @ 110.00, quote fee 0.05  -> realized 4.98, flat, fees 0.26
    net PnL 5.01 + 4.98 − 0.26 = 9.73: the account paid 100.00, received 55.00 + 54.78 − 0.05.

Totals and truncation
---------------------
One instrument's numbers are exact (the average cost's share of a partial
close is the only rounding: :mod:`stages.trading.risk.lots`). A total across
instruments sums each instrument's exact figure lifted to one common scale
(the largest notional scale, at least 8) and then truncates **once**, toward
zero, to :data:`QUOTE_SCALE` decimals; it is exact whenever every
instrument's ``price_scale + qty_scale <= 8``. Each total truncates on its
own, so where that does not hold ``pnl`` can differ from ``realized +
unrealized − fees`` by a unit or two of the 8th decimal.

The account and the strategies
------------------------------
Every fill is booked twice, with the same method: on the strategy's position
and on the account's position in that instrument. The account's ``qty``,
``fees``, ``volume``, ``fills`` and net PnL at any marks are the sums over
strategies. Its *realized* PnL is not in general: when one strategy sells
what another holds, the account's lots match the two (the account closed a
trade) while each strategy's stays open (both carry unrealized PnL). The sum
of realized plus unrealized is the same either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import OrderSide
from stages.trading.risk.lots import CostMethod, OpenLots, open_lots

QUOTE_SCALE: Final = 8
"""Decimals of the ledger's totals across instruments (quote units)."""

_BUY: Final = OrderSide.BUY
_SELL: Final = OrderSide.SELL


class PositionLedger:
    """One (owner, instrument) position: signed size, open lots, realized PnL, fees, volume.

    The owner is a strategy or the whole account; the class does not know
    which. See the module docstring for units and the fee semantics.
    """

    __slots__ = (
        "_fee_unit",
        "_lots",
        "_price_unit",
        "fees",
        "fills",
        "instrument",
        "method",
        "qty",
        "realized",
        "volume",
    )

    def __init__(self, instrument: Instrument, method: CostMethod = CostMethod.FIFO) -> None:
        self.instrument = instrument
        self.method = CostMethod(method)
        self._lots: OpenLots = open_lots(self.method)
        self.qty = 0
        """Signed size, qty scale: > 0 long, < 0 short."""
        self.realized = 0
        """Realized PnL, notional scale, gross of fees."""
        self.fees = 0
        """Fees paid, quote units at the notional scale (a base fee valued at its fill's price)."""
        self.volume = 0
        """Quantity traded, both sides, qty scale (the fills' ``qty``, fees not deducted)."""
        self.fills = 0
        self._fee_unit: int = 10**instrument.qty_scale
        self._price_unit = 10.0**-instrument.price_scale

    def apply_fill(self, side: OrderSide, price: int, qty: int, fee: int = 0, fee_in_base: bool = False) -> int:
        """Book one fill; returns the PnL it realized (notional scale, gross of the fee).

        ``price`` > 0 (price scale), ``qty`` > 0 (qty scale); ``fee`` in the
        quote asset at the price scale (negative: a rebate), or with
        ``fee_in_base`` in the base asset at the qty scale, ``0 <= fee <= qty``.
        ``side`` may be the record's raw integer.
        """
        if price <= 0 or qty <= 0:
            raise ValueError(f"a fill needs a positive price and quantity, got {price} × {qty}")
        if side == _BUY:
            change = qty
        elif side == _SELL:
            change = -qty
        else:
            raise ValueError(f"not an order side: {side!r}")
        if fee_in_base:
            if not 0 <= fee <= qty:
                raise ValueError(f"a base-asset fee must be 0..{qty} (the fill's quantity), got {fee}")
            change -= fee  # the venue keeps it: a buy delivers less, a sell costs more
            self.fees += fee * price
        else:
            self.fees += fee * self._fee_unit
        realized = self._trade(price, change) if change else 0
        self.realized += realized
        self.volume += qty
        self.fills += 1
        return realized

    def _trade(self, price: int, change: int) -> int:
        held = self.qty
        lots = self._lots
        self.qty = held + change
        if held == 0 or (held > 0) == (change > 0):
            lots.open(price, abs(change))
            return 0
        size = abs(change)
        closing = min(size, abs(held))
        basis = lots.close(closing)
        if size > closing:  # through zero: the rest opens the other way at this price
            lots.open(price, size - closing)
        return price * closing - basis if held > 0 else basis - price * closing

    @property
    def cost(self) -> int:
        """Entry cost of the open size, Σ price × qty, notional scale, signed like ``qty`` (0 when flat)."""
        cost = self._lots.cost
        return cost if self.qty >= 0 else -cost

    @property
    def lots(self) -> tuple[tuple[int, int], ...]:
        """FIFO / LIFO: ``(price, size)`` of each open lot, oldest first, sizes unsigned; average cost: empty."""
        return self._lots.lots()

    @property
    def avg_entry(self) -> float:
        """Average entry price of the open size, in price units (0.0 when flat); a convenience view, see ``cost``."""
        if not self.qty:
            return 0.0
        return self.cost / self.qty * self._price_unit

    def unrealized(self, mark: int) -> int:
        """PnL of the open size at ``mark`` (price scale), notional scale."""
        return mark * self.qty - self.cost

    def pnl(self, mark: int) -> int:
        """Net PnL, ``realized + unrealized(mark) − fees``, notional scale."""
        return self.realized + mark * self.qty - self.cost - self.fees

    def __repr__(self) -> str:
        inst = self.instrument
        scale = inst.price_scale + inst.qty_scale
        return (
            f"PositionLedger({inst.symbol} {self.method} {inst.qty_text(self.qty)} @ {self.avg_entry:.10g}, "
            f"realized {self.realized / 10**scale:.10g}, fees {self.fees / 10**scale:.10g})"
        )


class Drawdown:
    """Peak-to-trough of one PnL series, fed by :meth:`Ledger.observe` (units of the PnL fed, :data:`QUOTE_SCALE`).

    The peak starts at 0, the PnL before the first fill, so a loss from the
    start is a drawdown too.
    """

    __slots__ = ("last", "peak", "worst")

    def __init__(self) -> None:
        self.peak = 0
        """The highest PnL observed (≥ 0)."""
        self.last = 0
        """The PnL at the last observation."""
        self.worst = 0
        """The largest drawdown observed."""

    def observe(self, pnl: int) -> None:
        self.last = pnl
        if pnl > self.peak:
            self.peak = pnl
        elif self.peak - pnl > self.worst:
            self.worst = self.peak - pnl

    @property
    def current(self) -> int:
        """Peak − last PnL (≥ 0)."""
        return self.peak - self.last


class Ledger:
    """Every position of the account, per (strategy, instrument) and per instrument; totals in one quote currency.

    ``strategy=None`` in the totals means the account (its own positions, see
    the module docstring on why its realized PnL is not the strategies' sum).
    ``marks`` map instrument ids to prices at each instrument's price scale;
    every instrument with an open position in the total must have one
    (``KeyError`` otherwise: a missing price is not a price of 0).
    """

    __slots__ = ("_accounts", "_by_strategy", "_drawdowns", "_lift", "_pairs", "_truncate", "instruments", "method")

    def __init__(self, instruments: Iterable[Instrument], method: CostMethod = CostMethod.FIFO) -> None:
        self.method = CostMethod(method)
        self.instruments: dict[int, Instrument] = {inst.id: inst for inst in instruments}
        common = max([QUOTE_SCALE, *(i.price_scale + i.qty_scale for i in self.instruments.values())])
        self._lift: dict[int, int] = {
            iid: 10 ** (common - i.price_scale - i.qty_scale) for iid, i in self.instruments.items()
        }
        """Per instrument: its notional scale -> the common scale of the sums."""
        self._truncate: int = 10 ** (common - QUOTE_SCALE)
        self._accounts = {iid: PositionLedger(inst, self.method) for iid, inst in self.instruments.items()}
        self._pairs: dict[tuple[int, int], PositionLedger] = {}
        self._by_strategy: dict[int, dict[int, PositionLedger]] = {}
        self._drawdowns: dict[int | None, Drawdown] = {None: Drawdown()}

    # ------------------------------------------------------------------ fills
    def apply_fill(
        self,
        strategy_id: int,
        instrument_id: int,
        side: OrderSide,
        price: int,
        qty: int,
        fee: int = 0,
        fee_in_base: bool = False,
    ) -> int:
        """Book a fill on the strategy's position and on the account's; returns the strategy's realized PnL.

        Arguments as :meth:`PositionLedger.apply_fill`; ``KeyError`` for an
        instrument the ledger was not given.
        """
        account = self._accounts[instrument_id]
        realized = self.position(strategy_id, instrument_id).apply_fill(side, price, qty, fee, fee_in_base)
        account.apply_fill(side, price, qty, fee, fee_in_base)
        return realized

    # ---------------------------------------------------------------- reading
    def position(self, strategy_id: int, instrument_id: int) -> PositionLedger:
        """The strategy's position in the instrument (a flat one, created, when it has none)."""
        found = self._pairs.get((strategy_id, instrument_id))
        if found is None:
            found = PositionLedger(self.instruments[instrument_id], self.method)
            self._pairs[(strategy_id, instrument_id)] = found
            self._by_strategy.setdefault(strategy_id, {})[instrument_id] = found
            self._drawdowns.setdefault(strategy_id, Drawdown())
        return found

    def account(self, instrument_id: int) -> PositionLedger:
        """The account's position in the instrument (every strategy's fills)."""
        return self._accounts[instrument_id]

    def strategy_qty(self, strategy_id: int, instrument_id: int) -> int:
        """The strategy's signed position, qty scale (0: none); creates nothing."""
        found = self._pairs.get((strategy_id, instrument_id))
        return 0 if found is None else found.qty

    def account_qty(self, instrument_id: int) -> int:
        """The account's signed position, qty scale (0 for an instrument never traded or not known)."""
        found = self._accounts.get(instrument_id)
        return 0 if found is None else found.qty

    def strategies(self) -> tuple[int, ...]:
        """Ids of the strategies with a position (open or not), ascending."""
        return tuple(sorted(self._by_strategy))

    def positions(self, strategy: int | None = None) -> tuple[PositionLedger, ...]:
        """The strategy's positions (every instrument it traded), or the account's (every instrument)."""
        return tuple(self._owned(strategy).values())

    def _owned(self, strategy: int | None) -> Mapping[int, PositionLedger]:
        if strategy is None:
            return self._accounts
        return self._by_strategy.get(strategy, {})

    # ----------------------------------------------------------------- totals
    def _quote(self, total: int) -> int:
        """A sum at the common scale -> QUOTE_SCALE, truncated toward zero."""
        if total >= 0:
            return total // self._truncate
        return -(-total // self._truncate)

    def realized(self, strategy: int | None = None) -> int:
        """Realized PnL (gross of fees), quote units at :data:`QUOTE_SCALE`."""
        lift = self._lift
        return self._quote(sum(p.realized * lift[iid] for iid, p in self._owned(strategy).items()))

    def fees(self, strategy: int | None = None) -> int:
        """Fees paid, quote units at :data:`QUOTE_SCALE`."""
        lift = self._lift
        return self._quote(sum(p.fees * lift[iid] for iid, p in self._owned(strategy).items()))

    def unrealized(self, marks: Mapping[int, int], strategy: int | None = None) -> int:
        """PnL of the open positions at ``marks``, quote units at :data:`QUOTE_SCALE`."""
        lift = self._lift
        return self._quote(
            sum(p.unrealized(marks[iid]) * lift[iid] for iid, p in self._owned(strategy).items() if p.qty)
        )

    def pnl(self, marks: Mapping[int, int], strategy: int | None = None) -> int:
        """Net PnL, realized + unrealized − fees, quote units at :data:`QUOTE_SCALE` (one truncation)."""
        lift = self._lift
        total = 0
        for iid, p in self._owned(strategy).items():
            net = p.realized - p.fees
            if p.qty:
                net += p.unrealized(marks[iid])
            total += net * lift[iid]
        return self._quote(total)

    def gross_exposure(self, marks: Mapping[int, int], strategy: int | None = None) -> int:
        """Σ |qty| × mark over instruments, quote units at :data:`QUOTE_SCALE` (one truncation)."""
        lift = self._lift
        return self._quote(
            sum(abs(p.qty) * marks[iid] * lift[iid] for iid, p in self._owned(strategy).items() if p.qty)
        )

    def net_exposure(self, marks: Mapping[int, int], strategy: int | None = None) -> int:
        """Σ qty × mark over instruments (longs minus shorts), quote units at :data:`QUOTE_SCALE` (one truncation)."""
        lift = self._lift
        return self._quote(sum(p.qty * marks[iid] * lift[iid] for iid, p in self._owned(strategy).items() if p.qty))

    # --------------------------------------------------------------- drawdown
    def observe(self, marks: Mapping[int, int]) -> None:
        """Take each strategy's and the account's net PnL at ``marks`` into their peak and drawdown."""
        for owner, drawdown in self._drawdowns.items():
            drawdown.observe(self.pnl(marks, owner))

    def drawdown(self, strategy: int | None = None) -> int:
        """Peak net PnL − net PnL at the last :meth:`observe`, quote units at :data:`QUOTE_SCALE` (≥ 0)."""
        found = self._drawdowns.get(strategy)
        return 0 if found is None else found.current

    def max_drawdown(self, strategy: int | None = None) -> int:
        """The largest drawdown any :meth:`observe` saw, quote units at :data:`QUOTE_SCALE`."""
        found = self._drawdowns.get(strategy)
        return 0 if found is None else found.worst

    def peak(self, strategy: int | None = None) -> int:
        """The highest net PnL any :meth:`observe` saw (≥ 0, the start's), quote units at :data:`QUOTE_SCALE`."""
        found = self._drawdowns.get(strategy)
        return 0 if found is None else found.peak
