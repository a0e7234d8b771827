"""Properties on random price paths: every trigger fires at most once, and exactly when its condition first holds.

An independent model (exact fractions, no sorted levels) says, for each
order, at which point of the path its condition first holds: at placement
(the price last seen already reaches the level) or at the n-th market event.
The book must release the order there and nowhere else. Orders are stops,
take-profits and trailing stops (offset or percent) on last, bid/ask and
mid, placed between the events; some are paired into OCOs, where exactly the
leg whose condition holds first fires (at its own point) and the other never.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hftpipe.schema.trading import OrderSide
from stages.trading.execution.synthetic.actions import Action, Release
from stages.trading.execution.synthetic.book import Spec, SyntheticBook
from stages.trading.execution.synthetic.stop import Stop, TakeProfit
from stages.trading.execution.synthetic.trailing import TrailingStop
from stages.trading.execution.synthetic.trigger import Trigger
from tests.unit.trading.execution.synth_desk import TST

BASE = 10_000  # 100.00 at TST's scale
Point = tuple[int, int]
"""Where something happened: ``(n, 0)`` placing before event n, ``(n, 1)`` event n itself."""


@dataclass(frozen=True)
class Event:
    trade: bool
    price: int = 0
    bid: int = 0
    ask: int = 0


@dataclass(frozen=True)
class Order:
    kind: str  # "stop", "take_profit", "trail_offset", "trail_percent"
    side: OrderSide
    trigger: Trigger
    amount: int
    at: int  # placed before this event

    def level(self) -> int:
        """A stop's or take-profit's level: from 3 ticks on the near side of BASE to 10 on the far side."""
        distance = self.amount // 3 - 3
        return BASE + (distance if _fires_up(self) else -distance)

    def trail(self) -> int:
        """A trail's offset in ticks, or its percent in hundredths: 1 to 11 (ticks, at BASE)."""
        return self.amount // 4 + 1


@st.composite
def _events(draw: st.DrawFn) -> list[Event]:
    """A random walk of trades and books (some one-sided, some crossed); tick by tick unless it is a jumpy one."""
    jumpy = draw(st.booleans())
    move = st.integers(-40, 40) if jumpy else st.integers(-2, 2)  # tick by tick: levels are hit exactly
    step = st.tuples(st.booleans(), move, st.integers(-1, 6), st.sampled_from([0, 0, 0, 0, 1, 2]))
    events, mid = [], BASE
    for trade, change, spread, empty in draw(st.lists(step, min_size=1, max_size=80)):
        mid = max(mid + change, 100)
        if trade:
            events.append(Event(True, price=mid))
        else:
            bid, ask = mid - spread // 2, mid - spread // 2 + spread
            events.append(Event(False, bid=0 if empty == 1 else bid, ask=0 if empty == 2 else ask))
    return events


@st.composite
def _creep(draw: st.DrawFn) -> list[Event]:
    """Trades only, or two-sided books only, creeping a tick or two at a time: every new best is a small one."""
    trades = draw(st.booleans())
    events, mid = [], BASE
    for change, spread in draw(st.lists(st.tuples(st.integers(-2, 2), st.integers(0, 3)), min_size=1, max_size=120)):
        mid += change
        events.append(Event(True, price=mid) if trades else Event(False, bid=mid, ask=mid + spread))
    return events


KINDS = ("stop", "take_profit", "trail_offset", "trail_percent")


def _orders(events: int, kinds: tuple[str, ...] = KINDS) -> st.SearchStrategy[list[Order]]:
    order = st.builds(
        Order,
        kind=st.sampled_from(kinds),
        side=st.sampled_from(list(OrderSide)),
        trigger=st.sampled_from(list(Trigger)),
        amount=st.integers(1, 40),
        at=st.one_of(st.just(0), st.integers(0, events)),
    )
    return st.lists(order, min_size=1, max_size=12)


# ------------------------------------------------------------------------------------------ the model
def _ref(order: Order, bid: int, ask: int, last: int, event: Event | None) -> Fraction | None:
    """The order's reference price now (an exact mid), or None when unknown / not fed by ``event``."""
    if event is not None and event.trade != (order.trigger is Trigger.LAST):
        return None
    if order.trigger is Trigger.LAST:
        return Fraction(last) if last else None
    if order.trigger is Trigger.MID:
        return Fraction(bid + ask, 2) if bid > 0 and ask > 0 else None
    side_price = ask if order.side is OrderSide.BUY else bid
    return Fraction(side_price) if side_price > 0 else None


def _fires_up(order: Order) -> bool:
    buy = order.side is OrderSide.BUY
    return buy if order.kind != "take_profit" else not buy


def _reached(order: Order, ref: Fraction, best: Fraction | None) -> bool:
    up = _fires_up(order)
    if order.kind in ("stop", "take_profit"):
        level = Fraction(order.level())
    else:
        assert best is not None
        if order.kind == "trail_offset":
            level = best + order.trail() if up else best - order.trail()
        else:
            ratio = Fraction(order.trail(), 10_000)
            level = best * (1 + ratio) if up else best * (1 - ratio)
    return ref >= level if up else ref <= level


def _expected(order: Order, events: list[Event]) -> Point | None:
    """Where the order's condition first holds, by the model."""
    last = bid = ask = 0
    best: Fraction | None = None
    trailing = order.kind.startswith("trail")
    for n, event in enumerate([*events, Event(True)]):
        if n == order.at:
            ref = _ref(order, bid, ask, last, None)
            if ref is not None:
                if trailing:
                    best = ref
                elif _reached(order, ref, None):
                    return (n, 0)
        if n == len(events):
            return None
        if event.trade:
            last = event.price
        else:
            bid, ask = event.bid, event.ask
        ref = _ref(order, bid, ask, last, event) if n >= order.at else None
        if ref is None:
            continue
        if not trailing:
            if _reached(order, ref, None):
                return (n, 1)
        elif best is None:
            best = ref
        elif _reached(order, ref, best):
            return (n, 1)
        elif ref < best if _fires_up(order) else ref > best:
            best = ref
    return None


# ------------------------------------------------------------------------------------------- the book
def _spec(order_id: int, order: Order) -> Spec:
    common: dict[str, Any] = {"id": order_id, "strategy_id": 1, "instrument_id": TST.id, "side": order.side}
    common["qty"] = 1000
    if order.kind == "stop":
        return Stop(**common, stop_price=order.level(), trigger=order.trigger)
    if order.kind == "take_profit":
        return TakeProfit(**common, stop_price=order.level(), trigger=order.trigger)
    if order.kind == "trail_offset":
        return TrailingStop(**common, offset=order.trail(), trigger=order.trigger)
    return TrailingStop(**common, percent=Decimal(order.trail()) / 100, trigger=order.trigger)


def _run(
    orders: list[Order], events: list[Event], pairs: int
) -> tuple[dict[int, list[Point]], dict[int, list[int | None]]]:
    """Place (the first ``2 × pairs`` orders as OCO pairs, by index) and feed; releases and trail levels by id."""
    book = SyntheticBook([TST])
    released: dict[int, list[Point]] = {n: [] for n in range(len(orders))}
    levels: dict[int, list[int | None]] = {n: [] for n, o in enumerate(orders) if o.kind.startswith("trail")}

    def note(actions: Sequence[Action], point: Point) -> None:
        for action in actions:
            if isinstance(action, Release):
                released[action.synthetic_id].append(point)

    for n in range(len(events) + 1):
        for i, order in enumerate(orders):
            if order.at != n:
                continue
            if i < 2 * pairs and i % 2 == 1:
                continue  # placed with its first leg
            if i < 2 * pairs:  # the second leg carries the first one's ``at``
                note(book.place_oco(_spec(i, order), _spec(i + 1, orders[i + 1]), n), (n, 0))
            else:
                note(book.place(_spec(i, order), n), (n, 0))
        if n == len(events):
            break
        event = events[n]
        if event.trade:
            note(book.on_trade(TST.id, event.price, 1, n), (n, 1))
        else:
            note(book.on_book(TST.id, event.bid, event.ask, n), (n, 1))
        for i, found in levels.items():
            found.append(book.trigger_level(i))
    return released, levels


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_on_random_paths_each_trigger_fires_at_most_once_and_exactly_when_its_condition_first_holds(
    data: st.DataObject,
) -> None:
    events = data.draw(_events(), label="events")
    orders = data.draw(_orders(len(events)), label="orders")
    released, _ = _run(orders, events, pairs=0)
    for n, order in enumerate(orders):
        expected = _expected(order, events)
        assert released[n] == ([] if expected is None else [expected]), (n, order)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_trailing_stop_takes_every_new_best_however_small_and_fires_exactly_at_its_trail(
    data: st.DataObject,
) -> None:
    events = data.draw(_creep(), label="events")
    orders = data.draw(_orders(len(events), ("trail_offset", "trail_percent")), label="orders")
    released, _ = _run(orders, events, pairs=0)
    for n, order in enumerate(orders):
        expected = _expected(order, events)
        assert released[n] == ([] if expected is None else [expected]), (n, order)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_trail_level_never_moves_against_the_order(data: st.DataObject) -> None:
    events = data.draw(_events(), label="events")
    orders = data.draw(_orders(len(events)), label="orders")
    _, levels = _run(orders, events, pairs=0)
    for n, found in levels.items():
        armed = [level for level in found if level is not None]
        up = _fires_up(orders[n])
        assert armed == (sorted(armed, reverse=True) if up else sorted(armed)), (n, orders[n])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_of_an_oco_pair_only_the_leg_whose_condition_holds_first_fires(data: st.DataObject) -> None:
    events = data.draw(_events(), label="events")
    orders = data.draw(_orders(len(events)).filter(lambda found: len(found) >= 2), label="orders")
    pairs = len(orders) // 2
    orders = [o if i % 2 == 0 or i >= 2 * pairs else Order(o.kind, o.side, o.trigger, o.amount, orders[i - 1].at)
              for i, o in enumerate(orders)]  # fmt: skip
    released, _ = _run(orders, events, pairs)
    for p in range(pairs):
        a, b = 2 * p, 2 * p + 1
        fired = [leg for leg in (a, b) if released[leg]]
        assert len(fired) <= 1, (orders[a], orders[b], released[a], released[b])
        points = [point for point in (_expected(orders[a], events), _expected(orders[b], events)) if point]
        if not points:
            assert fired == []
            continue
        first = min(points)
        assert len(fired) == 1
        assert released[fired[0]] == [first]
        assert _expected(orders[fired[0]], events) == first
