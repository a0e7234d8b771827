"""User Data Stream: EX_EVENT records -> executionReport / outboundAccountPosition / balanceUpdate.

Events are routed by the record's ``account``, so a maker hears about its fill
although another account's request caused it. Only what changed state is
pushed: records answering a query (order.status, account.status, depth, admin
balances) are not. BALANCE records are collected until the next DONE/END
(accounting sends a command's balances right before its DONE, whatever
``request_id`` it gives the makers' ones) and then sent as one
``outboundAccountPosition`` per account, after the ``executionReport`` s, as
Binance orders them. A REJECTED order produces no
event (Binance answers the request; the stream sees nothing of an order that
never existed).

Envelope: ``{"subscriptionId": n, "event": {...}}`` (the current Binance docs;
older clients read only ``event``); a ``/ws/<listenKey>`` stream's session
sends the event alone, as Binance's listenKey streams do.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Final

from hftpipe.schema.exchange import Event
from hftpipe.schema.exchange_codec import REPLAY, EventRecord
from stages.exchange.gateway.formatter import OPEN_STATUSES, Formatter, OrderInfo
from stages.exchange.gateway.orders import OrderCache
from stages.exchange.gateway.session import Session

_NEW: Final = int(Event.NEW)
_ORDER_EVENTS: Final = frozenset({int(Event.TRADE), int(Event.CANCELED), int(Event.EXPIRED)})
_ORDER: Final = int(Event.ORDER)
_BALANCE: Final = int(Event.BALANCE)
_BALANCE_UPDATE: Final = int(Event.BALANCE_UPDATE)


class UserData:
    def __init__(self, formatter: Formatter) -> None:
        self.formatter = formatter
        self.orders = OrderCache()
        self._subscribers: dict[int, dict[Session, int]] = defaultdict(dict)
        """account id -> {session: subscriptionId}."""
        self._balances: dict[int, dict[int, EventRecord]] = {}
        """account id -> asset id -> the latest BALANCE record not yet sent."""
        self._execution_id = 0
        self.pushed = 0

    # -- subscriptions ----------------------------------------------------------------------------
    def subscribe(self, session: Session, account: int) -> int:
        """A subscription of ``session`` to ``account`` (the existing one if there is one)."""
        existing = self._subscribers[account].get(session)
        if existing is not None:
            return existing
        subscription_id = session.next_subscription_id
        session.next_subscription_id += 1
        session.subscriptions[subscription_id] = account
        self._subscribers[account][session] = subscription_id
        return subscription_id

    def unsubscribe(self, session: Session, subscription_id: int, now_ms: int) -> bool:
        account = session.subscriptions.pop(subscription_id, None)
        if account is None:
            return False
        subscribers = self._subscribers.get(account)
        if subscribers is not None:
            subscribers.pop(session, None)
            if not subscribers:
                del self._subscribers[account]
        if session.logon_subscription == subscription_id:
            session.logon_subscription = None
        session.push_event(subscription_id, {"e": "eventStreamTerminated", "E": now_ms})
        return True

    def drop_session(self, session: Session) -> None:
        """The connection is gone: forget its subscriptions without telling it."""
        for account in session.subscriptions.values():
            subscribers = self._subscribers.get(account)
            if subscribers is not None:
                subscribers.pop(session, None)
                if not subscribers:
                    del self._subscribers[account]
        session.subscriptions.clear()
        session.logon_subscription = None

    def end_stream(self, session: Session, last_event: dict[str, object] | None = None) -> None:
        """A listenKey stream ends (stopped, or expired: ``last_event`` says so): nothing more is
        pushed to it, and its writer closes the connection after what is queued."""
        self.drop_session(session)
        if last_event is not None:
            session.send(last_event)
        session.close()

    def subscribed(self, account: int) -> bool:
        return bool(self._subscribers.get(account))

    # -- records ----------------------------------------------------------------------------------
    def observe(self, record: EventRecord, is_query: bool) -> OrderInfo | None:
        """Push what ``record`` means to subscribers; returns what is known of its order.

        The returned :class:`OrderInfo` is taken before the order is forgotten
        (a FILLED or CANCELED order leaves the cache here), so a response
        built later from the same records still has it.
        """
        event = record.event
        if event == _ORDER:
            info = OrderInfo.from_record(record)
            if record.status in OPEN_STATUSES:
                self.orders.put(info)
            return info
        if is_query or record.flags & REPLAY:
            return None
        if event == _NEW:
            info = OrderInfo.from_record(record)
            if record.status in OPEN_STATUSES:
                self.orders.put(info)
            self._push_report(record, info)
            return info
        if event in _ORDER_EVENTS:
            known = self.orders.get(record.instrument, record.order_id)
            if record.status not in OPEN_STATUSES:
                self.orders.pop(record.instrument, record.order_id)
            self._push_report(record, known)
            return known
        if event == _BALANCE:
            self._balances.setdefault(record.account, {})[record.commission_asset] = record
        elif event == _BALANCE_UPDATE:
            subscribers = self._subscribers.get(record.account)
            if subscribers:
                self._push(subscribers, self.formatter.balance_update(record, _now_ms()))
        return None

    def complete(self) -> None:
        """A DONE/END: send the balances changed since the last one."""
        if not self._balances:
            return
        changed, self._balances = self._balances, {}
        now_ms = _now_ms()
        for account, records in changed.items():
            subscribers = self._subscribers.get(account)
            if subscribers:
                self._push(subscribers, self.formatter.account_position(list(records.values()), now_ms))

    def _push_report(self, record: EventRecord, info: OrderInfo | None) -> None:
        self._execution_id += 1
        subscribers = self._subscribers.get(record.account)
        if subscribers:
            self._push(subscribers, self.formatter.execution_report(record, info, _now_ms(), self._execution_id))

    def _push(self, subscribers: dict[Session, int], event: dict[str, object]) -> None:
        for session, subscription_id in list(subscribers.items()):
            session.push_event(subscription_id, event)
            self.pushed += 1


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
