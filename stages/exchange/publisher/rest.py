"""``GET /api/v3/...`` market-data endpoints, answered from the replicas and trade history.

Served on the market-data port beside the streams (every request that is not
a WebSocket upgrade reaches :meth:`RestApi.handle` through
:mod:`stages.exchange.protocol.http_server`), read-only: ``GET`` and ``HEAD``.
Everything is read in the event loop between two applied engine updates, so
``/api/v3/depth`` is the book at one consistent point and its ``lastUpdateId`` lines up with the ``@depth`` diff streams
(Binance's "How to manage a local order book correctly" works as documented).

Parameter checks and error bodies follow Binance (``{"code", "msg"}`` with HTTP
400): -1100 illegal characters, -1101 duplicate parameter, -1102 missing or
malformed mandatory parameter, -1104 unread (unknown) parameters, -1105 empty
parameter, -1121 invalid symbol, -1122 invalid ``symbolStatus``, -1128
``symbol`` with ``symbols``, -1139 invalid ticker ``type``, -1120 invalid kline
``interval``, -1151 a symbol listed twice. An unknown path is a 404 with a JSON error body, another method
than GET/HEAD on a known path a 405 (with ``Allow``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import orjson

from hftpipe.schema.exchange_errors import (
    DUPLICATE_PARAMETER,
    DUPLICATE_SYMBOL,
    INVALID_INTERVAL,
    INVALID_PARAMETER_COMBINATION,
    INVALID_SYMBOL,
    INVALID_SYMBOL_STATUS,
    INVALID_TICKER_TYPE,
    empty,
    illegal,
    mandatory,
    unread_parameters,
)
from stages.exchange.protocol.api_error import ApiError
from stages.exchange.protocol.exchange_info import UnknownSymbolError, build_exchange_info
from stages.exchange.protocol.http_server import HttpRequest, HttpResponse
from stages.exchange.protocol.settings import ExchangeSettings
from stages.exchange.publisher import encoders, history_queries
from stages.exchange.publisher.market import SymbolMarket
from stages.exchange.publisher.streams import KLINE_INTERVALS_MS

DEPTH_DEFAULT_LIMIT: Final = 100
DEPTH_MAX_LIMIT: Final = 5000
TRADES_DEFAULT_LIMIT: Final = 500
TRADES_MAX_LIMIT: Final = 1000
SYMBOL_RANGE: Final = "^[A-Z0-9-_.]{1,20}$"
SYMBOLS_RANGE: Final = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
INT_RANGE: Final = "^[0-9]{1,20}$"
_SYMBOL_RE: Final = re.compile(r"[A-Z0-9\-_.]{1,20}")
_INT_RE: Final = re.compile(r"[0-9]{1,20}")
SYMBOL_STATUSES: Final = ("TRADING", "HALT", "BREAK")
READ_METHODS: Final = ("GET", "HEAD")
KLINE_PARAMS: Final = frozenset({"symbol", "interval", "startTime", "endTime", "timeZone", "limit"})
KLINES_DEFAULT_LIMIT: Final = 500
MINI_TICKER_KEYS: Final = (
    "symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume",
    "openTime", "closeTime", "firstId", "lastId", "count",
)  # fmt: skip


def parse_query(query: str, allowed: frozenset[str]) -> dict[str, str]:
    """The query's parameters, each at most once and all of them known to the endpoint."""
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in params:
            raise ApiError.of(DUPLICATE_PARAMETER)
        params[key] = value
    unread = [key for key in params if key not in allowed]
    if unread:
        read = len(params) - len(unread)
        raise ApiError.of(unread_parameters(read, len(params)))
    return params


def _limit(params: Mapping[str, str], default: int, maximum: int) -> int:
    text = params.get("limit")
    if text is None:
        return default
    if text == "":
        raise ApiError.of(empty("limit"))
    if not _INT_RE.fullmatch(text):
        raise ApiError.of(illegal("limit", INT_RANGE))
    value = int(text)
    if value < 1:
        raise ApiError.of(mandatory("limit"))
    return min(value, maximum)


def _optional_int(params: Mapping[str, str], name: str) -> int | None:
    text = params.get(name)
    if text is None:
        return None
    if text == "":
        raise ApiError.of(empty(name))
    if not _INT_RE.fullmatch(text):
        raise ApiError.of(illegal(name, INT_RANGE))
    return int(text)


class RestApi:
    def __init__(
        self, settings: ExchangeSettings, markets: Mapping[str, SymbolMarket], clock_ms: Callable[[], int]
    ) -> None:
        self.settings = settings
        self.markets = markets
        self.clock_ms = clock_ms
        self.requests = 0
        self.errors = 0
        self._routes: dict[str, tuple[frozenset[str], Callable[[dict[str, str]], Any]]] = {
            "/api/v3/ping": (frozenset(), lambda _: {}),
            "/api/v3/time": (frozenset(), lambda _: {"serverTime": self.clock_ms()}),
            "/api/v3/exchangeInfo": (
                frozenset({"symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus"}),
                self._exchange_info,
            ),
            "/api/v3/depth": (frozenset({"symbol", "limit"}), self._depth),
            "/api/v3/trades": (frozenset({"symbol", "limit"}), self._trades),
            "/api/v3/ticker/bookTicker": (frozenset({"symbol", "symbols"}), self._book_ticker),
            "/api/v3/ticker/24hr": (frozenset({"symbol", "symbols", "type"}), self._ticker_24hr),
            "/api/v3/ticker/price": (frozenset({"symbol", "symbols"}), self._ticker_price),
            "/api/v3/klines": (KLINE_PARAMS, self._klines),
            "/api/v3/uiKlines": (KLINE_PARAMS, self._klines),
            "/api/v3/aggTrades": (frozenset({"symbol", "fromId", "startTime", "endTime", "limit"}), self._agg_trades),
            "/api/v3/historicalTrades": (frozenset({"symbol", "fromId", "limit"}), self._historical_trades),
            "/api/v3/avgPrice": (frozenset({"symbol"}), self._avg_price),
        }

    def handle(self, method: str, target: str) -> HttpResponse:
        """Answer ``method target`` (path and query string)."""
        self.requests += 1
        parts = urlsplit(target)
        route = self._routes.get(parts.path)
        try:
            if route is None:
                raise ApiError.no_endpoint(method, parts.path)
            if method not in READ_METHODS:
                raise ApiError.wrong_method(method, parts.path, READ_METHODS)
            allowed, handler = route
            return HttpResponse.json(200, handler(parse_query(parts.query, allowed)))
        except ApiError as exc:
            self.errors += 1
            headers = (("Allow", ", ".join(READ_METHODS)),) if exc.status == 405 else ()
            return HttpResponse.error(exc, headers)

    async def serve(self, request: HttpRequest) -> HttpResponse:
        """The HTTP handler (:data:`~stages.exchange.protocol.http_server.HttpHandler`) of the market port."""
        return self.handle(request.method, request.target)

    # -- parameters ------------------------------------------------------------------
    def _market(self, params: Mapping[str, str]) -> SymbolMarket:
        name = params.get("symbol")
        if not name:
            raise ApiError.of(mandatory("symbol"))
        return self._lookup(name)

    def _lookup(self, name: str) -> SymbolMarket:
        if not _SYMBOL_RE.fullmatch(name):
            raise ApiError.of(illegal("symbol", SYMBOL_RANGE))
        market = self.markets.get(name)
        if market is None:
            raise ApiError.of(INVALID_SYMBOL)
        return market

    def _symbol_names(self, params: Mapping[str, str]) -> list[str] | None:
        """``symbol=X`` or ``symbols=["X","Y"]`` (validated names), or ``None`` for neither."""
        if "symbol" in params and "symbols" in params:
            raise ApiError.of(INVALID_PARAMETER_COMBINATION)
        if "symbol" in params:
            name = params["symbol"]
            if not name:
                raise ApiError.of(mandatory("symbol"))
            if not _SYMBOL_RE.fullmatch(name):
                raise ApiError.of(illegal("symbol", SYMBOL_RANGE))
            return [name]
        if "symbols" not in params:
            return None
        try:
            names = orjson.loads(params["symbols"])
        except orjson.JSONDecodeError:
            raise ApiError.of(illegal("symbols", SYMBOLS_RANGE)) from None
        if not isinstance(names, list) or not all(isinstance(n, str) and _SYMBOL_RE.fullmatch(n) for n in names):
            raise ApiError.of(illegal("symbols", SYMBOLS_RANGE))
        if not names:
            raise ApiError.of(mandatory("symbols"))
        if len(set(names)) != len(names):
            raise ApiError.of(DUPLICATE_SYMBOL)
        return names

    def _selected(self, params: Mapping[str, str]) -> tuple[list[SymbolMarket], bool]:
        """The markets asked for, and whether one object (not a list) is to be returned."""
        names = self._symbol_names(params)
        if names is None:
            return list(self.markets.values()), False
        chosen = []
        for name in names:
            market = self.markets.get(name)
            if market is None:
                raise ApiError.of(INVALID_SYMBOL)
            chosen.append(market)
        return chosen, "symbol" in params

    # -- endpoints -------------------------------------------------------------------
    def _exchange_info(self, params: dict[str, str]) -> Any:
        """``permissions`` and ``showPermissionSets`` are accepted and change nothing (every
        symbol is SPOT); ``symbolStatus`` filters on the trading status, always TRADING here."""
        names = self._symbol_names(params)
        status = params.get("symbolStatus")
        if status is not None:
            if status not in SYMBOL_STATUSES:
                raise ApiError.of(INVALID_SYMBOL_STATUS)
            if names is not None:
                raise ApiError.of(INVALID_PARAMETER_COMBINATION)
        try:
            info = build_exchange_info(self.settings, names)
        except UnknownSymbolError:
            raise ApiError.of(INVALID_SYMBOL) from None
        if status is not None and status != "TRADING":
            info["symbols"] = []
        return info

    def _depth(self, params: dict[str, str]) -> bytes:
        market = self._market(params)
        limit = _limit(params, DEPTH_DEFAULT_LIMIT, DEPTH_MAX_LIMIT)
        return encoders.depth_snapshot(market.fmt, *market.replica.depth(limit))

    def _trades(self, params: dict[str, str]) -> Any:
        market = self._market(params)
        limit = _limit(params, TRADES_DEFAULT_LIMIT, TRADES_MAX_LIMIT)
        return [encoders.trade_rest(market.fmt, *trade) for trade in market.recent_trades(limit)]

    def _book_ticker(self, params: dict[str, str]) -> Any:
        chosen, single = self._selected(params)
        answers = [encoders.book_ticker_rest(m.symbol, m.fmt, *m.replica.top()) for m in chosen]
        return answers[0] if single else answers

    def _ticker_24hr(self, params: dict[str, str]) -> Any:
        """``type=FULL`` (default) or ``MINI`` (no change, weighted average, book or last-trade fields)."""
        kind = params.get("type", "FULL")
        if kind not in ("FULL", "MINI"):
            raise ApiError.of(INVALID_TICKER_TYPE)
        chosen, single = self._selected(params)
        now = self.clock_ms()
        answers = [encoders.ticker_rest(m.symbol, m.fmt, m.stats(now), *m.replica.top()) for m in chosen]
        if kind == "MINI":
            answers = [{key: answer[key] for key in MINI_TICKER_KEYS} for answer in answers]
        return answers[0] if single else answers

    def _klines(self, params: dict[str, str]) -> Any:
        """``klines`` and ``uiKlines`` (the same rows here); ``timeZone`` only "0" (UTC), as every
        interval here is aligned to the epoch."""
        market = self._market(params)
        interval = params.get("interval")
        if not interval:
            raise ApiError.of(mandatory("interval"))
        if interval not in KLINE_INTERVALS_MS:
            raise ApiError.of(INVALID_INTERVAL)
        if params.get("timeZone", "0") not in ("0", "+00:00", "00:00"):
            raise ApiError.of(illegal("timeZone", "0"))
        limit = _limit(params, KLINES_DEFAULT_LIMIT, TRADES_MAX_LIMIT)
        rows = history_queries.klines(
            market.history,
            KLINE_INTERVALS_MS[interval],
            self.clock_ms(),
            limit,
            _optional_int(params, "startTime"),
            _optional_int(params, "endTime"),
        )
        return [history_queries.kline_row(market.fmt, kline) for kline in rows]

    def _agg_trades(self, params: dict[str, str]) -> Any:
        market = self._market(params)
        limit = _limit(params, TRADES_DEFAULT_LIMIT, TRADES_MAX_LIMIT)
        from_id = _optional_int(params, "fromId")
        start, end = _optional_int(params, "startTime"), _optional_int(params, "endTime")
        if from_id is not None and (start is not None or end is not None):
            raise ApiError.of(INVALID_PARAMETER_COMBINATION)
        runs = history_queries.agg_trades(market.recent_aggs, limit, from_id, start, end)
        return [history_queries.agg_trade_row(market.fmt, run) for run in runs]

    def _historical_trades(self, params: dict[str, str]) -> Any:
        market = self._market(params)
        limit = _limit(params, TRADES_DEFAULT_LIMIT, TRADES_MAX_LIMIT)
        trades = history_queries.historical_trades(market.recent, limit, _optional_int(params, "fromId"))
        return [encoders.trade_rest(market.fmt, *trade) for trade in trades]

    def _avg_price(self, params: dict[str, str]) -> Any:
        market = self._market(params)
        price, close_ms = history_queries.average_price(market.history, self.clock_ms())
        return {"mins": history_queries.AVG_PRICE_MINUTES, "price": market.fmt.price(price), "closeTime": close_ms}

    def _ticker_price(self, params: dict[str, str]) -> Any:
        chosen, single = self._selected(params)
        answers = [{"symbol": m.symbol, "price": m.fmt.price(m.history.last_price)} for m in chosen]
        return answers[0] if single else answers
