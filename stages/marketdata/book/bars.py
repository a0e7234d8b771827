"""OHLCV bars from trades: time, tick and volume bars, exact in fixed point.

Pure builders: no IO, no rings, no clocks. The book stage feeds each trade to
``on_trade(price, qty, ts_venue, ts_recv)`` and receives every finished bar
through ``emit`` as twelve plain ints::

    emit(instrument, open, high, low, close, volume, vwap, trades, kind, interval, ts_venue, ts_origin)

which is exactly the tail of :func:`pack_bar`'s arguments, so the stage can write
a BAR record straight into a ring slot::

    builder = TimeBarBuilder(iid, 60 * 10**9, lambda *bar: pack_bar(slot, 0, next_seq(), *bar))

Numbers:

* ``open``/``high``/``low``/``close`` and ``vwap`` are at the instrument's price
  scale, ``volume`` and ``interval`` (for volume bars) at its qty scale: the
  builders never look at scales, they only add and compare the feed's ints.
* ``volume`` is the exact sum of the trades' quantities; the notional
  ``sum(price * qty)`` is an exact Python int (it may pass 2**63, which is fine).
* ``vwap = notional / volume`` rounded to an integer of the price scale with
  **round half to even** (banker's rounding, the rule of ``round()`` and of
  :mod:`decimal`'s default context), in integer arithmetic only: ``divmod`` then
  compare twice the remainder with the divisor. It is correct for negative
  prices too.
* ``trades`` counts the trades the builder was fed (aggregate trades when the
  venue aggregates them, e.g. Binance ``aggTrade``).

Timestamps:

* ``ts_venue`` of the bar is its open time: the interval boundary for time bars,
  the first trade's ``ts_venue`` for tick and volume bars.
* ``ts_origin`` is the receive time (monotonic ns) of the trade that closed the
  bar: for a time bar, the first trade of a later interval; for tick and volume
  bars, the trade that completed the bar; for a time bar closed by
  :meth:`TimeBarBuilder.flush`, its own last trade.

Hot path: builders keep plain ints in ``__slots__`` and allocate nothing per
trade beyond the ints themselves; the bar's values go out as call arguments, not
in a tuple or object. The emit callback runs before ``on_trade`` returns (the
closing trade then opens the next bar for time bars). The builder resets its
state *before* calling ``emit``, so an exception raised by ``emit`` never makes
the same bar come out twice.

Quantities are assumed positive (the feed's trades are); that is not checked
per trade. If a bar's volume were zero its ``vwap`` is its ``close``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from hftpipe.schema import SPECS
from hftpipe.schema.marketdata import BarKind
from hftpipe.schema.records import RecordType

BarEmit = Callable[[int, int, int, int, int, int, int, int, int, int, int, int], None]
"""``emit(instrument, open, high, low, close, volume, vwap, trades, kind, interval, ts_venue, ts_origin)``."""

_BAR_RTYPE: Final = int(RecordType.BAR)
_PACK_BAR_INTO: Final = SPECS[RecordType.BAR].packer.pack_into
_TIME: Final = int(BarKind.TIME)
_TICK: Final = int(BarKind.TICK)
_VOLUME: Final = int(BarKind.VOLUME)
_NO_BAR_YET: Final = -(1 << 63)
"""Start and end of the time bar before the first trade: every timestamp is past it."""


def pack_bar(
    buf: bytearray | memoryview,
    offset: int,
    seq: int,
    instrument: int,
    open_: int,
    high: int,
    low: int,
    close: int,
    volume: int,
    vwap: int,
    trades: int,
    kind: int,
    interval: int,
    ts_venue: int,
    ts_origin: int,
) -> None:
    """Write one BAR record (``BAR_DTYPE``) at ``buf[offset:offset + 128]``.

    Flags are 0 and ``ts_hop`` is zeroed (the runtime stamps hops when it
    publishes). The arguments after ``seq`` are ``emit``'s, in the same order.
    """
    _PACK_BAR_INTO(
        buf,
        offset,
        _BAR_RTYPE,
        0,
        instrument,
        seq,
        ts_venue,
        ts_origin,
        0,
        0,
        0,
        0,
        open_,
        high,
        low,
        close,
        volume,
        vwap,
        trades,
        kind,
        interval,
    )


def vwap_half_even(notional: int, volume: int) -> int:
    """``round(notional / volume)`` with ties to even, exactly; ``volume`` must be > 0."""
    quotient, remainder = divmod(notional, volume)  # floor; 0 <= remainder < volume
    twice = remainder << 1
    if twice > volume or (twice == volume and quotient & 1):
        return quotient + 1
    return quotient


class _BarBuilder:
    """The OHLCV state of one open bar and the code that publishes it."""

    __slots__ = (
        "_close",
        "_emit",
        "_high",
        "_instrument",
        "_interval",
        "_kind",
        "_last_recv",
        "_low",
        "_notional",
        "_open",
        "_trades",
        "_ts_open",
        "_volume",
    )

    def __init__(self, instrument: int, kind: int, interval: int, emit: BarEmit) -> None:
        self._instrument = instrument
        self._kind = kind
        self._interval = interval
        self._emit = emit
        self._open = 0
        self._high = 0
        self._low = 0
        self._close = 0
        self._volume = 0
        self._notional = 0
        self._trades = 0
        """Trades in the open bar; 0 means no bar is open."""
        self._ts_open = 0
        self._last_recv = 0

    @property
    def pending_trades(self) -> int:
        """Trades in the bar being built (0 when none is open)."""
        return self._trades

    def _start(self, price: int, qty: int, ts_open: int, ts_recv: int) -> None:
        self._open = self._high = self._low = self._close = price
        self._volume = qty
        self._notional = price * qty
        self._trades = 1
        self._ts_open = ts_open
        self._last_recv = ts_recv

    def _add(self, price: int, qty: int) -> None:
        """Fold one more trade into the open bar."""
        if price > self._high:
            self._high = price
        elif price < self._low:
            self._low = price
        self._close = price
        self._volume += qty
        self._notional += price * qty
        self._trades += 1

    def _publish(self, ts_origin: int) -> None:
        volume = self._volume
        vwap = vwap_half_even(self._notional, volume) if volume > 0 else self._close
        trades = self._trades
        self._trades = 0  # before emit: a raising emit must not leave the bar open
        self._emit(
            self._instrument,
            self._open,
            self._high,
            self._low,
            self._close,
            volume,
            vwap,
            trades,
            self._kind,
            self._interval,
            self._ts_open,
            ts_origin,
        )


class TimeBarBuilder(_BarBuilder):
    """Bars on wall-clock boundaries: ``[k * interval_ns, (k + 1) * interval_ns)`` of ``ts_venue``.

    A trade at ``t`` belongs to the bar starting at ``t - t % interval_ns`` (a
    trade exactly on a boundary opens the new bar). The first trade of a later
    interval closes the open bar, then opens its own. Intervals without trades
    produce **no** bar (no flat, zero-volume bars are invented): consumers see a
    gap in ``ts_venue``. :meth:`flush` closes the open bar once the clock has
    passed its end, so a bar still comes out when the market goes quiet.

    Late trades (``ts_venue`` before the start of the open bar, or inside a bar
    that :meth:`flush` already closed) are counted in :attr:`late_trades` and
    dropped: the bar they belong to was already published, and folding them
    into the open bar would put a trade into the wrong interval (its
    high/low/volume would describe a time it did not happen in). A trade that
    is out of order but still inside the open bar is not late; it updates
    high/low/volume, and ``close`` is always the last trade *received*.
    """

    __slots__ = ("_end", "late_trades")

    def __init__(self, instrument: int, interval_ns: int, emit: BarEmit) -> None:
        if interval_ns <= 0:
            raise ValueError(f"interval_ns must be positive, got {interval_ns}")
        super().__init__(instrument, _TIME, interval_ns, emit)
        self._ts_open = _NO_BAR_YET
        self._end = _NO_BAR_YET
        """End (exclusive) of the open bar, or of the last closed one."""
        self.late_trades = 0
        """Trades dropped because their bar was already published (or they precede the open one)."""

    @property
    def bar_end(self) -> int | None:
        """End (exclusive, venue ns) of the open bar: when to call :meth:`flush`; ``None`` if none is open."""
        return self._end if self._trades else None

    def on_trade(self, price: int, qty: int, ts_venue: int, ts_recv: int) -> None:
        if ts_venue >= self._end:  # a later interval (or the first trade ever)
            if self._trades:
                self._publish(ts_recv)
            start = ts_venue - ts_venue % self._interval
            self._end = start + self._interval
            self._start(price, qty, start, ts_recv)
        elif self._trades and ts_venue >= self._ts_open:
            self._add(price, qty)
            self._last_recv = ts_recv
        else:
            self.late_trades += 1

    def flush(self, now_ns: int) -> bool:
        """Close the open bar if ``now_ns`` (wall clock, the ``ts_venue`` clock) is at or past its end.

        The bar covers ``[start, end)``, so at ``now_ns == end`` it is complete.
        Its ``ts_origin`` is its last trade's receive time. Returns whether a
        bar was emitted. Trades that arrive later for that interval are late.
        """
        if self._trades and now_ns >= self._end:
            self._publish(self._last_recv)
            return True
        return False


class TickBarBuilder(_BarBuilder):
    """A bar every ``trades_per_bar`` trades, closed by the N-th; ``ts_venue`` is the first trade's."""

    __slots__ = ()

    def __init__(self, instrument: int, trades_per_bar: int, emit: BarEmit) -> None:
        if trades_per_bar <= 0:
            raise ValueError(f"trades_per_bar must be positive, got {trades_per_bar}")
        super().__init__(instrument, _TICK, trades_per_bar, emit)

    def on_trade(self, price: int, qty: int, ts_venue: int, ts_recv: int) -> None:
        if self._trades:
            self._add(price, qty)
        else:
            self._start(price, qty, ts_venue, ts_recv)
        if self._trades >= self._interval:
            self._publish(ts_recv)


class VolumeBarBuilder(_BarBuilder):
    """A bar closed by the trade that brings its volume to ``>= volume_per_bar`` (fixed-point qty).

    Trades are never split: the crossing trade goes into the bar whole, so a
    bar's volume can exceed the threshold and the next bar starts empty (no
    carry-over). Splitting would invent two trades the venue never printed
    and make ``trades`` and ``vwap`` disagree with the tape.
    """

    __slots__ = ()

    def __init__(self, instrument: int, volume_per_bar: int, emit: BarEmit) -> None:
        if volume_per_bar <= 0:
            raise ValueError(f"volume_per_bar must be positive, got {volume_per_bar}")
        super().__init__(instrument, _VOLUME, volume_per_bar, emit)

    def on_trade(self, price: int, qty: int, ts_venue: int, ts_recv: int) -> None:
        if self._trades:
            self._add(price, qty)
        else:
            self._start(price, qty, ts_venue, ts_recv)
        if self._volume >= self._interval:
            self._publish(ts_recv)
