"""Accounting's own answers: rejects, duplicate ids, cancels by client id, queries, admin, the halt."""

from __future__ import annotations

from hftpipe.schema.exchange import ALL_ACCOUNTS, FEE_ACCOUNT, Command, OrderStatus, ReplaceMode, ReplaceOutcome
from hftpipe.schema.exchange_errors import REJECT_MESSAGES
from hftpipe.schema.trading import OrderType
from hftpipe.substrate.counters import CounterKind
from tests.unit.exchange.accounting.harness import (
    ALICE,
    BOB,
    BTC,
    BTCUSDT,
    BUY,
    CAROL,
    E8,
    ETH,
    ETHUSDT,
    SELL,
    USDT,
    MakeExchange,
    kinds,
)


def reason(record: dict[str, object]) -> str:
    index = record["reject_reason"]
    assert isinstance(index, int)
    return REJECT_MESSAGES[index]


def test_should_reject_an_order_the_account_cannot_pay_for_with_minus_2010(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    answer = h.order(BTCUSDT, ALICE, BUY, "60000", "2")  # 120000 USDT > 100000
    assert kinds(answer) == ["REJECTED", "DONE"]
    assert answer[0]["reject_code"] == -2010
    assert reason(answer[0]) == "Account has insufficient balance for requested action."
    assert h.engines[BTCUSDT].seen == []  # never sequenced
    assert h.stage.journal.count == 5  # the genesis deposits only
    answer = h.request(Command.NEW_ORDER, BTCUSDT, account=CAROL, side=BUY, order_type=OrderType.MARKET, qty=1)
    assert kinds(answer) == ["REJECTED", "DONE"] and answer[0]["reject_code"] == -2010  # nothing to spend at all


def test_should_reject_a_duplicate_client_order_id_among_live_orders(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.order(BTCUSDT, ALICE, BUY, "50000", "0.1", client_order_id="same")
    answer = h.order(BTCUSDT, ALICE, BUY, "50000", "0.1", client_order_id="same")
    assert kinds(answer) == ["REJECTED", "DONE"]
    assert (answer[0]["reject_code"], reason(answer[0])) == (-2010, "Duplicate order sent.")
    assert answer[0]["client_order_id"] == "same"
    # Another account, or another symbol, may use it; and so may this one once the order is gone.
    assert kinds(h.order(BTCUSDT, BOB, BUY, "50000", "0.1", client_order_id="same"))[0] == "NEW"
    assert kinds(h.order(ETHUSDT, ALICE, BUY, "3000", "1", client_order_id="same"))[0] == "NEW"
    h.request(Command.CANCEL, BTCUSDT, account=ALICE, orig_client_order_id="same")
    assert kinds(h.order(BTCUSDT, ALICE, BUY, "50000", "0.1", client_order_id="same"))[0] == "NEW"


def test_should_cancel_an_acknowledged_order_by_orig_client_order_id(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.order(BTCUSDT, ALICE, BUY, "50000", "0.1", client_order_id="mine")
    answer = h.request(Command.CANCEL, BTCUSDT, account=ALICE, orig_client_order_id="mine", client_order_id="kill")
    assert kinds(answer) == ["CANCELED", "BALANCE", "DONE"]
    assert (answer[0]["client_order_id"], answer[0]["orig_client_order_id"]) == ("kill", "mine")
    assert h.engines[BTCUSDT].seen[-1][24] == h.engines[BTCUSDT].seen[-2][3]  # tag = the order's seq
    assert h.balance(ALICE, USDT) == (100000 * E8, 0)


def test_should_cancel_a_pending_order_by_orig_client_order_id(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    place = h.send(Command.NEW_ORDER, BTCUSDT, account=ALICE, side=BUY, price=5_000_000, qty=10_000,
                   client_order_id="early")  # fmt: skip
    cancel = h.send(Command.CANCEL, BTCUSDT, account=ALICE, orig_client_order_id="early")
    h.step()  # both sequenced before the engine saw either
    assert h.stage.accountant.orders.pending
    h.run()
    assert kinds(h.answer(place)) == ["NEW", "BALANCE", "DONE"]
    assert kinds(h.answer(cancel)) == ["CANCELED", "BALANCE", "DONE"]
    assert h.balance(ALICE, USDT) == (100000 * E8, 0)


def test_should_answer_minus_2011_to_a_cancel_of_an_unknown_client_order_id(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    answer = h.request(Command.CANCEL, BTCUSDT, account=ALICE, orig_client_order_id="nope")
    assert kinds(answer) == ["REJECTED", "DONE"]
    assert (answer[0]["reject_code"], reason(answer[0])) == (-2011, "Unknown order sent.")
    h.order(BTCUSDT, BOB, BUY, "50000", "0.1", client_order_id="bobs")
    answer = h.request(Command.CANCEL, BTCUSDT, account=ALICE, orig_client_order_id="bobs")  # not alice's
    assert answer[0]["reject_code"] == -2011


def test_should_answer_order_status_and_open_orders_from_the_order_table(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.order(BTCUSDT, ALICE, BUY, "50000", "0.1", client_order_id="o1")
    h.order(ETHUSDT, ALICE, BUY, "3000", "1", client_order_id="o2")
    h.order(BTCUSDT, BOB, SELL, "50000", "0.04")  # fills 0.04 of o1

    answer = h.request(Command.ORDER_STATUS, BTCUSDT, account=ALICE, orig_client_order_id="o1")
    assert kinds(answer) == ["ORDER", "DONE"]
    order = answer[0]
    assert (order["order_id"], order["client_order_id"], order["status"]) == (1, "o1", OrderStatus.PARTIALLY_FILLED)
    assert (order["price"], order["qty"], order["cum_qty"], order["cum_quote"]) == (5_000_000, 10_000, 4_000,
                                                                                    5_000_000 * 4_000)  # fmt: skip
    assert order["ts_venue"] > 0
    assert h.request(Command.ORDER_STATUS, BTCUSDT, account=ALICE, order_id=1)[0]["client_order_id"] == "o1"

    answer = h.request(Command.OPEN_ORDERS, 0, account=ALICE)
    assert kinds(answer) == ["ORDER", "ORDER", "DONE"]
    assert [(r["instrument"], r["client_order_id"]) for r in answer[:2]] == [(BTCUSDT, "o1"), (ETHUSDT, "o2")]
    assert kinds(h.request(Command.OPEN_ORDERS, ETHUSDT, account=ALICE)) == ["ORDER", "DONE"]
    assert kinds(h.request(Command.OPEN_ORDERS, 0, account=CAROL)) == ["DONE"]

    h.request(Command.CANCEL, BTCUSDT, account=ALICE, order_id=1)
    finished = h.request(Command.ORDER_STATUS, BTCUSDT, account=ALICE, orig_client_order_id="o1")[0]
    assert (finished["status"], finished["cum_qty"]) == (OrderStatus.CANCELED, 4_000)

    for missing in ({"order_id": 99}, {"orig_client_order_id": "zz"}, {"order_id": 1, "account": BOB}):
        values = {"account": ALICE, **missing}
        answer = h.request(Command.ORDER_STATUS, BTCUSDT, **values)
        assert kinds(answer) == ["REJECTED", "DONE"]
        assert (answer[0]["reject_code"], reason(answer[0])) == (-2013, "Order does not exist.")


def test_should_deposit_withdraw_and_answer_balances(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    answer = h.request(Command.DEPOSIT, account=CAROL, asset=ETH, qty=5 * E8)
    assert kinds(answer) == ["BALANCE_UPDATE", "BALANCE", "DONE"]
    assert (answer[0]["commission_asset"], answer[0]["qty"]) == (ETH, 5 * E8)
    assert (answer[1]["qty"], answer[1]["quote_qty"]) == (5 * E8, 0)
    answer = h.request(Command.WITHDRAW, account=CAROL, asset=ETH, qty=2 * E8)
    assert kinds(answer) == ["BALANCE_UPDATE", "BALANCE", "DONE"]
    assert answer[0]["qty"] == -2 * E8
    withdrawn_ns = answer[-1]["ts_venue"]
    assert withdrawn_ns > 0
    answer = h.request(Command.WITHDRAW, account=CAROL, asset=ETH, qty=4 * E8)
    assert kinds(answer) == ["REJECTED", "DONE"] and answer[0]["reject_code"] == -2010
    assert h.balance(CAROL, ETH) == (3 * E8, 0)

    answer = h.request(Command.ACCOUNT_STATUS, account=CAROL)
    assert [(r["commission_asset"], r["qty"]) for r in answer[:-1]] == [(BTC, 0), (USDT, 0), (ETH, 3 * E8)]
    assert {r["ts_venue"] for r in answer[:-1]} == {withdrawn_ns}  # the last change (the refused one changed nothing)
    answer = h.request(Command.BALANCES, account=ALL_ACCOUNTS)
    assert answer[-1]["event_name"] == "DONE" and answer[-1]["status"] == 0
    accounts = sorted({r["account"] for r in answer[:-1]})
    assert accounts == [FEE_ACCOUNT, ALICE, BOB, CAROL]
    assert len(answer) == 4 * 3 + 1


def test_should_halt_trading_but_allow_cancels_when_the_invariant_fails(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.order(BTCUSDT, ALICE, BUY, "50000", "0.1", client_order_id="keep")
    h.stage.accountant.ledger.balance(BOB, USDT).free += 1  # corruption behind the ledger's back
    h.allowed_errors = 1
    answer = h.request(Command.BALANCES, account=BOB)
    assert answer[-1]["status"] == 1  # the admin "status" sees invariant_ok = false
    assert not h.stage.accountant.invariant.ok
    assert len(h.errors) == 1 and "ledger invariant failed" in h.errors[0] and "asset 2" in h.errors[0]
    assert h.stage.ctx.counters.add("invariant_failures").value == 1

    answer = h.order(BTCUSDT, ALICE, BUY, "50000", "0.1")
    assert kinds(answer) == ["REJECTED", "DONE"]
    assert (answer[0]["reject_code"], reason(answer[0])) == (-2010, "Trading is halted: the ledger invariant failed.")
    answer = h.request(Command.CANCEL_REPLACE, BTCUSDT, account=ALICE, orig_client_order_id="keep", side=BUY,
                       price=5_000_000, qty=10_000)  # fmt: skip
    assert kinds(answer) == ["REJECTED", "DONE"]
    answer = h.request(Command.CANCEL, BTCUSDT, account=ALICE, orig_client_order_id="keep")
    assert kinds(answer) == ["CANCELED", "BALANCE", "DONE"]
    h.request(Command.BALANCES, account=BOB)
    assert len(h.errors) == 1  # logged once


def test_should_detect_a_running_total_mismatch_after_a_batch(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.stage.accountant.ledger.total[USDT] += 7  # a primitive that moved money without its counterpart
    h.allowed_errors = 1
    h.order(BTCUSDT, ALICE, BUY, "50000", "0.1")
    assert not h.stage.accountant.invariant.ok
    assert "asset 2" in h.errors[0]


def test_should_let_cancel_replace_reuse_the_funds_of_the_order_it_replaces(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.order(BTCUSDT, ALICE, BUY, "50000", "2", client_order_id="big")  # all 100000 USDT held
    assert h.balance(ALICE, USDT) == (0, 100000 * E8)
    answer = h.request(Command.CANCEL_REPLACE, BTCUSDT, account=ALICE, orig_client_order_id="big", side=BUY,
                       price=4_000_000, qty=200_000, client_order_id="big",
                       cancel_client_order_id="swap")  # fmt: skip
    assert kinds(answer) == ["CANCELED", "NEW", "CANCEL_REPLACE", "BALANCE", "DONE"]
    assert answer[0]["client_order_id"] == "swap" and answer[0]["orig_client_order_id"] == "big"
    assert answer[1]["client_order_id"] == "big" and answer[2]["status"] == ReplaceOutcome.SUCCESS
    assert h.balance(ALICE, USDT) == (20000 * E8, 80000 * E8)
    # ALLOW_FAILURE may place the new order without the cancel, so it gets no such credit.
    answer = h.request(Command.CANCEL_REPLACE, BTCUSDT, account=ALICE, orig_client_order_id="big", side=BUY,
                       price=5_000_000, qty=200_000, replace_mode=ReplaceMode.ALLOW_FAILURE)  # fmt: skip
    assert kinds(answer) == ["REJECTED", "DONE"] and answer[0]["reject_code"] == -2010
    assert h.stage.accountant.invariant.check_now()


def test_should_replace_an_unknown_order_as_a_failed_cancel(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    answer = h.request(Command.CANCEL_REPLACE, BTCUSDT, account=ALICE, orig_client_order_id="ghost", side=BUY,
                       price=5_000_000, qty=10_000)  # fmt: skip
    assert kinds(answer) == ["REJECTED", "CANCEL_REPLACE", "BALANCE", "DONE"]
    assert answer[0]["reject_code"] == -2011 and answer[1]["status"] == ReplaceOutcome.CANCEL_FAILED
    assert h.balance(ALICE, USDT) == (100000 * E8, 0)


def test_should_cancel_all_and_release_every_hold(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.order(BTCUSDT, ALICE, BUY, "50000", "0.1")
    h.order(BTCUSDT, ALICE, SELL, "70000", "0.5")
    answer = h.request(Command.CANCEL_ALL, BTCUSDT, account=ALICE)
    assert kinds(answer) == ["CANCELED", "CANCELED", "BALANCE", "BALANCE", "DONE"]
    assert h.balance(ALICE, USDT) == (100000 * E8, 0) and h.balance(ALICE, BTC) == (2 * E8, 0)
    assert kinds(h.request(Command.CANCEL_ALL, BTCUSDT, account=ALICE)) == ["REJECTED", "DONE"]


def test_should_forward_depth_unjournaled_and_pass_the_engines_answer_through(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.order(BTCUSDT, ALICE, BUY, "50000", "0.1")
    count = h.stage.journal.count
    answer = h.request(Command.DEPTH, BTCUSDT, qty=5)
    assert kinds(answer) == ["DEPTH_LEVEL", "DONE"]
    assert h.engines[BTCUSDT].seen[-1][3] == 0  # seq 0
    assert h.stage.journal.count == count


def test_should_reject_commands_for_an_unknown_symbol(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    answer = h.order(1, ALICE, BUY, "50000", "0.1") and h.request(Command.NEW_ORDER, 9, account=ALICE, qty=1)
    assert kinds(answer) == ["REJECTED", "DONE"] and reason(answer[0]) == "Invalid symbol."


def test_should_apply_back_pressure_rather_than_drop_when_the_gateway_ring_is_full(make_exchange: MakeExchange) -> None:
    h = make_exchange(gw_capacity=8, capacity=8, batch=4)
    h.start_live()
    ids = [h.send(Command.NEW_ORDER, BTCUSDT, account=BOB, side=SELL, price=6_000_000 + i, qty=1_000) for i in range(6)]
    for _ in range(200):  # the test reads the gateway ring only every few cycles
        h.step()
        for engine in h.engines.values():
            engine.step()
        if _ % 5 == 0:
            h.drain()
    h.run()
    for request_id in ids:
        assert kinds(h.answer(request_id)) == ["NEW", "BALANCE", "DONE"]
    assert h.stage.ctx.counter(CounterKind.BACKPRESSURE).value > 0


def test_should_halt_trading_when_an_engine_spends_more_than_was_held(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.order(BTCUSDT, BOB, SELL, "60000", "1")
    h.engines[BTCUSDT].quote_divisor = 1  # an engine reading quote_qty at price scale: 10**5 times too much
    h.allowed_errors = 1
    h.request(Command.NEW_ORDER, BTCUSDT, account=ALICE, side=BUY, order_type=OrderType.MARKET, quote_qty=100 * 10**7)
    assert not h.stage.accountant.invariant.ok
    assert "spent" in h.errors[0] and "more of asset 2 than was held" in h.errors[0]
    assert kinds(h.order(BTCUSDT, ALICE, BUY, "50000", "0.1"))[0] == "REJECTED"
