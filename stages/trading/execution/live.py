"""Live trading on Binance's WebSocket API: intents through the OMS to :class:`~.binance.client.BinanceWsApiClient`.

Each approved intent is applied to the OMS at once (submit, cancel or
replace request) and its request goes out at once too: the limiter asked and
the bytes handed to the socket while the intent is handled (no turn of the
event loop before they leave: :meth:`~.binance.client.BinanceWsApiClient.start`);
the answer is awaited in a task of its own (:class:`FirstTry`), so the ring
is never held up by the venue. A request the limiter holds, or one the socket
cannot take at once, waits in that task instead, as every request did before. Answers and the user data stream's
``executionReport`` s are applied to the OMS by client order id; what it
publishes goes to ``emit(report, cause)``.

* An answer that does not come (:class:`~.binance.errors.OutcomeUnknown`):
  the order is UNKNOWN (``Oms.timed_out``) and ``order.status`` asks what
  became of it. Nothing is ever sent again.
* A refusal (:class:`~.binance.errors.RejectedError`, or any other error
  answer: it did not run): REJECTED (CANCEL_REJECTED for a cancel) with the
  venue's code.
* REPLACE is ``order.cancelReplace`` with ``STOP_ON_FAILURE``; -2022 means
  the cancel failed (the old order stands), -2021 the new order failed.
* A CANCEL of an order that is not open (or that the OMS never saw) is
  CANCEL_REJECTED (UNKNOWN_ORDER) at once; nothing is sent.
* CANCEL_ALL cancels, one ``order.cancel`` each, the open orders the OMS
  holds for that strategy on that instrument, not ``openOrders.cancelAll``:
  that one cancels the whole symbol's, every strategy's and anyone else's.
* On connecting (and on each reconnect): ``exchangeInfo`` seeds the rate
  limiter's windows, then ``openOrders.status`` and ``order.status`` for what
  it did not show, then ``Oms.reconcile``. A reconnect is make before break
  (the client's ``max_connection_age_s``, before Binance's 24 h): the new
  connection is logged on, subscribed and reconciled before the old one
  closes; what both deliver meanwhile is applied once (the client drops a
  repeated execution id, the OMS a repeated trade id or cumulative quantity).
  A connection that drops is replaced with jittered backoff until it comes
  back.
* The rate limiter gates every request (its windows from ``exchangeInfo``,
  corrected by every answer's ``rateLimits``); a request it holds waits its
  turn (``limiter.waits`` counts them). A 429 / 418 anyway holds everything
  until the venue's ``retryAfter``; that request, and one refused as
  transient (-1001, -1008), did not run and goes again as
  :class:`~.retry.RetryPolicy` says.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from hftpipe.schema.exchange import OrderStatus, ReplaceOutcome
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import (
    ExecType,
    IntentAction,
    OrderType,
    RejectReason,
    TimeInForce,
    client_order_id,
)
from stages.trading.execution.binance.client import (
    DEFAULT_MAX_CONNECTION_AGE_S,
    BinanceWsApiClient,
    Credentials,
    OtherEvent,
    Sent,
)
from stages.trading.execution.binance.errors import (
    BackOffError,
    BannedError,
    BinanceError,
    OutcomeUnknown,
    TransientError,
    VenueError,
)
from stages.trading.execution.binance.messages import (
    ExecutionReport,
    MessageError,
    OrderSnapshot,
    RateLimit,
    VenueExecType,
    intent_order_params,
    parse_order,
)
from stages.trading.execution.intent_new import submit_new
from stages.trading.execution.oms import NOT_FOUND_CODE, Oms
from stages.trading.execution.oms_order import OmsOrder, OrderKey
from stages.trading.execution.oms_reports import Report, Result
from stages.trading.execution.oms_venue import VenueOrder, VenueView
from stages.trading.execution.paper_bridge import NO_CAUSE, Cause, unknown_order
from stages.trading.execution.rate_limiter import RateLimiter, RequestKind
from stages.trading.execution.retry import Action, RetryPolicy, Verdict

CANCEL_FAILED_CODE: Final = -2022
NEW_FAILED_CODE: Final = -2021
_STATUS: Final = {
    "NEW": OrderStatus.NEW,
    "PENDING_NEW": OrderStatus.NEW,
    "PENDING_CANCEL": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED_IN_MATCH,
}
_OPEN_STATUSES: Final = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})
_TYPES: Final = {"LIMIT": OrderType.LIMIT, "MARKET": OrderType.MARKET, "LIMIT_MAKER": OrderType.LIMIT_MAKER}
_TIFS: Final = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
_KINDS: Final = {Action.PLACE: RequestKind.ORDER, Action.REPLACE: RequestKind.ORDER}
EXCHANGE_INFO_WEIGHT: Final = 20
OPEN_ORDERS_WEIGHT: Final = 6
"""``openOrders.status`` of one symbol (80 for every symbol: asked per symbol instead)."""
ORDER_STATUS_WEIGHT: Final = 4
RETRY: Final = RetryPolicy(base_ns=50_000_000, cap_ns=2_000_000_000, max_attempts=5, max_age_ns=5_000_000_000)
"""Requests the venue did not run (transient, or over a limit after all): again after 50 ms .. 2 s of jitter;
an order not placed within 5 s is dropped (REJECTED): the book it was priced on is gone."""
RECONNECT: Final = RetryPolicy(base_ns=100_000_000, cap_ns=2_000_000_000, max_attempts=1 << 30)

Emit = Callable[[Report, Cause], None]


@dataclass(slots=True)
class FirstTry:
    """A request's first try, made at once from the intent (no turn of the event loop before its bytes leave);
    its task takes it from there (:meth:`LiveVenue._request`)."""

    began: int
    """When it was first asked for (monotonic ns): the retry policy's age."""
    wait_ns: int = 0
    """The limiter held it: this long before it asks again (nothing was counted, nothing sent)."""
    sent: Sent | None = None
    """Let go: the request, its bytes on the socket (or to be written by its answer's wait)."""
    error: Exception | None = None
    """Let go, and sending it raised (no connection): raised in its task, as a send there would have."""


def venue_order(snapshot: OrderSnapshot, instrument: int) -> VenueOrder:
    """An ``order.status`` / ``openOrders.status`` / placement answer as the OMS reads it."""
    return VenueOrder(
        snapshot.client_order_id,
        snapshot.order_id,
        instrument,
        snapshot.side,
        _TYPES.get(snapshot.order_type, OrderType.LIMIT),
        _TIFS.get(snapshot.time_in_force, TimeInForce.GTC),
        snapshot.price,
        snapshot.orig_qty,
        snapshot.executed_qty,
        snapshot.cum_quote,
        _STATUS[str(snapshot.status)],
    )


_FILLS: Final = frozenset({ExecType.PARTIAL_FILL, ExecType.FILL})
"""An intent's enum fields by value: dict look-ups, not Enum calls, on the way to the socket (a value not there
goes through the Enum calls, for their error)."""


class LiveVenue:
    """The OMS in front of one Binance WS API connection (module docstring)."""

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        instruments: list[Instrument],
        emit: Emit,
        *,
        request_timeout_s: float = 10.0,
        max_connection_age_s: float = DEFAULT_MAX_CONNECTION_AGE_S,
        oms: Oms | None = None,
        logger: logging.Logger | None = None,
        on_tick_to_order: Callable[[int], None] | None = None,
        on_order_ack: Callable[[int], None] | None = None,
        on_fill: Callable[[int], None] | None = None,
    ) -> None:
        self.logger = logger if logger is not None else logging.getLogger("hftpipe.execution.live")
        self._on_tick_to_order = on_tick_to_order
        """Gets send time − the causing tick's ``ts_origin`` per order placed (the stage's ``tick_to_order``)."""
        self._on_order_ack = on_order_ack
        """Gets each order's round trip, request bytes on the socket → the venue's answer (``order_ack``)."""
        self._on_fill = on_fill
        """Gets request bytes on the socket → the order's first fill, once per order that fills (``fill``)."""
        self._sent_ns: dict[OrderKey, int] = {}
        self._unfilled_since: dict[OrderKey, int] = {}
        """Orders sent and not yet filled: when their request went out."""
        self._tick_caused: set[OrderKey] = set()
        self.oms = oms if oms is not None else Oms(logger=self.logger)
        self.instruments = {i.id: i for i in instruments}
        self._by_symbol = {i.symbol: i for i in instruments}
        self.emit = emit
        self.client = BinanceWsApiClient(
            url,
            credentials,
            instruments,
            request_timeout_s=request_timeout_s,
            max_connection_age_s=max_connection_age_s,
            on_rate_limits=self._on_rate_limits,
            on_ready=self._on_ready,
            on_disconnect=self._on_disconnect,
        )
        self.limiter = RateLimiter(())
        """Its windows come from ``exchangeInfo`` at (re)connect and from any answer's ``rateLimits``."""
        self.retries = 0
        """Requests sent again: the venue did not run them (transient, 429, 418)."""
        self.reconnects = 0
        self._closing = False
        self._renewing = False
        self.refusals: dict[str, int] = {}
        self.stale_answers = 0
        self.not_sent = 0
        """Requests that never left (no connection): their orders REJECTED (reason VENUE, no venue code)."""
        """Placement answers showing an order open that a user data report had already closed: not applied."""
        """The venue's refusals by method, code and message (``"order.place -2010 Duplicate order sent."``)."""
        self.tasks: set[asyncio.Task[None]] = set()
        self._causes: dict[OrderKey, Cause] = {}
        self.sent = 0
        self.errors = 0

    @property
    def connected(self) -> bool:
        return self.client.connected

    # -- the connection ------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.client.connect()
        await self.seed_limits()
        await self.client.subscribe_user_data(self._on_event)
        await self.reconcile()

    async def close(self) -> None:
        self._closing = True
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.client.close()

    async def seed_limits(self) -> None:
        """``exchangeInfo``'s ``rateLimits``: every window known before the first order (an ORDERS window
        learnt from the first order's answer would come too late for a burst)."""
        info = await self._request(
            Action.QUERY, EXCHANGE_INFO_WEIGHT, lambda: self.client.exchange_info(self._by_symbol)
        )
        limits = info.get("rateLimits") if isinstance(info, Mapping) else None
        if not isinstance(limits, list):
            self.logger.warning("exchangeInfo without rateLimits: the limiter learns them from answers")
            return
        self.limiter.on_response(limits, self._venue_now())

    async def reconcile(self) -> None:
        """``openOrders.status`` per symbol, ``order.status`` for every open order they did not show, then
        ``Oms.reconcile``."""
        as_of = time.monotonic_ns()
        opened: list[VenueOrder] = []
        for symbol, instrument in self._by_symbol.items():
            answer = await self._request(Action.QUERY, OPEN_ORDERS_WEIGHT, partial(self.client.open_orders, symbol))
            opened.extend(venue_order(parse_order(raw, instrument), instrument.id) for raw in answer)
        shown = {o.client_id for o in opened}
        statuses: dict[OrderKey, VenueOrder | None] = {}
        for order in self.oms.open_orders():
            if order.client_id not in shown and not order.adopted:
                statuses[order.key] = await self._status(order, again=False)
        result = self.oms.reconcile(VenueView(opened, None, statuses, as_of), now=as_of)
        for report in result.reports:
            self.emit(report, self._causes.get(report.order.key, NO_CAUSE))

    async def _on_ready(self, reason: str) -> None:
        """A new connection is current, the old one (if any) not closed yet: limits, then reconcile.

        Once: this runs while the client holds its connection switch. If it fails, a task of its own tries
        again on this connection (with backoff) until it succeeds, or leaves it to the next reconnect's.
        """
        self.reconnects += 1
        try:
            await self.seed_limits()
            await self.reconcile()
        except VenueError as exc:
            self.logger.warning("reconcile after a reconnect (%s) failed: %s; trying again", reason, exc)
            self._spawn(self._reconcile_until_done(self.reconnects))

    async def _reconcile_until_done(self, generation: int) -> None:
        attempt = 0
        while True:
            attempt += 1
            await asyncio.sleep(RECONNECT.delay_ns(attempt) / 1e9)
            if self._closing or self.reconnects != generation or not self.client.connected:
                return  # closing, or a newer connection reconciles on its own
            try:
                await self.seed_limits()
                await self.reconcile()
                return
            except VenueError as exc:
                self.logger.warning("reconcile failed: %s; trying again", exc)

    async def _renew(self, reason: str) -> None:
        try:
            await self.client.reconnect(reason)
        except VenueError as exc:
            self.logger.warning("replacing a connection that did not answer failed: %s", exc)
        finally:
            self._renewing = False

    def _on_disconnect(self, reason: str) -> None:
        self.oms.disconnected()
        self._spawn(self._reconnect(reason))

    async def _reconnect(self, reason: str) -> None:
        """Until a connection is back (the venue may be restarting): jittered backoff between tries."""
        attempt = 0
        while not self._closing and not self.client.connected:
            try:
                await self.client.reconnect(reason)
                return
            except VenueError as exc:
                attempt += 1
                delay = RECONNECT.delay_ns(attempt)
                self.logger.warning("reconnect (%s) failed: %s; again in %.2f s", reason, exc, delay / 1e9)
                await asyncio.sleep(delay / 1e9)

    def _on_rate_limits(self, limits: tuple[RateLimit, ...]) -> None:
        entries = [
            {"rateLimitType": r.rate_limit_type, "interval": r.interval, "intervalNum": r.interval_num,
             "limit": r.limit, "count": r.count}
            for r in limits
        ]  # fmt: skip
        self.limiter.on_response(entries, self._venue_now())

    def _venue_now(self) -> int:
        """The venue's wall clock as we estimate it (ns): the rate limiter's windows are on it."""
        return time.time_ns() + self.client.clock_offset_ms * 1_000_000

    def counters(self) -> dict[str, int]:
        """The connection's and the rate limiter's counts, for the stage's status."""
        limiter, stats = self.limiter, self.client.stats
        return {
            "requests": self.sent,
            "held_by_limiter": limiter.waits,
            "throttled": limiter.throttled,
            "banned": limiter.bans,
            "limit_corrections": limiter.corrections,
            "retries": self.retries,
            "reconnects": self.reconnects,
            "disconnects": stats.disconnects,
            "unanswered": stats.unanswered,
            "duplicate_events": stats.duplicate_events,
            "clock_syncs": stats.clock_syncs,
            "stale_answers": self.stale_answers,
            "not_sent": self.not_sent,
        }

    # -- intents -------------------------------------------------------------------------------------
    def intent(
        self,
        instrument: int,
        strategy: int,
        epoch: int,
        action: int,
        seq: int,
        orig: int,
        side: int,
        order_type: int,
        tif: int,
        price: int,
        qty: int,
        cause: Cause,
        now: int,
        *,
        tick_caused: bool = False,
    ) -> None:
        """``tick_caused``: a market-data tick caused it (the intent's TICK_CAUSED flag): tick-to-order counts it."""
        known = self.instruments.get(instrument)
        if action == IntentAction.NEW:
            key = (strategy, epoch, seq)
            if tick_caused:
                self._tick_caused.add(key)
            result = submit_new(self.oms, key, instrument, side, order_type, tif, price, qty, cause, now)
            if result.before is not None or result.order is None:
                return
            self._causes[key] = cause
            if known is None:
                self._publish(self.oms.on_rejected(key, RejectReason.VENUE))
                return
            self._place(result.order, known)
        elif action == IntentAction.CANCEL:
            known_order = self.oms.get((strategy, epoch, orig))
            if known_order is None or not known_order.is_open:
                self.emit(unknown_order((strategy, epoch, orig), instrument, side, known_order), cause)
                return
            self._cancel((strategy, epoch, orig), seq, cause)
        elif action == IntentAction.REPLACE:
            old, new = (strategy, epoch, orig), (strategy, epoch, seq)
            if tick_caused:
                self._tick_caused.add(new)
            ts_origin = int.from_bytes(cause[:8], "little", signed=True)
            result = self.oms.replace_request(old, new, price, qty, ts_origin=ts_origin, now=now)
            self._publish(result)
            order = result.order
            if order is None or order.key != new or known is None or order.replaces is None:
                return
            self._causes[new] = cause
            self._replace(order, order.replaces, known)
        elif action == IntentAction.CANCEL_ALL:
            for order in self.oms.open_orders(strategy, instrument):
                self._cancel(order.key, 0, cause)

    def _cancel(self, key: OrderKey, request_seq: int, cause: Cause) -> None:
        order = self.oms.get(key)
        if order is None or not order.is_open:
            return
        known = self.instruments.get(order.instrument)
        result = self.oms.cancel_request(key, request_seq)
        self._publish(result)
        if known is None or result.outcome.name == "ILLEGAL":
            return
        self._causes[key] = cause
        request_id = client_order_id(order.strategy_id, order.epoch, request_seq) if request_seq else None
        client = self.client
        first = self._try_now(
            Action.CANCEL, 1,
            lambda: client.send_cancel(known.symbol, client_order_id=order.client_id, new_client_order_id=request_id),
        )  # fmt: skip
        self._spawn(self._send_cancel(order, known, request_id, first), first)

    # -- requests ------------------------------------------------------------------------------------
    def _sent(self, order: OmsOrder, sent_ns: int) -> None:
        """The order's request is on the socket: tick-to-order ends, its round trip starts."""
        self._sent_ns[order.key] = sent_ns
        self._unfilled_since[order.key] = sent_ns
        if order.key in self._tick_caused:
            self._tick_caused.discard(order.key)
            if self._on_tick_to_order is not None:
                self._on_tick_to_order(sent_ns - order.ts_origin)

    def _place(self, order: OmsOrder, instrument: Instrument) -> None:
        """Its parameters, the limiter and the request's bytes on the socket now; the answer in a task."""
        try:
            params = intent_order_params(
                instrument, order.side, order.order_type, order.tif, order.price, order.qty, order.client_id
            )
        except MessageError:
            self._publish(self.oms.on_rejected(order.key, RejectReason.VENUE))
            return
        client = self.client

        def on_sent(sent: int) -> None:
            self._sent(order, sent)

        first = self._try_now(Action.PLACE, 1, lambda: client.send_place(params, on_sent=on_sent))
        self._spawn(self._placed(order, instrument, params, on_sent, first), first)

    async def _placed(
        self, order: OmsOrder, instrument: Instrument, params: Any, on_sent: Callable[[int], None], first: FirstTry
    ) -> None:
        try:
            answer = await self._request(Action.PLACE, 1, lambda: self.client.place(params, on_sent=on_sent), first)
        except OutcomeUnknown as exc:
            await self._unknown(order, exc)
            return
        except BinanceError as exc:
            self._refused(exc)
            self._publish(self.oms.on_rejected(order.key, RejectReason.VENUE, _code(exc.code)))
            return
        except VenueError:  # not connected: it never left
            self.not_sent += 1
            self._publish(self.oms.on_rejected(order.key, RejectReason.VENUE))
            return
        self._answer(order, answer, instrument)

    async def _send_cancel(
        self, order: OmsOrder, instrument: Instrument, request_id: str | None, first: FirstTry
    ) -> None:
        try:
            answer = await self._request(
                Action.CANCEL, 1,
                lambda: self.client.cancel(
                    instrument.symbol, client_order_id=order.client_id, new_client_order_id=request_id),
                first,
            )  # fmt: skip
        except OutcomeUnknown as exc:
            await self._unknown(order, exc)
            return
        except BinanceError as exc:
            self._refused(exc)
            self._publish(self.oms.on_cancel_rejected(order.key, RejectReason.VENUE, _code(exc.code)))
            return
        except VenueError:
            self.not_sent += 1
            self._publish(self.oms.on_cancel_rejected(order.key, RejectReason.VENUE))
            return
        self._answer(order, answer, instrument)

    def _replace(self, new: OmsOrder, old: OmsOrder, instrument: Instrument) -> None:
        """As :meth:`_place`: ``order.cancelReplace`` on the socket now, its answer in a task."""
        try:
            params = intent_order_params(
                instrument, new.side, new.order_type, new.tif, new.price, new.qty, new.client_id
            )
        except MessageError:
            self._publish(self.oms.on_replace_result(new.key, ReplaceOutcome.CANCEL_FAILED))
            return
        client = self.client

        def on_sent(sent: int) -> None:
            self._sent(new, sent)

        def send() -> Sent:
            return client.send_cancel_replace(params, cancel_client_order_id=old.client_id, on_sent=on_sent)

        first = self._try_now(Action.REPLACE, 1, send)
        self._spawn(self._replaced(new, old, instrument, params, on_sent, first), first)

    async def _replaced(
        self, new: OmsOrder, old: OmsOrder, instrument: Instrument, params: Any, on_sent: Callable[[int], None],
        first: FirstTry,
    ) -> None:  # fmt: skip
        try:
            answer = await self._request(
                Action.REPLACE, 1,
                lambda: self.client.cancel_replace(params, cancel_client_order_id=old.client_id, on_sent=on_sent),
                first,
            )  # fmt: skip
        except MessageError:
            self._publish(self.oms.on_replace_result(new.key, ReplaceOutcome.CANCEL_FAILED))
            return
        except OutcomeUnknown as exc:
            await self._unknown(new, exc)
            return
        except BinanceError as exc:
            self._refused(exc)
            outcome = ReplaceOutcome.NEW_FAILED if exc.code == NEW_FAILED_CODE else ReplaceOutcome.CANCEL_FAILED
            self._publish(self.oms.on_replace_result(new.key, outcome, _code(exc.code)))
            return
        except VenueError:
            self.not_sent += 1
            self._publish(self.oms.on_replace_result(new.key, ReplaceOutcome.CANCEL_FAILED))
            return
        placed = answer.get("newOrderResponse", {}) if isinstance(answer, Mapping) else {}
        venue_id = int(placed.get("orderId", 0)) if isinstance(placed, Mapping) else 0
        self._publish(self.oms.on_replace_result(new.key, ReplaceOutcome.SUCCESS, 0, venue_id, time.monotonic_ns()))
        if isinstance(placed, Mapping) and placed.get("status"):
            self._answer(new, placed, instrument)

    async def _unknown(self, order: OmsOrder, why: OutcomeUnknown) -> None:
        """No answer: UNKNOWN, then ask the venue what became of it (never send it again).

        No answer on a connection that is still open (not the venue's own -1006 / -1007 / 5xx): the socket
        may be stalled, so a fresh connection replaces it (make before break) and the query goes there.
        """
        self._publish(self.oms.timed_out(order.key))
        if not isinstance(why, BinanceError) and self.client.connected and not self._renewing:
            self._renewing = True
            self._spawn(self._renew("no answer to a request"))
        status = await self._status(order)
        self._publish(self.oms.on_status(order.key, status, NOT_FOUND_CODE, time.monotonic_ns()))

    async def _status(self, order: OmsOrder, *, again: bool = True) -> VenueOrder | None:
        """``order.status`` by client order id (None: the venue has no such order). ``again``: ask until an
        answer comes (an UNKNOWN order's own task); otherwise a failure raises (a reconcile runs while a
        reconnect holds the connection switch: waiting there for a connection would wait forever)."""
        instrument = self.instruments[order.instrument]
        while True:
            try:
                raw = await self._request(
                    Action.QUERY, ORDER_STATUS_WEIGHT,
                    lambda: self.client.order_status(instrument.symbol, order.client_id),
                )  # fmt: skip
                return venue_order(parse_order(raw, instrument), instrument.id)
            except BinanceError as exc:
                if exc.code == NOT_FOUND_CODE:
                    return None
                if not again:
                    raise
                self.logger.warning("order.status %s: %s; asking again", order.client_id, exc)
            except VenueError as exc:
                if not again:
                    raise
                self.logger.warning("order.status %s: %s; asking again", order.client_id, exc)
            await asyncio.sleep(1.0)

    def _try_now(self, action: Action, weight: int, send: Callable[[], Sent]) -> FirstTry:
        """A request's first try, synchronously: the limiter asked and, when it lets it go, ``send()`` (which
        writes the bytes when the socket takes them at once). Its task goes on with :meth:`_request`."""
        now = time.monotonic_ns()
        wait = self.limiter.acquire(_KINDS.get(action, RequestKind.REQUEST), weight, self._venue_now())
        if wait:
            return FirstTry(now, wait_ns=wait)
        self.sent += 1
        try:
            return FirstTry(now, sent=send())
        except Exception as exc:  # noqa: BLE001 - whatever it is, its task raises it, as a send there would
            return FirstTry(now, error=exc)

    async def _request(
        self, action: Action, weight: int, call: Callable[[], Awaitable[Any]], first: FirstTry | None = None
    ) -> Any:
        """``call()`` once the limiter lets it go; again (a fresh ``call()``) while the venue says it did not
        run it and the retry policy allows; any other outcome is the caller's. ``first``: the first try, made
        already (:meth:`_try_now`): its answer awaited, or the limiter's wait it got waited out first."""
        limiter = self.limiter
        kind = _KINDS.get(action, RequestKind.REQUEST)
        began = time.monotonic_ns() if first is None else first.began
        attempt = 0
        while True:
            try:
                if first is not None and not first.wait_ns:
                    made, first = first, None
                    if made.error is not None:
                        raise made.error
                    assert made.sent is not None
                    return await self.client.answer(made.sent)
                if first is not None:
                    await asyncio.sleep(first.wait_ns / 1e9)
                    first = None
                while wait := limiter.acquire(kind, weight, self._venue_now()):
                    await asyncio.sleep(wait / 1e9)
                self.sent += 1
                return await call()
            except (BackOffError, TransientError) as exc:
                # retryAfter is on the venue's clock: wait out the error of our estimate of it as well
                until = exc.retry_after_ms + self.client.clock_error_ms if exc.retry_after_ms else None
                if isinstance(exc, BannedError):
                    limiter.on_418(until, self._venue_now())
                elif isinstance(exc, BackOffError):
                    limiter.on_429(until, self._venue_now())
                attempt += 1
                decision = RETRY.decide(action, exc.error_class, attempt, began, time.monotonic_ns())
                if decision.verdict is not Verdict.RETRY:
                    raise
                self.retries += 1
                self.logger.warning("%s: %s; again in %.3f s", action.name, exc, decision.delay_ns / 1e9)
                await asyncio.sleep(decision.delay_ns / 1e9)

    def _answer(self, order: OmsOrder, answer: Any, instrument: Instrument) -> None:
        """A placement's or cancel's RESULT: the order's status as the venue has it now."""
        try:
            snapshot = parse_order(answer, instrument)
        except MessageError:
            return
        now = time.monotonic_ns()
        sent = self._sent_ns.pop(order.key, None)
        if sent is not None and self._on_order_ack is not None:
            self._on_order_ack(now - sent)
        status = _STATUS[str(snapshot.status)]
        if not order.is_open and status in _OPEN_STATUSES and snapshot.executed_qty <= order.cum_qty:
            self.stale_answers += 1  # it left before the report that closed the order (the user data stream won)
            return
        self._publish(self.oms.on_status(order.key, venue_order(snapshot, instrument.id), NOT_FOUND_CODE, now))

    # -- the user data stream ------------------------------------------------------------------------
    def _on_event(self, event: object) -> None:
        if isinstance(event, ExecutionReport):
            self.on_execution_report(event)
        elif isinstance(event, OtherEvent):
            self.logger.debug("user data: %s", event)

    def on_execution_report(self, r: ExecutionReport) -> None:
        kind = r.exec_type
        named = r.orig_client_order_id if kind == VenueExecType.CANCELED and r.orig_client_order_id else None
        order = self.oms.find(named or r.client_order_id)
        if order is None:
            return
        key = order.key
        if kind == VenueExecType.NEW:
            result = self.oms.on_ack(key, r.order_id, time.monotonic_ns())
        elif kind == VenueExecType.TRADE:
            result = self.oms.on_trade(key, r.trade_id, r.last_price, r.last_qty, r.cum_qty, r.fee, r.cum_quote,
                                       r.order_id)  # fmt: skip
        elif kind == VenueExecType.CANCELED:
            result = self.oms.on_canceled(key, r.cum_qty, r.cum_quote)
        elif kind in (VenueExecType.EXPIRED, VenueExecType.TRADE_PREVENTION):
            result = self.oms.on_expired(key, r.cum_qty, r.cum_quote)
        elif kind == VenueExecType.REJECTED:
            result = self.oms.on_rejected(key, RejectReason.VENUE)
        else:
            return
        self._publish(result)

    def _refused(self, exc: BinanceError) -> None:
        """Count (and log) a refusal by the venue's code and text: one code (-2010) covers many reasons."""
        why = f"{exc.method} {exc.code} {exc.msg}"
        self.refusals[why] = self.refusals.get(why, 0) + 1
        self.logger.info("refused: %s", why)

    # -- internals -----------------------------------------------------------------------------------
    def _publish(self, result: Result) -> None:
        for report in result.reports:
            key = report.order.key
            if report.exec_type in _FILLS:
                since = self._unfilled_since.pop(key, None)
                if since is not None and self._on_fill is not None:
                    self._on_fill(time.monotonic_ns() - since)
            self.emit(report, self._causes.get(key, NO_CAUSE))
            if not report.order.is_open and report.exec_type != ExecType.ACK:
                self._causes.pop(key, None)
                self._unfilled_since.pop(key, None)
                self._tick_caused.discard(key)
                if report.exec_type not in _FILLS:  # filled at once, its placement's answer may still come
                    self._sent_ns.pop(key, None)

    def _spawn(self, coroutine: Any, first: FirstTry | None = None) -> None:
        """``first``: the request already on the socket that the task awaits the answer of: forgotten by the
        client if the task is cancelled before it runs (its coroutine's own cleanup never runs then)."""
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        sent = first.sent if first is not None else None
        if sent is not None:
            abandon = self.client.abandon
            task.add_done_callback(lambda _: abandon(sent))

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors += 1
            self.logger.error("execution request failed", exc_info=task.exception())


def _code(code: int) -> int:
    """A venue code as EXEC_REPORT's i2 holds it."""
    return code if -(1 << 15) <= code < 1 << 15 else 0
