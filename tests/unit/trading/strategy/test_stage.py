"""The strategy API through the strategy stage over real rings: exact intents, refusals, clock, isolation."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from hftpipe.schema.marketdata import BookState
from hftpipe.schema.records import RecordFlag
from hftpipe.schema.trading import (
    ExecType,
    IntentAction,
    OrderSide,
    OrderType,
    RejectReason,
    SynthTerms,
    TimeInForce,
    client_order_id,
)
from hftpipe.strategy import OrderState
from tests.unit.trading.strategy import records as r
from tests.unit.trading.strategy.harness import AAA, BBB, EPOCH, Harness, fields

RECORDER = "tests.unit.trading.strategy.strategies:Recorder"
JOIN = "tests.unit.trading.strategy.strategies:JoinBid"
FAULTY = "tests.unit.trading.strategy.strategies:Faulty"
P = 1_000_000  # one tick of AAA (0.01 at price scale 8)
Q = 10_000_000  # one lot of AAA (0.1 at qty scale 8)


@pytest.fixture
def harness(pipeline_name: str) -> Iterator[Any]:
    made: list[Harness] = []

    def make(strategy: dict[str, Any], **stage: Any) -> Harness:
        made.append(Harness(f"{pipeline_name}{len(made)}", strategy, **stage))
        return made[-1]

    yield make
    for h in made:
        h.close()


def _book(instrument: int = AAA, bid: int = 10_000 * P, ask: int = 10_002 * P, *, origin: int = 1_000,
          update_id: int = 7, state: BookState = BookState.SYNCED) -> bytes:  # fmt: skip
    return r.depth(instrument, [(bid, 30 * Q), (bid - P, 50 * Q)], [(ask, 20 * Q)], origin=origin,
                   update_id=update_id, state=state)  # fmt: skip


def test_should_publish_exact_intents_for_a_book_update(harness: Any) -> None:
    h: Harness = harness({"id": 7, "name": "join", "class": JOIN, "instruments": ["AAAUSDT"]})
    h.send(_book(origin=123_456))
    buy, sell = (fields(i) for i in h.step())
    assert buy == {
        "rtype": 5, "flags": RecordFlag.TICK_CAUSED, "instrument": AAA, "seq": 1, "ts_venue": 123_456,
        "ts_origin": 123_456,
        "ts_hop": [33, buy["ts_hop"][1], 0, 0],
        "order_seq": 1, "orig_order_seq": 0, "price": 10_000 * P, "qty": 15 * Q, "stop_price": 0,
        "epoch": EPOCH, "strategy_id": 7, "action": IntentAction.NEW, "side": OrderSide.BUY,
        "order_type": OrderType.LIMIT_MAKER, "tif": TimeInForce.GTC, "intent_flags": 0, "book_update_id": 7,
        **dict.fromkeys(SynthTerms._fields, 0),  # a plain order carries no synthetic terms
    }  # fmt: skip
    assert buy["ts_hop"][1] > 0  # this stage's stamp (hop 1): when it took the causing record in
    assert (sell["order_seq"], sell["side"], sell["price"], sell["seq"]) == (2, OrderSide.SELL, 10_002 * P, 2)
    orders = list(h.strategy.open_orders(AAA))
    assert [o.client_id for o in orders] == [client_order_id(7, EPOCH, 1), client_order_id(7, EPOCH, 2)]
    assert all(o.state is OrderState.PENDING_NEW for o in orders)
    assert h.counters()["join.intents.new"] == 2


@pytest.mark.parametrize(
    ("price", "side", "expected"),
    [
        (Decimal("100.005"), OrderSide.BUY, 10_000 * P),  # off tick: a buy rounds down
        (Decimal("100.005"), OrderSide.SELL, 10_001 * P),  # a sell rounds up
        (100.01, OrderSide.BUY, 10_001 * P),  # a float on the tick stays there despite float noise
        (0.3, OrderSide.SELL, 30 * P),
        (100.0149999, OrderSide.BUY, 10_001 * P),
        (10_003 * P, OrderSide.SELL, 10_003 * P),  # an int is fixed point already
    ],
)
def test_should_round_prices_passively_to_the_tick(harness: Any, price: Any, side: OrderSide, expected: int) -> None:
    h: Harness = harness({"id": 1, "class": RECORDER})
    h.send(_book())
    h.step()
    order = h.runner.submit(side, "AAAUSDT", Decimal("0.25"), price, OrderType.LIMIT, TimeInForce.GTC, 0)
    assert order is not None
    (intent,) = (fields(i) for i in h.step() if fields(i)["order_seq"] == order.seq)
    assert (intent["price"], intent["qty"]) == (expected, 2 * Q)  # 0.25 -> 0.2: down to the lot


@pytest.mark.parametrize(
    ("qty", "price", "reason"),
    [
        (Decimal("0.25"), Decimal("100.00"), RejectReason.QTY_NOT_ON_LOT),
        (Decimal("0.2"), Decimal("100.005"), RejectReason.PRICE_NOT_ON_TICK),
        (0.05, Decimal("100"), RejectReason.QTY_NOT_ON_LOT),
        (float("nan"), Decimal("100"), RejectReason.NOT_FINITE),
        (Decimal("0.2"), float("inf"), RejectReason.NOT_FINITE),
        (Decimal("0.2"), -P, RejectReason.PRICE_NOT_POSITIVE),
        (Decimal("0.2"), 0, RejectReason.PRICE_NOT_POSITIVE),
    ],
)
def test_should_refuse_off_tick_and_lot_in_refuse_mode(
    harness: Any, qty: Any, price: Any, reason: RejectReason
) -> None:
    h: Harness = harness({"id": 1, "name": "strict", "class": RECORDER, "rounding": "refuse"})
    h.send(_book())
    h.step()
    assert h.runner.submit(OrderSide.BUY, AAA, qty, price, OrderType.LIMIT, TimeInForce.GTC, 0) is None
    assert h.step() == []
    counters = h.counters()
    assert counters[f"strict.refused.{reason.name.lower()}"] == 1
    assert counters["strict.refused"] == 1


def test_should_refuse_a_quantity_below_one_lot_even_when_rounding(harness: Any) -> None:
    h: Harness = harness({"id": 1, "name": "p", "class": RECORDER})
    h.send(_book())
    h.step()
    assert h.strategy.buy(AAA, Decimal("0.09"), 10_000 * P) is None
    assert h.counters()["p.refused.qty_below_lot"] == 1


def test_should_refuse_a_post_only_order_that_would_cross(harness: Any) -> None:
    h: Harness = harness({"id": 1, "name": "p", "class": RECORDER})
    h.send(_book())
    h.step()
    assert h.strategy.buy(AAA, Q, 10_002 * P, post_only=True) is None  # at the best ask
    assert h.strategy.sell(AAA, Q, 10_000 * P, post_only=True) is None  # at the best bid
    assert h.strategy.buy(AAA, Q, 10_002 * P) is not None  # a plain limit may take
    assert h.counters()["p.refused.would_cross"] == 2


@pytest.mark.parametrize("state", [BookState.RESYNCING, BookState.STALE])
def test_should_refuse_orders_on_a_book_that_is_not_synced(harness: Any, state: BookState) -> None:
    h: Harness = harness({"id": 1, "name": "join", "class": JOIN})
    h.send(_book(state=state))
    assert h.step() == []
    assert h.strategy.buy(AAA, Q, 10_000 * P) is None
    assert h.strategy.buy(BBB, 10**8, 10**6) is None  # never had a book at all
    assert h.counters()["join.refused.book_not_synced"] == 2


def test_should_let_cancels_through_when_the_book_goes_out_of_sync(harness: Any) -> None:
    h: Harness = harness({"id": 1, "name": "join", "class": JOIN})
    h.send(_book())
    h.step()
    h.send(r.book_state(AAA, BookState.RESYNCING, origin=2_000))
    h.step()
    assert h.strategy.book(AAA).state is BookState.RESYNCING
    assert h.strategy.cancel_all(AAA) == 1
    (cancel_all,) = (fields(i) for i in h.step())
    assert (cancel_all["action"], cancel_all["instrument"]) == (IntentAction.CANCEL_ALL, AAA)


def test_should_fire_timers_from_the_record_clock_only(harness: Any) -> None:
    h: Harness = harness({"id": 1, "class": RECORDER, "params": {"timer_ns": 1_000}})
    h.send(_book(origin=500), _book(origin=2_600, update_id=8), _book(origin=2_700, update_id=9))
    h.step()
    timers = [what for kind, what in h.strategy.seen if kind == "timer"]
    assert timers == [("tick", 1_000), ("tick", 2_000)]  # due times, fired as the records passed them
    h.step()  # no records: in the records clock, nothing else fires however long this takes
    assert [what for kind, what in h.strategy.seen if kind == "timer"] == timers


def test_should_hand_a_slow_strategy_only_the_newest_book(harness: Any) -> None:
    h: Harness = harness({"id": 1, "class": RECORDER})
    h.send(*(_book(bid=(10_000 - i) * P, update_id=100 + i, origin=1_000 + i) for i in range(50)))
    h.send(*(r.trade(AAA, 10_001 * P, Q, origin=2_000 + i, trade_id=i) for i in range(5)))
    h.step()
    books = [what for kind, what in h.strategy.seen if kind == "book"]
    trades = [what[3] for kind, what in h.strategy.seen if kind == "trade"]
    assert books == [(AAA, 149, 9_951 * P, 10_002 * P, "SYNCED")]
    assert trades == [0, 1, 2, 3, 4]  # trades are never conflated
    assert h.counters()["s1.books"] == 1


def test_should_hand_every_book_over_in_order_without_conflation(harness: Any) -> None:
    h: Harness = harness({"id": 1, "class": RECORDER}, conflate=False)
    h.send(*(_book(update_id=100 + i, origin=1_000 + i) for i in range(5)))
    h.step()
    assert [what[1] for kind, what in h.strategy.seen if kind == "book"] == [100, 101, 102, 103, 104]


def test_should_ignore_venue_tickers_and_take_bbo_until_depth_arrives(harness: Any) -> None:
    h: Harness = harness({"id": 1, "class": RECORDER})
    h.send(r.bbo(AAA, 9_000 * P, Q, 9_005 * P, Q, origin=10, update_id=3))
    h.step()
    h.send(r.bbo(AAA, 1 * P, Q, 2 * P, Q, origin=11, update_id=4, venue=True))
    h.step()
    h.send(_book(update_id=5, origin=12), r.bbo(AAA, 1 * P, Q, 9 * P, Q, origin=13, update_id=6))
    h.step()
    books = [what for kind, what in h.strategy.seen if kind == "book"]
    assert books == [(AAA, 3, 9_000 * P, 9_005 * P, "SYNCED"), (AAA, 5, 10_000 * P, 10_002 * P, "SYNCED")]


def test_should_apply_reports_before_the_strategy_hears_of_them(harness: Any) -> None:
    h: Harness = harness({"id": 3, "name": "rec", "class": RECORDER, "instruments": ["binance:AAAUSDT"]})
    h.send(_book())
    h.step()
    order = h.strategy.buy(AAA, Decimal("1.0"), 10_000 * P)
    h.step()
    h.answer(
        r.report(AAA, 3, order.seq, ExecType.ACK),
        r.report(AAA, 3, order.seq, ExecType.PARTIAL_FILL, last_price=10_000 * P, last_qty=4 * Q, fee=7),
        r.report(AAA, 3, order.seq, ExecType.FILL, last_price=9_999 * P, last_qty=6 * Q),
    )
    h.step()
    seen = [what for kind, what in h.strategy.seen if kind == "order"]
    assert seen == [("ACK", 1, "OPEN", "NONE"), ("PARTIAL_FILL", 1, "PARTIALLY_FILLED", "NONE"),
                    ("FILL", 1, "FILLED", "NONE")]  # fmt: skip
    position = h.strategy.position("AAAUSDT")
    assert (position.qty, position.fees, position.fills) == (10 * Q, 7, 2)
    assert position.avg_price == pytest.approx(99.994)
    assert list(h.strategy.open_orders()) == []
    assert h.counters()["rec.fills"] == 2


def test_should_hand_the_strategy_the_slippage_estimated_at_send_and_realized_per_fill(harness: Any) -> None:
    h: Harness = harness({"id": 3, "class": RECORDER})
    h.send(_book())
    h.step()
    order = h.strategy.buy(AAA, 2 * Q, 10_004 * P)
    h.step()
    sent = (10_003 * P, 2 * Q, 10_000 * P, 10_002 * P, 9.998, 14.996)  # est. price and qty, bid, ask, bps
    h.answer(
        r.report(AAA, 3, order.seq, ExecType.ACK, slippage=(*sent, math.nan, math.nan)),
        r.report(AAA, 3, order.seq, ExecType.FILL, last_price=10_003 * P, last_qty=2 * Q, slippage=(*sent, 10.0, 15.0)),
    )
    h.step()
    ack, fill = h.strategy.slippage
    assert ack[:4] == fill[:4] == (10_003 * P, 2 * Q, 9.998, 14.996)
    assert math.isnan(ack[4]) and math.isnan(ack[5])
    assert fill[4:] == (10.0, 15.0)
    other = h.strategy.buy(AAA, Q, 9_000 * P)
    h.step()
    h.answer(r.report(AAA, 3, other.seq, ExecType.ACK))  # a report nobody estimated
    h.step()
    assert len(h.strategy.slippage) == 3
    assert h.strategy.slippage[-1][:2] == (0, 0) and math.isnan(h.strategy.slippage[-1][2])


def test_should_keep_an_order_whose_replace_was_rejected(harness: Any) -> None:
    h: Harness = harness({"id": 3, "class": RECORDER})
    h.send(_book())
    h.step()
    order = h.strategy.buy(AAA, Q, 10_000 * P)
    h.answer(r.report(AAA, 3, order.seq, ExecType.ACK))
    h.step()
    new = h.strategy.replace(order, price=Decimal("99.98"))
    (intent,) = (fields(i) for i in h.step()[-1:])
    assert (intent["action"], intent["orig_order_seq"], intent["order_seq"], intent["price"]) == (
        IntentAction.REPLACE, order.seq, new.seq, 9_998 * P)  # fmt: skip
    assert order.state is OrderState.PENDING_REPLACE
    h.answer(r.report(AAA, 3, new.seq, ExecType.REJECTED, reason=RejectReason.VENUE, venue_code=-2010))
    h.step()
    assert (order.state, new.state, new.venue_code) == (OrderState.OPEN, OrderState.REJECTED, -2010)
    newer = h.strategy.replace(order, price=Decimal("99.97"))
    h.step()
    h.answer(r.report(AAA, 3, newer.seq, ExecType.REPLACED))
    h.step()
    assert (order.state, newer.state) == (OrderState.REPLACED, OrderState.OPEN)
    assert list(h.strategy.open_orders(AAA)) == [newer]


def test_should_disable_a_strategy_that_keeps_raising_and_cancel_its_orders(harness: Any) -> None:
    h: Harness = harness({"id": 9, "name": "bad", "class": FAULTY, "max_errors": 3})
    h.send(_book(update_id=1))
    (_first_buy,) = h.step()
    for i in range(5):
        h.send(_book(update_id=2 + i, origin=2_000 + i))
        h.step()
    cancel_all = [fields(i) for i in h.intents if fields(i)["action"] == IntentAction.CANCEL_ALL]
    assert [(c["instrument"], c["strategy_id"]) for c in cancel_all] == [(AAA, 9)]
    counters = h.counters()
    assert (counters["bad.errors"], counters["bad.disabled"], counters["bad.books"]) == (3, 1, 6)
    assert not h.runner.enabled
    assert h.strategy.buy(AAA, Q, 10_000 * P) is None
    assert counters["bad.refused"] == 0 and h.counters()["bad.refused.strategy_disabled"] == 1
    errors = [e.message for e in h.ctx.control.read_errors(h.ctx.index)]
    assert any("strategy bad: on_book: RuntimeError: bad model on update 2" in m for m in errors)
    assert any("strategy bad disabled" in m for m in errors)


def test_should_give_byte_identical_intents_for_the_same_records(harness: Any) -> None:
    stream = [
        *(
            _book(bid=(10_000 + i % 3) * P, ask=(10_004 + i % 3) * P, update_id=i, origin=1_000 * i)
            for i in range(1, 30)
        ),
        r.trade(AAA, 10_001 * P, 20 * 10**8, origin=31_000),
    ]

    def run(h: Harness) -> list[bytes]:
        for record in stream:
            h.send(record)
            h.step()
        h.answer(r.report(AAA, 1, 1, ExecType.CANCELED))
        h.step()
        h.send(_book(update_id=99, origin=40_000))
        h.step()
        # every byte but this stage's own hop stamp (the wall time it took the record in)
        return [i[:40] + i[48:] for i in h.intents]

    first = run(harness({"id": 1, "class": JOIN}))
    second = run(harness({"id": 1, "class": JOIN}))
    assert [i[114] for i in first] == [IntentAction.NEW] * 3  # two quotes, one IOC
    assert first == second


def test_should_flag_intents_a_tick_caused_and_not_those_a_report_caused(harness: Any) -> None:
    h: Harness = harness({"id": 3, "class": RECORDER})
    h.send(_book())
    h.step()
    order = h.strategy.buy(AAA, Q, 10_000 * P)  # while handling nothing: the last tick is the cause
    h.step()
    h.answer(r.report(AAA, 3, order.seq, ExecType.ACK))
    h.step()
    h.runner._cause, h.runner._measured = bytes(40), False  # as after a report or a timer
    h.strategy.cancel(order)
    h.step()
    first, cancel = (fields(i) for i in h.intents)
    assert first["flags"] == RecordFlag.TICK_CAUSED
    assert cancel["flags"] == 0
