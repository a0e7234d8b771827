"""Binance's rate limits: REQUEST_WEIGHT per IP per minute, ORDERS per account per 10 s and per day.

Binance counts in fixed intervals that start on round boundaries ("a 1 MINUTE
interval starts every minute", "10 SECOND ... resets at 00, 10, 20... seconds",
"1 DAY resets at 00:00 UTC"), so each counter here is (interval start, count).
Every response carries a ``rateLimits`` array with the current counts of the
limits the request touched, unless the client asked for ``returnRateLimits``
false.

Exemptions (``order_rate_exempt`` keys, the flow generator's): the ORDERS
limits are not enforced for them, and neither is REQUEST_WEIGHT. Binance keys
have no such thing; here every client shares one IP (loopback), and the flow
generator alone would use up that IP's weight and lock real clients out.
Counts are still kept and shown for them. A request is exempt only once such a
key authenticated it (the session's logon, or a valid signature on the request:
see ``GatewayApi._exempt``); an unsigned ``apiKey`` proves nothing.

Connections: at most ``connections_per_5min`` WebSocket handshakes per IP per
5-minute interval (Binance: "300 connections per attempt every 5 minutes").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from hftpipe.schema.exchange_errors import too_many_orders, too_much_weight
from stages.exchange.protocol.api_error import ApiError
from stages.exchange.protocol.settings import RateLimitSettings

MINUTE_MS: Final = 60_000
TEN_SECONDS_MS: Final = 10_000
DAY_MS: Final = 86_400_000
FIVE_MINUTES_MS: Final = 300_000
_MAX_TRACKED: Final = 100_000
"""IPs / accounts remembered at most (the oldest interval is forgotten first)."""


@dataclass(slots=True)
class Window:
    """A fixed-interval counter."""

    length_ms: int
    start_ms: int = -1
    count: int = 0

    def current(self, now_ms: int) -> int:
        start = now_ms - now_ms % self.length_ms
        if start != self.start_ms:
            self.start_ms = start
            self.count = 0
        return self.count

    def reset_at(self) -> int:
        return self.start_ms + self.length_ms


@dataclass(slots=True)
class OrderCounters:
    ten_seconds: Window
    day: Window


class RateLimiter:
    def __init__(self, limits: RateLimitSettings) -> None:
        self.limits = limits
        self._weights: dict[str, Window] = {}
        self._connections: dict[str, Window] = {}
        self._orders: dict[int, OrderCounters] = {}

    # -- REQUEST_WEIGHT ---------------------------------------------------------------------------
    def weight_window(self, ip: str) -> Window:
        window = self._weights.get(ip)
        if window is None:
            if len(self._weights) >= _MAX_TRACKED:
                self._weights.pop(next(iter(self._weights)))
            window = self._weights[ip] = Window(MINUTE_MS)
        return window

    def add_weight(self, ip: str, weight: int, now_ms: int, exempt: bool = False) -> None:
        """Count ``weight`` for ``ip``; ``ApiError`` -1003 (429) when that goes over the limit."""
        window = self.weight_window(ip)
        window.current(now_ms)
        if exempt:
            return
        window.count += weight
        limit = self.limits.request_weight_per_minute
        if window.count > limit:
            raise ApiError.of(
                too_much_weight(limit), status=429, data={"serverTime": now_ms, "retryAfter": window.reset_at()}
            )

    def weight_used(self, ip: str, now_ms: int) -> int:
        return self.weight_window(ip).current(now_ms)

    # -- ORDERS -----------------------------------------------------------------------------------
    def _order_counters(self, account: int) -> OrderCounters:
        counters = self._orders.get(account)
        if counters is None:
            if len(self._orders) >= _MAX_TRACKED:
                self._orders.pop(next(iter(self._orders)))
            counters = self._orders[account] = OrderCounters(Window(TEN_SECONDS_MS), Window(DAY_MS))
        return counters

    def add_order(self, account: int, now_ms: int, exempt: bool = False) -> None:
        """Count one new order for ``account``; ``ApiError`` -1015 (429) if a limit is already used up."""
        counters = self._order_counters(account)
        short, day = counters.ten_seconds.current(now_ms), counters.day.current(now_ms)
        if not exempt:
            if short >= self.limits.orders_per_10s:
                raise self._too_many_orders(self.limits.orders_per_10s, "10 SECOND")
            if day >= self.limits.orders_per_day:
                raise self._too_many_orders(self.limits.orders_per_day, "1 DAY")
        counters.ten_seconds.count += 1
        counters.day.count += 1

    @staticmethod
    def _too_many_orders(limit: int, interval: str) -> ApiError:
        return ApiError.of(too_many_orders(limit, interval), status=429)

    # -- connections ------------------------------------------------------------------------------
    def add_connection(self, ip: str, now_ms: int) -> bool:
        """Count a handshake; False when the IP is over its connection limit."""
        window = self._connections.get(ip)
        if window is None:
            if len(self._connections) >= _MAX_TRACKED:
                self._connections.pop(next(iter(self._connections)))
            window = self._connections[ip] = Window(FIVE_MINUTES_MS)
        window.current(now_ms)
        window.count += 1
        return window.count <= self.limits.connections_per_5min

    def order_status(self, account: int, now_ms: int) -> list[dict[str, Any]]:
        """``GET /api/v3/rateLimit/order``: the account's ORDERS counts (asking counts nothing)."""
        counters = self._order_counters(account)
        return [
            _entry("ORDERS", "SECOND", 10, self.limits.orders_per_10s, counters.ten_seconds.current(now_ms)),
            _entry("ORDERS", "DAY", 1, self.limits.orders_per_day, counters.day.current(now_ms)),
        ]

    # -- the rateLimits array ---------------------------------------------------------------------
    def status(self, ip: str, now_ms: int, account: int | None = None) -> list[dict[str, Any]]:
        """``rateLimits`` for a response: the ORDERS counts first when ``account`` placed an order."""
        out: list[dict[str, Any]] = []
        if account is not None:
            out += self.order_status(account, now_ms)
        out.append(
            _entry("REQUEST_WEIGHT", "MINUTE", 1, self.limits.request_weight_per_minute, self.weight_used(ip, now_ms))
        )
        return out


def _entry(kind: str, interval: str, interval_num: int, limit: int, count: int) -> dict[str, Any]:
    return {"rateLimitType": kind, "interval": interval, "intervalNum": interval_num, "limit": limit, "count": count}
