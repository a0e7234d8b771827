"""``hftpipe trading halt | reduce | resume``: change a running pipeline's trading state from outside.

The command posts an operator request in the pipeline's control file
(:meth:`~hftpipe.substrate.control.ControlFile.post_request`: numbered, with who
asked, when and why); the risk stage reads it within one duty cycle, applies
it, and says so in its status bulletin (``hftpipe stat``: ``status.trading``),
which this command waits for and prints. Exit 0 once applied; 69 when no
pipeline runs or no risk stage took the request within ``--wait`` seconds;
1 when the risk stage refused it (e.g. ``resume`` while a breaker's cause
still holds); 77 for another user's pipeline.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from typing import Any, Final

import click

from hftpipe.cli.common import attach_running, fail, name_option
from hftpipe.runtime.report import stage_status
from hftpipe.runtime.runner import EX_UNAVAILABLE
from hftpipe.substrate.control import ControlFile

TOPIC: Final = "trading"
COMMANDS: Final = ("halt", "reduce", "resume")


def request_text(number: int, command: str, reason: str, by: str) -> str:
    """The operator request the risk stage reads (JSON, carrying its own number)."""
    return json.dumps(
        {"n": number, "topic": TOPIC, "command": command, "reason": reason, "by": by, "at_wall_ns": time.time_ns()}
    )


def trading_status(control: ControlFile) -> dict[str, Any] | None:
    """The ``trading`` part of the first stage status that has one (the risk stage's)."""
    for index in range(control.layout.stages):
        status = stage_status(control, index)
        found = status.get(TOPIC) if isinstance(status, dict) else None
        if isinstance(found, dict):
            return found
    return None


@click.group()
def trading() -> None:
    """Trading state of a running pipeline: halt (cancels only), reduce (reducing orders only), resume."""


def _post(name: str | None, command: str, reason: str, wait: float) -> None:
    control = attach_running(name, readonly=False)
    try:
        by = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"
        number = control.post_request(lambda n: request_text(n, command, reason, by))
        if wait <= 0:
            click.echo(f"request {number} posted: {command}")
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            status = trading_status(control)
            if status is not None and int(status.get("request", 0)) >= number:
                click.echo(json.dumps(status))
                if status.get("refused") == number:
                    raise SystemExit(1)
                return
            time.sleep(0.02)
        fail(f"no risk stage took request {number} ({command}) within {wait:g} s: is one running?", EX_UNAVAILABLE)
    finally:
        control.close()


def _command(command: str, help_text: str) -> None:
    @trading.command(command, help=help_text)
    @name_option
    @click.option("--reason", default="operator", show_default=True, help="Why: shown by hftpipe stat.")
    @click.option("--wait", default=5.0, show_default=True, help="Seconds to wait for the risk stage (0: don't).")
    def run(name: str | None, reason: str, wait: float) -> None:
        _post(name, command, reason, wait)


_command("halt", "Cancel every open order and refuse all but cancels, until resumed.")
_command("reduce", "Allow only orders that reduce a position (and cancels).")
_command("resume", "Back to ACTIVE (after a loss breaker, only this resumes trading).")
