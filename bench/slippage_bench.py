"""``hftpipe bench slippage``: what walking the depth costs, per call, against the checks beside it.

One process, no rings: the estimator is pure. A 10-level book of BTCUSDT
(price scale 2, qty scale 5; 1 BTC per level, one tick apart) as a DEPTH
record, taken into a :class:`~hftpipe.strategy.BookView` (what a strategy and
the execution stage walk) and into risk's :class:`PreTradeChecks` (its own
copy of the levels, kept because a bound is set). Timed, per call, each in a
loop of ``calls`` and the variants interleaved ``repetitions`` times
(medians over the repetitions, the loop's own cost included):

- ``book_estimate_1``, ``_3``, ``_10``: ``BookView.estimate_slippage`` of a
  market buy that takes 1, 3 and 10 levels (``_short``: more than the book
  holds, walked to its end);
- ``depth_estimate_3``: ``estimate_from_depth`` on the record's bytes, 3 levels;
- ``risk_slippage_3``: risk's ``check_slippage`` of a market buy taking 3
  levels, bound set; ``risk_band``: risk's ``check_band`` of a limit buy, the
  baseline (the check before it, a few integer compares).

Ratios: each against ``risk_band`` in the same run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any, Final

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import DEPTH_LEVELS, DEPTH_TOP, DEPTH_TOP_OFFSET
from hftpipe.schema.trading import OrderSide, OrderType
from hftpipe.strategy import BookView, estimate_from_depth
from stages.trading.risk.checks import PreTradeChecks
from stages.trading.risk.limits import RiskSettings

BTC: Final = Instrument(id=1, venue="binance", symbol="BTCUSDT", price_scale=2, qty_scale=5, tick=1, lot=1)
LEVELS: Final = 10
ONE: Final = 100_000
"""1 BTC at qty scale 5."""
BID, ASK = 3_000_000, 3_000_001
"""30 000.00 / 30 000.01."""
BASELINE: Final = "risk_band"


def depth_record() -> bytes:
    """A DEPTH record of BTC: 10 levels a side, 1 BTC each, one tick apart."""
    from hftpipe.schema import SPECS
    from hftpipe.schema.records import RecordType

    pad = [0] * (DEPTH_LEVELS - LEVELS)
    bids = [BID - i for i in range(LEVELS)] + pad
    asks = [ASK + i for i in range(LEVELS)] + pad
    qtys = [ONE] * LEVELS + pad
    buf = bytearray(SPECS[RecordType.DEPTH].itemsize)
    SPECS[RecordType.DEPTH].packer.pack_into(
        buf, 0, RecordType.DEPTH, 1, BTC.id, 1, 0, 0, 0, 0, 0, 0, 1, LEVELS, 0, *bids, *qtys, *asks, *qtys
    )
    return bytes(buf)


class _Positions:
    def strategy_qty(self, strategy_id: int, instrument_id: int) -> int:
        return 0

    def account_qty(self, instrument_id: int) -> int:
        return 0


def calls() -> dict[str, Callable[[], object]]:
    """The timed calls, by name (each checked for what it answers by the tests)."""
    record = depth_record()
    view = BookView(BTC)
    view.take_depth(record, 0, 0)
    settings = RiskSettings.from_config({"account": {"max_slippage_bps": 100, "price_band_bps": 100}}, "bench")
    checks = PreTradeChecks(settings, [BTC], _Positions())
    _, _, state, bid, bid_qty, ask, ask_qty = DEPTH_TOP.unpack_from(record, DEPTH_TOP_OFFSET)
    checks.on_book(BTC.id, bid, bid_qty, ask, ask_qty, state, 0)
    checks.on_depth(BTC.id, record, 0)
    touch = checks.touch(BTC.id)
    assert touch is not None
    limits = checks.limits(1, BTC.id)
    buy, market, limit = int(OrderSide.BUY), int(OrderType.MARKET), int(OrderType.LIMIT)
    estimate = view.estimate_slippage
    return {
        "book_estimate_1": lambda: estimate(OrderSide.BUY, ONE // 2),
        "book_estimate_3": lambda: estimate(OrderSide.BUY, 3 * ONE),
        "book_estimate_10": lambda: estimate(OrderSide.BUY, 10 * ONE),
        "book_estimate_short": lambda: estimate(OrderSide.BUY, 11 * ONE),
        "depth_estimate_3": lambda: estimate_from_depth(record, OrderSide.BUY, 3 * ONE),
        "risk_slippage_3": lambda: checks.check_slippage(limits, BTC.id, touch, buy, market, 0, 3 * ONE),
        BASELINE: lambda: checks.check_band(limits, touch, buy, limit, ASK, 0),
    }


def run_slippage_benchmark(repetitions: int = 7, calls_per_loop: int = 5_000) -> dict[str, Any]:
    """Median ns per call of each variant (interleaved repetitions), and ratios to the baseline."""
    timed = calls()
    samples: dict[str, list[float]] = {name: [] for name in timed}
    clock = time.perf_counter_ns
    for _ in range(repetitions):
        for name, call in timed.items():
            start = clock()
            for _ in range(calls_per_loop):
                call()
            samples[name].append((clock() - start) / calls_per_loop)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians[BASELINE]
    return {
        "repetitions": repetitions,
        "calls_per_loop": calls_per_loop,
        "median_ns": {name: round(value, 1) for name, value in medians.items()},
        "ratio_to_baseline": {name: round(value / base, 2) for name, value in medians.items()},
        "baseline": BASELINE,
    }


def format_slippage_report(result: dict[str, Any]) -> str:
    lines = [f"per call, median of {result['repetitions']} interleaved loops of {result['calls_per_loop']}:"]
    for name, ns in result["median_ns"].items():
        lines.append(f"  {name:<20} {ns / 1000:8.3f} µs  x{result['ratio_to_baseline'][name]:.2f} of {BASELINE}")
    return "\n".join(lines)
