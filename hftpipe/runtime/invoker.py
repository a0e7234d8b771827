"""Drive an agent with no process and no runner, one duty cycle at a time (Agrona ``AgentInvoker``).

Tests step stages with it; the runner uses the same error routing.
"""

from __future__ import annotations

import logging

from hftpipe.runtime.agent import Agent
from hftpipe.runtime.error_router import ErrorRouter


class AgentInvoker:
    """Drive an agent by hand: ``start()``, ``invoke()`` per duty cycle, ``close()``."""

    def __init__(self, agent: Agent, logger: logging.Logger | None = None) -> None:
        self.agent = agent
        self.errors = ErrorRouter(agent.ctx, logger or logging.getLogger(f"hftpipe.{agent.role_name}"))
        self.started = False
        self.closed = False

    def start(self) -> None:
        self.agent.on_start()
        self.started = True

    def invoke(self) -> int:
        if not self.started or self.closed:
            raise RuntimeError("invoke() needs start() first and no close()")
        try:
            work = self.agent.do_work()
        except Exception as exc:  # noqa: BLE001 - every stage error is routed, none escapes
            self.errors.on_error(exc)
            return 0
        self.errors.on_success()
        return work

    def close(self) -> None:
        if self.started and not self.closed:
            self.closed = True
            self.agent.on_close()
