"""What risk knows of the account's open orders: each one, and the totals the checks compare.

An order is known from the moment risk approves it (pending: the venue may
not have it yet, but it may fill) until a report ends it (fill to zero
leaves, cancel, expiry, reject, or the REPLACED report of the order that
took its place). Everything it may still do counts: a pending order's full
quantity, an acknowledged one's leaves. So when every open order is assumed
to fill, the worst case the checks compute is never below the truth.

Kept per order: its id (``(strategy_id, epoch, order_seq)``), instrument,
side, price and leaves. Kept incrementally, so a check is a few dict lookups:

* per strategy and instrument (:class:`StrategyOrders`): open orders and
  leaves per side (position and open-order limits);
* per instrument, the whole account (:class:`InstrumentOrders`): the same,
  plus leaves x price per side (exposure) and, per side, the count of
  orders at each price and the best of them (self-cross).

Duplicate ids are :mod:`stages.trading.risk.seen_ids`' (bounded memory).

Execution reports carry no epoch: the stage passes it (:meth:`OpenOrders.epoch_of`
is the one the strategy's latest approved order used). A report leaves is
authoritative: it is set, not subtracted, so a repeated report changes nothing.
"""

from __future__ import annotations

from typing import Final

from hftpipe.schema.trading import ExecType
from stages.trading.risk.seen_ids import SEEN_CAPACITY, OrderKey, SeenIds

BUY: Final = 0
SELL: Final = 1
NO_BUY: Final = -1
"""``best[BUY]`` with no buy: below every price, so no sell crosses it."""
NO_SELL: Final = 1 << 63
"""``best[SELL]`` with no sell: above every price, :data:`ANY_PRICE` included, so no buy crosses it."""
ANY_PRICE: Final = (1 << 63) - 1
"""The cross price of a market buy that may walk the book: it crosses any sell."""

_ACK: Final = int(ExecType.ACK)
_HELD: Final = int(ExecType.HELD)
_TRIGGERED: Final = int(ExecType.TRIGGERED)
_PARTIAL_FILL: Final = int(ExecType.PARTIAL_FILL)
_FILL: Final = int(ExecType.FILL)
_REPLACED: Final = int(ExecType.REPLACED)
_CANCEL_REJECTED: Final = int(ExecType.CANCEL_REJECTED)
_FILLS: Final = frozenset({_PARTIAL_FILL, _FILL})
_ENDS: Final = frozenset({int(ExecType.CANCELED), int(ExecType.REJECTED), int(ExecType.EXPIRED), _TRIGGERED})
"""A TRIGGERED synthetic order ends here: its released child is an order of its own."""
_ACKS: Final = frozenset({_ACK, _HELD})


class OpenOrder:
    """One order risk approved that no report has ended yet."""

    __slots__ = ("acked", "cross_price", "instrument_id", "key", "leaves", "price", "replaces", "side")

    def __init__(
        self,
        key: OrderKey,
        instrument_id: int,
        side: int,
        price: int,
        cross_price: int | None,
        leaves: int,
        replaces: OrderKey | None,
    ) -> None:
        self.key = key
        self.instrument_id = instrument_id
        self.side = side
        self.price = price
        """What one unit may cost: the limit price, or the touch (market) or stop price it was approved at."""
        self.cross_price = cross_price
        """The price it may trade at against another order of ours (None: a stop order, not on the book)."""
        self.leaves = leaves
        self.replaces = replaces
        """The order a REPLACE approved this one to take the place of (gone on this one's REPLACED report)."""
        self.acked = False

    @property
    def strategy_id(self) -> int:
        return self.key[0]

    def __repr__(self) -> str:
        return f"OpenOrder({self.key}, instrument {self.instrument_id}, side {self.side}, {self.leaves} @ {self.price})"


class StrategyOrders:
    """One strategy's open orders in one instrument."""

    __slots__ = ("count", "qty")

    def __init__(self) -> None:
        self.count = 0
        self.qty = [0, 0]
        """Leaves per side (``qty[BUY]``, ``qty[SELL]``), qty scale."""


class InstrumentOrders:
    """The account's open orders in one instrument (every strategy's)."""

    __slots__ = ("best", "count", "notional", "prices", "qty")

    def __init__(self) -> None:
        self.count = 0
        self.qty = [0, 0]
        self.notional = [0, 0]
        """Leaves x price per side, at the price scale + the qty scale."""
        self.prices: tuple[dict[int, int], dict[int, int]] = ({}, {})
        """Per side, cross price -> how many open orders have it."""
        self.best = [NO_BUY, NO_SELL]
        """The highest buy and the lowest sell cross price."""

    def best_excluding(self, side: int, order: OpenOrder) -> int:
        """``best[side]`` as it would be without ``order`` (a REPLACE's order is canceled first)."""
        best = self.best[side]
        if order.side != side or order.cross_price != best or self.prices[side][best] > 1:
            return best
        rest = [price for price in self.prices[side] if price != best]
        if not rest:
            return NO_BUY if side == BUY else NO_SELL
        return max(rest) if side == BUY else min(rest)


EMPTY_STRATEGY: Final = StrategyOrders()
"""What :meth:`OpenOrders.strategy` answers for a pair with no orders (never changed)."""
EMPTY_INSTRUMENT: Final = InstrumentOrders()


class OpenOrders:
    """The account's open orders, their totals and the ids seen (module docstring)."""

    __slots__ = ("_by_key", "_epochs", "_instruments", "_strategies", "seen", "unknown_reports")

    def __init__(self, seen_capacity: int = SEEN_CAPACITY) -> None:
        self._by_key: dict[OrderKey, OpenOrder] = {}
        self._strategies: dict[int, dict[int, StrategyOrders]] = {}
        self._instruments: dict[int, InstrumentOrders] = {}
        self._epochs: dict[int, int] = {}
        self.seen = SeenIds(seen_capacity)
        self.unknown_reports = 0
        """Reports about no order risk knows (another run's, or a duplicate end): ignored, counted."""

    # ------------------------------------------------------------------ reads (the hot path)
    def get(self, key: OrderKey) -> OpenOrder | None:
        return self._by_key.get(key)

    def strategy(self, strategy_id: int, instrument_id: int) -> StrategyOrders:
        """The strategy's open orders in the instrument (:data:`EMPTY_STRATEGY` when none ever)."""
        own = self._strategies.get(strategy_id)
        if own is None:
            return EMPTY_STRATEGY
        return own.get(instrument_id, EMPTY_STRATEGY)

    def instrument(self, instrument_id: int) -> InstrumentOrders:
        """The account's open orders in the instrument (:data:`EMPTY_INSTRUMENT` when none ever)."""
        return self._instruments.get(instrument_id, EMPTY_INSTRUMENT)

    def epoch_of(self, strategy_id: int) -> int:
        """The epoch of the strategy's latest approved order (0: none): what its reports' orders most likely use."""
        return self._epochs.get(strategy_id, 0)

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: OrderKey) -> bool:
        return key in self._by_key

    def orders(self) -> list[OpenOrder]:
        """Every open order (diagnostics, tests)."""
        return list(self._by_key.values())

    # ------------------------------------------------------------------ updates
    def add(
        self,
        key: OrderKey,
        instrument_id: int,
        side: int,
        price: int,
        cross_price: int | None,
        qty: int,
        replaces: OrderKey | None = None,
    ) -> OpenOrder:
        """An order risk approved (NEW, or a REPLACE's new order): pending, its whole quantity open."""
        order = OpenOrder(key, instrument_id, side, price, cross_price, qty, replaces)
        self._by_key[key] = order
        strategy_id = key[0]
        self._epochs[strategy_id] = key[1]
        by_instrument = self._strategies.get(strategy_id)
        if by_instrument is None:
            by_instrument = self._strategies[strategy_id] = {}
        own = by_instrument.get(instrument_id)
        if own is None:
            own = by_instrument[instrument_id] = StrategyOrders()
        account = self._instruments.get(instrument_id)
        if account is None:
            account = self._instruments[instrument_id] = InstrumentOrders()
        own.count += 1
        own.qty[side] += qty
        account.count += 1
        account.qty[side] += qty
        account.notional[side] += qty * price
        if cross_price is not None:
            prices = account.prices[side]
            prices[cross_price] = prices.get(cross_price, 0) + 1
            best = account.best[side]
            if (cross_price > best) if side == BUY else (cross_price < best):
                account.best[side] = cross_price
        return order

    def on_report(
        self, strategy_id: int, epoch: int, order_seq: int, exec_type: int, leaves_qty: int
    ) -> OpenOrder | None:
        """Apply one execution report; the order it is about (None: unknown, counted in :attr:`unknown_reports`)."""
        order = self._by_key.get((strategy_id, epoch, order_seq))
        if order is None:
            self.unknown_reports += 1
            return None
        if exec_type in _FILLS:
            self.set_leaves(order, leaves_qty)
        elif exec_type in _ACKS:
            order.acked = True
            if leaves_qty > 0:  # an ack says nothing ended: a zero here is not trusted to end the order
                self.set_leaves(order, leaves_qty)
        elif exec_type == _REPLACED:
            order.acked = True
            if leaves_qty > 0:
                self.set_leaves(order, leaves_qty)
            if order.replaces is not None:
                replaced = self._by_key.get(order.replaces)
                if replaced is not None:
                    self.remove(replaced)
                order.replaces = None
        elif exec_type in _ENDS:
            self.remove(order)
        elif exec_type != _CANCEL_REJECTED:  # a refused cancel leaves the order as it was
            self.unknown_reports += 1
        return order

    def set_leaves(self, order: OpenOrder, leaves: int) -> None:
        """The venue's leaves for ``order``; at zero (or below) the order is gone."""
        if leaves <= 0:
            self.remove(order)
            return
        delta = leaves - order.leaves
        if not delta:
            return
        order.leaves = leaves
        side = order.side
        self._strategies[order.key[0]][order.instrument_id].qty[side] += delta
        account = self._instruments[order.instrument_id]
        account.qty[side] += delta
        account.notional[side] += delta * order.price

    def remove(self, order: OpenOrder) -> None:
        """``order`` is no longer open (no-op when it was already removed)."""
        if self._by_key.pop(order.key, None) is None:
            return
        side, leaves = order.side, order.leaves
        own = self._strategies[order.key[0]][order.instrument_id]
        own.count -= 1
        own.qty[side] -= leaves
        account = self._instruments[order.instrument_id]
        account.count -= 1
        account.qty[side] -= leaves
        account.notional[side] -= leaves * order.price
        order.leaves = 0
        price = order.cross_price
        if price is None:
            return
        prices = account.prices[side]
        left = prices[price] - 1
        if left:
            prices[price] = left
            return
        del prices[price]
        if price == account.best[side]:
            if prices:
                account.best[side] = max(prices) if side == BUY else min(prices)
            else:
                account.best[side] = NO_BUY if side == BUY else NO_SELL
