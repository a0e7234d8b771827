"""listenKeys: Binance's older user data stream handle, one per account, valid 60 minutes past its
last keepalive.

``userDataStream.start`` (``POST /api/v3/userDataStream``) returns the
account's live key, extended, or a new one; ``.ping`` (``PUT``) extends it;
``.stop`` (``DELETE``) ends it. A key that is unknown, expired, stopped, or
another account's is -1125 "This listenKey does not exist." (Binance's answer
for each of those). The streams reading a key are kept with it, so whoever
ends it (stop, or :meth:`ListenKeys.expire`) can end them too; this module
only keeps the books.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from hftpipe.schema.exchange_errors import INVALID_LISTEN_KEY
from stages.exchange.gateway.keys import random_token
from stages.exchange.gateway.session import Session
from stages.exchange.protocol.api_error import ApiError

LISTEN_KEY_LENGTH: Final = 60
"""Binance's listenKeys are 60 letters and digits."""
VALIDITY_MS: Final = 60 * 60 * 1000
"""Binance: a listenKey expires 60 minutes after its creation or last keepalive."""


@dataclass(eq=False, slots=True)
class ListenKey:
    key: str
    account: int
    expires_ms: int
    streams: set[Session] = field(default_factory=set)
    """The ``/ws/<listenKey>`` connections reading this key's events."""


class ListenKeys:
    def __init__(self, validity_ms: int = VALIDITY_MS, token: Callable[[], str] | None = None) -> None:
        self.validity_ms = validity_ms
        self._token = token or (lambda: random_token(LISTEN_KEY_LENGTH))
        self._by_key: dict[str, ListenKey] = {}
        self._by_account: dict[int, ListenKey] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def start(self, account: int, now_ms: int) -> str:
        """The account's live key, valid another ``validity_ms`` (Binance returns the same key), or a new one."""
        live = self._by_account.get(account)
        if live is None or live.expires_ms <= now_ms:
            live = ListenKey(self._token(), account, 0)
            self._by_key[live.key] = self._by_account[account] = live
        live.expires_ms = now_ms + self.validity_ms
        return live.key

    def ping(self, key: str, account: int, now_ms: int) -> None:
        self._owned(key, account, now_ms).expires_ms = now_ms + self.validity_ms

    def stop(self, key: str, account: int, now_ms: int) -> ListenKey:
        """End ``key`` now; its streams are the caller's to close."""
        ended = self._owned(key, account, now_ms)
        self._forget(ended)
        return ended

    def live(self, key: str, now_ms: int) -> ListenKey | None:
        """What a stream connection to ``/ws/<key>`` reads (the key is its only credential)."""
        found = self._by_key.get(key)
        return found if found is not None and found.expires_ms > now_ms else None

    def expire(self, now_ms: int) -> list[ListenKey]:
        """Forget every key past its validity; the caller tells their streams and closes them."""
        expired = [found for found in self._by_key.values() if found.expires_ms <= now_ms]
        for found in expired:
            self._forget(found)
        return expired

    def _owned(self, key: str, account: int, now_ms: int) -> ListenKey:
        found = self.live(key, now_ms)
        if found is None or found.account != account:
            raise ApiError.of(INVALID_LISTEN_KEY)
        return found

    def _forget(self, found: ListenKey) -> None:
        self._by_key.pop(found.key, None)
        if self._by_account.get(found.account) is found:
            del self._by_account[found.account]
