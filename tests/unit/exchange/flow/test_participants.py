"""The flow's participants against a scripted responder: reproducible, valid, and what each role sends."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections import Counter
from typing import Any

import pytest

from stages.exchange.flow.client import ApiResponse
from stages.exchange.flow.market import Market, decimal_text
from stages.exchange.flow.participants import Canceller, MarketMaker, Request, Taker, build_participants
from stages.exchange.protocol.settings import ExchangeSettings
from tests.conftest import REPO
from tests.unit.exchange.flow.fake_exchange import FakeExchange, drive

CLIENT_ID = re.compile(r"^[a-zA-Z0-9_-]{1,36}$")


@pytest.fixture(scope="module")
def settings() -> ExchangeSettings:
    raw = tomllib.loads((REPO / "configs" / "exchange.toml").read_text())["exchange"]
    return ExchangeSettings.from_raw(raw)


def _run(
    settings: ExchangeSettings, seed: int, rounds: int = 200, volatility_bps: float = 20.0
) -> list[tuple[str, str, dict[str, Any]]]:
    flow = dataclasses.replace(settings.flow, seed=seed)
    market = Market(settings.symbols, seed, volatility_bps, step_s=0.08)
    participants = build_participants(flow, market)
    return [
        (account, r.method, dict(r.params)) for account, r in drive(participants, market.step, FakeExchange(), rounds)
    ]


def test_should_send_the_same_requests_for_the_same_seed_and_replies(settings: ExchangeSettings) -> None:
    first = _run(settings, seed=7)
    assert first == _run(settings, seed=7)
    assert len(first) == 200 * 4


def test_should_send_different_requests_for_another_seed(settings: ExchangeSettings) -> None:
    assert _run(settings, seed=7, rounds=20) != _run(settings, seed=8, rounds=20)


def test_should_start_every_participant_by_cancelling_all_its_orders_per_symbol(settings: ExchangeSettings) -> None:
    sent = _run(settings, seed=7, rounds=2)
    for account in ("mm-1", "mm-2", "taker-1", "canceller-1"):
        mine = [(method, params) for a, method, params in sent if a == account]
        assert mine == [
            ("openOrders.cancelAll", {"symbol": "BTCUSDT"}),
            ("openOrders.cancelAll", {"symbol": "ETHUSDT"}),
        ]


def test_should_only_send_prices_and_quantities_that_pass_the_filters(settings: ExchangeSettings) -> None:
    rules = {s.symbol: s for s in settings.symbols}
    checked = 0
    for _, method, params in _run(settings, seed=3, rounds=300):
        if method not in ("order.place", "order.cancelReplace"):
            continue
        s = rules[params["symbol"]]
        assert CLIENT_ID.match(params["newClientOrderId"])
        if params["type"] == "LIMIT_MAKER":
            assert "timeInForce" not in params
        if "quoteOrderQty" in params:
            assert "quantity" not in params
            assert float(params["quoteOrderQty"]) >= 2 * float(s.text["min_notional"])
            continue
        qty = int(params["quantity"].replace(".", ""))
        assert params["quantity"] == decimal_text(qty, s.qty_scale)
        assert qty % s.step_size == 0 and s.min_qty <= qty <= s.max_qty
        if "price" in params:
            price = int(params["price"].replace(".", ""))
            assert params["price"] == decimal_text(price, s.price_scale)
            assert price % s.tick_size == 0 and s.min_price <= price <= s.max_price
            assert price * qty >= s.min_notional * 10**s.qty_scale
        checked += 1
    assert checked > 300


def test_should_use_every_request_kind_of_each_role(settings: ExchangeSettings) -> None:
    kinds: Counter[tuple[str, str]] = Counter()
    for account, method, params in _run(settings, seed=11, rounds=400):
        detail = params.get("type", "")
        if method == "order.place" and detail == "MARKET":
            detail += "/quote" if "quoteOrderQty" in params else "/qty"
        if method == "order.place" and detail == "LIMIT":
            detail += "/" + params["timeInForce"]
        if method == "order.cancel":
            detail = "by client id" if "origClientOrderId" in params else "by order id"
        if method == "order.cancelReplace":
            detail = "by client id" if "cancelOrigClientOrderId" in params else "by order id"
        kinds[account.split("-")[0], f"{method} {detail}".strip()] += 1
    expected = {
        ("mm", "order.place LIMIT_MAKER"),
        ("mm", "order.place LIMIT/GTC"),
        ("mm", "order.cancelReplace by client id"),
        ("mm", "order.cancelReplace by order id"),
        ("mm", "order.cancel by client id"),
        ("mm", "order.cancel by order id"),
        ("mm", "openOrders.status"),
        ("taker", "order.place MARKET/qty"),
        ("taker", "order.place MARKET/quote"),
        ("taker", "order.place LIMIT/IOC"),
        ("canceller", "order.place LIMIT/GTC"),
        ("canceller", "order.cancel by client id"),
        ("canceller", "order.cancel by order id"),
    }
    assert expected <= set(kinds), expected - set(kinds)


def _maker(settings: ExchangeSettings, volatility_bps: float = 0.0) -> tuple[MarketMaker, Market]:
    market = Market(settings.symbols, 1, volatility_bps, step_s=1.0)
    return MarketMaker("mm-1", 1, market), market


def test_should_quote_levels_around_the_fair_value_without_crossing(settings: ExchangeSettings) -> None:
    maker, market = _maker(settings)
    exchange = FakeExchange(fill_every=10**9, reject_every=10**9)
    drive([maker], lambda: None, exchange, 2 + 2 * 2 * MarketMaker.LEVELS)
    assert len(maker.quotes) == 2 * 2 * MarketMaker.LEVELS
    for symbol in market.symbols:
        fair = market.fair[symbol] * 10 ** market.rules[symbol].settings.price_scale
        bids = sorted(
            (q.price for (s, side, _), q in maker.quotes.items() if s == symbol and side == "BUY"), reverse=True
        )
        asks = sorted(q.price for (s, side, _), q in maker.quotes.items() if s == symbol and side == "SELL")
        assert bids[0] < fair < asks[0]
        assert len(set(bids)) == len(set(asks)) == MarketMaker.LEVELS


def test_should_requote_the_worst_level_with_cancel_replace_when_the_fair_value_moves(
    settings: ExchangeSettings,
) -> None:
    maker, market = _maker(settings)
    exchange = FakeExchange(fill_every=10**9, reject_every=10**9)
    drive([maker], lambda: None, exchange, 2 + 12)
    market.fair["BTCUSDT"] *= 1.01
    request = maker.next_request()
    assert request.method in ("order.cancelReplace", "order.cancel")
    assert request.params["symbol"] == "BTCUSDT"


def test_should_forget_and_cancel_a_symbol_after_a_request_without_reply(settings: ExchangeSettings) -> None:
    maker, _ = _maker(settings)
    exchange = FakeExchange(fill_every=10**9, reject_every=10**9)
    drive([maker], lambda: None, exchange, 14)
    request = maker.next_request()
    maker.on_response(request, None)
    symbol = request.params["symbol"]
    assert not [k for k in maker.quotes if k[0] == symbol]
    assert maker.next_request() == Request("openOrders.cancelAll", {"symbol": symbol})


def test_should_learn_of_fills_and_cancel_orphans_when_reconciling(settings: ExchangeSettings) -> None:
    maker, _ = _maker(settings)
    exchange = FakeExchange(fill_every=10**9, reject_every=10**9)
    drive([maker], lambda: None, exchange, 14)
    btc = [q for (symbol, _, _), q in maker.quotes.items() if symbol == "BTCUSDT"]
    filled = btc[0]
    maker._since_reconcile = MarketMaker.RECONCILE_EVERY
    request = maker.next_request()
    assert request == Request("openOrders.status", {"symbol": "BTCUSDT"})
    listed = [{"symbol": "BTCUSDT", "orderId": q.order_id, "clientOrderId": q.client_id} for q in btc[1:]]
    listed.append({"symbol": "BTCUSDT", "orderId": 999, "clientOrderId": "someone-else"})
    maker.on_response(request, ApiResponse(200, listed))
    assert filled not in maker.quotes.values()
    assert maker.next_request() == Request("order.cancel", {"symbol": "BTCUSDT", "orderId": 999})


def test_should_lean_to_the_other_side_after_an_insufficient_balance_reject(settings: ExchangeSettings) -> None:
    market = Market(settings.symbols, 1, 0.0, 1.0)
    taker = Taker("taker-1", 1, market)
    for _ in market.symbols:
        taker.on_response(taker.next_request(), ApiResponse(200, []))
    request = taker.next_request()
    taker.on_response(
        request, ApiResponse(400, code=-2010, msg="Account has insufficient balance for requested action.")
    )
    other = "SELL" if request.params["side"] == "BUY" else "BUY"
    sides: list[object] = []
    while len(sides) < 5:
        following = taker.next_request()
        taker.on_response(following, ApiResponse(200, {}))
        if following.params["symbol"] == request.params["symbol"]:
            sides.append(following.params["side"])
    assert sides == [other] * 5


def test_should_cancel_resting_orders_it_placed_and_keep_at_most_a_few(settings: ExchangeSettings) -> None:
    market = Market(settings.symbols, 1, 0.0, 1.0)
    canceller = Canceller("canceller-1", 5, market)
    exchange = FakeExchange(fill_every=10**9, reject_every=10**9)
    sent = drive([canceller], lambda: None, exchange, 300)
    placed = {r.params["newClientOrderId"] for _, r in sent if r.method == "order.place"}
    cancelled = [r for _, r in sent if r.method == "order.cancel"]
    assert cancelled and len(canceller.resting) <= Canceller.MAX_OPEN
    assert all(r.params.get("origClientOrderId", next(iter(placed))) in placed for r in cancelled)
    for r in [r for _, r in sent if r.method == "order.place"]:
        fair = market.fair[str(r.params["symbol"])]
        away = abs(float(r.params["price"]) - fair) / fair
        assert away >= Canceller.AWAY_BPS[0] * 1e-4 * 0.99


def test_should_walk_the_fair_value_reproducibly_from_the_initial_price(settings: ExchangeSettings) -> None:
    a, b = Market(settings.symbols, 9, 5.0, 0.1), Market(settings.symbols, 9, 5.0, 0.1)
    assert a.fair == {"BTCUSDT": 60000.0, "ETHUSDT": 3000.0}
    for _ in range(1000):
        a.step()
        b.step()
    assert a.fair == b.fair and a.fair["BTCUSDT"] != 60000.0


def test_should_not_depend_on_hash_randomization(settings: ExchangeSettings) -> None:
    """Seeded means the same in another process too (no set or hash order in any decision)."""
    import hashlib
    import subprocess
    import sys

    script = (
        "import hashlib, tomllib, dataclasses\n"
        "from stages.exchange.protocol.settings import ExchangeSettings\n"
        "from tests.unit.exchange.flow.test_participants import _run\n"
        "raw = tomllib.loads(open('configs/exchange.toml').read())['exchange']\n"
        "print(hashlib.sha256(repr(_run(ExchangeSettings.from_raw(raw), seed=7, rounds=100)).encode()).hexdigest())\n"
    )
    here = hashlib.sha256(repr(_run(settings, seed=7, rounds=100)).encode()).hexdigest()
    for hash_seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout.strip() == here
