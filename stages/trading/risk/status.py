"""What the risk stage shows of itself (``hftpipe stat``: ``status``): trading state, positions, PnL.

Positions and PnL are decimal strings so a reader needs no scales; account
totals are at the ledger's quote scale (8 decimals). ``trading`` is the part
the run report merges into its top-level ``trading`` (with execution's order
counts): the state, the account's position per symbol, realized PnL (gross of
fees) and unrealized PnL marked to each book's mid (None while an open
position has no mark yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import TradingState
from stages.trading.risk.ledger import QUOTE_SCALE, Ledger
from stages.trading.risk.state import TradingStates

MAX_POSITIONS: Final = 40
"""Positions listed at most (the status bulletin holds 4 KB); the totals always are."""


def quote_text(value: int) -> str:
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**QUOTE_SCALE)
    return f"{sign}{whole}.{frac:0{QUOTE_SCALE}d}".rstrip("0").rstrip(".")


def risk_status(
    states: TradingStates,
    ledger: Ledger,
    instruments: Mapping[int, Instrument],
    marks: Mapping[int, int],
    strategy_states: Mapping[int, TradingState],
) -> dict[str, Any]:
    positions: list[dict[str, Any]] = []
    for strategy_id in ledger.strategies():
        for position in ledger.positions(strategy_id):
            if len(positions) >= MAX_POSITIONS:
                break
            instrument = position.instrument
            mark = marks.get(instrument.id)
            positions.append({
                "strategy": strategy_id,
                "symbol": instrument.symbol,
                "qty": instrument.qty_text(position.qty),
                "avg_entry": position.avg_entry,
                "realized": _notional(position.realized, instrument),
                "unrealized": None if mark is None else _notional(position.unrealized(mark), instrument),
                "fees": _notional(position.fees, instrument),
            })  # fmt: skip
    usable = {iid: mark for iid, mark in marks.items() if iid in instruments}
    totals: dict[str, Any] = {"realized": quote_text(ledger.realized()), "fees": quote_text(ledger.fees())}
    try:
        totals["unrealized"] = quote_text(ledger.unrealized(usable))
        totals["pnl"] = quote_text(ledger.pnl(usable))
        totals["gross_exposure"] = quote_text(ledger.gross_exposure(usable))
        totals["net_exposure"] = quote_text(ledger.net_exposure(usable))
    except KeyError:  # an open position with no mark yet: the realized part is still true
        totals["unrealized"] = None
    trading = {
        **states.describe(),
        "positions": _account_positions(ledger),
        "realized_pnl": totals["realized"],
        "unrealized_pnl": totals["unrealized"],
    }
    return {
        "trading": trading,
        "strategy_states": {str(sid): state.name for sid, state in sorted(strategy_states.items())},
        "account": totals,
        "positions": positions,
    }


def _account_positions(ledger: Ledger) -> dict[str, str]:
    """The account's position per symbol (every strategy's together), as the run report's ``trading`` shows it."""
    positions = ledger.positions()[:MAX_POSITIONS]
    return {p.instrument.symbol: p.instrument.qty_text(p.qty) for p in positions}


def _notional(value: int, instrument: Instrument) -> str:
    scale = instrument.price_scale + instrument.qty_scale
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**scale)
    return f"{sign}{whole}.{frac:0{scale}d}".rstrip("0").rstrip(".") if scale else f"{sign}{whole}"
