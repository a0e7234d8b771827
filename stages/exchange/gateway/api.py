"""The WebSocket API methods: request -> checks -> EX_COMMAND, answer records -> response.

Every request is handled synchronously up to the moment its command is on the
gw-acct ring (or its answer is known), so the commands of one connection reach
accounting in the order the client sent them; the answer arrives later through
:class:`~stages.exchange.gateway.link.AccountingLink` and is sent from there.

Request security follows Binance: SIGNED methods (TRADE, USER_DATA) need
``timestamp`` and either ``apiKey`` + ``signature`` or a session logged on
with ``session.logon``. Deviation: ``session.logon`` (and so
``userDataStream.subscribe``) accepts HMAC keys as well as Ed25519 ones,
because the configured keys are HMAC and Binance's own clients sign logons
the same way for both key types.

USER_STREAM methods (``userDataStream.start`` / ``.ping`` / ``.stop``, the
listenKey stream of :mod:`.listen_keys`) take the API key alone, no signature
or timestamp, as on Binance.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final
from urllib.parse import urlencode

import h11
import orjson

from hftpipe.protocols.binance_signing import signature_payload, verify_ed25519, verify_hmac
from hftpipe.schema.exchange import Command
from hftpipe.schema.exchange_codec import CommandRecord, encode_id
from hftpipe.schema.exchange_errors import (
    BAD_API_KEY_FORMAT,
    BAD_SIGNATURE,
    INVALID_API_KEY,
    INVALID_PARAMETER_COMBINATION,
    INVALID_SYMBOL,
    INVALID_SYMBOL_STATUS,
    REQUEST_TIMEOUT,
    TIMESTAMP_AHEAD,
    TIMESTAMP_OUTSIDE_WINDOW,
    UNKNOWN_ERROR,
    illegal,
    illegal_characters,
    malformed,
    mandatory,
    unknown_method,
)
from hftpipe.substrate.counters import Counter
from stages.exchange.gateway import results
from stages.exchange.gateway.envelope import MalformedRequestError, RequestId, parse_envelope
from stages.exchange.gateway.formatter import Formatter
from stages.exchange.gateway.keys import ApiKey, KeyStore, valid_key_format
from stages.exchange.gateway.link import AccountingLink, Item
from stages.exchange.gateway.listen_keys import ListenKey, ListenKeys
from stages.exchange.gateway.market_forward import FORWARD_TIMEOUT_S, forward_get
from stages.exchange.gateway.rate_limits import RateLimiter
from stages.exchange.gateway.request_json import loads_request
from stages.exchange.gateway.requests import (
    bool_param,
    depth_limit,
    depth_weight,
    int_param,
    new_client_order_id,
    parse_cancel,
    parse_cancel_replace,
    parse_new_order,
    parse_order_query,
    present,
    recv_window_ms,
    symbol_param,
    text_param,
    timestamp_ms,
)
from stages.exchange.gateway.session import Session
from stages.exchange.gateway.user_data import UserData
from stages.exchange.protocol.api_error import ApiError
from stages.exchange.protocol.exchange_info import UnknownSymbolError, build_exchange_info
from stages.exchange.protocol.settings import ExchangeSettings

logger = logging.getLogger("hftpipe.gateway")

TRADE: Final = "TRADE"
USER_DATA: Final = "USER_DATA"
USER_STREAM: Final = "USER_STREAM"
ALL_ORDERS_DEFAULT_LIMIT: Final = 500
ALL_ORDERS_MAX_LIMIT: Final = 1000
INTERNAL_ERROR_STATUS: Final = 500
"""Binance: 5XX means the execution status is unknown (the command may have run)."""
NOT_FORWARDED: Final = frozenset({"returnRateLimits"})
"""The WebSocket API's own parameters: not the market-data endpoint's, so not forwarded."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class Request:
    session: Session
    id: RequestId
    method: str
    params: Mapping[str, Any]
    received_ns: int
    now_ms: int
    return_rate_limits: bool
    exempt: bool = False
    signed_by: ApiKey | None = None
    """The key whose signature and timestamp on this request were already verified (by ``_exempt``)."""
    order_account: int | None = None
    """Set once the request counted an order: its response then shows the ORDERS limits."""
    signed_payload: str | None = None
    """What the signature covers when not the sorted parameters (REST: query string + body as sent)."""


@dataclass(slots=True)
class ApiCounters:
    requests: Counter
    errors: Counter
    malformed: Counter
    rate_limited: Counter
    timeouts: Counter
    unanswerable: Counter
    """Answers that could not be serialised or queued (each replaced by a generic error)."""


Handler = Callable[["GatewayApi", Request], None]


@dataclass(frozen=True, slots=True)
class Method:
    handler: Handler
    weight: Callable[[Mapping[str, Any]], int]


def _fixed(weight: int) -> Callable[[Mapping[str, Any]], int]:
    return lambda _params: weight


def _depth_weight(params: Mapping[str, Any]) -> int:
    try:
        return depth_weight(depth_limit(params))
    except ApiError:
        return depth_weight(100)


@dataclass
class GatewayApi:
    settings: ExchangeSettings
    keys: KeyStore
    limiter: RateLimiter
    link: AccountingLink
    user_data: UserData
    counters: ApiCounters
    request_timeout_s: float = 10.0
    report: Callable[[str], None] = field(default=lambda _message: None)
    """Where unexpected failures are recorded (the stage's error log)."""
    listen_keys: ListenKeys = field(default_factory=ListenKeys)
    formatter: Formatter = field(init=False)
    _forwards: set[asyncio.Task[None]] = field(init=False, default_factory=set)
    """Market-data questions on their way to the publisher (each answers its request when back)."""

    def __post_init__(self) -> None:
        self.formatter = self.user_data.formatter

    def cancel_forwards(self) -> None:
        """The gateway stops: drop the market-data questions still in flight."""
        for task in self._forwards:
            task.cancel()

    # ------------------------------------------------------------------------------ dispatch
    def handle_message(self, session: Session, data: str | bytes) -> None:
        """One frame in, one answer out, whatever the frame holds: nothing escapes to the connection."""
        received_ns = time.monotonic_ns()
        self.counters.requests.add()
        try:
            envelope = parse_envelope(data)
        except MalformedRequestError as bad:
            self.counters.malformed.add()
            self.counters.errors.add()
            error = ApiError.of(malformed(str(bad)))
            self._send(session, bad.request_id, "malformed request", {"id": bad.request_id, **_error_fields(error)})
            return
        self.dispatch(session, envelope.id, envelope.method, envelope.params, received_ns)

    def dispatch(
        self,
        session: Session,
        request_id: RequestId,
        method_name: str,
        params: Mapping[str, Any],
        received_ns: int,
        signed_payload: str | None = None,
    ) -> None:
        """One request, from its parsed parameters to its one answer on ``session``: the WebSocket
        frames and the REST API (:mod:`.rest`, which passes the ``signed_payload`` its signature
        covers: the query string and body as sent) share this path."""
        request = Request(
            session=session,
            id=request_id,
            method=method_name,
            params=params,
            received_ns=received_ns,
            now_ms=now_ms(),
            return_rate_limits=session.return_rate_limits,
            signed_payload=signed_payload,
        )
        try:
            flag = bool_param(params, "returnRateLimits")
            if flag is not None:
                request.return_rate_limits = flag
            method = METHODS.get(method_name)
            if method is None:
                raise ApiError.of(unknown_method(method_name))
            request.exempt = self._exempt(request)
            self.limiter.add_weight(session.ip, method.weight(params), request.now_ms, request.exempt)
            method.handler(self, request)
        except ApiError as error:
            self.reply_error(request, error)
        except Exception as exc:
            logger.exception("%s failed", method_name)
            self.report(f"{method_name}: {type(exc).__name__}: {exc}")
            self.reply_error(request, ApiError.of(UNKNOWN_ERROR))

    def _exempt(self, request: Request) -> bool:
        """Whether an ``order_rate_exempt`` key authenticated this request: the session's logon, or
        ``apiKey`` with a valid signature and timestamp here. An unsigned ``apiKey`` proves nothing,
        so it never lifts the limits (it would let anyone who read the config bypass them)."""
        params = request.params
        if not present(params, "apiKey"):
            logged_on = request.session.api_key
            return logged_on is not None and logged_on.order_rate_exempt
        text = params["apiKey"]
        key = self.keys.get(text) if isinstance(text, str) else None
        if key is None or not key.order_rate_exempt:
            return False
        try:
            self._check_timestamp(request)
            self._check_signature(key, request)
        except ApiError:
            return False
        request.signed_by = key
        return True

    # ------------------------------------------------------------------------------ replies
    def _rate_limits(self, request: Request) -> list[dict[str, Any]]:
        return self.limiter.status(request.session.ip, now_ms(), request.order_account)

    def reply(self, request: Request, result: Any) -> None:
        message: dict[str, Any] = {"id": request.id, "status": 200, "result": result}
        if request.return_rate_limits:
            message["rateLimits"] = self._rate_limits(request)
        self._send(request.session, request.id, _label(request.method), message)

    def reply_error(self, request: Request, error: ApiError) -> None:
        self.counters.errors.add()
        if error.status == 429:
            self.counters.rate_limited.add()
        message: dict[str, Any] = {"id": request.id, **_error_fields(error)}
        if request.return_rate_limits:
            message["rateLimits"] = self._rate_limits(request)
        self._send(request.session, request.id, _label(request.method), message)

    def _send(self, session: Session, request_id: RequestId, what: str, message: dict[str, Any]) -> None:
        """Every answer leaves through here. One that cannot be serialised (or queued) is counted,
        logged (as ``what``, never a client's text) and replaced by -1000 with status 500 (Binance:
        execution status unknown), so a command that ran is never left unanswered and the failure
        never reaches the connection."""
        try:
            session.send(message)
        except Exception as exc:
            self.counters.unanswerable.add()
            logger.exception("%s: the answer could not be sent", what)
            self.report(f"{what} answer: {type(exc).__name__}")
            session.send_text(_unknown_outcome(request_id))

    def send_command(self, request: Request, command: CommandRecord, answer: Callable[[list[Item]], Any]) -> None:
        """Publish ``command``; when its answer is in, ``answer(items)`` is the result (or raises ApiError)."""

        def on_done(items: list[Item]) -> None:
            try:
                result = answer(items)
            except ApiError as error:
                self.reply_error(request, error)
                return
            except Exception as exc:
                logger.exception("%s: building the response failed", request.method)
                self.report(f"{request.method} answer: {type(exc).__name__}: {exc}")
                self.reply_error(request, ApiError.of(UNKNOWN_ERROR))
                return
            self.reply(request, result)

        def on_timeout() -> None:
            self.counters.timeouts.add()
            self.reply_error(request, ApiError.of(REQUEST_TIMEOUT, status=503))

        self.link.send(command._replace(ts_origin=request.received_ns), on_done, on_timeout, self.request_timeout_s)

    # ------------------------------------------------------------------------------ security
    def authenticate(
        self,
        request: Request,
        permission: str | None,
        *,
        signed: bool,
        require_key: bool = False,
        key_only: bool = False,
    ) -> ApiKey:
        """The key a request acts with; checks timestamp, signature and permission as Binance does
        (``key_only``: USER_STREAM security, the key alone)."""
        params = request.params
        session = request.session
        if present(params, "apiKey"):
            text = params["apiKey"]
            if not isinstance(text, str) or not valid_key_format(text):
                raise ApiError.of(BAD_API_KEY_FORMAT, status=401)
            key = self.keys.get(text)
            if key is None:
                raise ApiError.of(INVALID_API_KEY, status=401)
            if request.signed_by is not key and not key_only:
                if signed:
                    self._check_timestamp(request)
                self._check_signature(key, request)
        elif session.api_key is not None and not require_key:
            key = session.api_key
            if signed:
                self._check_timestamp(request)
        else:
            raise ApiError.of(mandatory("apiKey"))
        if permission is not None and permission not in key.permissions:
            raise ApiError.of(INVALID_API_KEY, status=401)
        return key

    def _check_timestamp(self, request: Request) -> None:
        timestamp = timestamp_ms(request.params)
        window = recv_window_ms(request.params, self.settings.recv_window_max_ms)
        server = Decimal(request.now_ms)
        if timestamp >= server + 1000:
            raise ApiError.of(TIMESTAMP_AHEAD)
        if server - timestamp > window:
            raise ApiError.of(TIMESTAMP_OUTSIDE_WINDOW)

    def _check_signature(self, key: ApiKey, request: Request) -> None:
        params = request.params
        signature = params.get("signature")
        if not present(params, "signature"):
            raise ApiError.of(mandatory("signature"))
        if not isinstance(signature, str):
            raise ApiError.of(BAD_SIGNATURE)
        payload = signature_payload(params) if request.signed_payload is None else request.signed_payload
        if key.is_hmac:
            valid = verify_hmac(key.secret, payload, signature)
        else:
            valid = key.ed25519 is not None and verify_ed25519(key.ed25519, payload, signature)
        if not valid:
            raise ApiError.of(BAD_SIGNATURE)

    # ------------------------------------------------------------------------------ general
    def ping(self, request: Request) -> None:
        self.reply(request, {})

    def server_time(self, request: Request) -> None:
        self.reply(request, {"serverTime": now_ms()})

    def exchange_info(self, request: Request) -> None:
        params = request.params
        names: list[str] | None = None
        if present(params, "symbol") and present(params, "symbols"):
            raise ApiError.of(INVALID_PARAMETER_COMBINATION)
        if present(params, "symbol"):
            names = [symbol_param(params, self.settings).symbol]
        elif present(params, "symbols"):
            names = _string_list(params["symbols"], "symbols")
        try:
            info = build_exchange_info(self.settings, names)
        except UnknownSymbolError:
            raise ApiError.of(INVALID_SYMBOL) from None
        if present(params, "permissions") and "SPOT" not in _string_list(params["permissions"], "permissions"):
            info["symbols"] = []
        status = text_param(params, "symbolStatus", required=False)
        if status is not None:
            if status not in ("TRADING", "HALT", "BREAK"):
                raise ApiError.of(INVALID_SYMBOL_STATUS)
            if status != "TRADING":
                info["symbols"] = []
        self.reply(request, info)

    def depth(self, request: Request) -> None:
        symbol = symbol_param(request.params, self.settings)
        limit = depth_limit(request.params)
        command = CommandRecord(instrument=symbol.symbol_id, command=int(Command.DEPTH), qty=limit)
        self.send_command(request, command, lambda items: results.depth_answer(self.formatter, symbol.symbol_id, items))

    def klines(self, request: Request) -> None:
        """``klines`` / ``uiKlines``: REST ``/api/v3/klines``'s parameters, rows and errors, because
        the publisher's one implementation answers them (forwarded over loopback, as the public
        REST paths are); the answer follows when it is back."""
        path = "/api/v3/uiKlines" if request.method == "uiKlines" else "/api/v3/klines"
        self._forward(request, f"{path}?{market_query(request.params)}")

    def _forward(self, request: Request, target: str) -> None:
        if not self.settings.market_port:  # "any free port": the gateway cannot know where the publisher is
            raise ApiError.of(UNKNOWN_ERROR, status=503)
        task = asyncio.get_running_loop().create_task(self._answer_forwarded(request, target))
        self._forwards.add(task)
        task.add_done_callback(self._forwards.discard)

    async def _answer_forwarded(self, request: Request, target: str) -> None:
        try:
            status, body = await asyncio.wait_for(
                forward_get(self.settings.host, self.settings.market_port, target), FORWARD_TIMEOUT_S
            )
            answer = orjson.loads(body)
            error = None if status == 200 else ApiError(int(answer["code"]), str(answer["msg"]), status)
        except (OSError, TimeoutError, h11.ProtocolError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            logger.warning("%s: the publisher did not answer", request.method)
            error = ApiError.of(UNKNOWN_ERROR, status=503)
        if error is None:
            self.reply(request, answer)
        else:
            self.reply_error(request, error)

    # ------------------------------------------------------------------------------ sessions
    def _session_status(self, request: Request) -> dict[str, Any]:
        session = request.session
        return {
            "apiKey": session.api_key.api_key if session.api_key else None,
            "authorizedSince": session.authorized_since_ms,
            "connectedSince": session.connected_since_ms,
            "returnRateLimits": session.return_rate_limits,
            "serverTime": now_ms(),
            "userDataStream": bool(session.subscriptions),
        }

    def session_logon(self, request: Request) -> None:
        key = self.authenticate(request, None, signed=True, require_key=True)
        session = request.session
        previous = session.api_key
        if previous is not None and previous.account_id != key.account_id and session.logon_subscription is not None:
            self.user_data.unsubscribe(session, session.logon_subscription, request.now_ms)
        session.api_key = key
        session.authorized_since_ms = request.now_ms
        self.reply(request, self._session_status(request))

    def session_status(self, request: Request) -> None:
        self.reply(request, self._session_status(request))

    def session_logout(self, request: Request) -> None:
        session = request.session
        if session.logon_subscription is not None:
            self.user_data.unsubscribe(session, session.logon_subscription, request.now_ms)
        session.api_key = None
        session.authorized_since_ms = None
        self.reply(request, self._session_status(request))

    def session_subscriptions(self, request: Request) -> None:
        self.reply(request, [{"subscriptionId": sid} for sid in sorted(request.session.subscriptions)])

    # ------------------------------------------------------------------------------ user data stream
    def user_data_subscribe(self, request: Request) -> None:
        session = request.session
        key = session.api_key
        if key is None:
            raise ApiError.of(INVALID_API_KEY, status=401)
        if USER_STREAM not in key.permissions:
            raise ApiError.of(INVALID_API_KEY, status=401)
        subscription_id = self.user_data.subscribe(session, key.account_id)
        session.logon_subscription = subscription_id
        self.reply(request, {"subscriptionId": subscription_id})

    def user_data_subscribe_signature(self, request: Request) -> None:
        key = self.authenticate(request, USER_STREAM, signed=True, require_key=True)
        self.reply(request, {"subscriptionId": self.user_data.subscribe(request.session, key.account_id)})

    def user_data_unsubscribe(self, request: Request) -> None:
        session = request.session
        wanted = int_param(request.params, "subscriptionId", required=False)
        for subscription_id in list(session.subscriptions):
            if wanted is None or wanted == subscription_id:
                self.user_data.unsubscribe(session, subscription_id, request.now_ms)
        self.reply(request, {})

    # ------------------------------------------------------------------------------ listenKey stream
    def listen_key_start(self, request: Request) -> None:
        """``userDataStream.start`` (``POST /api/v3/userDataStream``): the account's listenKey."""
        key = self.authenticate(request, USER_STREAM, signed=False, key_only=True)
        self.reply(request, {"listenKey": self.listen_keys.start(key.account_id, request.now_ms)})

    def listen_key_ping(self, request: Request) -> None:
        """``userDataStream.ping`` (``PUT``): the key is valid another 60 minutes."""
        key = self.authenticate(request, USER_STREAM, signed=False, key_only=True)
        listen_key = text_param(request.params, "listenKey")
        assert listen_key is not None
        self.listen_keys.ping(listen_key, key.account_id, request.now_ms)
        self.reply(request, {})

    def listen_key_stop(self, request: Request) -> None:
        """``userDataStream.stop`` (``DELETE``): the key ends, and so do the streams reading it."""
        key = self.authenticate(request, USER_STREAM, signed=False, key_only=True)
        listen_key = text_param(request.params, "listenKey")
        assert listen_key is not None
        self._end_streams(self.listen_keys.stop(listen_key, key.account_id, request.now_ms), None)
        self.reply(request, {})

    def expire_listen_keys(self, now: int) -> int:
        """End the keys past their validity; each stream gets Binance's ``listenKeyExpired`` last."""
        expired = self.listen_keys.expire(now)
        for ended in expired:
            self._end_streams(ended, {"e": "listenKeyExpired", "E": now, "listenKey": ended.key})
        return len(expired)

    def _end_streams(self, ended: ListenKey, last_event: dict[str, object] | None) -> None:
        for session in list(ended.streams):
            self.user_data.end_stream(session, last_event)
        ended.streams.clear()

    # ------------------------------------------------------------------------------ trading
    def order_place(self, request: Request) -> None:
        key = self.authenticate(request, TRADE, signed=True)
        order = parse_new_order(request.params, self.settings)
        request.order_account = key.account_id
        self.limiter.add_order(key.account_id, request.now_ms, request.exempt)
        command = order.record(Command.NEW_ORDER, key.account_id)
        account = key.account_id
        self.send_command(request, command, lambda items: results.place_answer(self.formatter, order, account, items))

    def order_test(self, request: Request) -> None:
        """``order.test``: every check ``order.place`` makes here (key, signature, parameters), nothing
        placed; ``computeCommissionRates`` adds the rates the order would pay."""
        self.authenticate(request, TRADE, signed=True)
        parse_new_order(request.params, self.settings)
        if bool_param(request.params, "computeCommissionRates"):
            self.reply(request, results.test_order_rates(self.settings))
        else:
            self.reply(request, {})

    def order_rate_limits(self, request: Request) -> None:
        """``account.rateLimits.orders``: the key's account's ORDERS counts (nothing counted by asking)."""
        key = self.authenticate(request, USER_DATA, signed=True)
        self.reply(request, self.limiter.order_status(key.account_id, request.now_ms))

    def order_cancel(self, request: Request) -> None:
        key = self.authenticate(request, TRADE, signed=True)
        target = parse_cancel(request.params, self.settings)
        command = CommandRecord(
            instrument=target.symbol.symbol_id,
            account=key.account_id,
            command=int(Command.CANCEL),
            order_id=target.order_id,
            client_order_id=encode_id(target.new_client_order_id),
            orig_client_order_id=encode_id(target.orig_client_order_id),
        )
        account = key.account_id
        self.send_command(request, command, lambda items: results.cancel_answer(self.formatter, target, account, items))

    def order_cancel_replace(self, request: Request) -> None:
        key = self.authenticate(request, TRADE, signed=True)
        replace = parse_cancel_replace(request.params, self.settings)
        request.order_account = key.account_id
        self.limiter.add_order(key.account_id, request.now_ms, request.exempt)
        order = replace.order
        command = order.record(Command.CANCEL_REPLACE, key.account_id)._replace(
            replace_mode=replace.replace_mode,
            order_id=replace.cancel.order_id,
            orig_client_order_id=encode_id(replace.cancel.orig_client_order_id),
            cancel_client_order_id=encode_id(replace.cancel.new_client_order_id),
        )
        account = key.account_id
        self.send_command(
            request, command, lambda items: results.cancel_replace_answer(self.formatter, replace, account, items)
        )

    def open_orders_cancel_all(self, request: Request) -> None:
        key = self.authenticate(request, TRADE, signed=True)
        symbol = symbol_param(request.params, self.settings)
        new_id = new_client_order_id()
        command = CommandRecord(
            instrument=symbol.symbol_id,
            account=key.account_id,
            command=int(Command.CANCEL_ALL),
            client_order_id=encode_id(new_id),
        )
        account = key.account_id
        self.send_command(
            request, command, lambda items: results.cancel_all_answer(self.formatter, new_id, account, items)
        )

    # ------------------------------------------------------------------------------ queries
    def order_status(self, request: Request) -> None:
        key = self.authenticate(request, USER_DATA, signed=True)
        symbol, order_id, orig = parse_order_query(request.params, self.settings)
        command = CommandRecord(
            instrument=symbol.symbol_id,
            account=key.account_id,
            command=int(Command.ORDER_STATUS),
            order_id=order_id,
            orig_client_order_id=encode_id(orig),
        )
        account = key.account_id
        self.send_command(request, command, lambda items: results.order_status_answer(self.formatter, account, items))

    def open_orders_status(self, request: Request) -> None:
        key = self.authenticate(request, USER_DATA, signed=True)
        instrument = symbol_param(request.params, self.settings).symbol_id if present(request.params, "symbol") else 0
        command = CommandRecord(instrument=instrument, account=key.account_id, command=int(Command.OPEN_ORDERS))
        account = key.account_id
        self.send_command(request, command, lambda items: results.open_orders_answer(self.formatter, account, items))

    def all_orders(self, request: Request) -> None:
        """``allOrders``: open and remembered orders of one symbol (accounting keeps the latest
        ``order_history`` ended orders), by order id."""
        key = self.authenticate(request, USER_DATA, signed=True)
        params = request.params
        symbol = symbol_param(params, self.settings)
        from_id = int_param(params, "orderId", required=False) or 0
        start, end, limit = history_window(params)
        if from_id < 0 or start < 0 or end < 0 or (end and start > end):
            raise ApiError.of(INVALID_PARAMETER_COMBINATION)
        command = CommandRecord(
            instrument=symbol.symbol_id,
            account=key.account_id,
            command=int(Command.ALL_ORDERS),
            order_id=from_id,
            qty=limit,
            price=start,
            quote_qty=end,
        )
        account = key.account_id
        self.send_command(request, command, lambda items: results.open_orders_answer(self.formatter, account, items))

    def my_trades(self, request: Request) -> None:
        """``myTrades``: the account's fills in one symbol (accounting keeps the latest per account)."""
        key = self.authenticate(request, USER_DATA, signed=True)
        params = request.params
        symbol = symbol_param(params, self.settings)
        order_id = int_param(params, "orderId", required=False) or 0
        from_id = int_param(params, "fromId", required=False) or 0
        start, end, limit = history_window(params)
        if min(order_id, from_id, start, end) < 0 or (end and start > end) or (from_id and (start or end)):
            raise ApiError.of(INVALID_PARAMETER_COMBINATION)
        command = CommandRecord(
            instrument=symbol.symbol_id,
            account=key.account_id,
            command=int(Command.MY_TRADES),
            order_id=order_id,
            tag=from_id,
            qty=limit,
            price=start,
            quote_qty=end,
        )
        account = key.account_id
        self.send_command(request, command, lambda items: results.my_trades_answer(self.formatter, account, items))

    def account_status(self, request: Request) -> None:
        key = self.authenticate(request, USER_DATA, signed=True)
        omit_zero = bool(bool_param(request.params, "omitZeroBalances"))
        command = CommandRecord(account=key.account_id, command=int(Command.ACCOUNT_STATUS))
        self.send_command(
            request,
            command,
            lambda items: results.account_answer(self.formatter, self.settings, key, items, omit_zero),
        )


def bool_param_or_none(params: Mapping[str, Any], name: str) -> bool | None:
    """``bool_param`` for a weight: a malformed value weighs as absent (the handler reports it)."""
    try:
        return bool_param(params, name)
    except ApiError:
        return None


def market_query(params: Mapping[str, Any]) -> str:
    """A WebSocket request's parameters as the query string of the REST path that answers them:
    strings and integers as REST spells them; anything else is -1100 for its name."""
    fields: list[tuple[str, str]] = []
    for name, value in params.items():
        if name in NOT_FORWARDED:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ApiError.of(illegal_characters(name))
        fields.append((name, str(value)))
    return urlencode(fields)


def _label(method: str) -> str:
    """``method`` for logs and the error log when it is one of ours; a client's text never keys them."""
    return method if method in METHODS else "unknown method"


def _error_fields(error: ApiError) -> dict[str, Any]:
    return {"status": error.status, "error": error.error_object()}


def _unknown_outcome(request_id: RequestId) -> str:
    """The answer that replaces one that could not be sent; it cannot fail itself (ids are checked
    on the way in, and null is the last resort)."""
    error = {"code": UNKNOWN_ERROR.code, "msg": UNKNOWN_ERROR.message}
    try:
        return orjson.dumps({"id": request_id, "status": INTERNAL_ERROR_STATUS, "error": error}).decode()
    except orjson.JSONEncodeError:
        return orjson.dumps({"id": None, "status": INTERNAL_ERROR_STATUS, "error": error}).decode()


def _string_list(value: Any, name: str) -> list[str]:
    """``["A","B"]``, a JSON text of one, or a single string."""
    if isinstance(value, str) and value.startswith("["):
        try:
            value = loads_request(value)
        except ValueError:
            raise ApiError.of(illegal_characters(name)) from None
    if isinstance(value, str):
        return [str.__str__(value)]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [str.__str__(item) for item in value]
    raise ApiError.of(illegal_characters(name))


METHODS: Final[dict[str, Method]] = {
    "ping": Method(GatewayApi.ping, _fixed(1)),
    "time": Method(GatewayApi.server_time, _fixed(1)),
    "exchangeInfo": Method(GatewayApi.exchange_info, _fixed(20)),
    "depth": Method(GatewayApi.depth, _depth_weight),
    "klines": Method(GatewayApi.klines, _fixed(2)),
    "uiKlines": Method(GatewayApi.klines, _fixed(2)),
    "session.logon": Method(GatewayApi.session_logon, _fixed(2)),
    "session.status": Method(GatewayApi.session_status, _fixed(2)),
    "session.logout": Method(GatewayApi.session_logout, _fixed(2)),
    "session.subscriptions": Method(GatewayApi.session_subscriptions, _fixed(2)),
    "userDataStream.subscribe": Method(GatewayApi.user_data_subscribe, _fixed(2)),
    "userDataStream.subscribe.signature": Method(GatewayApi.user_data_subscribe_signature, _fixed(2)),
    "userDataStream.unsubscribe": Method(GatewayApi.user_data_unsubscribe, _fixed(2)),
    "userDataStream.start": Method(GatewayApi.listen_key_start, _fixed(2)),
    "userDataStream.ping": Method(GatewayApi.listen_key_ping, _fixed(2)),
    "userDataStream.stop": Method(GatewayApi.listen_key_stop, _fixed(2)),
    "order.place": Method(GatewayApi.order_place, _fixed(1)),
    "order.cancel": Method(GatewayApi.order_cancel, _fixed(1)),
    "order.cancelReplace": Method(GatewayApi.order_cancel_replace, _fixed(1)),
    "order.status": Method(GatewayApi.order_status, _fixed(4)),
    "openOrders.status": Method(GatewayApi.open_orders_status, lambda params: 6 if present(params, "symbol") else 80),
    "openOrders.cancelAll": Method(GatewayApi.open_orders_cancel_all, _fixed(1)),
    "account.status": Method(GatewayApi.account_status, _fixed(20)),
    "order.test": Method(
        GatewayApi.order_test, lambda params: 20 if bool_param_or_none(params, "computeCommissionRates") else 1
    ),
    "account.rateLimits.orders": Method(GatewayApi.order_rate_limits, _fixed(40)),
    "allOrders": Method(GatewayApi.all_orders, _fixed(20)),
    "myTrades": Method(GatewayApi.my_trades, _fixed(20)),
}


def history_window(params: Mapping[str, Any]) -> tuple[int, int, int]:
    """``startTime``, ``endTime`` (0: none) and ``limit`` of an ``allOrders`` / ``myTrades`` request."""
    start = int_param(params, "startTime", required=False) or 0
    end = int_param(params, "endTime", required=False) or 0
    limit = int_param(params, "limit", required=False) or ALL_ORDERS_DEFAULT_LIMIT
    if not 1 <= limit <= ALL_ORDERS_MAX_LIMIT:
        raise ApiError.of(illegal("limit", f"1-{ALL_ORDERS_MAX_LIMIT}"))
    return start, end, limit
