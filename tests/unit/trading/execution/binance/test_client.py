"""The venue client against a scripted WebSocket API: signing, correlation, errors, clock, reconnects, user data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from hftpipe.protocols.binance_signing import hmac_signature, signature_payload
from hftpipe.schema.instruments import Instrument
from stages.trading.execution.binance.client import (
    BinanceWsApiClient,
    Ed25519Credentials,
    HmacCredentials,
    OtherEvent,
    UserDataEvent,
)
from stages.trading.execution.binance.errors import (
    BackOffError,
    NotConnectedError,
    OutcomeUnknown,
    RejectedError,
    TransientError,
    UnknownOutcomeError,
)
from stages.trading.execution.binance.messages import (
    AccountPosition,
    ExecutionReport,
    RateLimit,
    VenueExecType,
    order_params,
)
from tests.unit.trading.execution.binance.fake_venue import FakeVenue, error, eventually, ok, running

BTCUSDT = Instrument(id=1, venue="binance", symbol="BTCUSDT", price_scale=2, qty_scale=5)
LOCAL_MS = 1_700_000_000_000
VENUE_AHEAD_MS = 2_500
ORDER = order_params("BTCUSDT", "BUY", "LIMIT", "0.001", "hp1-1-1", price="60000", time_in_force="GTC")


def _local_clock() -> int:
    return LOCAL_MS


def _venue_clock() -> int:
    return LOCAL_MS + VENUE_AHEAD_MS


def _pem(tmp_path: Path) -> tuple[Ed25519PrivateKey, Path]:
    private = Ed25519PrivateKey.generate()
    path = tmp_path / "key.pem"
    path.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return private, path


def _run(venue: FakeVenue, body: Callable[[FakeVenue], Awaitable[None]]) -> None:
    async def main() -> None:
        async with running(venue):
            await asyncio.wait_for(body(venue), 30)

    asyncio.run(main())


def _report(**changes: Any) -> dict[str, Any]:
    event = {
        "e": "executionReport", "E": 1, "s": "BTCUSDT", "c": "hp1-1-1", "S": "BUY", "o": "LIMIT", "f": "GTC",
        "q": "0.00100000", "p": "60000.00000000", "P": "0.00000000", "F": "0.00000000", "g": -1, "C": "",
        "x": "NEW", "X": "NEW", "r": "NONE", "i": 7, "l": "0.00000000", "z": "0.00000000", "L": "0.00000000",
        "n": "0", "N": None, "T": 1, "t": -1, "I": 11, "w": True, "m": False, "M": False, "O": 1,
        "Z": "0.00000000", "Y": "0.00000000", "Q": "0.00000000",
    }  # fmt: skip
    event.update(changes)
    return event


# ------------------------------------------------------------------------------------------ signing
def test_should_log_on_with_ed25519_then_send_only_the_measured_timestamp(tmp_path: Path) -> None:
    private, pem = _pem(tmp_path)
    venue = FakeVenue(_venue_clock, public_key=private.public_key())

    async def body(venue: FakeVenue) -> None:
        credentials = Ed25519Credentials("ed-key", pem)
        async with BinanceWsApiClient(venue.url, credentials, [BTCUSDT], clock_ms=_local_clock) as client:
            assert client.clock_offset_ms == VENUE_AHEAD_MS
            assert client.session_status["apiKey"] == "ed-key"
            await client.place(ORDER)
            await client.order_status("BTCUSDT", "hp1-1-1")
        assert venue.methods() == ["time", "session.logon", "order.place", "order.status"]
        [logon] = venue.params_of("session.logon")
        assert set(logon) == {"apiKey", "timestamp", "recvWindow", "signature"}
        assert logon["timestamp"] == LOCAL_MS + VENUE_AHEAD_MS
        [placed] = venue.params_of("order.place")
        assert placed == {**ORDER, "timestamp": LOCAL_MS + VENUE_AHEAD_MS, "recvWindow": 5000}

    _run(venue, body)


def test_should_sign_every_request_with_hmac_and_never_log_on() -> None:
    venue = FakeVenue(_venue_clock, hmac_secret="s3cret")

    async def body(venue: FakeVenue) -> None:
        credentials = HmacCredentials("hmac-key", "s3cret")
        async with BinanceWsApiClient(
            venue.url, credentials, [BTCUSDT], clock_ms=_local_clock, recv_window_ms=None
        ) as client:
            await client.place(ORDER)
            assert await client.time() == LOCAL_MS + VENUE_AHEAD_MS
            await client.subscribe_user_data()
        assert venue.methods() == ["time", "order.place", "time", "userDataStream.subscribe.signature"]
        for method in ("order.place", "userDataStream.subscribe.signature"):
            [params] = venue.params_of(method)
            assert params["apiKey"] == "hmac-key" and "recvWindow" not in params
            assert params["signature"] == hmac_signature("s3cret", signature_payload(params))
        assert venue.params_of("time") == [{}, {}]
        assert "secret" not in repr(credentials) and "s3cret" not in repr(credentials)

    _run(venue, body)


# ------------------------------------------------------------------------------------------ answers
def test_should_match_answers_by_id_in_any_order_and_report_rate_limits() -> None:
    gate = asyncio.Event()
    venue = FakeVenue(_venue_clock, hmac_secret="s")
    limits: list[tuple[RateLimit, ...]] = []

    async def body(venue: FakeVenue) -> None:
        venue.answers["account.status"] = lambda params: None  # answered by hand below
        async with BinanceWsApiClient(
            venue.url, HmacCredentials("k", "s"), on_rate_limits=limits.append, sync_clock_on_connect=False
        ) as client:
            slow = asyncio.create_task(client.account_status())
            await eventually(lambda: "account.status" in venue.methods())
            fast = await client.open_orders("BTCUSDT")  # answered while account.status still waits
            assert fast == []
            await venue.reply_late(1, ok({"balances": []}))
            assert await slow == {"balances": []}
            gate.set()
        assert limits and limits[0] == (RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 6000, 7),)
        assert client.rate_limits == limits[-1]

    venue.answers["openOrders.status"] = lambda params: ok([])
    _run(venue, body)
    assert gate.is_set()


def test_should_raise_outcome_unknown_on_timeout_and_hand_a_late_answer_over() -> None:
    venue = FakeVenue(_venue_clock, hmac_secret="s")
    venue.answers["order.place"] = lambda params: None
    late: list[tuple[str, int, Any]] = []

    async def body(venue: FakeVenue) -> None:
        client = BinanceWsApiClient(
            venue.url,
            HmacCredentials("k", "s"),
            request_timeout_s=0.2,
            sync_clock_on_connect=False,
            on_late_reply=lambda method, request_id, message: late.append((method, request_id, message)),
        )
        async with client:
            with pytest.raises(OutcomeUnknown, match=r"no answer within 0\.2 s") as raised:
                await client.place(ORDER)
            assert not isinstance(raised.value, RejectedError)
            assert (raised.value.method, raised.value.request_id) == ("order.place", 1)
            await venue.reply_late(1, ok({"orderId": 5, "clientOrderId": "hp1-1-1"}))
            await eventually(lambda: bool(late))
            assert late[0][:2] == ("order.place", 1) and late[0][2]["result"]["orderId"] == 5
            assert await client.account_status() == {}  # the connection goes on
            assert (client.stats.unanswered, client.stats.late_replies) == (1, 1)

    _run(venue, body)


@pytest.mark.parametrize(
    ("reply", "exception"),
    [
        (error(-2010, "Account has insufficient balance for requested action."), RejectedError),
        (error(-1013, "Filter failure: LOT_SIZE"), RejectedError),
        (error(-1000, "An unknown error occurred while processing the request.", 500), UnknownOutcomeError),
        (error(-1008, "Server is currently overloaded with other requests.", 503), UnknownOutcomeError),
        (error(-1008, "Server is currently overloaded with other requests."), TransientError),
        (error(-1015, "Too many new orders; current limit is 50 orders per 10 SECOND.", 429), BackOffError),
    ],
)
def test_should_raise_the_error_answers_class(reply: dict[str, Any], exception: type[Exception]) -> None:
    venue = FakeVenue(_venue_clock, hmac_secret="s")
    venue.answers["order.place"] = lambda params: reply

    async def body(venue: FakeVenue) -> None:
        async with BinanceWsApiClient(venue.url, HmacCredentials("k", "s"), sync_clock_on_connect=False) as client:
            with pytest.raises(exception) as raised:
                await client.place(ORDER)
            assert type(raised.value) is exception
            assert raised.value.code == reply["error"]["code"]  # type: ignore[attr-defined]

    _run(venue, body)


def test_should_measure_the_clock_again_after_a_timestamp_outside_the_window() -> None:
    ahead = [VENUE_AHEAD_MS]
    venue = FakeVenue(lambda: LOCAL_MS + ahead[0], hmac_secret="s")
    venue.answers["order.place"] = lambda params: error(
        -1021, "Timestamp for this request is outside of the recvWindow."
    )

    async def body(venue: FakeVenue) -> None:
        client = BinanceWsApiClient(venue.url, HmacCredentials("k", "s"), clock_ms=_local_clock)
        async with client:
            assert client.clock_offset_ms == VENUE_AHEAD_MS
            ahead[0] = 9_000  # the venue's clock jumps
            results = await asyncio.gather(client.place(ORDER), client.place(ORDER), return_exceptions=True)
            assert all(isinstance(r, RejectedError) and r.code == -1021 for r in results)
            assert client.clock_offset_ms == 9_000
            assert venue.methods().count("time") == 2  # one measurement for both refusals
            assert client.now_ms() == LOCAL_MS + 9_000

    _run(venue, body)


def test_should_log_on_again_after_measuring_the_clock_when_the_first_logon_is_too_late(tmp_path: Path) -> None:
    private, pem = _pem(tmp_path)
    venue = FakeVenue(lambda: LOCAL_MS + 120_000, public_key=private.public_key())

    async def body(venue: FakeVenue) -> None:
        client = BinanceWsApiClient(
            venue.url, Ed25519Credentials("ed-key", pem), clock_ms=_local_clock, sync_clock_on_connect=False
        )
        async with client:
            assert client.clock_offset_ms == 120_000
            assert client.session_status["apiKey"] == "ed-key"
        assert venue.methods() == ["session.logon", "time", "session.logon"]

    _run(venue, body)


def test_should_return_nothing_when_cancel_all_finds_nothing_open() -> None:
    venue = FakeVenue(_venue_clock, hmac_secret="s")
    venue.answers["openOrders.cancelAll"] = lambda params: error(-2011, "Unknown order sent.")
    venue.answers["order.cancel"] = lambda params: error(-2011, "Unknown order sent.")

    async def body(venue: FakeVenue) -> None:
        async with BinanceWsApiClient(venue.url, HmacCredentials("k", "s"), sync_clock_on_connect=False) as client:
            assert await client.cancel_all("BTCUSDT") == []
            with pytest.raises(RejectedError):
                await client.cancel("BTCUSDT", client_order_id="hp1-1-1")

    _run(venue, body)


def test_should_carry_binances_data_on_a_half_failed_cancel_replace() -> None:
    venue = FakeVenue(_venue_clock, hmac_secret="s")
    data = {
        "cancelResult": "SUCCESS",
        "newOrderResult": "FAILURE",
        "cancelResponse": {"symbol": "BTCUSDT", "origClientOrderId": "hp1-1-1", "status": "CANCELED"},
        "newOrderResponse": {"code": -2010, "msg": "Account has insufficient balance for requested action."},
    }
    venue.answers["order.cancelReplace"] = lambda params: error(
        -2021, "Order cancel-replace partially failed.", 409, data
    )

    async def body(venue: FakeVenue) -> None:
        async with BinanceWsApiClient(venue.url, HmacCredentials("k", "s"), sync_clock_on_connect=False) as client:
            new = order_params("BTCUSDT", "BUY", "LIMIT", "5", "hp1-1-2", price="60000", time_in_force="GTC")
            with pytest.raises(RejectedError) as raised:
                await client.cancel_replace(new, cancel_client_order_id="hp1-1-1")
            assert (raised.value.code, raised.value.status, raised.value.data) == (-2021, 409, data)
        [sent] = venue.params_of("order.cancelReplace")
        assert (sent["cancelReplaceMode"], sent["cancelOrigClientOrderId"], sent["newClientOrderId"]) == (
            "STOP_ON_FAILURE",
            "hp1-1-1",
            "hp1-1-2",
        )

    _run(venue, body)


# ------------------------------------------------------------------------------------------ connections
def test_should_fail_pending_requests_as_unknown_when_the_connection_drops() -> None:
    venue = FakeVenue(_venue_clock, hmac_secret="s")
    drops: list[str] = []

    closing: list[asyncio.Task[None]] = []

    def close_instead_of_answering(params: dict[str, Any]) -> None:
        closing.append(asyncio.get_running_loop().create_task(venue.connections[-1].close()))

    async def body(venue: FakeVenue) -> None:
        venue.answers["order.place"] = close_instead_of_answering
        client = BinanceWsApiClient(
            venue.url, HmacCredentials("k", "s"), sync_clock_on_connect=False, on_disconnect=drops.append
        )
        await client.connect()
        with pytest.raises(OutcomeUnknown, match="closed before the answer"):
            await client.place(ORDER)
        await eventually(lambda: bool(drops))
        assert not client.connected and client.stats.disconnects == 1
        with pytest.raises(NotConnectedError):
            await client.account_status()
        await client.reconnect("after a drop")
        assert await client.account_status() == {}
        await client.close()

    _run(venue, body)


def test_should_refuse_to_connect_where_nothing_listens() -> None:
    async def body() -> None:
        client = BinanceWsApiClient("ws://127.0.0.1:1/ws-api/v3", HmacCredentials("k", "s"), open_timeout_s=2)
        with pytest.raises(NotConnectedError, match="cannot connect"):
            await client.connect()

    asyncio.run(body())


def test_should_reconnect_before_the_connection_grows_too_old_and_pass_each_event_once(tmp_path: Path) -> None:
    private, pem = _pem(tmp_path)
    venue = FakeVenue(_venue_clock, public_key=private.public_key())
    reconnects: list[str] = []
    events: list[UserDataEvent] = []

    async def body(venue: FakeVenue) -> None:
        client = BinanceWsApiClient(
            venue.url,
            Ed25519Credentials("ed-key", pem),
            [BTCUSDT],
            max_connection_age_s=0.5,
            on_reconnect=reconnects.append,
        )
        async with client:
            await client.subscribe_user_data(events.append)
            await venue.push(_report(I=11))
            await eventually(lambda: len(events) == 1)
            first = venue.connections[0]
            venue.answers["order.place"] = lambda params: None  # in flight across the swap
            in_flight = asyncio.create_task(client.place(ORDER))
            await eventually(lambda: bool(reconnects))
            assert reconnects == ["max_connection_age"]
            assert venue.methods(1) == ["time", "session.logon", "userDataStream.subscribe"]
            # both connections deliver while they overlap: passed on once
            await venue.push(_report(I=12, x="CANCELED", X="CANCELED"), connection=0)
            await venue.push(_report(I=12, x="CANCELED", X="CANCELED"), connection=1)
            [(_, placed)] = [(n, m) for n, m in venue.received if m["method"] == "order.place"]
            await venue.reply_late(placed["id"], ok({"orderId": 7}), connection=0)
            assert await in_flight == {"orderId": 7}  # the old connection's answer still arrives
            await eventually(lambda: first.close_code is not None)  # then it closes
            del venue.answers["order.place"]
            assert await client.place(ORDER) == {}
            assert venue.methods(1)[-1] == "order.place"
            await venue.push(_report(I=13, x="TRADE", X="PARTIALLY_FILLED", l="0.0005", z="0.0005", t=3))
            await eventually(lambda: len(events) == 3)
        assert [e.execution_id for e in events if isinstance(e, ExecutionReport)] == [11, 12, 13]
        assert client.stats.duplicate_events == 1
        assert isinstance(events[2], ExecutionReport) and events[2].exec_type is VenueExecType.TRADE

    _run(venue, body)


# ------------------------------------------------------------------------------------------ user data
def test_should_parse_user_data_and_pass_on_what_it_cannot_parse(tmp_path: Path) -> None:
    private, pem = _pem(tmp_path)
    venue = FakeVenue(_venue_clock, public_key=private.public_key())

    async def body(venue: FakeVenue) -> None:
        async with BinanceWsApiClient(venue.url, Ed25519Credentials("ed-key", pem), [BTCUSDT]) as client:
            stream = await client.subscribe_user_data()
            assert stream.subscription_id == 0 and await client.subscribe_user_data() is stream
            await venue.push(_report())
            await venue.push({"e": "outboundAccountPosition", "E": 2, "u": 2, "B": [{"a": "BTC", "f": "1", "l": "0"}]})
            await venue.push(_report(s="ETHUSDT"))
            await venue.push({"e": "balanceUpdate", "E": 3, "a": "BTC", "d": "1.00000000", "T": 3})
            await venue.push(_report(I=99, l="0.000000001"))
            received = [await anext(stream) for _ in range(5)]
        assert isinstance(received[0], ExecutionReport) and received[0].order_price == 6000000
        assert isinstance(received[1], AccountPosition) and received[1].balances[0].free == 10**8
        assert isinstance(received[2], OtherEvent) and "not one of the client's" in received[2].error
        assert received[3] == OtherEvent("balanceUpdate", received[3].raw)  # type: ignore[union-attr]
        assert isinstance(received[4], OtherEvent) and "decimal places" in received[4].error
        assert [e async for e in stream] == []  # the stream ended with the client
        assert venue.methods()[-1] == "userDataStream.subscribe"
        assert venue.params_of("userDataStream.subscribe") == [{}]

    _run(venue, body)


def test_should_refuse_a_private_key_file_that_is_not_ed25519(tmp_path: Path) -> None:
    path = tmp_path / "not-a-key.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError):
        BinanceWsApiClient("ws://127.0.0.1:1/ws-api/v3", Ed25519Credentials("k", path))
