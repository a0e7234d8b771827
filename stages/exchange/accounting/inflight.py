"""A sequenced command whose engine events are not all back yet: what settling and answering them needs."""

from __future__ import annotations

from typing import Any, Final

from hftpipe.schema.exchange import Command
from hftpipe.schema.exchange_codec import (
    C_ACCOUNT,
    C_CANCEL_CLIENT_ORDER_ID,
    C_CLIENT_ORDER_ID,
    C_COMMAND,
    C_REQUEST_ID,
    INSTRUMENT,
    SEQ,
    TS_ORIGIN,
    TS_VENUE,
    text_id,
)
from stages.exchange.accounting.orders import Order

_CANCEL_REPLACE: Final = int(Command.CANCEL_REPLACE)


class InFlight:
    """A command forwarded to an engine whose events are not all back yet (or a settled deposit)."""

    __slots__ = (
        "account",
        "cancel_id",
        "changed",
        "command",
        "order",
        "request_id",
        "seq",
        "silent",
        "symbol",
        "ts_origin",
        "ts_venue",
    )

    def __init__(self, fields: list[Any], silent: bool) -> None:
        self.seq: int = fields[SEQ]
        self.symbol: int = fields[INSTRUMENT]
        self.request_id: int = fields[C_REQUEST_ID]
        self.account: int = fields[C_ACCOUNT]
        self.command: int = fields[C_COMMAND]
        self.ts_venue: int = fields[TS_VENUE]
        self.ts_origin: int = fields[TS_ORIGIN]
        self.silent = silent
        """Replayed or internal (genesis): nobody waits for an answer."""
        cancel = fields[C_CANCEL_CLIENT_ORDER_ID] if self.command == _CANCEL_REPLACE else fields[C_CLIENT_ORDER_ID]
        self.cancel_id: bytes = text_id(cancel)
        """The cancel's own client id (CANCELED events carry it as clientOrderId)."""
        self.order: Order | None = None
        """The order this command places (NEW_ORDER, CANCEL_REPLACE)."""
        self.changed: set[tuple[int, int]] = set()
        """(account, asset) whose balance this command changed: one BALANCE each at the end."""
