"""The trading state: who holds trading back, how far, since when and why.

Every reason to hold trading back is a *hold*: the operator's (``hftpipe
trading halt|reduce``) or a breaker's (a loss, a reject-rate spike, stale data,
a dead stage, ...), on the whole account or on one strategy. The state in force
for a strategy is the most severe of the account's holds and its own:
HALTED (cancels only) > REDUCING (cancels and reducing orders) > ACTIVE.

Holds come in two kinds. A **manual** hold (the operator's, a loss, drawdown,
reject-rate, venue-error-rate or report-latency breaker) stays until the
operator resumes: risk never resumes trading on its own after losing money.
An **automatic** hold (stale data, a dead stage) is released when its cause is
gone. ``resume`` releases the operator's hold and every manual hold, and tells
the loss breakers to count from the PnL at that moment (see
:mod:`stages.trading.risk.breakers`), so a resume is a decision to allow one
more tranche of loss, never a loop of trips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from hftpipe.schema.trading import TradingState

ACCOUNT: Final = 0
"""The scope of an account-wide hold (strategy ids are 1..65535)."""
OPERATOR: Final = "operator"


@dataclass(frozen=True, slots=True)
class Hold:
    source: str
    """Who holds: ``operator`` or a breaker's name (``max_loss``, ``stale_data``, ...)."""
    state: TradingState
    reason: str
    since_wall_ns: int
    manual: bool
    """Released only by the operator's ``resume``."""


class TradingStates:
    """Holds per scope (the account, or a strategy id) and the state each strategy is in."""

    __slots__ = ("_holds", "_state", "last_request", "refused_request", "resumed_wall_ns")

    def __init__(self) -> None:
        self._holds: dict[int, dict[str, Hold]] = {}
        self._state: dict[int, TradingState] = {}
        """Cache: the state in force per scope (the account's alone under ACCOUNT)."""
        self.last_request = 0
        """Number of the last operator request applied (or refused)."""
        self.refused_request = 0
        self.resumed_wall_ns = 0

    def state(self, strategy_id: int) -> TradingState:
        """What risk lets through for ``strategy_id`` now: the more severe of the account's and its own."""
        account = self._state.get(ACCOUNT, TradingState.ACTIVE)
        own = self._state.get(strategy_id, TradingState.ACTIVE)
        return own if own > account else account

    @property
    def account_state(self) -> TradingState:
        return self._state.get(ACCOUNT, TradingState.ACTIVE)

    def hold(self, scope: int, hold: Hold) -> bool:
        """Add or replace ``hold.source``'s hold on ``scope``; True when the scope's state changed."""
        holds = self._holds.setdefault(scope, {})
        current = holds.get(hold.source)
        if current is not None and current.state is hold.state:
            return False  # already held so: keep the first reason and time
        holds[hold.source] = hold
        return self._settle(scope)

    def release(self, scope: int, source: str) -> bool:
        """Drop ``source``'s hold on ``scope`` (an automatic hold whose cause is gone); True when the state changed."""
        holds = self._holds.get(scope)
        if not holds or holds.pop(source, None) is None:
            return False
        return self._settle(scope)

    def held(self, scope: int, source: str) -> bool:
        return source in self._holds.get(scope, {})

    def resume(self, now_wall_ns: int) -> list[int]:
        """The operator's resume: every manual hold on every scope released; the scopes whose state changed."""
        changed = []
        for scope, holds in self._holds.items():
            manual = [source for source, hold in holds.items() if hold.manual]
            for source in manual:
                del holds[source]
            if manual and self._settle(scope):
                changed.append(scope)
        self.resumed_wall_ns = now_wall_ns
        return changed

    def _settle(self, scope: int) -> bool:
        holds = self._holds.get(scope, {})
        state = max((h.state for h in holds.values()), default=TradingState.ACTIVE)
        before = self._state.get(scope, TradingState.ACTIVE)
        self._state[scope] = state
        return state is not before

    def _worst(self, scope: int) -> Hold | None:
        """The scope's most severe hold (the earliest of equals): who set its state."""
        holds = self._holds.get(scope)
        return min(holds.values(), key=lambda h: (-h.state, h.since_wall_ns)) if holds else None

    def set_by(self, scope: int) -> str | None:
        worst = self._worst(scope)
        return worst.source if worst is not None else None

    def describe(self) -> dict[str, Any]:
        """The ``trading`` part of the risk stage's status: state, who set it, when and why, per scope."""

        def one(scope: int) -> dict[str, Any]:
            holds = sorted(self._holds.get(scope, {}).values(), key=lambda h: (-h.state, h.since_wall_ns))
            worst = self._worst(scope)
            return {
                "state": self._state.get(scope, TradingState.ACTIVE).name,
                "set_by": worst.source if worst else None,
                "reason": worst.reason if worst else None,
                "since_wall_ns": worst.since_wall_ns if worst else None,
                "holds": [
                    {"by": h.source, "state": h.state.name, "reason": h.reason, "since_wall_ns": h.since_wall_ns,
                     "manual": h.manual} for h in holds
                ],
            }  # fmt: skip

        described = one(ACCOUNT)
        strategies = {str(scope): one(scope) for scope, holds in sorted(self._holds.items()) if scope and holds}
        if strategies:
            described["strategies"] = strategies
        described["request"] = self.last_request
        if self.refused_request:
            described["refused"] = self.refused_request
        return described
