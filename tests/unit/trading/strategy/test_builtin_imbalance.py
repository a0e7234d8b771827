"""Imbalance on the shipped capture's books (real adapter and book stage), checked against the DEPTH bytes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hftpipe.runtime.config import build_params
from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.marketdata import DEPTH_DTYPE, BookState
from hftpipe.schema.records import RecordType
from hftpipe.schema.trading import IntentAction, IntentFlag, OrderSide, OrderType, TimeInForce
from stages.trading.strategy.builtin.imbalance import Imbalance
from tests.unit.trading.strategy.builtin_harness import Harness, capture_records, depth_record, of_type, ts_origin

NKN = 1
MS = 1_000_000


def _expected(records: list[bytes], levels: int, threshold: float, cooldown_ms: int) -> tuple[list[tuple], int]:
    """``(instrument, time, side, price)`` of each order the rules call for, and how many signals a cool-down ate."""
    orders, quiet_until, suppressed = [], {}, 0
    for record in records:
        depth = np.frombuffer(record[: DEPTH_DTYPE.itemsize], DEPTH_DTYPE)[0]
        key, now = int(depth["instrument"]), ts_origin(record)
        bids, asks = depth["bid_qty"][:levels].astype(np.int64), depth["ask_qty"][:levels].astype(np.int64)
        if depth["book_state"] != BookState.SYNCED or not bids[0] or not asks[0]:
            continue
        imbalance = float(bids.sum() - asks.sum()) / float(bids.sum() + asks.sum())
        if abs(imbalance) <= threshold:
            continue
        if now < quiet_until.get(key, -1):
            suppressed += 1
            continue
        buy = imbalance > 0
        side, price = (
            (OrderSide.BUY, int(depth["ask_price"][0])) if buy else (OrderSide.SELL, int(depth["bid_price"][0]))
        )
        orders.append((key, now, side, price))
        quiet_until[key] = now + cooldown_ms * MS
    return orders, suppressed


def test_should_take_the_touch_only_beyond_the_threshold_and_respect_the_cooldown_on_the_capture() -> None:
    depths = of_type(capture_records(), RecordType.DEPTH)
    params = {"qty": "10", "levels": 3, "threshold": 0.5, "cooldown_ms": 1000, "max_position": "1000"}
    h = Harness(Imbalance, params)
    for record in depths:
        h.feed(record)
        h.answer_all()  # an IOC with nobody to trade against expires
    sent = [(i.instrument, i.now, i.side, i.price) for i in h.intents]
    expected, suppressed = _expected(depths, 3, 0.5, 1000)
    assert sent == expected
    assert len(sent) >= 5 and {s[2] for s in sent} == {OrderSide.BUY, OrderSide.SELL}
    assert suppressed  # the cool-down held some signals back
    for intent in h.intents:
        assert (intent.action, intent.order_type, intent.tif) == (IntentAction.NEW, OrderType.LIMIT, TimeInForce.IOC)
        assert intent.price == (intent.best_ask if intent.side is OrderSide.BUY else intent.best_bid)
    for key in h.books:
        times = [s[1] for s in sent if s[0] == key]
        assert all(b - a >= 1000 * MS for a, b in itertools.pairwise(times))


def test_should_not_fire_at_exactly_the_threshold() -> None:
    h = Harness(Imbalance, {"qty": "1", "levels": 1, "threshold": 0.6, "cooldown_ms": 0})
    h.feed(depth_record(NKN, [(35_000_000, 8)], [(35_001_000, 2)], ts=1))  # (8 - 2) / 10 = 0.6
    h.feed(depth_record(NKN, [(35_000_000, 2)], [(35_001_000, 8)], ts=2))  # -0.6
    assert not h.intents
    h.feed(depth_record(NKN, [(35_000_000, 2)], [(35_001_000, 9)], ts=3))
    assert [(i.side, i.price) for i in h.intents] == [(OrderSide.SELL, 35_000_000)]


def test_should_stop_adding_at_max_position_counting_open_orders() -> None:
    h = Harness(Imbalance, {"qty": "10", "levels": 1, "threshold": 0.5, "cooldown_ms": 0, "max_position": "20"})
    for ts in range(1, 6):  # the same lopsided book five times, no answers yet: two orders fit
        h.feed(depth_record(NKN, [(35_000_000, 900)], [(35_001_000, 100)], ts=ts))
    assert [i.side for i in h.intents] == [OrderSide.BUY, OrderSide.BUY]
    for order in list(h.runner.open_orders(NKN)):
        h.fill(order)
    h.feed(depth_record(NKN, [(35_000_000, 900)], [(35_001_000, 100)], ts=10))
    assert len(h.intents) == 2 and h.runner.position(NKN).qty == 20 * 10**8
    h.feed(depth_record(NKN, [(35_000_000, 100)], [(35_001_000, 900)], ts=11))  # the other way is room
    assert (h.intents[-1].side, h.intents[-1].flags) == (OrderSide.SELL, IntentFlag.NONE)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"qty": "-1"}, "qty"),
        ({"levels": 0}, "levels"),
        ({"levels": 21}, "levels"),
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.0}, "threshold"),
        ({"cooldown_ms": -5}, "cooldown_ms"),
        ({"max_position": "0.5"}, "qty"),
    ],
)
def test_should_refuse_a_bad_param_naming_its_key(raw: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_params(Imbalance, raw, "stages.strategy.params.params")
    assert caught.value.key == f"stages.strategy.params.params.{field}"
