"""The per-connection message limit: at most N messages in any one second, then the connection is closed."""

from __future__ import annotations

import pytest

from stages.exchange.publisher.message_rate import SECOND_NS, MessageRate, too_many_messages_reason

MS = 1_000_000


def test_the_sixth_message_within_a_second_is_one_too_many() -> None:
    rate = MessageRate(5)
    assert [rate.allow(t * MS) for t in (0, 1, 2, 3, 4)] == [True] * 5
    assert rate.allow(999 * MS) is False


def test_the_window_slides_so_no_boundary_lets_a_double_burst_through() -> None:
    rate = MessageRate(5)
    assert all(rate.allow(t * MS) for t in (990, 991, 992, 993, 994))  # the end of one wall-clock second
    assert rate.allow(1_001 * MS) is False  # the start of the next: still 6 within 11 ms
    assert rate.allow(990 * MS + SECOND_NS) is True  # a second after the first of the five


def test_a_client_at_exactly_the_limit_is_never_refused() -> None:
    rate = MessageRate(5)
    assert all(rate.allow(i * 200 * MS) for i in range(1_000))  # 5 a second for 200 s


def test_the_limit_is_configurable_and_positive() -> None:
    rate = MessageRate(1)
    assert (rate.allow(0), rate.allow(SECOND_NS - 1), rate.allow(SECOND_NS)) == (True, False, True)
    with pytest.raises(ValueError, match="per_second must be >= 1"):
        MessageRate(0)
    assert len(too_many_messages_reason(1000).encode()) <= 123  # what a close frame can carry
