"""systemd's notification protocol (``sd_notify(3)``) on the standard library.

A service of ``Type=notify`` tells its manager how it is doing by sending
newline-separated ``KEY=value`` assignments as one datagram to the
``AF_UNIX`` socket named by ``$NOTIFY_SOCKET``: a path, or ``@name`` for the
abstract namespace (sent as a leading NUL byte). ``READY=1`` ends the start
job, ``WATCHDOG=1`` feeds ``WatchdogSec=``, ``STATUS=`` is the line
``systemctl status`` shows, ``STOPPING=1`` announces the stop.

A send that fails raises :class:`NotifyError` naming the socket: the caller
decides how loudly to report it, nothing is swallowed here.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, MutableMapping
from typing import Final

NOTIFY_SOCKET_ENV: Final = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV: Final = "WATCHDOG_USEC"
WATCHDOG_PID_ENV: Final = "WATCHDOG_PID"


class NotifyError(OSError):
    """A notification could not be sent (or ``$NOTIFY_SOCKET`` cannot name a socket)."""


def socket_address(value: str) -> str | bytes:
    """The ``AF_UNIX`` address ``$NOTIFY_SOCKET`` names: ``@name`` is abstract (leading NUL)."""
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    raise NotifyError(f"{NOTIFY_SOCKET_ENV}={value!r} is neither an absolute path nor an abstract @name")


def format_message(fields: Mapping[str, str]) -> bytes:
    """``KEY=value`` lines; a value must stay on its line (a newline would start another assignment)."""
    for key, value in fields.items():
        if not key or "=" in key or "\n" in key or "\n" in value:
            raise ValueError(f"notification field {key!r}={value!r} must be one KEY=value line")
    return "\n".join(f"{key}={value}" for key, value in fields.items()).encode()


def watchdog_interval_s(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``$WATCHDOG_USEC``), or None if no watchdog is
    asked of this process (unset, or ``$WATCHDOG_PID`` names another)."""
    usec = environ.get(WATCHDOG_USEC_ENV)
    if not usec:
        return None
    for_pid = environ.get(WATCHDOG_PID_ENV)
    if for_pid and for_pid != str(pid):
        return None
    try:
        return int(usec) / 2e6
    except ValueError as exc:
        raise NotifyError(f"{WATCHDOG_USEC_ENV}={usec!r} is not a number of microseconds") from exc


class Notifier:
    """One service manager's notification socket; ``send`` raises :class:`NotifyError` on failure."""

    def __init__(self, address: str | bytes, watchdog_s: float | None = None) -> None:
        self.address = address
        self.watchdog_s = watchdog_s
        """Seconds between watchdog pings the manager expects (None: no watchdog configured)."""
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_environment(cls, environ: MutableMapping[str, str] | None = None) -> Notifier | None:
        """The notifier ``$NOTIFY_SOCKET`` names, or None when not run by a service manager.

        The variables are taken out of the environment (``sd_notify``'s
        ``unset_environment``) so the processes this one starts do not
        inherit a socket that is not theirs to write.
        """
        env = os.environ if environ is None else environ
        value = env.pop(NOTIFY_SOCKET_ENV, None)
        watchdog = watchdog_interval_s(env, os.getpid())
        env.pop(WATCHDOG_USEC_ENV, None)
        env.pop(WATCHDOG_PID_ENV, None)
        if not value:
            return None
        return cls(socket_address(value), watchdog)

    def send(self, **fields: str) -> None:
        """Send one datagram of ``KEY=value`` assignments (``send(READY="1", STATUS="running")``)."""
        message = format_message(fields)
        try:
            sent = self._socket.sendto(message, socket.MSG_NOSIGNAL, self.address)
        except OSError as exc:
            raise NotifyError(exc.errno, f"cannot notify {self.describe()}: {exc.strerror}") from exc
        if sent != len(message):
            raise NotifyError(f"cannot notify {self.describe()}: sent {sent} of {len(message)} bytes")

    def describe(self) -> str:
        address = self.address
        return "@" + address[1:].decode(errors="replace") if isinstance(address, bytes) else address

    def close(self) -> None:
        self._socket.close()
