"""A strategy's read-only view of one instrument's book: O(1) reads, no copies.

The strategy stage keeps one :class:`BookView` per instrument and copies the
newest BBO or DEPTH record of that instrument into it (one slice assignment
of the record's bytes); every property reads the bytes in place. The depth
arrays are numpy views over the same bytes, built once: reading the best bid
never clones the book, and a deeper book costs nothing extra until a strategy
looks at its deeper levels. The arrays change under a strategy's feet at the
next update: ``.copy()`` what must be kept.
"""

from __future__ import annotations

import struct
from typing import Final

import numpy as np
import numpy.typing as npt

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import (
    BBO_TOP,
    BBO_TOP_OFFSET,
    DEPTH_DTYPE,
    DEPTH_LEVELS,
    DEPTH_TOP,
    DEPTH_TOP_OFFSET,
    BookState,
)
from hftpipe.schema.trading import OrderSide
from hftpipe.strategy.slippage import SlippageEstimate, estimate_slippage

_TS: Final = struct.Struct("<qq")
_STATES: Final = tuple(BookState(value) for value in range(max(BookState) + 1))
"""``BookState`` by value: a tuple index per record, where ``BookState(value)`` is an enum call (~0.3 µs)."""
_KNOWN_STATES: Final = len(_STATES)


def _offset(dtype: np.dtype[np.void], name: str) -> int:
    fields = dtype.fields
    assert fields is not None
    return int(fields[name][1])


_BID_PRICE: Final = _offset(DEPTH_DTYPE, "bid_price")
_BID_QTY: Final = _offset(DEPTH_DTYPE, "bid_qty")
_ASK_PRICE: Final = _offset(DEPTH_DTYPE, "ask_price")
_ASK_QTY: Final = _offset(DEPTH_DTYPE, "ask_qty")
DEPTH_SIZE: Final = DEPTH_DTYPE.itemsize


class BookView:
    """Top of book and top-N depth of one instrument, as the book stage last published it.

    Prices and quantities are fixed-point ints at the instrument's scales (pass
    them straight back to :meth:`~hftpipe.strategy.Strategy.buy`); the
    ``*_f`` and ``mid``/``microprice`` conveniences are floats in price units.
    """

    __slots__ = (
        "_ask_prices",
        "_ask_qtys",
        "_bid_prices",
        "_bid_qtys",
        "_buf",
        "_header",
        "_price_unit",
        "_qty_unit",
        "ask_price",
        "ask_qty",
        "bid_price",
        "bid_qty",
        "cause",
        "has_depth",
        "id",
        "instrument",
        "levels",
        "state",
        "taken_ns",
        "update_id",
        "updates",
    )  # fmt: skip

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.id = instrument.id
        self._buf = bytearray(DEPTH_SIZE)
        """The newest DEPTH (or BBO) record of the instrument, header included."""
        view = memoryview(self._buf)
        self._header = view[:64]
        self.cause = view[24:64]
        """``ts_origin`` and the hop stamps of the last update's tick (a live view): what an order it causes carries."""
        self._bid_prices: npt.NDArray[np.int64] = np.frombuffer(view, np.int64, DEPTH_LEVELS, _BID_PRICE)
        self._bid_qtys: npt.NDArray[np.int64] = np.frombuffer(view, np.int64, DEPTH_LEVELS, _BID_QTY)
        self._ask_prices: npt.NDArray[np.int64] = np.frombuffer(view, np.int64, DEPTH_LEVELS, _ASK_PRICE)
        self._ask_qtys: npt.NDArray[np.int64] = np.frombuffer(view, np.int64, DEPTH_LEVELS, _ASK_QTY)
        self._price_unit = 10.0**-instrument.price_scale
        self._qty_unit = 10.0**-instrument.qty_scale
        self.bid_price = 0
        self.bid_qty = 0
        self.ask_price = 0
        self.ask_qty = 0
        self.update_id = 0
        self.levels = 0
        """Levels per side the last DEPTH record carried (0 with BBO only)."""
        self.state = BookState.STALE
        self.has_depth = False
        self.taken_ns = 0
        """When the stage took the record this view shows (monotonic ns)."""
        self.updates = 0
        """How many book records this view has taken (conflated ones included)."""

    # -- updates (the strategy stage calls these) --------------------------------------
    def take_depth(self, buf: memoryview | bytes, offset: int, now: int) -> None:
        """Take the DEPTH record at ``offset``: a full state, so nothing older is needed."""
        self._buf[:] = buf[offset : offset + DEPTH_SIZE]
        self.update_id, self.levels, state, self.bid_price, self.bid_qty, self.ask_price, self.ask_qty = (
            DEPTH_TOP.unpack_from(self._buf, DEPTH_TOP_OFFSET)
        )
        self.state = _STATES[state] if state < _KNOWN_STATES else BookState(state)  # an unknown value raises
        self.has_depth = True
        self.taken_ns = now
        self.updates += 1

    def take_bbo(self, buf: memoryview | bytes, offset: int, now: int) -> None:
        """Take a BBO record (the book stage's own); a view that has seen DEPTH keeps to DEPTH."""
        bid, bid_qty, ask, ask_qty, update_id, state = BBO_TOP.unpack_from(buf, offset + BBO_TOP_OFFSET)
        self._buf[:64] = buf[offset : offset + 64]
        self.bid_price, self.bid_qty, self.ask_price, self.ask_qty = bid, bid_qty, ask, ask_qty
        self.update_id = update_id
        self.state = _STATES[state] if state < _KNOWN_STATES else BookState(state)
        self.taken_ns = now
        self.updates += 1

    def take_state(self, state: BookState) -> bool:
        """A book-state change (CONTROL/BOOK_STATE); True when it changed."""
        changed = state is not self.state
        self.state = state
        return changed

    # -- reads -------------------------------------------------------------------------
    @property
    def synced(self) -> bool:
        """Only a SYNCED book may be traded on: the strategy API refuses orders otherwise."""
        return self.state is BookState.SYNCED

    @property
    def header(self) -> memoryview:
        """The 64-byte record header of the last update (``ts_origin`` and hop stamps of its tick): a live view."""
        return self._header

    @property
    def ts_venue(self) -> int:
        """The venue's wall-clock time of the last update, ns."""
        return int(_TS.unpack_from(self._buf, 16)[0])

    @property
    def ts_origin(self) -> int:
        """When the last update's tick reached the host (monotonic ns)."""
        return int(_TS.unpack_from(self._buf, 16)[1])

    @property
    def bid_prices(self) -> npt.NDArray[np.int64]:
        """Bid prices, best first (``levels`` of them are set; the rest are 0). A live view."""
        return self._bid_prices[: self.levels]

    @property
    def bid_qtys(self) -> npt.NDArray[np.int64]:
        return self._bid_qtys[: self.levels]

    @property
    def ask_prices(self) -> npt.NDArray[np.int64]:
        return self._ask_prices[: self.levels]

    @property
    def ask_qtys(self) -> npt.NDArray[np.int64]:
        return self._ask_qtys[: self.levels]

    def bid(self, level: int) -> tuple[int, int]:
        """``(price, qty)`` of bid level ``level`` (0 = best); ``(0, 0)`` past the book."""
        if level >= self.levels:
            return (self.bid_price, self.bid_qty) if level == 0 else (0, 0)
        return int(self._bid_prices[level]), int(self._bid_qtys[level])

    def ask(self, level: int) -> tuple[int, int]:
        if level >= self.levels:
            return (self.ask_price, self.ask_qty) if level == 0 else (0, 0)
        return int(self._ask_prices[level]), int(self._ask_qtys[level])

    @property
    def two_sided(self) -> bool:
        return self.bid_qty > 0 and self.ask_qty > 0

    @property
    def spread(self) -> int:
        """Ask minus bid, fixed point (0 unless two-sided)."""
        return self.ask_price - self.bid_price if self.two_sided else 0

    @property
    def spread_ticks(self) -> int:
        return self.spread // self.instrument.tick

    @property
    def mid(self) -> float:
        """Mid price in price units (0.0 unless two-sided)."""
        if not self.two_sided:
            return 0.0
        return (self.bid_price + self.ask_price) * 0.5 * self._price_unit

    @property
    def microprice(self) -> float:
        """Size-weighted mid (leans toward the side with less size), price units."""
        if not self.two_sided:
            return 0.0
        total = self.bid_qty + self.ask_qty
        return (self.bid_price * self.ask_qty + self.ask_price * self.bid_qty) / total * self._price_unit

    def imbalance(self, levels: int = 1) -> float:
        """(bid size − ask size) / (bid size + ask size) over the top ``levels``: −1 … +1, 0 when empty."""
        if levels <= 1 or not self.has_depth:
            bids, asks = self.bid_qty, self.ask_qty
        else:
            n = min(levels, self.levels)
            bids, asks = int(self._bid_qtys[:n].sum()), int(self._ask_qtys[:n].sum())
        total = bids + asks
        return (bids - asks) / total if total else 0.0

    def estimate_slippage(self, side: OrderSide, qty: int, limit_price: int = 0) -> SlippageEstimate:
        """What an order of ``qty`` (fixed point) taking liquidity now would pay: the visible depth walked.

        The average price, the cost in bps against the mid and the touch, and
        whether the visible levels (or ``limit_price``, 0: none) price all of
        it (:mod:`hftpipe.strategy.slippage`). With BBO only, the touch is the
        whole visible book.
        """
        if self.has_depth:
            levels = self.levels
            return estimate_slippage(
                side, qty, self._bid_prices[:levels], self._bid_qtys[:levels], self._ask_prices[:levels],
                self._ask_qtys[:levels], limit_price,
            )  # fmt: skip
        return estimate_slippage(
            side, qty, (self.bid_price,), (self.bid_qty,), (self.ask_price,), (self.ask_qty,), limit_price
        )

    def price_f(self, value: int) -> float:
        """A fixed-point price of this instrument as a float."""
        return value * self._price_unit

    def qty_f(self, value: int) -> float:
        return value * self._qty_unit

    def __repr__(self) -> str:
        inst = self.instrument
        return (
            f"BookView({inst.symbol} {self.state.name} {inst.price_text(self.bid_price)} x "
            f"{inst.qty_text(self.bid_qty)} / {inst.price_text(self.ask_price)} x {inst.qty_text(self.ask_qty)})"
        )
