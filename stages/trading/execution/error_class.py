"""What a failed venue request says about itself: the one classification the client and the retry policy share.

The venue client maps each venue's codes to a class (``binance/errors.py``);
the retry policy (``retry.py``) decides from the class alone.
"""

from __future__ import annotations

from enum import Enum


class ErrorClass(Enum):
    UNKNOWN_OUTCOME = "unknown outcome"
    """Maybe done (a 5xx, -1006, -1007, a timeout): ask the venue before sending an order again."""
    TRANSIENT = "transient"
    """Not done; safe to send again after a backoff (-1001, -1008)."""
    BACK_OFF = "back off"
    """Refused for the rate (-1003, -1015, 429): not done; again once the rate limiter allows."""
    BANNED = "banned"
    """418: every request waits until the ban ends, then as BACK_OFF."""
    NEVER_RETRY = "never retry"
    """Refused for good (-2010, -2011, -2013, -1013, ...): never send it again as it is."""
