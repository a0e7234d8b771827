"""listenKeys on a clock the test holds: one per account, 60 minutes past the last keepalive, -1125 otherwise."""

from __future__ import annotations

import pytest

from stages.exchange.gateway.listen_keys import LISTEN_KEY_LENGTH, VALIDITY_MS, ListenKeys
from stages.exchange.protocol.api_error import ApiError

DEMO, OTHER = 3, 4


def refused(call: object) -> int:
    assert callable(call)
    with pytest.raises(ApiError) as raised:
        call()
    assert (raised.value.status, raised.value.msg) == (400, "This listenKey does not exist.")
    return raised.value.code


def test_should_give_one_key_per_account_and_extend_it_on_start_and_ping() -> None:
    keys = ListenKeys()
    key = keys.start(DEMO, 0)
    assert len(key) == LISTEN_KEY_LENGTH and key.isalnum()
    assert keys.start(DEMO, 1_000) == key  # Binance returns the live key, extended
    other = keys.start(OTHER, 1_000)
    assert other != key and len(keys) == 2
    keys.ping(key, DEMO, VALIDITY_MS)  # alive until 1_000 + 60 min; now until 120 min
    assert [ended.key for ended in keys.expire(2 * VALIDITY_MS - 1)] == [other]  # never kept alive
    live = keys.live(key, 2 * VALIDITY_MS - 1)
    assert live is not None and live.account == DEMO and len(keys) == 1
    assert keys.live(key, 2 * VALIDITY_MS) is None


def test_should_expire_a_key_60_minutes_after_its_last_keepalive() -> None:
    keys = ListenKeys()
    key = keys.start(DEMO, 0)
    assert keys.expire(VALIDITY_MS - 1) == []
    assert refused(lambda: keys.ping(key, DEMO, VALIDITY_MS)) == -1125  # expired, not yet swept
    (expired,) = keys.expire(VALIDITY_MS)
    assert (expired.key, expired.account, len(keys)) == (key, DEMO, 0)
    assert refused(lambda: keys.stop(key, DEMO, VALIDITY_MS)) == -1125
    assert keys.start(DEMO, VALIDITY_MS) != key  # a new one


def test_should_refuse_unknown_stopped_and_other_accounts_keys() -> None:
    keys = ListenKeys(validity_ms=1_000, token=iter(["k1", "k2"]).__next__)
    key = keys.start(DEMO, 0)
    assert key == "k1"
    assert refused(lambda: keys.ping("nope", DEMO, 1)) == -1125
    assert refused(lambda: keys.ping(key, OTHER, 1)) == -1125
    assert refused(lambda: keys.stop(key, OTHER, 1)) == -1125
    assert keys.stop(key, DEMO, 1).key == key and len(keys) == 0
    assert keys.live(key, 1) is None
    assert refused(lambda: keys.ping(key, DEMO, 2)) == -1125
    assert keys.start(DEMO, 2) == "k2"
