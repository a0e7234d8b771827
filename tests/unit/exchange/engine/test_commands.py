"""The engine stage, command by command: what each EX_COMMAND yields on the event ring, as exact tables.

Prices at scale 2 (10000 = 100.00), quantities at scale 3 (1000 = 1.000), so
cum_quote (price * qty) is at scale 5. Accounts 1 and 2 make, account 3 takes.
"""

from __future__ import annotations

from typing import Any, Final

import pytest

from hftpipe.schema.exchange import (
    EX_EVENT_DTYPE,
    Command,
    Event,
    ExpireReason,
    OrderStatus,
    ReplaceMode,
    ReplaceOutcome,
    STPMode,
)
from hftpipe.schema.exchange_codec import event_body
from hftpipe.schema.exchange_errors import REJECT_MESSAGES, reject_reason
from hftpipe.schema.records import RecordType
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from tests.unit.exchange.engine.conftest import MakeHarness
from tests.unit.exchange.engine.harness import END, INSTRUMENT, REPLAY, EngineHarness

BID, ASK = int(OrderSide.BUY), int(OrderSide.SELL)
LIMIT, MARKET, LIMIT_MAKER = int(OrderType.LIMIT), int(OrderType.MARKET), int(OrderType.LIMIT_MAKER)
GTC, IOC, FOK = int(TimeInForce.GTC), int(TimeInForce.IOC), int(TimeInForce.FOK)
NEW, TRADE, CANCELED, EXPIRED, REJECTED = Event.NEW, Event.TRADE, Event.CANCELED, Event.EXPIRED, Event.REJECTED
S_NEW, S_PART, S_FILLED = OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED
S_CANCELED, S_EXPIRED, S_IN_MATCH = OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.EXPIRED_IN_MATCH
S_REJECTED = OrderStatus.REJECTED
BODY_FIELDS: Final = EX_EVENT_DTYPE.names[7:] if EX_EVENT_DTYPE.names else ()  # after the header (ts_hop is one)
UNKNOWN_ORDER: Final = (-2011, reject_reason("Unknown order sent."))


def body(e: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(e[name] for name in BODY_FIELDS)


def pick(events: list[dict[str, Any]], *names: str) -> list[tuple[Any, ...]]:
    return [tuple(e[n] for n in names) for e in events]


def rest(h: EngineHarness, account: int, side: int, price: int, qty: int, client_id: str = "") -> int:
    """A GTC limit that must rest untouched; its order id."""
    [e] = h.step(
        Command.NEW_ORDER, account=account, side=side, order_type=LIMIT, tif=GTC, price=price, qty=qty,
        client_order_id=client_id or f"c{account}-{price}-{qty}",
    )  # fmt: skip
    assert e["event"] == NEW, e
    return int(e["order_id"])


def order(h: EngineHarness, account: int, side: int, price: int, qty: int, **more: Any) -> list[dict[str, Any]]:
    fields: dict[str, Any] = {"order_type": LIMIT, "tif": GTC, "client_order_id": f"t{account}"} | more
    return h.step(Command.NEW_ORDER, account=account, side=side, price=price, qty=qty, **fields)


def only_end_on_last(events: list[dict[str, Any]]) -> bool:
    return [bool(e["flags"] & END) for e in events] == [False] * (len(events) - 1) + [True]


# --------------------------------------------------------------------------------- new orders


def test_should_accept_a_resting_limit_with_one_new_event_carrying_the_commands_header(
    make_harness: MakeHarness,
) -> None:
    h = make_harness()
    sent = h.send(
        Command.NEW_ORDER, account=7, side=BID, order_type=LIMIT, tif=GTC, stp_mode=int(STPMode.EXPIRE_MAKER),
        price=9900, qty=1500, client_order_id="mine-1", flags=REPLAY,
    )  # fmt: skip
    h.run()
    [e] = h.events()
    header = (e["rtype"], e["flags"], e["instrument"], e["seq"], e["ts_venue"], e["ts_origin"], e["ts_hop"])
    assert header == (
        RecordType.EX_EVENT, REPLAY | END, INSTRUMENT, sent["seq"], sent["ts_venue"], sent["ts_origin"],
        h.stamped(sent["ts_hop"], e["ts_hop"]),  # the command's, but for the engine's own stamp
    )
    assert body(e) == event_body(
        request_id=sent["request_id"], account=7, event=NEW, side=BID, order_type=LIMIT, tif=GTC, status=S_NEW,
        stp_mode=int(STPMode.EXPIRE_MAKER), order_id=1, price=9900, qty=1500, client_order_id=b"mine-1",
    )  # fmt: skip
    assert h.stage.engine.depth(5) == ([(9900, 1500)], [])


def test_should_report_each_match_as_a_maker_then_a_taker_trade(make_harness: MakeHarness) -> None:
    h = make_harness()
    m1 = rest(h, 1, ASK, 10000, 500, "maker-a")
    m2 = rest(h, 2, ASK, 10100, 300, "maker-b")
    events = order(h, 3, BID, 10100, 600, client_order_id="taker")
    request = events[0]["request_id"]
    assert pick(
        events, "event", "request_id", "account", "order_id", "side", "is_maker", "status", "last_price", "last_qty",
        "cum_qty", "cum_quote", "trade_id", "price", "qty", "client_order_id",
    ) == [
        (NEW, request, 3, 3, BID, 0, S_NEW, 0, 0, 0, 0, 0, 10100, 600, b"taker"),
        (TRADE, 0, 1, m1, ASK, 1, S_FILLED, 10000, 500, 500, 10000 * 500, 1, 10000, 500, b"maker-a"),
        (TRADE, request, 3, 3, BID, 0, S_PART, 10000, 500, 500, 10000 * 500, 1, 10100, 600, b"taker"),
        (TRADE, 0, 2, m2, ASK, 1, S_PART, 10100, 100, 100, 10100 * 100, 2, 10100, 300, b"maker-b"),
        (TRADE, request, 3, 3, BID, 0, S_FILLED, 10100, 100, 600, 10000 * 500 + 10100 * 100, 2, 10100, 600, b"taker"),
    ]  # fmt: skip
    assert only_end_on_last(events)
    # The partly filled maker's cum_quote carries over to its next fill.
    events = order(h, 3, BID, 10100, 200, client_order_id="taker-2")
    assert pick(events[1:], "order_id", "is_maker", "status", "cum_qty", "cum_quote") == [
        (m2, 1, S_FILLED, 300, 10100 * 300),
        (4, 0, S_FILLED, 200, 10100 * 200),
    ]


def test_should_copy_the_request_id_onto_a_makers_trade_of_the_same_account(make_harness: MakeHarness) -> None:
    h = make_harness()
    rest(h, 3, ASK, 10000, 100)
    events = order(h, 3, BID, 10000, 100)
    assert pick(events, "event", "is_maker", "account", "request_id") == [
        (NEW, 0, 3, events[0]["request_id"]),
        (TRADE, 1, 3, events[0]["request_id"]),
        (TRADE, 0, 3, events[0]["request_id"]),
    ]


@pytest.mark.parametrize(
    ("tif", "qty", "want"),
    [
        pytest.param(IOC, 800, [(NEW, S_NEW, 0, 0), (TRADE, S_FILLED, 0, 0), (TRADE, S_PART, 0, 500),
                                (EXPIRED, S_EXPIRED, int(ExpireReason.IOC), 500)], id="ioc-remainder"),
        pytest.param(FOK, 800, [(NEW, S_NEW, 0, 0), (EXPIRED, S_EXPIRED, int(ExpireReason.FOK), 0)],
                     id="fok-no-trade"),
        pytest.param(FOK, 500, [(NEW, S_NEW, 0, 0), (TRADE, S_FILLED, 0, 0), (TRADE, S_FILLED, 0, 500)],
                     id="fok-fills"),
    ],
)  # fmt: skip
def test_should_expire_ioc_and_fok_remainders(
    make_harness: MakeHarness, tif: int, qty: int, want: list[tuple[int, ...]]
) -> None:
    h = make_harness()
    rest(h, 1, ASK, 10000, 500)
    events = order(h, 3, BID, 10000, qty, tif=tif)
    assert [(e["event"], e["status"], e["expire_reason"], e["cum_qty"] * (not e["is_maker"])) for e in events] == want
    assert events[-1]["qty"] == qty and events[-1]["order_id"] == 2
    assert only_end_on_last(events)


def test_should_reject_a_crossing_limit_maker_with_binances_code_and_reason(make_harness: MakeHarness) -> None:
    h = make_harness()
    rest(h, 1, ASK, 10000, 500)
    [e] = order(h, 3, BID, 10000, 100, order_type=LIMIT_MAKER, client_order_id="lm")
    assert body(e) == event_body(
        request_id=e["request_id"], account=3, event=REJECTED, side=BID, order_type=LIMIT_MAKER, tif=GTC,
        status=S_REJECTED, reject_code=-2010, reject_reason=reject_reason("Order would immediately match and take."),
        price=10000, qty=100, client_order_id=b"lm",
    )  # fmt: skip
    assert e["flags"] == END
    [e] = order(h, 3, BID, 20_000_000, 100)
    assert (e["reject_code"], REJECT_MESSAGES[e["reject_reason"]]) == (-1013, "Filter failure: PRICE_FILTER")


@pytest.mark.parametrize(
    ("stp", "want"),
    [
        pytest.param(STPMode.EXPIRE_TAKER, [(NEW, 3, S_NEW, 0), (EXPIRED, 3, S_IN_MATCH, ExpireReason.STP)],
                     id="expire-taker"),
        pytest.param(STPMode.EXPIRE_MAKER, [(NEW, 3, S_NEW, 0), (EXPIRED, 1, S_IN_MATCH, ExpireReason.STP),
                                            (TRADE, 2, S_FILLED, 0), (TRADE, 3, S_FILLED, 0)], id="expire-maker"),
        pytest.param(STPMode.EXPIRE_BOTH, [(NEW, 3, S_NEW, 0), (EXPIRED, 1, S_IN_MATCH, ExpireReason.STP),
                                           (EXPIRED, 3, S_IN_MATCH, ExpireReason.STP)], id="expire-both"),
    ],
)  # fmt: skip
def test_should_expire_per_the_takers_stp_mode(
    make_harness: MakeHarness, stp: STPMode, want: list[tuple[int, ...]]
) -> None:
    h = make_harness()
    own = rest(h, 3, ASK, 10000, 200, "own")  # order 1, account 3
    other = rest(h, 2, ASK, 10000, 200, "other")  # order 2
    events = order(h, 3, BID, 10000, 200, stp_mode=int(stp))
    ids = {1: own, 2: other, 3: 3}
    assert [(e["event"], ids_inverse(ids, e["order_id"]), e["status"], e["expire_reason"]) for e in events] == want
    maker_expiry = [e for e in events if e["event"] == EXPIRED and e["order_id"] == own]
    for e in maker_expiry:  # the maker's own fields and client id, the taker's request
        assert (e["account"], e["side"], e["price"], e["qty"], e["client_order_id"]) == (3, ASK, 10000, 200, b"own")
        assert e["request_id"] == events[0]["request_id"]


def ids_inverse(ids: dict[int, int], order_id: int) -> int:
    return {v: k for k, v in ids.items()}[order_id]


# --------------------------------------------------------------------------------- market orders and cap


def test_should_sell_at_market_until_the_book_runs_out(make_harness: MakeHarness) -> None:
    h = make_harness()
    rest(h, 1, BID, 10000, 300)
    events = order(h, 3, ASK, 0, 500, order_type=MARKET)
    assert pick(events, "event", "status", "expire_reason", "cum_qty", "qty") == [
        (NEW, S_NEW, 0, 0, 500),
        (TRADE, S_FILLED, 0, 300, 300),
        (TRADE, S_PART, 0, 300, 500),
        (EXPIRED, S_EXPIRED, int(ExpireReason.MARKET), 300, 500),
    ]


@pytest.mark.parametrize(
    ("side", "qty", "quote_qty", "cap", "want_fills", "want_end"),
    [
        # BUY 10.000 by qty, cap 2.5 lots' worth at 100.00 and 1 at 101.00: cut to whole lots (step 0.001).
        pytest.param(BID, 10_000, 0, 10000 * 1000 + 10100 * 500, [(10000, 1000), (10100, 500)],
                     (EXPIRED, S_EXPIRED, ExpireReason.MARKET), id="buy-qty-cap-binds"),
        pytest.param(BID, 1_500, 0, 10**12, [(10000, 1000), (10100, 500)], (TRADE, S_FILLED, 0), id="buy-cap-loose"),
        pytest.param(BID, 1_500, 0, 10000 * 1000 - 1, [(10000, 999)], (EXPIRED, S_EXPIRED, ExpireReason.MARKET),
                     id="buy-cap-mid-level"),
        # BUY by quote 150.00 (commands carry it at price*qty scale) with a cap of 100.00: the cap stops it.
        pytest.param(BID, 0, 15000 * 1000, 10000 * 1000, [(10000, 1000)], (EXPIRED, S_EXPIRED, ExpireReason.MARKET),
                     id="buy-quote-capped"),
    ],
)  # fmt: skip
def test_should_stop_a_market_order_at_its_cap(
    make_harness: MakeHarness,
    side: int,
    qty: int,
    quote_qty: int,
    cap: int,
    want_fills: list[tuple[int, int]],
    want_end: tuple[int, int, int],
) -> None:
    h = make_harness()
    rest(h, 1, ASK, 10000, 1000)
    rest(h, 1, ASK, 10100, 2000)
    events = order(h, 3, side, 0, qty, order_type=MARKET, quote_qty=quote_qty, cap=cap)
    taker = [e for e in events if e["event"] == TRADE and not e["is_maker"]]
    assert [(e["last_price"], e["last_qty"]) for e in taker] == want_fills
    spent = sum(p * q for p, q in want_fills)
    assert spent <= cap and taker[-1]["cum_quote"] == spent
    assert (events[-1]["event"], events[-1]["status"], events[-1]["expire_reason"]) == want_end


def test_should_cap_a_market_sell_in_base_quantity(make_harness: MakeHarness) -> None:
    h = make_harness()
    rest(h, 1, BID, 10000, 1000)
    rest(h, 1, BID, 9900, 1000)
    events = order(h, 3, ASK, 0, 1800, order_type=MARKET, cap=1500)
    assert pick(events, "event", "is_maker", "last_qty", "cum_qty", "status") == [
        (NEW, 0, 0, 0, S_NEW),
        (TRADE, 1, 1000, 1000, S_FILLED),
        (TRADE, 0, 1000, 1000, S_PART),
        (TRADE, 1, 500, 500, S_PART),
        (TRADE, 0, 500, 1500, S_PART),
        (EXPIRED, 0, 0, 1500, S_EXPIRED),
    ]
    assert h.stage.engine.depth(5) == ([(9900, 500)], [])


# --------------------------------------------------------------------------------- cancels


def test_should_cancel_by_order_id_and_by_tag(make_harness: MakeHarness) -> None:
    h = make_harness()
    first = rest(h, 1, ASK, 10000, 500, "first")  # seq 1: its tag is 1
    rest(h, 1, ASK, 10100, 700, "second")  # seq 2
    order(h, 3, BID, 10000, 200)  # partly fills "first"
    [e] = h.step(Command.CANCEL, account=1, order_id=first, client_order_id="cxl-1")
    assert body(e) == event_body(
        request_id=e["request_id"], account=1, event=CANCELED, side=ASK, order_type=LIMIT, tif=GTC,
        status=S_CANCELED, order_id=first, price=10000, qty=500, cum_qty=200, cum_quote=10000 * 200,
        client_order_id=b"cxl-1", orig_client_order_id=b"first",
    )  # fmt: skip
    [e] = h.step(Command.CANCEL, account=1, tag=2, client_order_id="cxl-2")
    assert (e["event"], e["order_id"], e["qty"], e["cum_qty"], e["orig_client_order_id"]) == (
        CANCELED, 2, 700, 0, b"second"
    )
    assert h.stage.engine.depth(5) == ([], [])


@pytest.mark.parametrize(
    "target",
    [
        pytest.param({"order_id": 99}, id="unknown-id"),
        pytest.param({"order_id": -1}, id="accountings-no-such-order"),
        pytest.param({"tag": 99}, id="unknown-tag"),
        pytest.param({"order_id": 1, "account": 2}, id="another-accounts"),
        pytest.param({"order_id": 1, "tag": 5}, id="id-and-tag-disagree"),
    ],
)
def test_should_reject_cancelling_an_unknown_order_with_2011(make_harness: MakeHarness, target: dict[str, int]) -> None:
    h = make_harness()
    rest(h, 1, ASK, 10000, 500)
    [e] = h.step(Command.CANCEL, **({"account": 1} | target))
    assert (e["event"], e["reject_code"], e["reject_reason"], e["flags"]) == (REJECTED, *UNKNOWN_ORDER, END)
    assert h.stage.engine.depth(5) == ([], [(10000, 500)])


def test_should_cancel_all_open_orders_of_one_account_by_order_id(make_harness: MakeHarness) -> None:
    h = make_harness()
    a = rest(h, 1, ASK, 10100, 500)
    rest(h, 2, ASK, 10100, 300)
    b = rest(h, 1, BID, 9900, 400)
    events = h.step(Command.CANCEL_ALL, account=1)
    assert pick(events, "event", "account", "order_id", "side", "price", "qty") == [
        (CANCELED, 1, a, ASK, 10100, 500),
        (CANCELED, 1, b, BID, 9900, 400),
    ]
    assert only_end_on_last(events)
    assert h.stage.engine.depth(5) == ([], [(10100, 300)])
    [e] = h.step(Command.CANCEL_ALL, account=1)
    assert (e["event"], e["reject_code"], e["reject_reason"]) == (REJECTED, *UNKNOWN_ORDER)


# --------------------------------------------------------------------------------- cancel-replace


def replace(h: EngineHarness, **fields: Any) -> list[dict[str, Any]]:
    values: dict[str, Any] = {
        "account": 1, "side": ASK, "order_type": LIMIT, "tif": GTC, "price": 10200, "qty": 100,
        "client_order_id": "new", "cancel_client_order_id": "cxl", "orig_client_order_id": "old",
    } | fields  # fmt: skip
    return h.step(Command.CANCEL_REPLACE, **values)


@pytest.mark.parametrize(
    ("fields", "want", "outcome"),
    [
        pytest.param({"order_id": 1}, [CANCELED, NEW], ReplaceOutcome.SUCCESS, id="success"),
        pytest.param({"order_id": 9}, [REJECTED], ReplaceOutcome.CANCEL_FAILED, id="cancel-fails-stop"),
        pytest.param({"order_id": 1, "order_type": LIMIT_MAKER, "price": 9900}, [CANCELED, REJECTED],
                     ReplaceOutcome.NEW_FAILED, id="new-fails"),
        pytest.param({"order_id": 9, "replace_mode": int(ReplaceMode.ALLOW_FAILURE)}, [REJECTED, NEW],
                     ReplaceOutcome.CANCEL_FAILED_NEW_PLACED, id="cancel-fails-allow"),
        pytest.param({"order_id": 9, "replace_mode": int(ReplaceMode.ALLOW_FAILURE), "order_type": LIMIT_MAKER,
                      "price": 9900}, [REJECTED, REJECTED], ReplaceOutcome.BOTH_FAILED, id="both-fail"),
        pytest.param({"tag": 1}, [CANCELED, NEW], ReplaceOutcome.SUCCESS, id="target-by-tag"),
    ],
)  # fmt: skip
def test_should_answer_cancel_replace_per_half_then_close_with_the_outcome(
    make_harness: MakeHarness, fields: dict[str, Any], want: list[int], outcome: ReplaceOutcome
) -> None:
    h = make_harness()
    old = rest(h, 1, ASK, 10000, 500, "old")
    rest(h, 2, BID, 9900, 100)
    events = replace(h, **fields)
    assert [e["event"] for e in events] == [*want, Event.CANCEL_REPLACE]
    closing = events[-1]
    new_id = next((e["order_id"] for e in events if e["event"] == NEW), 0)
    assert (closing["status"], closing["order_id"], closing["flags"]) == (outcome, new_id, END)
    assert only_end_on_last(events)
    first = events[0]
    if first["event"] == CANCELED:
        assert (first["order_id"], first["client_order_id"], first["orig_client_order_id"]) == (old, b"cxl", b"old")
    else:
        assert (first["reject_code"], first["reject_reason"], first["client_order_id"]) == (*UNKNOWN_ORDER, b"cxl")
    if new_id:
        assert new_id == 3 and h.stage.engine.order_status(new_id) is not None
        assert h.stage.engine.order_status(new_id).client_order_id == closing["seq"]  # type: ignore[union-attr]


def test_should_refuse_a_cancel_replace_whose_new_order_fails_its_filters_as_a_whole(make_harness: MakeHarness) -> None:
    h = make_harness()
    rest(h, 1, ASK, 10000, 500, "old")
    [e] = replace(h, order_id=1, qty=0)
    assert (e["event"], e["reject_code"], REJECT_MESSAGES[e["reject_reason"]], e["flags"]) == (
        REJECTED, -1013, "Filter failure: LOT_SIZE", END
    )
    assert h.stage.engine.depth(5) == ([], [(10000, 500)])  # nothing canceled


# --------------------------------------------------------------------------------- queries and the rest


def test_should_answer_a_depth_query_best_first_then_done_with_the_last_update_id(make_harness: MakeHarness) -> None:
    h = make_harness()
    for price in (9800, 9900, 9700):
        rest(h, 1, BID, price, 100)
    for price in (10100, 10000):
        rest(h, 2, ASK, price, 200)
    order(h, 3, BID, 10000, 50)  # one more delta: 6 updates so far
    events = h.step(Command.DEPTH, journaled=False, qty=2)
    assert pick(events, "event", "side", "price", "qty", "order_id") == [
        (Event.DEPTH_LEVEL, BID, 9900, 100, 0),
        (Event.DEPTH_LEVEL, BID, 9800, 100, 0),
        (Event.DEPTH_LEVEL, ASK, 10000, 150, 0),
        (Event.DEPTH_LEVEL, ASK, 10100, 200, 0),
        (Event.DONE, 0, 0, 0, 6),
    ]
    assert only_end_on_last(events) and {e["seq"] for e in events} == {0}
    [done] = h.step(Command.DEPTH, journaled=False, qty=0)[-1:]
    assert done["order_id"] == 6


def test_should_answer_every_command_even_one_it_does_not_handle(make_harness: MakeHarness) -> None:
    h = make_harness()
    [e] = h.step(Command.ORDER_STATUS, account=1)
    assert (e["event"], e["reject_code"], e["flags"]) == (REJECTED, -1000, END)
    assert h.counter("md_records") == 0
