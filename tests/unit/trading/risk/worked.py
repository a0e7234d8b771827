"""Hand-worked ledger tables: decimal strings in, the position's state after every row checked."""

from __future__ import annotations

from typing import Final

from hftpipe.schema.fixedpoint import format_fixed, parse_fixed
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import OrderSide
from stages.trading.risk.ledger import PositionLedger

TST: Final = Instrument(id=1, venue="test", symbol="TSTUSDT", price_scale=2, qty_scale=3)
"""Price scale 2, qty scale 3: money (price × qty) at 5 decimals."""
ALT: Final = Instrument(id=2, venue="test", symbol="ALTUSDT", price_scale=4, qty_scale=1)
"""A second instrument at other scales (notional scale 5 too, so totals at 8 decimals are exact)."""

SIDES: Final = {"BUY": OrderSide.BUY, "SELL": OrderSide.SELL}


def price(text: str, instrument: Instrument = TST) -> int:
    return parse_fixed(text, instrument.price_scale)


def qty(text: str, instrument: Instrument = TST) -> int:
    return parse_fixed(text, instrument.qty_scale)


def money(text: str, instrument: Instrument = TST) -> int:
    """Quote units at the instrument's notional scale (price_scale + qty_scale)."""
    return parse_fixed(text, instrument.price_scale + instrument.qty_scale)


def quote(text: str) -> int:
    """Quote units at the ledger's totals scale, 8 decimals."""
    return parse_fixed(text, 8)


def lots(pairs: list[tuple[str, str]], instrument: Instrument = TST) -> tuple[tuple[int, int], ...]:
    return tuple((price(p, instrument), qty(q, instrument)) for p, q in pairs)


def show_lots(position: PositionLedger) -> list[tuple[str, str]]:
    inst = position.instrument
    return [(inst.price_text(p), inst.qty_text(q)) for p, q in position.lots]


def show_money(value: int, instrument: Instrument = TST) -> str:
    return format_fixed(value, instrument.price_scale + instrument.qty_scale)
