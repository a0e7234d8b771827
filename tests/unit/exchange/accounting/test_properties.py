"""Property: whatever commands arrive, in whatever batches, every asset is conserved and holds add up.

Random streams of deposits, withdrawals, limit/market orders (by qty and by
quote), cancels (by id and by client id), cancelReplaces and cancelAlls, fed
in random batches with the engines running at random moments. At the end:
deposits - withdrawals == the sum of all balances (fee account included) per
asset, the sum of locked == the sum of open orders' holds and each open
order's hold is exactly what its remainder needs; and a fresh stage replaying
the journal through fresh engines ends with the same balances and orders.
"""

from __future__ import annotations

import random
import secrets
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hftpipe.schema.exchange import Command, ReplaceMode
from hftpipe.schema.trading import OrderType
from hftpipe.substrate.shm import remove_pipeline
from tests.conftest import SUITE_TAG, leftovers
from tests.unit.exchange.accounting.harness import BTCUSDT, ETHUSDT, Harness, exchange_table

ACCOUNTS = st.integers(1, 3)
SYMBOL = st.sampled_from([BTCUSDT, ETHUSDT])
CLIENT_IDS = st.sampled_from(["x1", "x2", "x3", "x4"])
MID = {BTCUSDT: 6_000_000, ETHUSDT: 300_000}
LOT = {BTCUSDT: 1_000, ETHUSDT: 100}

deposit = st.tuples(st.just("deposit"), ACCOUNTS, st.integers(1, 3), st.integers(1, 20_000 * 10**8))
withdraw = st.tuples(st.just("withdraw"), ACCOUNTS, st.integers(1, 3), st.integers(1, 20_000 * 10**8))
limit = st.tuples(
    st.just("limit"), ACCOUNTS, SYMBOL, st.integers(0, 1), st.integers(-2, 2), st.integers(1, 80),
    st.sampled_from([0, 0, 1, 2]), st.sampled_from([OrderType.LIMIT, OrderType.LIMIT, OrderType.LIMIT_MAKER]),
    st.integers(0, 3), CLIENT_IDS,
)  # fmt: skip
market = st.tuples(
    st.just("market"), ACCOUNTS, SYMBOL, st.integers(0, 1), st.booleans(), st.integers(1, 200), st.integers(0, 3)
)
cancel = st.tuples(st.just("cancel"), ACCOUNTS, SYMBOL, st.booleans(), st.integers(1, 12), CLIENT_IDS)
replace = st.tuples(
    st.just("replace"), ACCOUNTS, SYMBOL, CLIENT_IDS, st.integers(0, 1), st.integers(-2, 2), st.integers(1, 80),
    st.booleans(), CLIENT_IDS,
)  # fmt: skip
cancel_all = st.tuples(st.just("cancel_all"), ACCOUNTS, SYMBOL)
step = st.tuples(st.just("step"), st.integers(0, 3))
OPERATIONS = st.lists(
    st.one_of(deposit, withdraw, limit, limit, limit, market, market, cancel, replace, cancel_all, step), max_size=60
)
FUNDED = [{"name": name, "deposits": {"USDT": "100000", "BTC": "2", "ETH": "30"}} for name in ("alice", "bob", "carol")]


def send(h: Harness, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind in ("deposit", "withdraw"):
        _, account, asset, amount = op
        h.send(Command.DEPOSIT if kind == "deposit" else Command.WITHDRAW, account=account, asset=asset, qty=amount)
    elif kind == "limit":
        _, account, sid, side, ticks, lots, tif, order_type, stp, cid = op
        price = MID[sid] + ticks * 100 * (1 if sid == BTCUSDT else 10)
        h.send(Command.NEW_ORDER, sid, account=account, side=side, order_type=order_type,
               tif=tif if order_type == OrderType.LIMIT else 0, price=price, qty=lots * LOT[sid], stp_mode=stp,
               client_order_id=cid)  # fmt: skip
    elif kind == "market":
        _, account, sid, side, by_quote, amount, stp = op
        if by_quote:
            quote = amount * 10 * 10**7  # 10 quote units per step
            h.send(Command.NEW_ORDER, sid, account=account, side=side, order_type=OrderType.MARKET,
                   quote_qty=quote, stp_mode=stp)  # fmt: skip
        else:
            h.send(Command.NEW_ORDER, sid, account=account, side=side, order_type=OrderType.MARKET,
                   qty=amount * LOT[sid], stp_mode=stp)  # fmt: skip
    elif kind == "cancel":
        _, account, sid, by_client, order_id, cid = op
        if by_client:
            h.send(Command.CANCEL, sid, account=account, orig_client_order_id=cid)
        else:
            h.send(Command.CANCEL, sid, account=account, order_id=order_id)
    elif kind == "replace":
        _, account, sid, orig, side, ticks, lots, allow, cid = op
        price = MID[sid] + ticks * 100 * (1 if sid == BTCUSDT else 10)
        mode = ReplaceMode.ALLOW_FAILURE if allow else ReplaceMode.STOP_ON_FAILURE
        h.send(Command.CANCEL_REPLACE, sid, account=account, orig_client_order_id=orig, side=side, price=price,
               qty=lots * LOT[sid], replace_mode=mode, client_order_id=cid)  # fmt: skip
    elif kind == "cancel_all":
        _, account, sid = op
        h.send(Command.CANCEL_ALL, sid, account=account)


def check_ledger(h: Harness) -> None:
    ledger, orders = h.stage.accountant.ledger, h.stage.accountant.orders
    totals, locked = ledger.full_sums()
    held = orders.recompute_held()
    for asset in range(1, len(h.settings.assets) + 1):
        assert totals[asset] == ledger.net[asset], f"asset {asset} not conserved"
        assert locked[asset] == held[asset], f"asset {asset}: locked != holds"
        assert ledger.transit[asset] == 0
    for balances in ledger.accounts.values():
        for b in balances.values():
            assert b.free >= 0 and b.locked >= 0
    assert not orders.pending
    for order in orders.open.values():
        symbol = h.settings.symbols[order.symbol - 1]
        left = order.qty - order.cum_qty
        expected = symbol.quote_to_asset(order.price * left) if order.side == 0 else symbol.qty_to_asset(left)
        assert order.hold == expected, order
    assert h.stage.accountant.invariant.ok


def play(h: Harness, operations: Iterable[tuple[Any, ...]]) -> int:
    """Send the operations (``("step", n)``: n duty cycles of accounting, the engines and the
    gateway's reader), then run until quiet; how many commands were sent."""
    sent = 0
    for op in operations:
        if op[0] == "step":
            for _ in range(op[1]):
                h.step()
                for engine in h.engines.values():
                    engine.step()
                h.drain()
            continue
        if h.to_acct.remaining_capacity() == 0:
            h.run()
        send(h, op)
        sent += 1
    h.run()
    return sent


def check_replay(name: str, table: dict[str, Any], before: Any, capacity: int, batch: int) -> None:
    """A fresh stage on the same journal, through fresh engines, rebuilds ``before`` and answers nobody."""
    again = Harness(name, table, capacity=capacity, gw_capacity=64, batch=batch)
    try:
        again.run()
        assert again.stage.live and again.snapshot() == before
        assert again.received == []
        check_ledger(again)
    finally:
        again.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS)
def test_should_conserve_every_asset_and_keep_holds_equal_to_locked(operations: list[tuple[Any, ...]]) -> None:
    name = f"{SUITE_TAG}-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory() as tmp:
        table = exchange_table(Path(tmp) / "state", accounts=FUNDED)
        h = Harness(name, table, capacity=8, gw_capacity=64, batch=4)
        try:
            h.start_live()
            sent = play(h, operations)
            check_ledger(h)
            answered = [r for r in h.received if r["flags"] & 1]
            assert len(answered) == sent  # one END per request, none lost
            before = h.snapshot()
        finally:
            h.close()
        check_replay(name, table, before, capacity=8, batch=4)
    assert not leftovers(name)
    remove_pipeline(name)


def _random_operation(rng: random.Random) -> tuple[Any, ...]:
    """One operation drawn like the strategies above, weighted towards trading."""
    sid = rng.choice([BTCUSDT, ETHUSDT])
    account = rng.randint(1, 3)
    roll = rng.random()
    if roll < 0.45:
        order_type = rng.choice([OrderType.LIMIT] * 4 + [OrderType.LIMIT_MAKER])
        tif = rng.choice([0, 0, 0, 1, 2])
        cid = rng.choice(["x1", "x2", "x3", "x4", "x5"])
        return ("limit", account, sid, rng.randint(0, 1), rng.randint(-3, 3), rng.randint(1, 120), tif, order_type,
                rng.randint(0, 3), cid)  # fmt: skip
    if roll < 0.65:
        return ("market", account, sid, rng.randint(0, 1), rng.random() < 0.5, rng.randint(1, 400), rng.randint(0, 3))
    if roll < 0.8:
        return ("cancel", account, sid, rng.random() < 0.5, rng.randint(1, 300), rng.choice(["x1", "x2", "x3"]))
    if roll < 0.88:
        return ("replace", account, sid, rng.choice(["x1", "x2", "x3"]), rng.randint(0, 1), rng.randint(-3, 3),
                rng.randint(1, 120), rng.random() < 0.5, rng.choice(["x1", "x4"]))  # fmt: skip
    if roll < 0.91:
        return ("cancel_all", account, sid)
    if roll < 0.95:
        return ("deposit", account, rng.randint(1, 3), rng.randint(1, 50_000 * 10**8))
    if roll < 0.97:
        return ("withdraw", account, rng.randint(1, 3), rng.randint(1, 50_000 * 10**8))
    return ("step", rng.randint(0, 5))


def test_should_conserve_every_asset_over_a_long_seeded_stream(pipeline_name: str, tmp_path: Path) -> None:
    rng = random.Random(20240611)
    table = exchange_table(tmp_path / "state", accounts=FUNDED)
    h = Harness(pipeline_name, table, capacity=16, gw_capacity=64, batch=8)
    try:
        h.start_live()
        sent = play(h, (_random_operation(rng) for _ in range(1500)))
        check_ledger(h)
        assert sum(1 for r in h.received if r["flags"] & 1) == sent
        assert h.stage.ctx.counters.add("trades_settled").value > 300
        before = h.snapshot()
    finally:
        h.close()
    check_replay(pipeline_name, table, before, capacity=16, batch=8)
