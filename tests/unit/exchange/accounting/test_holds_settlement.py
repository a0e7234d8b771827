"""Holds placed at entry and released at the end; fills settled with exact integers and commissions."""

from __future__ import annotations

from hftpipe.schema.exchange import FEE_ACCOUNT, Command, OrderStatus
from hftpipe.schema.trading import OrderType
from tests.unit.exchange.accounting.harness import (
    ALICE,
    BOB,
    BTC,
    BTCUSDT,
    BUY,
    E8,
    SELL,
    USDT,
    MakeExchange,
    kinds,
)

MARKET = int(OrderType.MARKET)


def test_should_hold_price_times_qty_for_a_limit_buy_and_release_it_on_cancel(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    answer = h.order(BTCUSDT, ALICE, BUY, "60000", "0.5", client_order_id="a1")
    assert kinds(answer) == ["NEW", "BALANCE", "DONE"]
    new, balance, _ = answer
    assert (new["client_order_id"], new["status"], new["order_id"]) == ("a1", OrderStatus.NEW, 1)
    assert (balance["account"], balance["commission_asset"]) == (ALICE, USDT)
    assert (balance["qty"], balance["quote_qty"]) == (70000 * E8, 30000 * E8)
    assert h.balance(ALICE, USDT) == (70000 * E8, 30000 * E8)

    answer = h.request(Command.CANCEL, BTCUSDT, account=ALICE, order_id=1, client_order_id="c1")
    assert kinds(answer) == ["CANCELED", "BALANCE", "DONE"]
    canceled = answer[0]
    assert (canceled["client_order_id"], canceled["orig_client_order_id"]) == ("c1", "a1")
    assert h.balance(ALICE, USDT) == (100000 * E8, 0)
    assert h.stage.accountant.orders.held[USDT] == 0


def test_should_hold_qty_of_base_for_a_limit_sell(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.order(BTCUSDT, BOB, SELL, "61000", "1.25")
    assert h.balance(BOB, BTC) == (175 * E8 // 100, 125 * E8 // 100)
    assert h.balance(BOB, USDT) == (50000 * E8, 0)


def test_should_settle_a_fill_with_maker_and_taker_commissions_to_the_fee_account(make_exchange: MakeExchange) -> None:
    h = make_exchange()  # maker 0.001, taker 0.002
    h.start_live()
    h.order(BTCUSDT, ALICE, BUY, "60000", "0.5", client_order_id="maker")
    mark = len(h.received)
    answer = h.order(BTCUSDT, BOB, SELL, "60000", "0.5", client_order_id="taker")
    assert kinds(answer) == ["NEW", "TRADE", "BALANCE", "BALANCE", "BALANCE", "BALANCE", "BALANCE", "BALANCE", "DONE"]
    everything = h.received[mark:]  # the maker's TRADE is not part of the taker's answer (request_id 0)
    assert kinds(everything)[:3] == ["NEW", "TRADE", "TRADE"]
    maker, taker = everything[1], everything[2]
    assert (maker["request_id"], taker["request_id"]) == (0, answer[0]["request_id"])
    assert (maker["is_maker"], maker["account"], maker["client_order_id"]) == (1, ALICE, "maker")
    assert (taker["is_maker"], taker["account"], taker["client_order_id"]) == (0, BOB, "taker")
    # The buyer (maker) pays commission in base, the seller (taker) in quote.
    assert (maker["commission"], maker["commission_asset"]) == (50_000, BTC)  # 0.5 BTC * 0.001
    assert (taker["commission"], taker["commission_asset"]) == (60 * E8, USDT)  # 30000 USDT * 0.002
    assert h.balance(ALICE, USDT) == (70000 * E8, 0)
    assert h.balance(ALICE, BTC) == (2 * E8 + E8 // 2 - 50_000, 0)
    assert h.balance(BOB, BTC) == (3 * E8 - E8 // 2, 0)
    assert h.balance(BOB, USDT) == (50000 * E8 + 30000 * E8 - 60 * E8, 0)
    assert h.balance(FEE_ACCOUNT, BTC) == (50_000, 0)
    assert h.balance(FEE_ACCOUNT, USDT) == (60 * E8, 0)
    changed = {(r["account"], r["commission_asset"]) for r in answer if r["event_name"] == "BALANCE"}
    assert changed == {(ALICE, USDT), (ALICE, BTC), (BOB, BTC), (BOB, USDT), (FEE_ACCOUNT, BTC), (FEE_ACCOUNT, USDT)}
    assert h.stage.accountant.invariant.ok and h.stage.accountant.invariant.check_now()


def test_should_refund_price_improvement_to_a_limit_buyer_at_once(make_exchange: MakeExchange) -> None:
    h = make_exchange(table=None)
    h.start_live()
    h.order(BTCUSDT, BOB, SELL, "59000", "0.5")
    h.order(BTCUSDT, ALICE, BUY, "60000", "1")  # 0.5 fills at 59000, 0.5 rests at 60000
    # Held 60000 USDT; paid 29500; refunded 500 at once; 30000 still held for the rest.
    assert h.balance(ALICE, USDT) == ((100000 - 29500 - 30000) * E8, 30000 * E8)
    assert h.stage.accountant.orders.held[USDT] == 30000 * E8


def test_should_hold_all_free_quote_for_a_market_buy_by_qty_and_pass_it_as_cap(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.order(BTCUSDT, BOB, SELL, "60000", "0.5")
    answer = h.request(Command.NEW_ORDER, BTCUSDT, account=ALICE, side=BUY, order_type=MARKET, qty=100_000)  # 1 BTC
    command = h.engines[BTCUSDT].seen[-1]
    assert command[-1] == 100000 * 10**7  # cap: all 100000 USDT at price * qty scale
    assert kinds(answer)[:3] == ["NEW", "TRADE", "EXPIRED"]
    # Only what was spent left; the rest of the hold came back.
    assert h.balance(ALICE, USDT) == (70000 * E8, 0)
    assert h.balance(ALICE, BTC) == (2 * E8 + E8 // 2 - E8 // 2 * 2 // 1000, 0)  # taker 0.002 in BTC


def test_should_cap_a_market_buy_by_qty_at_the_free_quote(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.request(Command.WITHDRAW, account=ALICE, asset=USDT, qty=94000 * E8)  # 6000 USDT left
    h.order(BTCUSDT, BOB, SELL, "60000", "0.5")
    h.request(Command.NEW_ORDER, BTCUSDT, account=ALICE, side=BUY, order_type=MARKET, qty=50_000)  # 0.5 BTC
    assert h.balance(ALICE, USDT) == (0, 0)  # exactly 0.1 BTC bought for the 6000 it had
    assert h.balance(ALICE, BTC)[0] == 2 * E8 + E8 // 10 - E8 // 10 * 2 // 1000


def test_should_hold_quote_qty_for_a_market_buy_by_quote(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.order(BTCUSDT, BOB, SELL, "60000", "0.5")
    h.send(Command.NEW_ORDER, BTCUSDT, account=ALICE, side=BUY, order_type=MARKET, quote_qty=1000 * 10**7)
    h.step()  # sequenced, not yet matched
    assert h.balance(ALICE, USDT) == (99000 * E8, 1000 * E8)
    h.run()
    # 1666 lots of 0.00001 at 60000 = 999.60 USDT spent; 0.40 came back.
    assert h.balance(ALICE, USDT) == ((100000 * E8 - 99960 * E8 // 100), 0)
    assert h.balance(ALICE, BTC)[0] == 2 * E8 + 1666_000 - 1666_000 * 2 // 1000


def test_should_hold_all_free_base_for_a_market_sell_by_quote_with_cap(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.order(BTCUSDT, ALICE, BUY, "60000", "0.5")
    h.send(Command.NEW_ORDER, BTCUSDT, account=BOB, side=SELL, order_type=MARKET, quote_qty=1000 * 10**7)
    h.step()
    assert h.balance(BOB, BTC) == (0, 3 * E8)
    assert h.engines[BTCUSDT].seen[-1][-1] == 0  # not yet at the engine
    h.run()
    assert h.engines[BTCUSDT].seen[-1][-1] == 300_000  # cap: 3 BTC at qty scale
    assert h.balance(BOB, BTC) == (3 * E8 - 1666_000, 0)


def test_should_hold_qty_for_a_market_sell_by_qty(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.send(Command.NEW_ORDER, BTCUSDT, account=BOB, side=SELL, order_type=MARKET, qty=100_000)
    h.step()
    assert h.balance(BOB, BTC) == (2 * E8, E8)
    h.run()  # an empty book: it expires and the hold comes back
    assert h.balance(BOB, BTC) == (3 * E8, 0)


def test_should_release_the_hold_of_an_order_the_engine_rejects(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.order(BTCUSDT, BOB, SELL, "60000", "0.5")
    answer = h.order(BTCUSDT, ALICE, BUY, "60000", "0.5", order_type=OrderType.LIMIT_MAKER)  # would take
    assert kinds(answer) == ["REJECTED", "BALANCE", "DONE"]
    assert (answer[0]["reject_code"], answer[0]["reject_reason"]) == (-2010, 4)
    assert h.balance(ALICE, USDT) == (100000 * E8, 0)
    assert not h.stage.accountant.orders.pending


def test_should_keep_the_ledger_consistent_when_an_account_trades_with_itself(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    h.order(BTCUSDT, ALICE, SELL, "60000", "1")
    h.order(BTCUSDT, ALICE, BUY, "60000", "1")
    assert h.balance(ALICE, USDT)[1] == 0 and h.balance(ALICE, BTC)[1] == 0
    assert h.stage.accountant.invariant.check_now()
