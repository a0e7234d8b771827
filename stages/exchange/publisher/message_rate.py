"""How many messages a market-stream client may send: at most N in any one second.

Binance: "WebSocket connections have a limit of 5 incoming messages per second
... A connection that goes beyond the limit will be disconnected." Every
control message (SUBSCRIBE, LIST_SUBSCRIPTIONS, ... and anything unreadable)
costs the publisher a parse and a reply, so the limit is what keeps one
connection's work and queued replies in proportion to time, login or not.
(WebSocket pings are answered by the protocol library and not counted here.)

The window slides: the connection remembers the arrival times of its last N
messages, and message N+1 is over the limit when it comes less than a second
after the first of them. That is the literal "N per second", with no interval
boundary to hide a burst of 2N behind, and N timestamps of memory at most.
"""

from __future__ import annotations

from collections import deque
from typing import Final

SECOND_NS: Final = 1_000_000_000
TOO_MANY_MESSAGES_CODE: Final = 1008
"""Policy violation, as for a slow consumer."""


def too_many_messages_reason(per_second: int) -> str:
    """The close reason (well under the 123 bytes a close frame allows)."""
    return f"too many messages: at most {per_second} per second"


class MessageRate:
    """Counts one connection's incoming messages in a sliding one-second window."""

    __slots__ = ("_arrivals", "per_second")

    def __init__(self, per_second: int) -> None:
        if per_second < 1:
            raise ValueError(f"per_second must be >= 1, got {per_second}")
        self.per_second = per_second
        self._arrivals: deque[int] = deque(maxlen=per_second)

    def allow(self, now_ns: int) -> bool:
        """Count a message that arrived at ``now_ns`` (monotonic); False when it is one too many."""
        arrivals = self._arrivals
        if len(arrivals) == self.per_second and now_ns - arrivals[0] < SECOND_NS:
            return False
        arrivals.append(now_ns)
        return True
