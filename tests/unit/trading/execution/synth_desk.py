"""A synthetic book on two test instruments, with decimal-string helpers and price paths.

TST: price scale 2, tick 0.01, qty scale 3. ALT: price scale 4, tick 0.0005,
qty scale 1 (pegs round onto a tick that is not 1). Times are ns; every
market call of :class:`Desk` advances the clock by 1 ms unless told.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from hftpipe.schema.fixedpoint import parse_fixed
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import OrderSide
from stages.trading.execution.synthetic.actions import Action, Cancel, Release, Replace, StateChange, SynthState
from stages.trading.execution.synthetic.book import Spec, SyntheticBook

TST: Final = Instrument(id=1, venue="test", symbol="TSTUSDT", price_scale=2, qty_scale=3)
ALT: Final = Instrument(id=2, venue="test", symbol="ALTUSDT", price_scale=4, qty_scale=1, tick=5)
BUY, SELL = OrderSide.BUY, OrderSide.SELL
STRATEGY: Final = 7
MS: Final = 1_000_000


def price(text: str, instrument: Instrument = TST) -> int:
    return parse_fixed(text, instrument.price_scale)


def qty(text: str, instrument: Instrument = TST) -> int:
    return parse_fixed(text, instrument.qty_scale)


def releases(actions: Sequence[Action]) -> list[Release]:
    return [a for a in actions if isinstance(a, Release)]


def replaces(actions: Sequence[Action]) -> list[Replace]:
    return [a for a in actions if isinstance(a, Replace)]


def cancels(actions: Sequence[Action]) -> list[Cancel]:
    return [a for a in actions if isinstance(a, Cancel)]


def states(actions: Sequence[Action]) -> dict[int, SynthState]:
    """The last state each order showed in ``actions``."""
    return {a.synthetic_id: a.state for a in actions if isinstance(a, StateChange)}


class Desk:
    """A book and a clock: market calls return their actions, and every action is kept in ``log``."""

    def __init__(self, instruments: Sequence[Instrument] = (TST, ALT)) -> None:
        self.book = SyntheticBook(instruments)
        self.now = 1_000 * MS
        self.log: list[Action] = []

    def _keep(self, actions: Sequence[Action]) -> list[Action]:
        self.log.extend(actions)
        return list(actions)

    def tick(self, step: int = MS) -> int:
        self.now += step
        return self.now

    def trade(self, px: str, instrument: Instrument = TST) -> list[Action]:
        return self._keep(self.book.on_trade(instrument.id, price(px, instrument), 1, self.tick()))

    def quote(self, bid: str, ask: str, instrument: Instrument = TST, step: int = MS) -> list[Action]:
        bid_px = price(bid, instrument) if bid else 0
        ask_px = price(ask, instrument) if ask else 0
        return self._keep(self.book.on_book(instrument.id, bid_px, ask_px, self.tick(step)))

    def trades(self, path: Sequence[str], instrument: Instrument = TST) -> list[list[Action]]:
        return [self.trade(px, instrument) for px in path]

    def fired_at(self, path: Sequence[str], instrument: Instrument = TST) -> list[int]:
        """Steps of a last-price path that released something."""
        return [n for n, actions in enumerate(self.trades(path, instrument)) if releases(actions)]

    def fill(self, order_id: int, size: str, px: str = "100.00", instrument: Instrument = TST) -> list[Action]:
        return self._keep(self.book.on_fill(order_id, qty(size, instrument), price(px, instrument), self.tick()))

    def state(self, order_id: int) -> SynthState | None:
        found = self.book.state(order_id)
        return None if found is None else found.state

    def size(self, order_id: int) -> int:
        found = self.book.state(order_id)
        assert found is not None
        return found.qty

    # -- placing (the clock advances too) ---------------------------------------------------
    def place(self, spec: Spec) -> list[Action]:
        return self._keep(self.book.place(spec, self.tick()))

    def oco(self, first: Spec, second: Spec) -> list[Action]:
        return self._keep(self.book.place_oco(first, second, self.tick()))

    def oto(self, parent: Spec, *children: Spec) -> list[Action]:
        return self._keep(self.book.place_oto(parent, children, self.tick()))

    def bracket(self, parent: Spec, stop_loss: Spec, take_profit: Spec) -> list[Action]:
        return self._keep(self.book.place_bracket(parent, stop_loss, take_profit, self.tick()))


def on(
    order_id: int, side: OrderSide, size: str, instrument: Instrument = TST, strategy: int = STRATEGY
) -> dict[str, Any]:
    """The fields every spec shares, as keywords."""
    return {
        "id": order_id,
        "strategy_id": strategy,
        "instrument_id": instrument.id,
        "side": side,
        "qty": qty(size, instrument),
    }
