"""Where a stage's exceptions go: the error counter, the distinct-error log, stderr once."""

from __future__ import annotations

import logging
import traceback

from hftpipe.runtime.context import StageContext
from hftpipe.substrate.counters import CounterKind


class ErrorRouter:
    """Where a duty cycle's exception goes: counter, distinct-error log, stderr once."""

    def __init__(self, ctx: StageContext, logger: logging.Logger) -> None:
        self._errors = ctx.counter(CounterKind.ERRORS)
        self._log = ctx.errors
        self._logger = logger
        self._seen: set[str] = set()
        self.consecutive = 0

    def on_error(self, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        self._errors.add()
        self._log.record(message)
        self.consecutive += 1
        if message not in self._seen:
            self._seen.add(message)
            self._logger.error("%s\n%s", message, "".join(traceback.format_exception(exc)).rstrip())

    def on_success(self) -> None:
        self.consecutive = 0

    def on_refused_start(self, exc: BaseException) -> None:
        """The stage refused what it was given (a param, a ring too small, a directory it cannot write):
        one line, no traceback, since the message says what to fix; the supervisor reports it too."""
        message = f"cannot start: {exc}"
        self._errors.add()
        self._log.record(message)
        self._logger.error("%s", message)
