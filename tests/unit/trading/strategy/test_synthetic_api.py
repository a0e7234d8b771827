"""The strategy API's synthetic orders: what each method puts on the intent ring, what it refuses, the states."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from hftpipe.schema.records import RecordFlag
from hftpipe.schema.trading import (
    Contingency,
    ExecType,
    IntentAction,
    IntentFlag,
    OrderSide,
    OrderType,
    RejectReason,
    Trigger,
)
from hftpipe.strategy import Leg, OrderState
from tests.unit.trading.strategy import records as r
from tests.unit.trading.strategy.harness import AAA, Harness, fields
from tests.unit.trading.strategy.test_stage import RECORDER

BUY, SELL = OrderSide.BUY, OrderSide.SELL
TICK = 10**6  # 0.01 at price scale 8
LOT = 10**7  # 0.1 at qty scale 8
D = Decimal


@pytest.fixture
def h(pipeline_name: str) -> Iterator[Harness]:
    harness = Harness(pipeline_name, {"id": 3, "name": "s", "class": RECORDER, "instruments": ["AAAUSDT"]})
    harness.send(r.depth(AAA, [(10_000 * TICK, 10 * LOT)], [(10_002 * TICK, 10 * LOT)], origin=1_000))
    harness.step()
    yield harness
    harness.close()


def _sent(h: Harness) -> list[dict[str, Any]]:
    return [fields(intent) for intent in h.step()]


def test_should_send_a_stop_with_its_level_rounded_to_fire_later(h: Harness) -> None:
    sell = h.strategy.stop_market(AAA, SELL, D("1"), D("99.505"))  # a sell stop fires on a fall: rounds down
    buy = h.strategy.stop_limit(AAA, BUY, D("1"), D("100.505"), D("100.609"), trigger=Trigger.BID_ASK)
    assert sell is not None and buy is not None
    a, b = _sent(h)
    assert (a["order_type"], a["stop_price"], a["price"], a["intent_flags"]) == (
        OrderType.STOP_MARKET, 9_950 * TICK, 0, IntentFlag.SYNTHETIC)  # fmt: skip
    assert (b["order_type"], b["stop_price"], b["price"], b["trigger"]) == (
        OrderType.STOP_LIMIT, 10_051 * TICK, 10_060 * TICK, Trigger.BID_ASK)  # a buy's limit rounds down  # fmt: skip
    assert (a["contingency"], a["legs"], a["link_seq"]) == (Contingency.NONE, 0, 0)
    assert sell.synthetic and sell.stop_price == 9_950 * TICK and sell.state is OrderState.PENDING_NEW


def test_should_send_take_profits_trailing_stops_and_pegs_with_their_terms(h: Harness) -> None:
    h.strategy.take_profit(AAA, SELL, D("1"), D("101.005"))  # a sell take-profit fires on a rise: rounds up
    h.strategy.trailing_stop(AAA, SELL, D("1"), trail=D("0.505"))  # the distance rounds wider
    h.strategy.trailing_stop(AAA, BUY, D("1"), bps=25, reduce_only=True)
    h.strategy.peg_mid(AAA, BUY, D("1"), offset_ticks=-1, min_move_ticks=2, max_replaces_per_s=3, post_only=True)
    tp, trail, bps, peg = _sent(h)
    assert (tp["order_type"], tp["stop_price"]) == (OrderType.TAKE_PROFIT, 10_101 * TICK)
    assert (trail["order_type"], trail["trail"], trail["trail_bps"]) == (OrderType.TRAILING_STOP, 51 * TICK, 0)
    assert (bps["trail"], bps["trail_bps"]) == (0, 25)
    assert bps["intent_flags"] == IntentFlag.SYNTHETIC | IntentFlag.REDUCE_ONLY
    assert (peg["order_type"], peg["peg_offset"], peg["min_move"], peg["max_replaces"]) == (OrderType.PEG_MID, -1, 2, 3)
    assert peg["intent_flags"] == IntentFlag.SYNTHETIC | IntentFlag.POST_ONLY


def test_should_send_a_brackets_legs_as_one_group_linked_to_its_entry(h: Harness) -> None:
    legs = h.strategy.bracket(AAA, Leg.limit(BUY, D("1"), D("100")), Leg.stop(SELL, D("1"), D("99")),
                              Leg.take_profit(SELL, D("1"), D("101")))  # fmt: skip
    assert legs is not None
    sent = _sent(h)
    entry = legs[0]
    assert [(s["order_seq"], s["contingency"], s["link_seq"], s["leg"], s["legs"]) for s in sent] == [
        (entry.seq + i, Contingency.BRACKET, entry.seq, i, 3) for i in range(3)
    ]
    assert [s["order_type"] for s in sent] == [OrderType.LIMIT, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT]
    assert all(s["intent_flags"] & IntentFlag.SYNTHETIC for s in sent)


@pytest.mark.parametrize(
    ("send", "reason"),
    [
        (lambda s: s.trailing_stop(AAA, SELL, D("1"), trail=D("1"), bps=10), RejectReason.BAD_SYNTHETIC),
        (lambda s: s.trailing_stop(AAA, SELL, D("1")), RejectReason.BAD_SYNTHETIC),
        (lambda s: s.trailing_stop(AAA, SELL, D("1"), bps=10_000), RejectReason.BAD_SYNTHETIC),
        (lambda s: s.peg_mid(AAA, BUY, D("1"), max_replaces_per_s=0), RejectReason.BAD_SYNTHETIC),
        (lambda s: s.stop_market(AAA, SELL, D("0.01"), D("99")), RejectReason.QTY_BELOW_LOT),
        (lambda s: s.stop_market(AAA, SELL, D("1"), D("-1")), RejectReason.PRICE_NOT_POSITIVE),
        (
            lambda s: s.oco(AAA, Leg.stop(SELL, D("1"), D("99")), Leg.take_profit(SELL, D("2"), D("101"))),
            RejectReason.BAD_SYNTHETIC,
        ),
        (
            lambda s: s.bracket(
                AAA, Leg.market(BUY, D("1")), Leg.stop(BUY, D("1"), D("99")), Leg.take_profit(SELL, D("1"), D("101"))
            ),
            RejectReason.BAD_SYNTHETIC,
        ),
        (lambda s: s.oto(AAA, Leg.market(BUY, D("1"))), RejectReason.BAD_SYNTHETIC),
        (
            lambda s: s.host.submit_synthetic(AAA, (Leg.limit(BUY, D("1"), D("100")),), Contingency.NONE),
            RejectReason.BAD_SYNTHETIC,
        ),
        (
            lambda s: s.oco(AAA, Leg.limit(BUY, D("1"), D("100.02"), post_only=True), Leg.stop(BUY, D("1"), D("101"))),
            RejectReason.WOULD_CROSS,
        ),
    ],
)
def test_should_refuse_a_synthetic_order_the_stage_could_not_hold_and_send_nothing(
    h: Harness, send: Any, reason: RejectReason
) -> None:
    assert send(h.strategy) is None
    assert h.step() == []
    assert h.counters()[f"s.refused.{reason.name.lower()}"] == 1


def test_should_refuse_a_synthetic_order_on_a_book_not_synced(h: Harness) -> None:
    h.send(r.depth(AAA, [(10_000 * TICK, LOT)], [(10_002 * TICK, LOT)], origin=2_000, state=r.BookState.RESYNCING))
    h.step()
    assert h.strategy.stop_market(AAA, SELL, D("1"), D("99")) is None
    assert h.counters()["s.refused.book_not_synced"] == 1


def test_should_walk_a_synthetic_order_through_held_triggered_and_its_childs_states(h: Harness) -> None:
    stop = h.strategy.stop_market(AAA, SELL, D("2"), D("99"))
    assert stop is not None
    h.step()
    h.answer(r.report(AAA, 3, stop.seq, ExecType.HELD, side=SELL, leaves=20 * LOT))
    h.step()
    assert stop.state is OrderState.HELD and stop.is_open and list(h.strategy.open_orders(AAA)) == [stop]
    h.answer(r.report(AAA, 3, stop.seq, ExecType.TRIGGERED, side=SELL, leaves=20 * LOT))
    h.step()
    assert stop.state is OrderState.TRIGGERED
    h.answer(r.report(AAA, 3, stop.seq, ExecType.ACK, side=SELL, leaves=20 * LOT),
             r.report(AAA, 3, stop.seq, ExecType.PARTIAL_FILL, side=SELL, last_price=9_900 * TICK, last_qty=5 * LOT,
                      cum_qty=5 * LOT, leaves=15 * LOT))  # fmt: skip
    h.step()
    assert stop.state is OrderState.PARTIALLY_FILLED and h.strategy.position(AAA).qty == -5 * LOT
    h.answer(r.report(AAA, 3, stop.seq, ExecType.FILL, side=SELL, last_price=9_899 * TICK, last_qty=15 * LOT,
                      cum_qty=20 * LOT))  # fmt: skip
    h.step()
    assert stop.state is OrderState.FILLED and not h.strategy.open_orders(AAA)
    assert h.strategy.position(AAA).qty == -20 * LOT
    assert [s[1][0] for s in h.strategy.seen if s[0] == "order"] == [
        "HELD", "TRIGGERED", "ACK", "PARTIAL_FILL", "FILL"]  # fmt: skip


def test_should_cancel_a_synthetic_order_as_one_and_never_replace_it(h: Harness) -> None:
    stop = h.strategy.stop_market(AAA, SELL, D("1"), D("99"))
    assert stop is not None
    h.step()
    h.answer(r.report(AAA, 3, stop.seq, ExecType.ACK, side=SELL, leaves=10 * LOT))  # say it is out: OPEN
    h.step()
    assert h.strategy.replace(stop, price=D("98")) is None
    assert h.counters()["s.refused.unknown_order"] == 1
    assert h.strategy.cancel(stop)
    (cancel,) = _sent(h)
    assert (cancel["action"], cancel["orig_order_seq"], cancel["intent_flags"]) == (
        IntentAction.CANCEL, stop.seq, IntentFlag.SYNTHETIC)  # fmt: skip


def test_should_book_a_fill_that_raced_the_cancel_of_a_closed_synthetic_order(h: Harness) -> None:
    stop = h.strategy.stop_market(AAA, SELL, D("1"), D("99"))
    assert stop is not None
    h.step()
    h.answer(r.report(AAA, 3, stop.seq, ExecType.CANCELED, side=SELL))
    h.step()
    assert stop.state is OrderState.CANCELED
    late = bytearray(r.report(AAA, 3, stop.seq, ExecType.PARTIAL_FILL, side=SELL, last_price=9_900 * TICK,
                              last_qty=5 * LOT, cum_qty=5 * LOT))  # fmt: skip
    h.answer(bytes(late))  # not a synthetic order's report: an unknown order's, ignored
    h.step()
    assert h.strategy.position(AAA).qty == 0
    late[2] |= int(RecordFlag.SYNTHETIC)
    h.answer(bytes(late))
    h.step()
    assert h.strategy.position(AAA).qty == -5 * LOT and stop.state is OrderState.CANCELED
