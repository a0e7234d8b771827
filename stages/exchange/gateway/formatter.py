"""Binance JSON shapes built from EX_EVENT records: order responses and user data stream events.

Numbers are strings with eight decimals, as Binance writes them
(``"0.01000000"``); times are milliseconds. Order attributes that a record
may not carry (a TRADE or CANCELED names the order, not its price or type)
come from :class:`OrderInfo`, which the gateway keeps from the order's NEW
event (see :mod:`stages.exchange.gateway.orders`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from hftpipe.schema.exchange import ASSET_SCALE, Event, ExpireReason, OrderStatus
from hftpipe.schema.exchange_codec import EventRecord, decode_id
from hftpipe.schema.marketdata import BookSide
from hftpipe.schema.trading import OrderSide, OrderType, TimeInForce
from stages.exchange.protocol.exchange_info import STP_MODES
from stages.exchange.protocol.settings import ExchangeSettings, SymbolSettings

DECIMALS: Final = ASSET_SCALE
SIDE_NAMES: Final = {int(OrderSide.BUY): "BUY", int(OrderSide.SELL): "SELL"}
TYPE_NAMES: Final = {
    int(OrderType.LIMIT): "LIMIT",
    int(OrderType.MARKET): "MARKET",
    int(OrderType.LIMIT_MAKER): "LIMIT_MAKER",
    int(OrderType.STOP_MARKET): "STOP_LOSS",
    int(OrderType.STOP_LIMIT): "STOP_LOSS_LIMIT",
}
TIF_NAMES: Final = {int(TimeInForce.GTC): "GTC", int(TimeInForce.IOC): "IOC", int(TimeInForce.FOK): "FOK"}
STATUS_NAMES: Final = {int(status): status.name for status in OrderStatus}
OPEN_STATUSES: Final = frozenset({int(OrderStatus.NEW), int(OrderStatus.PARTIALLY_FILLED)})
EXPIRE_REASONS: Final = {
    int(ExpireReason.IOC): "UNFILLED_IOC_QUANTITY_EXPIRED",
    int(ExpireReason.FOK): "UNFILLED_FOK_ORDER_EXPIRED",
    int(ExpireReason.MARKET): "INSUFFICIENT_LIQUIDITY",
}
"""``expire_reason`` -> Binance ``eR``; STP has none."""
EXECUTION_TYPES: Final = {
    int(Event.NEW): "NEW",
    int(Event.TRADE): "TRADE",
    int(Event.CANCELED): "CANCELED",
    int(Event.EXPIRED): "EXPIRED",
    int(Event.REJECTED): "REJECTED",
}


def fmt(value: int, scale: int, decimals: int = DECIMALS) -> str:
    """A fixed-point int as a decimal string with ``decimals`` places (more if ``scale`` has more)."""
    places = max(decimals, scale)
    scaled = value * 10 ** (places - scale)
    sign = "-" if scaled < 0 else ""
    whole, fraction = divmod(abs(scaled), 10**places)
    return f"{sign}{whole}.{fraction:0{places}d}" if places else f"{sign}{whole}"


def ms(ns: int) -> int:
    return ns // 1_000_000


def name_of(table: dict[int, str], value: int) -> str:
    return table.get(value, str(value))


@dataclass(slots=True)
class OrderInfo:
    """What an order was placed with (from its NEW event or an ORDER query record)."""

    instrument: int
    order_id: int
    client_order_id: str
    side: int
    order_type: int
    tif: int
    stp_mode: int
    price: int
    qty: int
    quote_qty: int
    time_ms: int

    @classmethod
    def from_record(cls, record: EventRecord) -> OrderInfo:
        return cls(
            instrument=record.instrument,
            order_id=record.order_id,
            client_order_id=decode_id(record.client_order_id),
            side=record.side,
            order_type=record.order_type,
            tif=record.tif,
            stp_mode=record.stp_mode,
            price=record.price,
            qty=record.qty,
            quote_qty=record.quote_qty,
            time_ms=ms(record.ts_venue),
        )


class Formatter:
    """Everything that needs the symbols' scales and the asset names."""

    def __init__(self, settings: ExchangeSettings) -> None:
        self.settings = settings
        self._symbols = {symbol.symbol_id: symbol for symbol in settings.symbols}

    def symbol(self, instrument: int) -> SymbolSettings | None:
        return self._symbols.get(instrument)

    def symbol_name(self, instrument: int) -> str:
        symbol = self._symbols.get(instrument)
        return symbol.symbol if symbol else str(instrument)

    def asset_name(self, asset: int) -> str | None:
        if 1 <= asset <= len(self.settings.assets):
            return self.settings.asset_name(asset)
        return None

    def _scales(self, instrument: int) -> tuple[int, int]:
        symbol = self._symbols.get(instrument)
        return (symbol.price_scale, symbol.qty_scale) if symbol else (0, 0)

    def price(self, instrument: int, value: int) -> str:
        return fmt(value, self._scales(instrument)[0])

    def qty(self, instrument: int, value: int) -> str:
        return fmt(value, self._scales(instrument)[1])

    def quote(self, instrument: int, value: int) -> str:
        price_scale, qty_scale = self._scales(instrument)
        return fmt(value, price_scale + qty_scale)

    def amount(self, value: int) -> str:
        return fmt(value, ASSET_SCALE)

    # -- order responses --------------------------------------------------------------------------
    def order_ack(self, info: OrderInfo, transact_ms: int) -> dict[str, Any]:
        return {
            "symbol": self.symbol_name(info.instrument),
            "orderId": info.order_id,
            "orderListId": -1,
            "clientOrderId": info.client_order_id,
            "transactTime": transact_ms,
        }

    def order_result(
        self, info: OrderInfo, transact_ms: int, status: int, cum_qty: int, cum_quote: int
    ) -> dict[str, Any]:
        result = self.order_ack(info, transact_ms)
        result.update(
            {
                "price": self.price(info.instrument, info.price),
                "origQty": self.qty(info.instrument, info.qty),
                "executedQty": self.qty(info.instrument, cum_qty),
                "origQuoteOrderQty": self.quote(info.instrument, info.quote_qty),
                "cummulativeQuoteQty": self.quote(info.instrument, cum_quote),
                "status": name_of(STATUS_NAMES, status),
                "timeInForce": name_of(TIF_NAMES, info.tif),
                "type": name_of(TYPE_NAMES, info.order_type),
                "side": name_of(SIDE_NAMES, info.side),
                "workingTime": transact_ms,
                "selfTradePreventionMode": name_of(dict(enumerate(STP_MODES)), info.stp_mode),
            }
        )
        return result

    def fill(self, trade: EventRecord) -> dict[str, Any]:
        return {
            "price": self.price(trade.instrument, trade.last_price),
            "qty": self.qty(trade.instrument, trade.last_qty),
            "commission": self.amount(trade.commission),
            "commissionAsset": self.asset_name(trade.commission_asset),
            "tradeId": trade.trade_id,
        }

    def cancel_report(self, info: OrderInfo, canceled: EventRecord, orig_id: str, new_id: str) -> dict[str, Any]:
        """``order.cancel`` result (and each entry of ``openOrders.cancelAll``)."""
        instrument = info.instrument
        return {
            "symbol": self.symbol_name(instrument),
            "origClientOrderId": orig_id,
            "orderId": info.order_id,
            "orderListId": -1,
            "clientOrderId": new_id,
            "transactTime": ms(canceled.ts_venue),
            "price": self.price(instrument, info.price),
            "origQty": self.qty(instrument, canceled.qty or info.qty),
            "executedQty": self.qty(instrument, canceled.cum_qty),
            "origQuoteOrderQty": self.quote(instrument, info.quote_qty),
            "cummulativeQuoteQty": self.quote(instrument, canceled.cum_quote),
            "status": name_of(STATUS_NAMES, canceled.status),
            "timeInForce": name_of(TIF_NAMES, info.tif),
            "type": name_of(TYPE_NAMES, info.order_type),
            "side": name_of(SIDE_NAMES, info.side),
            "selfTradePreventionMode": name_of(dict(enumerate(STP_MODES)), info.stp_mode),
        }

    def order_status(self, record: EventRecord) -> dict[str, Any]:
        """``order.status`` / ``openOrders.status`` entry from an ORDER record."""
        instrument = record.instrument
        time_ms = ms(record.ts_venue)
        return {
            "symbol": self.symbol_name(instrument),
            "orderId": record.order_id,
            "orderListId": -1,
            "clientOrderId": decode_id(record.client_order_id),
            "price": self.price(instrument, record.price),
            "origQty": self.qty(instrument, record.qty),
            "executedQty": self.qty(instrument, record.cum_qty),
            "cummulativeQuoteQty": self.quote(instrument, record.cum_quote),
            "status": name_of(STATUS_NAMES, record.status),
            "timeInForce": name_of(TIF_NAMES, record.tif),
            "type": name_of(TYPE_NAMES, record.order_type),
            "side": name_of(SIDE_NAMES, record.side),
            "stopPrice": fmt(0, 0),
            "icebergQty": fmt(0, 0),
            "time": time_ms,
            "updateTime": time_ms,
            "isWorking": True,
            "workingTime": time_ms,
            "origQuoteOrderQty": self.quote(instrument, record.quote_qty),
            "selfTradePreventionMode": name_of(dict(enumerate(STP_MODES)), record.stp_mode),
        }

    def depth(self, instrument: int, levels: Iterable[EventRecord], last_update_id: int) -> dict[str, Any]:
        bids: list[list[str]] = []
        asks: list[list[str]] = []
        for level in levels:
            entry = [self.price(instrument, level.price), self.qty(instrument, level.qty)]
            (bids if level.side == int(BookSide.BID) else asks).append(entry)
        return {"lastUpdateId": last_update_id, "bids": bids, "asks": asks}

    def balances(self, records: Sequence[EventRecord], omit_zero: bool = False) -> list[dict[str, str]]:
        """Every configured asset (zero when no record names it), in asset order."""
        by_asset = {record.commission_asset: record for record in records}
        out = []
        for asset_id, name in enumerate(self.settings.assets, start=1):
            record = by_asset.get(asset_id)
            free, locked = (record.qty, record.quote_qty) if record else (0, 0)
            if omit_zero and free == 0 and locked == 0:
                continue
            out.append({"asset": name, "free": self.amount(free), "locked": self.amount(locked)})
        return out

    # -- user data stream events ------------------------------------------------------------------
    def execution_report(
        self, record: EventRecord, info: OrderInfo | None, now_ms: int, execution_id: int
    ) -> dict[str, Any]:
        instrument = record.instrument
        own = info if info is not None else OrderInfo.from_record(record)
        event = record.event
        status = record.status
        client_id = decode_id(record.client_order_id) or own.client_order_id
        orig_id = ""
        if event == int(Event.CANCELED):
            orig_id = decode_id(record.orig_client_order_id) or own.client_order_id
        is_trade = event == int(Event.TRADE)
        on_book = (
            status in OPEN_STATUSES and own.order_type != int(OrderType.MARKET) and own.tif == int(TimeInForce.GTC)
        )
        report: dict[str, Any] = {
            "e": "executionReport",
            "E": now_ms,
            "s": self.symbol_name(instrument),
            "c": client_id,
            "S": name_of(SIDE_NAMES, own.side),
            "o": name_of(TYPE_NAMES, own.order_type),
            "f": name_of(TIF_NAMES, own.tif),
            "q": self.qty(instrument, own.qty),
            "p": self.price(instrument, own.price),
            "P": fmt(0, 0),
            "F": fmt(0, 0),
            "g": -1,
            "C": orig_id,
            "x": name_of(EXECUTION_TYPES, event),
            "X": name_of(STATUS_NAMES, status),
            "r": "NONE",
            "i": record.order_id or own.order_id,
            "l": self.qty(instrument, record.last_qty if is_trade else 0),
            "z": self.qty(instrument, record.cum_qty),
            "L": self.price(instrument, record.last_price if is_trade else 0),
            "n": self.amount(record.commission) if is_trade else "0",
            "N": self.asset_name(record.commission_asset) if is_trade else None,
            "T": ms(record.ts_venue),
            "t": record.trade_id if is_trade else -1,
            "I": execution_id,
            "w": on_book,
            "m": bool(record.is_maker) if is_trade else False,
            "M": False,
            "O": own.time_ms,
            "Z": self.quote(instrument, record.cum_quote),
            "Y": self.quote(instrument, record.last_price * record.last_qty if is_trade else 0),
            "Q": self.quote(instrument, own.quote_qty),
        }
        if on_book:
            report["W"] = own.time_ms
        report["V"] = name_of(dict(enumerate(STP_MODES)), own.stp_mode)
        if event == int(Event.EXPIRED) and record.expire_reason in EXPIRE_REASONS:
            report["eR"] = EXPIRE_REASONS[record.expire_reason]
        return report

    def account_position(self, records: Sequence[EventRecord], now_ms: int) -> dict[str, Any]:
        """``outboundAccountPosition`` for one account's BALANCE records."""
        return {
            "e": "outboundAccountPosition",
            "E": now_ms,
            "u": max((ms(record.ts_venue) for record in records), default=now_ms) or now_ms,
            "B": [
                {
                    "a": self.asset_name(record.commission_asset) or str(record.commission_asset),
                    "f": self.amount(record.qty),
                    "l": self.amount(record.quote_qty),
                }
                for record in records
            ],
        }

    def balance_update(self, record: EventRecord, now_ms: int) -> dict[str, Any]:
        return {
            "e": "balanceUpdate",
            "E": now_ms,
            "a": self.asset_name(record.commission_asset) or str(record.commission_asset),
            "d": self.amount(record.qty),
            "T": ms(record.ts_venue) or now_ms,
        }
