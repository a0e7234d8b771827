"""The flow's participants: what each role sends next, and what it learns from the reply.

A participant is a plain object with its own seeded ``random.Random``; it has
at most one request in flight (the stage waits for the reply, or for the
connection to drop, before asking for the next). So the requests it makes
are a function of the seed, the shared fair values when it is asked, and the
replies it got — and nothing else: no clock, no I/O. The tests drive them
with a scripted responder; the stage drives them with real clients.

Roles:

* :class:`MarketMaker` keeps ``LEVELS`` quotes a side per symbol around the
  fair value (LIMIT_MAKER, some LIMIT/GTC); when the fair value has moved it
  requotes the worst-placed level with ``order.cancelReplace`` (sometimes as
  ``order.cancel`` then ``order.place``); with nothing to fix it refreshes a
  random level's size. Every ``RECONCILE_EVERY`` requests it compares its
  quotes with ``openOrders.status`` (it learns of fills that way) and cancels
  orders it does not know.
* :class:`Taker` sends MARKET orders by ``quantity`` and by
  ``quoteOrderQty``, and crossing LIMIT/IOC orders; after an
  insufficient-balance reject it leans to the other side for a while.
* :class:`Canceller` rests orders away from the touch and cancels them,
  half by ``orderId``, half by ``origClientOrderId``.

Every participant starts each connection (``reset``) with
``openOrders.cancelAll`` per symbol: after a restart the journal brings its
old orders back, and it must not lose track of liquidity it cannot see.
A reply of ``None`` means "no reply" (timeout or disconnect): what happened
is unknown, so the participant forgets that symbol's orders and cancels them
all before going on.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from hftpipe.schema.exchange_errors import (
    CANCEL_REPLACE_FAILED,
    CANCEL_REPLACE_PARTIALLY_FAILED,
    INSUFFICIENT_BALANCE,
    UNKNOWN_ORDER,
)
from stages.exchange.flow.client import ApiResponse, ParamValue
from stages.exchange.flow.market import BPS, Market, SymbolRules
from stages.exchange.protocol.settings import FlowSettings

SIDES: Final = ("BUY", "SELL")
_GONE: Final = frozenset({UNKNOWN_ORDER.code, CANCEL_REPLACE_PARTIALLY_FAILED.code, CANCEL_REPLACE_FAILED.code})
"""cancelReplace answers after which the old quote is no longer resting (canceled, or already gone)."""


@dataclass(frozen=True, slots=True)
class Request:
    """One WebSocket API request, without ``apiKey``/``timestamp``/``recvWindow``/``signature``."""

    method: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    signed: bool = True


def _result(response: ApiResponse | None) -> Mapping[str, Any]:
    result = response.result if response is not None else None
    return result if isinstance(result, Mapping) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class Participant:
    role: ClassVar[str] = "participant"

    def __init__(self, account: str, seed: int, market: Market) -> None:
        self.account = account
        self.market = market
        self.rng = random.Random(f"flow:{seed}:{self.role}:{account}")
        self._id_prefix = f"{account[:20]}-"
        self._ids = 0
        self._cleanup: list[str] = []
        self._inflight: tuple[Any, ...] = ()
        self.reset()

    # -- the stage's interface ------------------------------------------------------------------------
    def reset(self) -> None:
        """A new connection: forget every order, cancel whatever is left of them first."""
        self._cleanup = list(self.market.symbols)
        self._inflight = ()

    def next_request(self) -> Request:
        if self._cleanup:
            symbol = self._cleanup.pop(0)
            self._inflight = ("cleanup", symbol)
            return Request("openOrders.cancelAll", {"symbol": symbol})
        return self._next()

    def on_response(self, request: Request, response: ApiResponse | None) -> None:
        """The reply to the last request (``None``: none came; its outcome is unknown)."""
        inflight, self._inflight = self._inflight, ()
        if inflight and inflight[0] == "cleanup":
            if response is None and inflight[1] not in self._cleanup:
                self._cleanup.append(inflight[1])
            return
        self._on_response(inflight, response)

    # -- for subclasses -------------------------------------------------------------------------------
    def _next(self) -> Request:
        raise NotImplementedError

    def _on_response(self, inflight: tuple[Any, ...], response: ApiResponse | None) -> None:
        raise NotImplementedError

    def _client_id(self) -> str:
        self._ids += 1
        return f"{self._id_prefix}{self._ids}"

    def _start_over(self, symbol: str) -> None:
        """After a request with no reply: cancel everything in ``symbol``, then go on."""
        if symbol not in self._cleanup:
            self._cleanup.append(symbol)
        self._forget(symbol)

    def _forget(self, symbol: str) -> None:
        """Drop what this participant believes is resting in ``symbol``."""

    def _rules(self, symbol: str) -> SymbolRules:
        return self.market.rules[symbol]


# ---------------------------------------------------------------------------------------- makers
@dataclass(slots=True)
class Quote:
    client_id: str
    price: int
    qty: int
    order_id: int = 0


SlotKey = tuple[str, str, int]
"""(symbol, side, level)"""


class MarketMaker(Participant):
    role: ClassVar[str] = "maker"
    LEVELS: ClassVar[int] = 3
    HALF_SPREAD_BPS: ClassVar[float] = 4.0
    LEVEL_GAP_BPS: ClassVar[float] = 3.0
    REQUOTE_BPS: ClassVar[float] = 1.5
    NOTIONAL: ClassVar[tuple[float, float]] = (300.0, 3000.0)
    GTC_SHARE: ClassVar[float] = 0.25
    CANCEL_THEN_PLACE_SHARE: ClassVar[float] = 0.2
    RECONCILE_EVERY: ClassVar[int] = 64

    def __init__(self, account: str, seed: int, market: Market) -> None:
        self._quotes: dict[SlotKey, Quote] = {}
        self._orphans: list[tuple[str, int]] = []
        self._since_reconcile = 0
        self._reconcile_turn = 0
        self._keys: tuple[SlotKey, ...] = tuple(
            (symbol, side, level) for symbol in market.symbols for side in SIDES for level in range(self.LEVELS)
        )
        super().__init__(account, seed, market)

    def reset(self) -> None:
        super().reset()
        self._quotes.clear()
        self._orphans.clear()
        self._since_reconcile = 0

    @property
    def quotes(self) -> Mapping[SlotKey, Quote]:
        return self._quotes

    def target(self, key: SlotKey) -> int:
        symbol, side, level = key
        fair = self.market.fair[symbol]
        offset = (self.HALF_SPREAD_BPS + level * self.LEVEL_GAP_BPS) * BPS
        if side == "BUY":
            return self._rules(symbol).price_near(fair * (1 - offset), round_up=False)
        return self._rules(symbol).price_near(fair * (1 + offset), round_up=True)

    def _next(self) -> Request:
        if self._orphans:
            symbol, order_id = self._orphans.pop(0)
            self._inflight = ("orphan", symbol)
            return Request("order.cancel", {"symbol": symbol, "orderId": order_id})
        self._since_reconcile += 1
        if self._since_reconcile > self.RECONCILE_EVERY:
            self._since_reconcile = 0
            symbol = self.market.symbols[self._reconcile_turn % len(self.market.symbols)]
            self._reconcile_turn += 1
            self._inflight = ("status", symbol)
            return Request("openOrders.status", {"symbol": symbol})
        empty = [key for key in self._keys if key not in self._quotes]
        if empty:
            return self._place(self.rng.choice(empty))
        worst, worst_bps = self._keys[0], -1.0
        for key in self._keys:
            target = self.target(key)
            off_bps = abs(self._quotes[key].price - target) / target / BPS
            if off_bps > worst_bps:
                worst, worst_bps = key, off_bps
        if worst_bps < self.REQUOTE_BPS:
            return self._replace(self.rng.choice(self._keys))
        if self.rng.random() < self.CANCEL_THEN_PLACE_SHARE:
            return self._cancel(worst)
        return self._replace(worst)

    def _new_quote(self, key: SlotKey) -> tuple[Quote, dict[str, ParamValue]]:
        symbol, side, level = key
        rules = self._rules(symbol)
        price = self.target(key)
        qty = rules.qty_for(self.rng.uniform(*self.NOTIONAL) * (1 + 0.5 * level), price)
        quote = Quote(self._client_id(), price, qty)
        order: dict[str, ParamValue] = {"side": side}
        if self.rng.random() < self.GTC_SHARE:
            order |= {"type": "LIMIT", "timeInForce": "GTC"}
        else:
            order["type"] = "LIMIT_MAKER"
        order |= {"price": rules.price_text(price), "quantity": rules.qty_text(qty), "newOrderRespType": "ACK"}
        return quote, order

    def _place(self, key: SlotKey) -> Request:
        quote, order = self._new_quote(key)
        self._inflight = ("place", key, quote)
        return Request("order.place", {"symbol": key[0], **order, "newClientOrderId": quote.client_id})

    def _replace(self, key: SlotKey) -> Request:
        old = self._quotes[key]
        quote, order = self._new_quote(key)
        target: dict[str, ParamValue] = (
            {"cancelOrderId": old.order_id}
            if old.order_id and self.rng.random() < 0.5
            else {"cancelOrigClientOrderId": old.client_id}
        )
        self._inflight = ("replace", key, quote)
        return Request(
            "order.cancelReplace",
            {
                "symbol": key[0],
                "cancelReplaceMode": "STOP_ON_FAILURE",
                **target,
                **order,
                "newClientOrderId": quote.client_id,
            },
        )

    def _cancel(self, key: SlotKey) -> Request:
        old = self._quotes[key]
        self._inflight = ("cancel", key)
        by: dict[str, ParamValue] = (
            {"orderId": old.order_id}
            if old.order_id and self.rng.random() < 0.5
            else {"origClientOrderId": old.client_id}
        )
        return Request("order.cancel", {"symbol": key[0], **by})

    def _on_response(self, inflight: tuple[Any, ...], response: ApiResponse | None) -> None:
        if not inflight:
            return
        kind = inflight[0]
        symbol = inflight[1][0] if isinstance(inflight[1], tuple) else inflight[1]
        if response is None:
            self._start_over(symbol)
            return
        if kind == "place" and response.ok:
            key, quote = inflight[1], inflight[2]
            quote.order_id = _int(_result(response).get("orderId"))
            self._quotes[key] = quote
        elif kind == "replace":
            key, quote = inflight[1], inflight[2]
            if response.ok:
                new = _result(response).get("newOrderResponse")
                quote.order_id = _int(new.get("orderId")) if isinstance(new, Mapping) else 0
                self._quotes[key] = quote
            elif response.code in _GONE:
                self._quotes.pop(key, None)  # canceled, or already gone (filled)
        elif kind == "cancel" and (response.ok or response.code == UNKNOWN_ORDER.code):
            self._quotes.pop(inflight[1], None)
        elif kind == "status" and response.ok and isinstance(response.result, list):
            self._reconcile(symbol, response.result)

    def _reconcile(self, symbol: str, orders: list[Any]) -> None:
        live = {
            str(o.get("clientOrderId")): _int(o.get("orderId"))
            for o in orders
            if isinstance(o, Mapping) and o.get("symbol", symbol) == symbol
        }
        for key in [k for k in self._keys if k[0] == symbol and k in self._quotes]:
            if self._quotes[key].client_id not in live:
                del self._quotes[key]  # filled (or canceled by someone else)
        known = {q.client_id for q in self._quotes.values()}
        self._orphans += [(symbol, oid) for cid, oid in live.items() if cid not in known and oid]

    def _forget(self, symbol: str) -> None:
        for key in [k for k in self._quotes if k[0] == symbol]:
            del self._quotes[key]
        self._orphans = [o for o in self._orphans if o[0] != symbol]


# ---------------------------------------------------------------------------------------- takers
class Taker(Participant):
    role: ClassVar[str] = "taker"
    NOTIONAL: ClassVar[tuple[float, float]] = (50.0, 500.0)
    MARKET_BY_QTY_SHARE: ClassVar[float] = 0.4
    MARKET_BY_QUOTE_SHARE: ClassVar[float] = 0.3
    IOC_CROSS_BPS: ClassVar[float] = 15.0
    LEAN_ORDERS: ClassVar[int] = 20

    def __init__(self, account: str, seed: int, market: Market) -> None:
        self._lean: dict[str, tuple[str, int]] = {}
        super().__init__(account, seed, market)

    def _side(self, symbol: str) -> str:
        side, left = self._lean.get(symbol, ("", 0))
        if left > 0:
            self._lean[symbol] = (side, left - 1)
            return side
        return self.rng.choice(SIDES)

    def _next(self) -> Request:
        symbol = self.rng.choice(self.market.symbols)
        rules = self._rules(symbol)
        side = self._side(symbol)
        notional = max(self.rng.uniform(*self.NOTIONAL), 2 * rules.min_quote())
        fair = self.market.fair[symbol]
        kind = self.rng.random()
        order: dict[str, ParamValue] = {"symbol": symbol, "side": side}
        if kind < self.MARKET_BY_QTY_SHARE:
            qty = rules.qty_for(notional, rules.price_near(fair, round_up=False))
            order |= {"type": "MARKET", "quantity": rules.qty_text(qty)}
        elif kind < self.MARKET_BY_QTY_SHARE + self.MARKET_BY_QUOTE_SHARE:
            order |= {"type": "MARKET", "quoteOrderQty": rules.quote_text(notional)}
        else:
            cross = self.IOC_CROSS_BPS * BPS
            price = (
                rules.price_near(fair * (1 + cross), round_up=True)
                if side == "BUY"
                else rules.price_near(fair * (1 - cross), round_up=False)
            )
            order |= {
                "type": "LIMIT",
                "timeInForce": "IOC",
                "price": rules.price_text(price),
                "quantity": rules.qty_text(rules.qty_for(notional, price)),
            }
        order |= {"newClientOrderId": self._client_id(), "newOrderRespType": "FULL"}
        self._inflight = ("order", symbol, side)
        return Request("order.place", order)

    def _on_response(self, inflight: tuple[Any, ...], response: ApiResponse | None) -> None:
        if not inflight or response is None:
            return  # a taker leaves nothing resting: nothing to clean up
        _, symbol, side = inflight
        if (response.code, response.msg) == INSUFFICIENT_BALANCE:
            self._lean[symbol] = ("SELL" if side == "BUY" else "BUY", self.LEAN_ORDERS)


# ---------------------------------------------------------------------------------------- cancellers
@dataclass(slots=True)
class Resting:
    symbol: str
    client_id: str
    order_id: int = 0


class Canceller(Participant):
    role: ClassVar[str] = "canceller"
    MAX_OPEN: ClassVar[int] = 6
    CANCEL_SHARE: ClassVar[float] = 0.45
    AWAY_BPS: ClassVar[tuple[float, float]] = (50.0, 300.0)
    NOTIONAL: ClassVar[tuple[float, float]] = (20.0, 200.0)

    def __init__(self, account: str, seed: int, market: Market) -> None:
        self._open: list[Resting] = []
        super().__init__(account, seed, market)

    def reset(self) -> None:
        super().reset()
        self._open.clear()

    @property
    def resting(self) -> list[Resting]:
        return self._open

    def _next(self) -> Request:
        if self._open and (len(self._open) >= self.MAX_OPEN or self.rng.random() < self.CANCEL_SHARE):
            order = self._open[self.rng.randrange(len(self._open))]
            by_client_id = not order.order_id or self.rng.random() < 0.5
            by: dict[str, ParamValue] = (
                {"origClientOrderId": order.client_id} if by_client_id else {"orderId": order.order_id}
            )
            self._inflight = ("cancel", order.symbol, order)
            return Request("order.cancel", {"symbol": order.symbol, **by})
        symbol = self.rng.choice(self.market.symbols)
        rules = self._rules(symbol)
        side = self.rng.choice(SIDES)
        away = self.rng.uniform(*self.AWAY_BPS) * BPS
        fair = self.market.fair[symbol]
        price = (
            rules.price_near(fair * (1 - away), round_up=False)
            if side == "BUY"
            else rules.price_near(fair * (1 + away), round_up=True)
        )
        qty = rules.qty_for(max(self.rng.uniform(*self.NOTIONAL), 2 * rules.min_quote()), price)
        resting = Resting(symbol, self._client_id())
        self._inflight = ("place", symbol, resting)
        return Request(
            "order.place",
            {
                "symbol": symbol,
                "side": side,
                "type": "LIMIT",
                "timeInForce": "GTC",
                "price": rules.price_text(price),
                "quantity": rules.qty_text(qty),
                "newClientOrderId": resting.client_id,
                "newOrderRespType": "RESULT",
            },
        )

    def _on_response(self, inflight: tuple[Any, ...], response: ApiResponse | None) -> None:
        if not inflight:
            return
        kind, symbol, order = inflight
        if response is None:
            self._start_over(symbol)
        elif kind == "place" and response.ok:
            result = _result(response)
            if result.get("status", "NEW") in ("NEW", "PARTIALLY_FILLED"):
                order.order_id = _int(result.get("orderId"))
                self._open.append(order)
        elif kind == "cancel" and (response.ok or response.code == UNKNOWN_ORDER.code):
            self._open = [o for o in self._open if o is not order]

    def _forget(self, symbol: str) -> None:
        self._open = [o for o in self._open if o.symbol != symbol]


ROLES: Final[dict[str, type[Participant]]] = {"makers": MarketMaker, "takers": Taker, "cancellers": Canceller}


def build_participants(flow: FlowSettings, market: Market) -> list[Participant]:
    """Makers, then takers, then cancellers, in the configured order (the seeds depend on role and account)."""
    return [
        ROLES[role](account, flow.seed, market)
        for role, accounts in (("makers", flow.makers), ("takers", flow.takers), ("cancellers", flow.cancellers))
        for account in accounts
    ]
