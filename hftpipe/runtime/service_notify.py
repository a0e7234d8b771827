"""What the supervisor tells systemd about its pipeline (``Type=notify`` with ``WatchdogSec=``).

* ``READY=1`` once every stage is READY (the owner flipped the pipeline to
  RUNNING), so units ordered after the pipeline start on a working one;
* ``WATCHDOG=1`` every half ``WatchdogSec=`` while healthy: the pipeline
  RUNNING and every stage READY or RUNNING with a heartbeat younger than half
  ``heartbeat_timeout_ms``. A stage that is stuck (or failed, or restarting)
  stops the pings: if the supervisor's own recovery (a kill at
  ``heartbeat_timeout_ms``, then ``on_failure``) does not bring it back
  before ``WatchdogSec=``, systemd restarts the whole unit;
* ``STATUS=`` a one-line state, sent when it changes;
* ``STOPPING=1`` when the supervisor stops watching to stop the pipeline.

Without ``$NOTIFY_SOCKET`` every call is a no-op. A failed send is logged and
recorded in the owner's error log (``hftpipe stat`` shows it), once per
distinct error, and never stops the pipeline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from hftpipe.runtime.config import PipelineConfig
from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.control_layout import PipelineState, StageState
from hftpipe.substrate.sd_notify import Notifier, NotifyError

_HEALTHY_STATES = (StageState.READY, StageState.RUNNING)


def stuck_after_ns(config: PipelineConfig) -> int:
    """A stage silent this long is stuck for the watchdog: half the supervisor's kill threshold."""
    return config.heartbeat_timeout_ms * 1_000_000 // 2


def pipeline_health(config: PipelineConfig, control: ControlFile, now_ns: int) -> str | None:
    """None when healthy, else the one-line reason it is not."""
    state = control.state
    if state is not PipelineState.RUNNING:
        return f"pipeline {state.name.lower()}"
    stuck_ns = stuck_after_ns(config)
    for index, stage in enumerate(config.stages):
        stage_state = control.stage_state(index)
        if stage_state not in _HEALTHY_STATES:
            return f"stage {stage.name} {stage_state.name.lower()}"
        if now_ns - control.heartbeat_ns(index) > stuck_ns:
            return f"stage {stage.name} stuck: no heartbeat for over {stuck_ns // 1_000_000} ms"
    return None


class PipelineNotifier:
    """The supervisor's three calls: :meth:`ready`, :meth:`tick` each watch pass, :meth:`stopping`."""

    def __init__(
        self,
        notifier: Notifier | None,
        config: PipelineConfig,
        logger: logging.Logger,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._notifier = notifier
        self._config = config
        self._logger = logger
        self._clock_ns = clock_ns
        self._status = ""
        self._next_watchdog_ns = 0
        self._errors_seen: set[str] = set()

    @classmethod
    def from_environment(cls, config: PipelineConfig, logger: logging.Logger) -> PipelineNotifier:
        try:
            notifier = Notifier.from_environment()
        except NotifyError as exc:
            logger.error("not notifying systemd: %s", exc)
            notifier = None
        return cls(notifier, config, logger)

    @property
    def enabled(self) -> bool:
        return self._notifier is not None

    def ready(self, control: ControlFile) -> None:
        """Every stage is READY and the pipeline RUNNING."""
        if self._notifier is None:
            return
        self._status = f"running: {len(self._config.stages)} stages ready"
        self._send(control, READY="1", STATUS=self._status)

    def tick(self, control: ControlFile) -> None:
        """One watch pass: ping the watchdog if healthy and due; say what changed."""
        if self._notifier is None:
            return
        now = self._clock_ns()
        problem = pipeline_health(self._config, control, now)
        status = problem or f"running: {len(self._config.stages)} stages heart-beating"
        fields: dict[str, str] = {}
        if status != self._status:
            fields["STATUS"] = status
            self._status = status
        interval = self._notifier.watchdog_s
        if problem is None and interval is not None and now >= self._next_watchdog_ns:
            fields["WATCHDOG"] = "1"
            self._next_watchdog_ns = now + int(interval * 1e9)
        if fields:
            self._send(control, **fields)

    def stopping(self, control: ControlFile, reason: str) -> None:
        """The supervisor stops watching to stop the pipeline (not sent by a ``restart-pipeline``)."""
        if self._notifier is None:
            return
        self._status = f"stopping: {reason}"
        self._send(control, STOPPING="1", STATUS=self._status)

    def _send(self, control: ControlFile, **fields: str) -> None:
        assert self._notifier is not None
        try:
            self._notifier.send(**fields)
        except NotifyError as exc:
            message = str(exc)
            if message in self._errors_seen:
                return
            self._errors_seen.add(message)
            self._logger.error("systemd notification failed: %s", message)
            control.error_log(None).record(f"systemd notification failed: {message}")
