"""Circuit breakers: what trips the trading state to HALTED (or REDUCING) without anyone asking.

Pure: the stage feeds it what happened (PnL, rejects, report latency, data
age, stage liveness) with the time, and it holds or releases trading in
:class:`~stages.trading.risk.state.TradingStates`.

=================  =======  ===================================================
breaker            release  trips when
=================  =======  ===================================================
``max_loss``       manual   PnL (realized + unrealized − fees) since the last
                            resume is below −limit (per strategy, and account)
``max_drawdown``   manual   the fall from the PnL peak, beyond what it was at
                            the last resume, exceeds the limit
``reject_rate``    manual   more than ``max_rejects_per_10s`` rejections (risk's
                            and the venue's) within 10 s
``venue_errors``   manual   more than ``max_venue_errors_per_10s`` venue
                            rejections within 10 s
``report_latency`` manual   the median of the last 16 order round trips
                            (sent → first report) exceeds the limit
``stale_data``     auto     a traded instrument's book is older than
                            ``max_data_age_ms`` (released once it is fresh)
``stage_down``     auto     a watched stage of the trading pipeline is not
                            running (released once the supervisor restarts it)
=================  =======  ===================================================

A manual hold stays until ``hftpipe trading resume``; after a resume the loss
and drawdown breakers count from the PnL at that moment, so resuming allows
one more ``max_loss`` of loss rather than tripping again at once.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from hftpipe.schema.trading import TradingState
from stages.trading.risk.state import ACCOUNT, Hold, TradingStates

WINDOW_NS: Final = 10_000_000_000
LATENCY_SAMPLES: Final = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerLimits:
    """Limits at the ledger's quote scale (8 decimals) and in ns; 0 turns a breaker off."""

    max_loss: int = 0
    max_drawdown: int = 0
    max_rejects_per_10s: int = 0
    max_venue_errors_per_10s: int = 0
    max_report_latency_ns: int = 0
    max_data_age_ns: int = 0
    on_breach: TradingState = TradingState.HALTED
    """What a breaker holds trading at: HALTED or REDUCING."""


class Breakers:
    __slots__ = ("_account", "_baseline", "_dd_baseline", "_latencies", "_rejects", "_states", "_strategies",
                 "_venue_errors")  # fmt: skip

    def __init__(
        self, states: TradingStates, account: BreakerLimits, strategies: dict[int, BreakerLimits] | None = None
    ) -> None:
        self._states = states
        self._account = account
        self._strategies = strategies or {}
        self._baseline: dict[int, int] = {}
        """PnL at the last resume, per scope (0 before any)."""
        self._dd_baseline: dict[int, int] = {}
        self._rejects: deque[int] = deque()
        self._venue_errors: deque[int] = deque()
        self._latencies: deque[int] = deque(maxlen=LATENCY_SAMPLES)

    def limits(self, scope: int) -> BreakerLimits:
        return self._account if scope == ACCOUNT else self._strategies.get(scope, _OFF)

    # -- money ---------------------------------------------------------------------------
    def on_pnl(self, scope: int, pnl: int, drawdown: int, now_wall: int) -> bool:
        """``pnl`` and ``drawdown`` of ``scope`` at 8 decimals; True when its state changed."""
        limits = self.limits(scope)
        changed = False
        if limits.max_loss:
            loss = self._baseline.get(scope, 0) - pnl
            if loss > limits.max_loss and not self._states.held(scope, "max_loss"):
                changed |= self._trip(
                    scope, "max_loss", limits, f"loss {_q(loss)} > max_loss {_q(limits.max_loss)}", now_wall
                )
        if limits.max_drawdown:
            fall = drawdown - self._dd_baseline.get(scope, 0)
            if fall > limits.max_drawdown and not self._states.held(scope, "max_drawdown"):
                why = f"drawdown {_q(fall)} > max_drawdown {_q(limits.max_drawdown)}"
                changed |= self._trip(scope, "max_drawdown", limits, why, now_wall)
        return changed

    def on_resume(self, pnls: dict[int, tuple[int, int]]) -> None:
        """After the operator's resume: loss and drawdown count from ``pnls[scope] = (pnl, drawdown)``."""
        for scope, (pnl, drawdown) in pnls.items():
            self._baseline[scope] = pnl
            self._dd_baseline[scope] = drawdown
        self._rejects.clear()
        self._venue_errors.clear()
        self._latencies.clear()

    # -- the venue's answers ----------------------------------------------------------------
    def on_reject(self, venue: bool, now: int, now_wall: int) -> bool:
        limits = self._account
        changed = False
        if limits.max_rejects_per_10s and _count(self._rejects, now) > limits.max_rejects_per_10s:
            why = f"more than {limits.max_rejects_per_10s} rejections in 10 s"
            changed |= self._trip(ACCOUNT, "reject_rate", limits, why, now_wall)
        if (
            venue
            and limits.max_venue_errors_per_10s
            and _count(self._venue_errors, now) > limits.max_venue_errors_per_10s
        ):
            why = f"more than {limits.max_venue_errors_per_10s} venue rejections in 10 s"
            changed |= self._trip(ACCOUNT, "venue_errors", limits, why, now_wall)
        return changed

    def on_round_trip(self, latency_ns: int, now_wall: int) -> bool:
        limits = self._account
        if not limits.max_report_latency_ns:
            return False
        self._latencies.append(latency_ns)
        if len(self._latencies) < LATENCY_SAMPLES:
            return False
        median = int(statistics.median(self._latencies))
        if median <= limits.max_report_latency_ns or self._states.held(ACCOUNT, "report_latency"):
            return False
        why = f"median order round trip {median / 1e6:.1f} ms > {limits.max_report_latency_ns / 1e6:.1f} ms"
        return self._trip(ACCOUNT, "report_latency", limits, why, now_wall)

    # -- liveness ----------------------------------------------------------------------------
    def on_stale(self, stale: Iterable[str], now_wall: int) -> bool:
        """Symbols whose books are older than ``max_data_age_ms`` now (empty: all fresh)."""
        names = sorted(stale)
        if not names:
            return self._states.release(ACCOUNT, "stale_data")
        why = f"no fresh market data for {', '.join(names)}"
        return self._hold(ACCOUNT, "stale_data", self._account.on_breach, why, now_wall, manual=False)

    def on_stages(self, down: Iterable[str], now_wall: int) -> bool:
        """Watched stages not running now (empty: all up)."""
        names = sorted(down)
        if not names:
            return self._states.release(ACCOUNT, "stage_down")
        why = f"stage {', '.join(names)} not running"
        return self._hold(ACCOUNT, "stage_down", TradingState.HALTED, why, now_wall, manual=False)

    # -- holds -----------------------------------------------------------------------------
    def _trip(self, scope: int, source: str, limits: BreakerLimits, why: str, now_wall: int) -> bool:
        return self._hold(scope, source, limits.on_breach, why, now_wall, manual=True)

    def _hold(self, scope: int, source: str, state: TradingState, why: str, now_wall: int, manual: bool) -> bool:
        return self._states.hold(scope, Hold(source, state, why, now_wall, manual))


_OFF: Final = BreakerLimits()


def _count(window: deque[int], now: int) -> int:
    """Add ``now`` to the 10 s window; how many it holds."""
    window.append(now)
    while window and window[0] <= now - WINDOW_NS:
        window.popleft()
    return len(window)


def _q(value: int) -> str:
    """A quote amount at 8 decimals, as text."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**8)
    return f"{sign}{whole}.{frac:08d}".rstrip("0").rstrip(".")
