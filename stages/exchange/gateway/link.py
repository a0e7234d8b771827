"""The gateway's side of accounting: commands out on gw-acct, their answers back from acct-gw.

Every request gets a u64 ``request_id`` of its own (starting from the wall
clock in ns, so ids never repeat across restarts). An answer is the EX_EVENT
records that carry that id, up to and including a DONE with END_OF_UPDATE;
then the request's callback gets them all. A request whose answer does not
come in time gets its timeout callback; its records are still consumed (and
their user data pushed) when they come, and forgotten after ``forget_after``.

Commands go out through gw-acct's output port, which stamps the gateway's hop
with the time the command was made (the gateway is where a request enters
the pipeline: that is also its ``ts_origin`` unless the API set one) and
counts what it published and what a full ring refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from hftpipe.runtime import OutputPort
from hftpipe.schema.exchange import Command, Event
from hftpipe.schema.exchange_codec import CommandRecord, EventRecord
from hftpipe.schema.exchange_errors import SERVER_BUSY
from stages.exchange.gateway.formatter import OrderInfo
from stages.exchange.gateway.user_data import UserData
from stages.exchange.protocol.api_error import ApiError

QUERIES: Final = frozenset(
    {
        int(Command.ORDER_STATUS),
        int(Command.OPEN_ORDERS),
        int(Command.ACCOUNT_STATUS),
        int(Command.DEPTH),
        int(Command.BALANCES),
    }
)
"""Answers to these are not user data (nothing changed)."""
_DONE: Final = int(Event.DONE)
FORGET_AFTER_NS: Final = 600 * 1_000_000_000

Item = tuple[EventRecord, OrderInfo | None]
"""A record of an answer and what was known of its order when it arrived."""


@dataclass(slots=True)
class Pending:
    command: int
    on_done: Callable[[list[Item]], None]
    on_timeout: Callable[[], None]
    deadline_ns: int
    items: list[Item] = field(default_factory=list)
    timed_out: bool = False


class AccountingLink:
    def __init__(self, out: OutputPort, user_data: UserData) -> None:
        self._offer = out.offer
        self.user_data = user_data
        self._pending: dict[int, Pending] = {}
        self._next_id = time.time_ns()
        self.full = 0
        """Requests refused because gw-acct was full (each also counted as back-pressure by the port)."""
        self.timeouts = 0
        self.unmatched = 0

    def __len__(self) -> int:
        return len(self._pending)

    def next_request_id(self) -> int:
        self._next_id = (self._next_id + 1) & 0xFFFF_FFFF_FFFF_FFFF or 1
        return self._next_id

    def send(
        self,
        command: CommandRecord,
        on_done: Callable[[list[Item]], None],
        on_timeout: Callable[[], None],
        timeout_s: float,
    ) -> int:
        """Publish ``command`` (its ``request_id`` is set here); ``ApiError`` -1008 if gw-acct is full."""
        request_id = self.next_request_id()
        now = time.monotonic_ns()
        record = command._replace(request_id=request_id, ts_origin=command.ts_origin or now)
        if not self._offer(record.pack(), now):
            self.full += 1
            raise ApiError.of(SERVER_BUSY, status=503)
        self._pending[request_id] = Pending(command.command, on_done, on_timeout, now + int(timeout_s * 1e9))
        return request_id

    def feed(self, record: EventRecord) -> None:
        """One record from acct-gw."""
        request_id = record.request_id
        pending = self._pending.get(request_id)
        is_query = pending is not None and pending.command in QUERIES
        info = self.user_data.observe(record, is_query)
        if pending is not None and not pending.timed_out:
            pending.items.append((record, info))
        if record.event == _DONE and record.is_end:
            self.user_data.complete()
            if pending is None:
                self.unmatched += 1
                return
            del self._pending[request_id]
            if not pending.timed_out:
                pending.on_done(pending.items)

    def sweep(self, now_ns: int | None = None) -> None:
        """Time out late answers; forget the ones that never came."""
        now = time.monotonic_ns() if now_ns is None else now_ns
        forgotten = []
        for request_id, pending in self._pending.items():
            if now < pending.deadline_ns:
                continue
            if not pending.timed_out:
                pending.timed_out = True
                pending.items.clear()
                self.timeouts += 1
                pending.on_timeout()
            elif now >= pending.deadline_ns + FORGET_AFTER_NS:
                forgotten.append(request_id)
        for request_id in forgotten:
            del self._pending[request_id]

    def fail_all(self) -> None:
        """Stopping: tell every waiting request it will get no answer."""
        for pending in self._pending.values():
            if not pending.timed_out:
                pending.timed_out = True
                pending.on_timeout()
        self._pending.clear()
