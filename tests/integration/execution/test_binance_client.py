"""The execution stage's venue client against ``hftpipe exchange run``: a real gateway, engines and accounting.

An account of its own (an Ed25519 key added with ``hftpipe exchange keys add``,
funds with ``deposit``) logs on, places, queries, cancels and replaces orders,
trades against the config's ``demo`` account (which the same client drives in
its HMAC mode) and sees every step on its user data stream. The last test
needs no exchange: a server that never answers.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from websockets.asyncio.server import ServerConnection, serve

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce, client_order_id
from stages.trading.execution.binance.client import (
    BinanceWsApiClient,
    Ed25519Credentials,
    HmacCredentials,
    UserDataStream,
)
from stages.trading.execution.binance.errors import ErrorClass, OutcomeUnknown, RejectedError
from stages.trading.execution.binance.messages import (
    AccountPosition,
    ExecutionReport,
    RateLimit,
    VenueExecType,
    VenueOrderStatus,
    intent_order_params,
    parse_order,
)
from tests.integration.exchange.harness import RunningExchange
from tests.integration.exchange.trading import api_url, settings_of

STRATEGY = 7
EPOCH = 1_765_000_000_000
WAIT_S = 15.0


def _cli(command: list[str], config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, "exchange", *args, "-c", str(config)], capture_output=True, text=True, check=False, timeout=120
    )


def _ed25519_account(command: list[str], config: Path, directory: Path) -> tuple[str, Path]:
    """A new account "exec" with an Ed25519 key and funds: (api key, private key PEM path)."""
    private = Ed25519PrivateKey.generate()
    public_pem, private_pem = directory / "exec.pub.pem", directory / "exec.pem"
    public_pem.write_bytes(private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    private_pem.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    added = _cli(command, config, "keys", "add", "--account", "exec", "--ed25519-public-key", str(public_pem), "--json")
    assert added.returncode == 0, added.stderr
    for asset, amount in (("USDT", "50000"), ("BTC", "1")):
        deposit = _cli(command, config, "deposit", "--account", "exec", "--asset", asset, "--amount", amount)
        assert deposit.returncode == 0, deposit.stderr
    return str(json.loads(added.stdout)["api_key"]), private_pem


def _cid(seq: int) -> str:
    return client_order_id(STRATEGY, EPOCH, seq)


async def _next_report(stream: UserDataStream, seen: list[Any], predicate: Callable[[ExecutionReport], bool]) -> Any:
    """The next execution report that ``predicate`` accepts; everything read on the way is kept in ``seen``."""
    while True:
        event = await asyncio.wait_for(anext(stream), WAIT_S)
        seen.append(event)
        if isinstance(event, ExecutionReport) and predicate(event):
            return event


def test_should_trade_through_the_exchange_with_an_ed25519_session(
    start_exchange: Callable[..., RunningExchange], hftpipe_cmd: list[str], tmp_path: Path
) -> None:
    exchange = start_exchange()
    settings = settings_of(exchange.config)
    symbol = next(s for s in settings.symbols if s.symbol == "BTCUSDT")
    btc = Instrument(
        id=symbol.symbol_id,
        venue="binance",
        symbol=symbol.symbol,
        price_scale=symbol.price_scale,
        qty_scale=symbol.qty_scale,
        tick=symbol.tick_size,
        lot=symbol.step_size,
    )
    api_key, pem = _ed25519_account(hftpipe_cmd, exchange.config, tmp_path)
    demo = next(k for k in settings.api_keys if k.account == "demo" and k.secret)
    url = api_url(settings)
    price, qty = btc.price, btc.qty

    def order(seq: int, side: OrderSide, kind: OrderType, tif: TimeInForce, at: str, size: str) -> dict[str, str]:
        return intent_order_params(btc, side, kind, tif, price(at) if at else 0, qty(size), _cid(seq))

    async def scenario() -> None:
        limits: list[tuple[RateLimit, ...]] = []
        seen: list[Any] = []
        behind_ms = 120_000  # our clock two minutes slow: the logon gets -1021, measures the clock, logs on
        client = BinanceWsApiClient(
            url,
            Ed25519Credentials(api_key, pem),
            [btc],
            clock_ms=lambda: time.time_ns() // 1_000_000 - behind_ms,
            sync_clock_on_connect=False,
            on_rate_limits=limits.append,
        )
        async with client:
            assert client.session_status["apiKey"] == api_key
            assert abs(client.clock_offset_ms - behind_ms) < 5_000
            stream = await client.subscribe_user_data()
            account = await client.account_status()
            assert {b["asset"]: b["free"] for b in account["balances"]}["USDT"] == "50000.00000000"

            # a resting LIMIT: acknowledged, listed, queried, canceled
            placed = await client.place(order(1, OrderSide.BUY, OrderType.LIMIT, TimeInForce.GTC, "30000", "0.001"))
            assert (placed["clientOrderId"], placed["status"]) == (_cid(1), "NEW")
            new = await _next_report(stream, seen, lambda r: r.client_order_id == _cid(1))
            assert (new.exec_type, new.status, new.order_price, new.order_qty) == (
                VenueExecType.NEW,
                VenueOrderStatus.NEW,
                price("30000"),
                qty("0.001"),
            )
            assert [o["clientOrderId"] for o in await client.open_orders("BTCUSDT")] == [_cid(1)]
            assert [o["clientOrderId"] for o in await client.open_orders()] == [_cid(1)]
            status = parse_order(await client.order_status("BTCUSDT", _cid(1)), btc)
            assert (status.order_id, status.status, status.price) == (placed["orderId"], VenueOrderStatus.NEW, 3000000)
            canceled = await client.cancel("BTCUSDT", client_order_id=_cid(1), new_client_order_id=_cid(2))
            assert (canceled["status"], canceled["origClientOrderId"]) == ("CANCELED", _cid(1))
            report = await _next_report(stream, seen, lambda r: r.exec_type is VenueExecType.CANCELED)
            assert (report.order_client_id, report.client_order_id) == (_cid(1), _cid(2))

            # cancel and replace
            await client.place(order(3, OrderSide.BUY, OrderType.LIMIT, TimeInForce.GTC, "30000", "0.001"))
            replaced = await client.cancel_replace(
                order(4, OrderSide.BUY, OrderType.LIMIT, TimeInForce.GTC, "30100", "0.002"),
                cancel_client_order_id=_cid(3),
            )
            assert (replaced["cancelResult"], replaced["newOrderResult"]) == ("SUCCESS", "SUCCESS")
            await _next_report(stream, seen, lambda r: r.order_client_id == _cid(3) and r.status.name == "CANCELED")
            await _next_report(stream, seen, lambda r: r.client_order_id == _cid(4) and r.status.is_open)

            # a marketable order fills against another account's resting one (the demo account, HMAC)
            async with BinanceWsApiClient(url, HmacCredentials(demo.api_key, demo.secret), [btc]) as maker:
                resting = await maker.place(
                    order(90, OrderSide.SELL, OrderType.LIMIT, TimeInForce.GTC, "30500", "0.002")
                )
                assert resting["status"] == "NEW"
            taken = await client.place(order(5, OrderSide.BUY, OrderType.LIMIT, TimeInForce.GTC, "30600", "0.003"))
            assert taken["status"] == "PARTIALLY_FILLED" and taken["executedQty"] == "0.00200000"
            trade = await _next_report(stream, seen, lambda r: r.exec_type is VenueExecType.TRADE)
            assert (trade.client_order_id, trade.status, trade.is_maker) == (
                _cid(5),
                VenueOrderStatus.PARTIALLY_FILLED,
                False,
            )
            assert (trade.last_qty, trade.cum_qty, trade.last_price) == (qty("0.002"), qty("0.002"), price("30500"))
            assert trade.cum_quote == price("30500") * qty("0.002")
            assert (trade.fee, trade.fee_asset, trade.leaves_qty) == (200, "BTC", qty("0.001"))  # 0.1 % of 0.002 BTC
            assert trade.trade_id > 0

            # everything still open goes at once
            swept = await client.cancel_all("BTCUSDT")
            assert sorted(r["origClientOrderId"] for r in swept) == [_cid(4), _cid(5)]
            assert await client.open_orders("BTCUSDT") == []
            assert await client.cancel_all("BTCUSDT") == []  # nothing open: -2011, as Binance answers
            await _next_report(stream, seen, lambda r: r.order_client_id == _cid(5) and r.status.name == "CANCELED")

            # errors arrive typed and classified
            with pytest.raises(RejectedError) as unknown:
                await client.order_status("BTCUSDT", _cid(99))
            assert (unknown.value.code, unknown.value.error_class) == (-2013, ErrorClass.NEVER_RETRY)
            with pytest.raises(RejectedError) as poor:
                await client.place(order(6, OrderSide.BUY, OrderType.LIMIT, TimeInForce.GTC, "30000", "100"))
            assert (poor.value.code, poor.value.status) == (-2010, 400)
        assert any(isinstance(event, AccountPosition) for event in seen)
        assert any(limit.rate_limit_type == "ORDERS" for entry in limits for limit in entry)
        assert client.stats.unparsed_events == 0

    asyncio.run(scenario())


def test_should_raise_outcome_unknown_when_the_venue_never_answers() -> None:
    received: list[str | bytes] = []

    async def silent(ws: ServerConnection) -> None:
        async for message in ws:
            received.append(message)

    async def scenario() -> None:
        async with serve(silent, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            client = BinanceWsApiClient(
                f"ws://127.0.0.1:{port}/ws-api/v3",
                HmacCredentials("key", "secret"),
                request_timeout_s=0.3,
                sync_clock_on_connect=False,
            )
            async with client:
                started = time.monotonic()
                with pytest.raises(OutcomeUnknown) as raised:
                    await client.place(
                        intent_order_params(
                            Instrument(id=1, venue="binance", symbol="BTCUSDT", price_scale=2, qty_scale=5),
                            OrderSide.BUY,
                            OrderType.LIMIT,
                            TimeInForce.GTC,
                            3000000,
                            100,
                            _cid(1),
                        )
                    )
                assert 0.3 <= time.monotonic() - started < 5
                assert not isinstance(raised.value, RejectedError)
                assert raised.value.method == "order.place"
        assert len(received) == 1 and json.loads(received[0])["params"]["newClientOrderId"] == _cid(1)

    asyncio.run(scenario())
