"""Seeded command streams for the engine stage: every command kind, as accounting would send them.

``random_commands(n, seed)`` gives ``(Command, fields)`` pairs for
:meth:`EngineHarness.send`. Journaled commands get seq 1, 2, ... in order (the
harness numbers them the same way), so a new order's tag, which cancels by tag
use, is known here. Prices at scale 2 around 100.00, quantities at scale 3.
"""

from __future__ import annotations

import random
from typing import Any

from hftpipe.schema.exchange import Command, ReplaceMode, STPMode
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce

Flow = list[tuple[Command, dict[str, Any]]]

_LIMIT, _MARKET, _MAKER = int(OrderType.LIMIT), int(OrderType.MARKET), int(OrderType.LIMIT_MAKER)
_TIFS = (int(TimeInForce.GTC), int(TimeInForce.IOC), int(TimeInForce.FOK))


def random_commands(n: int, seed: int, accounts: int = 4) -> Flow:
    rng = random.Random(seed)
    mid = 10_000
    seq = 0
    placed: list[tuple[int, int]] = []  # (account, seq) of GTC orders, some long gone
    flow: Flow = []

    def new(account: int, **fields: Any) -> None:
        nonlocal seq
        seq += 1
        stp = int(rng.choice(list(STPMode))) if rng.random() < 0.15 else 0
        flow.append((Command.NEW_ORDER, {"account": account, "stp_mode": stp, "client_order_id": f"o{seq}"} | fields))
        if fields.get("tif", 0) == 0 and fields["order_type"] != _MARKET:
            placed.append((account, seq))

    for _ in range(n):
        if rng.random() < 0.05:
            mid += rng.choice((-1, 1)) * rng.randrange(1, 4)
        account = rng.randrange(1, accounts + 1)
        side = rng.choice((int(OrderSide.BUY), int(OrderSide.SELL)))
        away = 1 if side == OrderSide.BUY else -1
        r = rng.random()
        if r < 0.40:
            price = mid - away * (1 + int(rng.expovariate(0.3)))
            new(account, side=side, order_type=_LIMIT, tif=0, price=price, qty=rng.randrange(1, 40) * 10)
        elif r < 0.55:
            if placed:
                acct, target = placed.pop(len(placed) - 1 - min(int(rng.expovariate(0.1)), len(placed) - 1))
                seq += 1
                flow.append((Command.CANCEL, {"account": acct, "tag": target, "client_order_id": f"x{seq}"}))
        elif r < 0.60:
            seq += 1
            flow.append((Command.CANCEL, {"account": account, "order_id": rng.randrange(-1, seq + 2)}))
        elif r < 0.70:
            price = mid + away * rng.randrange(0, 4)
            qty = rng.randrange(1, 60) * 10
            new(account, side=side, order_type=_LIMIT, tif=rng.choice(_TIFS), price=price, qty=qty)
        elif r < 0.74:
            price = mid + away * rng.randrange(-3, 3)
            new(account, side=side, order_type=_MAKER, tif=0, price=price, qty=rng.randrange(1, 30) * 10)
        elif r < 0.80:
            qty = rng.randrange(1, 80) * 10
            cap = mid * qty * rng.randrange(2, 12) // 10 if side == OrderSide.BUY else qty // 2
            cap = 0 if rng.random() < 0.5 else cap
            new(account, side=side, order_type=_MARKET, tif=0, price=0, qty=qty, cap=cap)
        elif r < 0.83:
            quote = rng.randrange(100, 5000) * 1000  # at price * qty scale, as commands carry it
            cap = 0 if rng.random() < 0.5 else (quote // 2 if side == OrderSide.BUY else rng.randrange(1, 100) * 10)
            new(account, side=side, order_type=_MARKET, tif=0, price=0, qty=0, quote_qty=quote, cap=cap)
        elif r < 0.91:
            seq += 1
            fields: dict[str, Any] = {
                "account": account, "side": side, "order_type": _LIMIT, "tif": 0,
                "price": mid - away * rng.randrange(-1, 6), "qty": rng.randrange(0, 30) * 10,
                "replace_mode": int(rng.choice(list(ReplaceMode))), "client_order_id": f"r{seq}",
                "cancel_client_order_id": f"c{seq}",
            }  # fmt: skip
            if placed and rng.random() < 0.8:
                acct, target = placed.pop(rng.randrange(len(placed)))
                fields["account"] = acct
                fields["tag"] = target
            else:
                fields["order_id"] = rng.randrange(1, seq + 1)
            flow.append((Command.CANCEL_REPLACE, fields))
            placed.append((fields["account"], seq))
        elif r < 0.93:
            seq += 1
            flow.append((Command.CANCEL_ALL, {"account": account}))
        elif r < 0.97:
            flow.append((Command.DEPTH, {"journaled": False, "account": account, "qty": rng.randrange(0, 30)}))
        else:
            new(account, side=side, order_type=_LIMIT, tif=0, price=mid, qty=0)  # LOT_SIZE reject
    return flow
